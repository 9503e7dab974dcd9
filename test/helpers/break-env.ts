/**
 * test/helpers/break-env.ts — what the suites that try to break ctnet-fast share
 * (test/priv/break-*.test.ts; issue 10): the CLI run in-process (`CTNET_DAEMON=off`, argument
 * arrays, no shell) with an optional kill (the addon's kill-at-step hook, or SIGKILL after a
 * delay), a scale knob, and a scorched-earth reset of everything a break test can leave.
 *
 * Only ever used inside the test sandbox (test/sandbox.mjs): the reset deletes links tagged
 * "ctnet:", /run/netns entries with the test's prefix and our nft tables.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ip, links } from './oracle.js';
import { assertSandbox } from './sandbox.js';
import { readStore } from './break-oracle.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/ctnet-fast.cjs');

/** BREAK_SCALE=10 runs 10× more random trials (default 1). */
export const SCALE = Math.max(1, Number(process.env.BREAK_SCALE ?? '1') || 1);

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; args: readonly string[]; ms: number }

export function describeRun(r: Run): string {
  return `ctnet-fast ${r.args.join(' ')} → ${r.signal ?? `exit ${r.code}`}${r.stderr.trim() !== '' ? `: ${r.stderr.trim().split('\n').slice(0, 4).join(' | ')}` : ''}`;
}

/** A stack trace in output: "    at fn (file:line:col)" lines. */
export function hasStackTrace(r: Run): boolean {
  return /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>)$/m.test(r.stderr + r.stdout);
}

export function cliEnv(stateDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CTNET_STATE_DIR: stateDir, CTNET_DAEMON: 'off', NO_COLOR: '1' };
  delete env.NODE_EXTRA_CA_CERTS; // spare every CLI start-up the CA bundle
  delete env.CTNET_TEST_KILL_AT_STEP;
  delete env.CTNET_TEST_KILL_AFTER_STEP;
  return { ...env, ...extra };
}

/**
 * Run `ctnet-fast ARGS` in-process (no daemon). `killAfterMs`: SIGKILL it after that many
 * milliseconds (random-instant kills); `env`: e.g. { CTNET_TEST_KILL_AT_STEP: '3' }.
 */
export function cli(stateDir: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; killAfterMs?: number; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const c = spawn(process.execPath, [BIN, ...args], { env: cliEnv(stateDir, opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timers: NodeJS.Timeout[] = [];
    if (opts.killAfterMs !== undefined) timers.push(setTimeout(() => c.kill('SIGKILL'), opts.killAfterMs));
    timers.push(setTimeout(() => { stderr += '\n[break-env: timed out, killed]'; c.kill('SIGKILL'); }, opts.timeoutMs ?? 120_000));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolve({ code, signal, stdout, stderr, args, ms: Date.now() - t0 });
    });
  });
}

/** Run and require exit 0 (setup steps). */
export async function cliOk(stateDir: string, args: readonly string[]): Promise<Run> {
  const r = await cli(stateDir, args);
  if (r.code !== 0) throw new Error(`setup failed: ${describeRun(r)}`);
  return r;
}

export function newStateDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `${prefix}state-`));
}

function newestMtime(dir: string, exts: readonly string[]): number {
  let m = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) m = Math.max(m, newestMtime(p, exts));
    else if (exts.some((x) => e.name.endsWith(x))) m = Math.max(m, statSync(p).mtimeMs);
  }
  return m;
}

/**
 * The bin runs dist/bundle/cli.cjs: rebuild it (tsc + bundle) when src/ is newer. Returns a
 * note when the addon is older than native/ (a test that needs a new native hook says so).
 */
export function ensureBuilt(): string | undefined {
  const bundle = path.join(ROOT, 'dist/bundle/cli.cjs');
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < newestMtime(path.join(ROOT, 'src'), ['.ts', '.js'])) {
    spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'ignore' });
    const r = spawnSync('npm', ['run', '--silent', 'bundle'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm run bundle failed: ${r.stderr}`);
  }
  const addon = path.join(ROOT, 'build/Release/ctnet_native.node');
  if (existsSync(addon) && statSync(addon).mtimeMs < newestMtime(path.join(ROOT, 'native'), ['.cc', '.h'])) {
    return 'build/Release/ctnet_native.node is older than native/ (run `npx node-gyp build`)';
  }
  return undefined;
}

/**
 * Remove everything a break test can leave in this netns: links tagged "ctnet:" (bridges,
 * host veths), links named PREFIX*, /run/netns/PREFIX* (the links inside go with them),
 * host veths named like the store's (ctvTAG*), our nft tables, and the state dir itself.
 * Links are deleted bridges last, so veths go first (each delete is ~30 ms in the kernel).
 */
export async function resetWorld(prefix: string, stateDir?: string, keepNetns: readonly string[] = []): Promise<void> {
  assertSandbox();
  if (prefix.length < 3) throw new Error(`reset prefix "${prefix}" is too short to be safe`);
  const tag = stateDir !== undefined && existsSync(stateDir) ? (() => { try { return readStore(stateDir).ifnameTag; } catch { return undefined; } })() : undefined;
  let names: string[] = [];
  try { names = readdirSync('/run/netns'); } catch { names = []; }
  for (const n of names) {
    if (n.startsWith(prefix) && !keepNetns.includes(n)) await ip(['netns', 'del', n]).catch(() => undefined);
  }
  const all = await links();
  const doomed = all.filter((l) => (l.ifalias ?? '').startsWith('ctnet:') || (l.ifname.startsWith(prefix) && !keepNetns.includes(l.ifname))
    || (tag !== undefined && l.ifname.startsWith(`ctv${tag}`)));
  doomed.sort((a, b) => Number(a.linkinfo?.info_kind === 'bridge') - Number(b.linkinfo?.info_kind === 'bridge'));
  for (const l of doomed) await ip(['link', 'del', 'dev', l.ifname]).catch(() => undefined);
  for (const fam of ['ip', 'ip6', 'bridge']) spawnSync('nft', ['delete', 'table', fam, 'ctnet'], { stdio: 'ignore' });
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
}

/** A deterministic PRNG (mulberry32) so a failing random trial names its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SEED = Number(process.env.BREAK_SEED ?? String(Date.now() % 1_000_000));
