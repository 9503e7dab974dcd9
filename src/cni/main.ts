/**
 * cni/main.ts — the self-contained CNI plugin: `node dist/bundle/cni.cjs` with the CNI
 * environment and the network config on stdin, exactly as a runtime runs a plugin (and as
 * the ctnet-cni shim execs it when no agent is there). Reads all of stdin, opens the Host of
 * the state dir (config `ctnetStateDir`, else CTNET_STATE_DIR, else /run/ctnet-fast) only
 * when the command needs one (VERSION never does), runs handleCni, prints its stdout, closes
 * the Host (waiting for background teardown) and exits with its exit code. An ADD whose
 * result cannot reach the runtime (stdout closed: Node gives fd 1 /dev/null then; or the
 * write fails) is undone by a DEL of the same call and exits 1: a runtime that never read
 * the result never DELs what it does not know of.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI"). Bundled by `npm run bundle` to dist/bundle/cni.cjs.
 */
import { fstatSync, statSync } from 'node:fs';
import { Host } from '../topology/index.js';
import { handleCni, type CniHosts } from './index.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY === true) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Whether fd 1 goes nowhere: closed by the caller (Node reopens it on /dev/null) or /dev/null itself. */
function stdoutIsNull(): boolean {
  try {
    const out = fstatSync(1);
    const nul = statSync('/dev/null');
    return out.isCharacterDevice() && out.rdev === nul.rdev;
  } catch {
    return true;
  }
}

/** Write all of `text` to stdout; false when it cannot be written (EPIPE, EBADF…). */
function writeOut(text: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    process.stdout.on('error', () => resolve(false)); // EPIPE comes as an event too (after the callback)
    process.stdout.write(text, (e) => resolve(e === undefined || e === null));
  });
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
  const stdin = await readStdin();
  if (env.CNI_COMMAND === 'ADD' && stdoutIsNull()) {
    process.stderr.write('ctnet-cni: ADD refused: stdout is closed (or /dev/null), so the result could not reach the runtime\n');
    return 1;
  }
  let reply = await handleCni(hosts, { env, stdin });
  // the plugin's result or error goes to stdout; warnings (never part of the result) to stderr
  if (reply.stderr !== undefined && reply.stderr !== '') process.stderr.write(reply.stderr);
  if (!await writeOut(reply.stdout) && env.CNI_COMMAND === 'ADD' && reply.exitCode === 0) {
    // the runtime never got the result: undo the ADD, so nothing is left it does not know of
    reply = await handleCni(hosts, { env: { ...env, CNI_COMMAND: 'DEL' }, stdin });
    process.stderr.write(`ctnet-cni: the ADD result could not be written to stdout: the ADD was undone${reply.exitCode === 0 ? '' : ` (its DEL failed: ${reply.stdout.trim()})`}\n`);
    for (const h of opened) await h.close().catch(() => undefined);
    return 1;
  }
  for (const h of opened) await h.close().catch((e: Error) => warnings.push(e.message));
  for (const w of warnings) process.stderr.write(`ctnet-cni: ${w}\n`);
  return reply.exitCode;
}

run().then((code) => process.exit(code), (e: Error) => {
  process.stdout.write(`${JSON.stringify({ cniVersion: '1.1.0', code: 999, msg: `ctnet-cni: ${e.message}` })}\n`);
  process.exit(1);
});
