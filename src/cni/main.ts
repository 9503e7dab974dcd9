/**
 * cni/main.ts — the self-contained CNI plugin: `node dist/bundle/cni.cjs` with the CNI
 * environment and the network config on stdin, exactly as a runtime runs a plugin (and as
 * the ctnet-cni shim execs it when no agent is there). Reads all of stdin, opens the Host of
 * the state dir (config `ctnetStateDir`, else CTNET_STATE_DIR, else /run/ctnet-fast) only
 * when the command needs one (VERSION never does), runs handleCni, prints its stdout, closes
 * the Host (waiting for background teardown) and exits with its exit code.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI"). Bundled by `npm run bundle` to dist/bundle/cni.cjs.
 */
import { Host } from '../topology/index.js';
import { handleCni, type CniHosts } from './index.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY === true) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function run(): Promise<number> {
  const opened: Host[] = [];
  const warnings: string[] = [];
  const hosts: CniHosts = {
    async open(stateDir) {
      const h = await Host.open({ stateDir, warn: (m) => warnings.push(m) });
      opened.push(h);
      return h;
    },
  };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const reply = await handleCni(hosts, { env, stdin: await readStdin() });
  for (const h of opened) await h.close().catch((e: Error) => warnings.push(e.message));
  // the plugin's result or error goes to stdout; warnings (never part of the result) to stderr
  for (const w of warnings) process.stderr.write(`ctnet-cni: ${w}\n`);
  if (reply.stderr !== undefined && reply.stderr !== '') process.stderr.write(reply.stderr);
  await new Promise<void>((resolve) => { process.stdout.write(reply.stdout, () => resolve()); });
  return reply.exitCode;
}

run().then((code) => process.exit(code), (e: Error) => {
  process.stdout.write(`${JSON.stringify({ cniVersion: '1.1.0', code: 999, msg: `ctnet-cni: ${e.message}` })}\n`);
  process.exit(1);
});
