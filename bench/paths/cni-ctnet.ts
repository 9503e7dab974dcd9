/**
 * bench/paths/cni-ctnet.ts — our CNI plugin, the compiled shim build/Release/ctnet-cni,
 * invoked exactly as bench/paths/cni.ts invokes Debian's reference bridge (the same config
 * keys, subnet and bridge name, the same CNI_* environment, DEL given the ADD result as
 * prevResult); the netns is the runtime's part, made and deleted untimed, so ADD and DEL are
 * timed as a runtime sees them (bench/paths/cni-chain.ts is the reference chain timed the same way):
 *
 *   cni-ctnet       "agent": "required" — the shim hands each call to `ctnet-fast agent run`
 *                   (started untimed in setup, in this worker's namespace, and stopped in close)
 *   cni-ctnet-self  no agent — the shim execs `node dist/bundle/cni.cjs` (self-contained)
 *
 * prepare(i): ip netns add kI (untimed: the runtime's part)
 * attach(i):  ctnet-cni ADD
 * detach(i):  ctnet-cni DEL
 * cleanup(i): ip netns del kI (untimed: the runtime's part)
 * Process start is included in every call, as a runtime pays it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ip, run, sleep } from '../lib/proc.js';
import { cniEnv } from './cni.js';
import { benchPortMappings } from './cni-chain.js';
import type { ContainerPath } from './types.js';
import { Unavailable } from './unavailable.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHIM = path.join(ROOT, 'build', 'Release', 'ctnet-cni');
const CLI = path.join(ROOT, 'bin', 'ctnet-fast.cjs');
const BUNDLE = path.join(ROOT, 'dist', 'bundle', 'cni.cjs');
const STATE_DIR = '/run/cni-bench/ctnet-state';

export function cniCtnetPath(opts: { readonly agent: boolean }): ContainerPath {
  // bench/paths/cni.ts's config, with our type and where our state lives.
  const conf = {
    cniVersion: '1.0.0',
    name: 'benchnet',
    type: 'ctnet-cni',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: false,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/16' }]] },
    ctnetStateDir: STATE_DIR,
    agent: opts.agent ? 'required' : 'fallback',
    capabilities: { portMappings: true },
  };
  // the same published port as the reference chain's portmap (cni-chain.ts), as a runtime passes it
  const confOf = (i: number): Record<string, unknown> => ({ ...conf, runtimeConfig: { portMappings: benchPortMappings(i) } });
  const results = new Map<number, unknown>();
  let agent: ChildProcess | undefined;

  function plugin(command: 'ADD' | 'DEL', i: number, stdin: string): string {
    return run(SHIM, [], { input: stdin, env: cniEnv(command, i) });
  }

  return {
    name: opts.agent ? 'cni-ctnet' : 'cni-ctnet-self',
    async setup() {
      try {
        accessSync(SHIM, constants.X_OK);
      } catch {
        throw new Unavailable(`${SHIM} is not built (npx node-gyp rebuild)`);
      }
      for (const f of opts.agent ? [BUNDLE, CLI] : [BUNDLE]) if (!existsSync(f)) throw new Unavailable(`${f} is missing (npm run build)`);
      mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
      if (!opts.agent) return;
      agent = spawn(process.execPath, [CLI, '--state-dir', STATE_DIR, 'agent', 'run'], { stdio: ['ignore', 'ignore', 'inherit'] });
      const sock = path.join(STATE_DIR, 'agent.sock');
      for (let waited = 0; !existsSync(sock); waited += 20) {
        if (agent.exitCode !== null || waited > 30000) throw new Error(`ctnet-fast agent run did not listen on ${sock} (exit ${agent.exitCode ?? 'none yet'})`);
        await sleep(20);
      }
    },
    async prepare(i) {
      ip('netns', 'add', `k${i}`); // the runtime's part, untimed: ADD is timed, as a runtime sees it
    },
    async attach(i) {
      results.set(i, JSON.parse(plugin('ADD', i, JSON.stringify(confOf(i)))));
    },
    async detach(i) {
      plugin('DEL', i, JSON.stringify({ ...confOf(i), prevResult: results.get(i) }));
      results.delete(i);
    },
    async cleanup(i) {
      ip('netns', 'del', `k${i}`); // the runtime's part, untimed
    },
    async close() {
      if (agent === undefined || agent.exitCode !== null) return;
      const exited = new Promise((resolve) => agent!.once('exit', resolve));
      agent.kill('SIGTERM');
      await exited;
    },
    info() {
      let version = 'unknown';
      try {
        version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
      } catch { /* keep unknown */ }
      return {
        plugin: `ctnet-cni ${version} (${opts.agent ? 'compiled shim → agent' : 'compiled shim → node dist/bundle/cni.cjs'})`,
        ipMasq: false,
        runner: `execFileSync: ctnet-cni ADD per attach, after an untimed ip netns add; ctnet-cni DEL per detach, then an untimed ip netns del${opts.agent ? '; agent started untimed in setup' : ''}`,
        node: run(process.execPath, ['--version']).trim(),
      };
    },
  };
}
