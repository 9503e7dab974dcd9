// Privileged tests of the `ctnet-fast` command as a user runs it: spawned processes
// (`node bin/ctnet-fast.cjs …`, argument arrays), state in a temp dir, results checked
// against the kernel with `ip -j` / `nft -j`. Runs only inside test/sandbox.mjs
// (private net + mount namespace, tmpfs /run). Names start with "ccli-".
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetworkInfo } from '../../src/model/types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/ctnet-fast.cjs');

if (process.env.CTNET_SANDBOX !== '1') throw new Error('privileged CLI tests must run inside test/sandbox.mjs (node test/run.mjs …)');

/** Make sure dist/ has every src/ file compiled and not older than its source (the bin runs dist). */
export function ensureBuilt(): void {
  let stale = false;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = path.join(ROOT, 'dist', path.relative(ROOT, p)).replace(/\.ts$/, '.js');
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(p).mtimeMs) stale = true;
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  if (stale) {
    spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'ignore' });
    assert.ok(existsSync(path.join(ROOT, 'dist/src/cli/main.js')), 'tsc did not produce dist/src/cli/main.js');
  }
  // the bin loads the bundle first: it must not be older than what it bundles
  let newest = 0;
  const walkJs = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walkJs(p);
      else if (e.name.endsWith('.js')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walkJs(path.join(ROOT, 'dist/src'));
  const bundle = path.join(ROOT, 'dist/bundle/cli.cjs');
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= newest) return;
  const r = spawnSync('npm', ['run', '--silent', 'bundle'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm run bundle: ${r.stderr}`);
}

export interface Run { code: number | null; stdout: string; stderr: string; json<T = unknown>(): T }

export function testEnv(stateDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CTNET_STATE_DIR: stateDir, NO_COLOR: '1', ...extra };
  delete env.NODE_EXTRA_CA_CERTS; // no TLS here: spare every spawned CLI the CA bundle load
  return env;
}

function wrap(code: number | null, stdout: string, stderr: string): Run {
  return {
    code, stdout, stderr,
    json<T>(): T {
      try { return JSON.parse(stdout) as T; } catch { throw new Error(`stdout is not one JSON document (exit ${code}):\n${stdout}\nstderr: ${stderr}`); }
    },
  };
}

/** Run the CLI synchronously. */
export function ctnet(stateDir: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8', env: testEnv(stateDir, opts.env), timeout: 120_000, ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  return wrap(r.status, r.stdout, r.stderr);
}

/** Run the CLI as a child process (for concurrency), with extra env, another cwd, stdin from a file. */
export function ctnetAsync(stateDir: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdinFile?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const stdin = opts.stdinFile !== undefined ? openSync(opts.stdinFile, 'r') : 'ignore';
    const c = spawn(process.execPath, [BIN, ...args], {
      env: testEnv(stateDir, opts.env), stdio: [stdin, 'pipe', 'pipe'], ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    if (typeof stdin === 'number') closeSync(stdin);
    let out = '';
    let err = '';
    c.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve(wrap(code, out, err)));
  });
}

/** `ip -j ARGS` (in netns NS with -n), parsed; [] when ip fails (e.g. device absent). */
export function ipj(args: readonly string[], ns?: string): Array<Record<string, unknown>> {
  const r = spawnSync('ip', [...(ns !== undefined ? ['-n', ns] : []), '-j', ...args], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout.trim() === '') return [];
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}

export function addrsOf(dev: string, ns?: string): string[] {
  return ipj(['addr', 'show', 'dev', dev], ns).flatMap((l) => ((l.addr_info ?? []) as Array<{ local: string; prefixlen: number; family: string }>)
    .filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`));
}

/** The JSON objects of `nft -j list table ip ctnet` (elements of sets included). */
export function nftCtnet(): Array<Record<string, unknown>> {
  const r = spawnSync('nft', ['-j', 'list', 'table', 'ip', 'ctnet'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return ((JSON.parse(r.stdout) as { nftables: Array<Record<string, unknown>> }).nftables);
}

export function setElements(name: string): string {
  const set = nftCtnet().map((o) => (o.set ?? o.map) as Record<string, unknown> | undefined).find((s) => s?.name === name);
  return JSON.stringify(set?.elem ?? []);
}

export function tempState(): string {
  return mkdtempSync(path.join(tmpdir(), 'ccli-state-'));
}

/**
 * Run `fn` with the path of this checkout as another user can read it. A clone under /root
 * sits behind a 0700 directory, so a process of nobody's cannot even reach bin/; here the
 * checkout is bind-mounted (read-only) on a fresh world-readable directory in /tmp, in the
 * sandbox's private mount namespace (invisible outside it), and both are removed after
 * `fn`, even when it throws. Not under /run: the demo mounts its own tmpfs there.
 */
export function withReadableCheckout<T>(fn: (root: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'ccli-view-'));
  const view = path.join(dir, 'ctnet-fast');
  let mounted = false;
  try {
    chmodSync(dir, 0o755);
    mkdirSync(view);
    for (const args of [['--bind', ROOT, view], ['-o', 'remount,bind,ro', view]]) {
      const m = spawnSync('mount', args, { encoding: 'utf8' });
      assert.equal(m.status, 0, `mount ${args.join(' ')}: ${m.stderr}`);
      mounted = true;
    }
    return fn(view);
  } finally {
    if (mounted) {
      const u = spawnSync('umount', [view], { encoding: 'utf8' });
      if (u.status !== 0) spawnSync('umount', ['-l', view]); // a straggler still holds it: detach it
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('ctnet-fast CLI: networks (privileged)', function () {
  this.timeout(120_000);
  let state: string;
  before(() => {
    ensureBuilt();
    state = tempState();
  });
  after(() => {
    ctnet(state, ['network', 'rm', '--force', 'ccli-net1', 'ccli-net2', 'ccli-iso']);
    rmSync(state, { recursive: true, force: true });
  });

  it('version: one line, or one JSON document; exit 0', () => {
    const h = ctnet(state, ['version']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^ctnet-fast \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+, linux-\w+\)\n$/);
    const j = ctnet(state, ['version', '--json']).json<{ name: string; version: string }>();
    assert.equal(j.name, 'ctnet-fast');
  });

  it('network create: --json gives a NetworkInfo; the kernel has the bridge with the gateway address; nft knows the bridge', () => {
    const r = ctnet(state, ['--json', 'network', 'create', 'ccli-net1', '--subnet', '10.231.0.0/24', '--bridge', 'ccli-br1']);
    assert.equal(r.code, 0, r.stderr);
    const info = r.json<NetworkInfo>();
    assert.equal(info.name, 'ccli-net1');
    assert.equal(info.subnet, '10.231.0.0/24');
    assert.equal(info.gateway, '10.231.0.1');
    assert.equal(info.bridge, 'ccli-br1');
    assert.equal(info.masquerade, true);
    assert.equal(info.endpoints, 0);
    const link = ipj(['-d', 'link', 'show', 'dev', 'ccli-br1'])[0];
    assert.equal((link?.linkinfo as { info_kind?: string } | undefined)?.info_kind, 'bridge');
    assert.deepEqual(addrsOf('ccli-br1'), ['10.231.0.1/24']);
    assert.match(setElements('bridges'), /ccli-br1/);
  });

  it('network create again with the same settings is a no-op; different settings are an error naming the network', () => {
    const same = ctnet(state, ['network', 'create', 'ccli-net1', '--subnet', '10.231.0.0/24', '--bridge', 'ccli-br1']);
    assert.equal(same.code, 0, same.stderr);
    const diff = ctnet(state, ['network', 'create', 'ccli-net1', '--subnet', '10.231.1.0/24']);
    assert.equal(diff.code, 1);
    assert.match(diff.stderr, /^ctnet-fast: .*ccli-net1.*\n$/);
  });

  it('an overlapping subnet is refused (exit 1, one line naming both), nothing created', () => {
    const r = ctnet(state, ['--json', 'network', 'create', 'ccli-net2', '--subnet', '10.231.0.128/25', '--bridge', 'ccli-br2']);
    assert.equal(r.code, 1);
    const e = r.json<{ error: { code: string; message: string; exitCode: number } }>().error;
    assert.equal(e.exitCode, 1);
    assert.match(e.message, /overlap/i);
    assert.match(e.message, /ccli-net1|10\.231\.0\.0\/24/);
    assert.deepEqual(ipj(['link', 'show', 'dev', 'ccli-br2']), []);
  });

  it('a bad CIDR is a usage error (exit 2) naming --subnet', () => {
    const r = ctnet(state, ['network', 'create', 'ccli-net2', '--subnet', '10.231.5.0/40']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--subnet: invalid subnet "10\.231\.5\.0\/40"/);
  });

  it('network ls / inspect: human table and JSON; an unknown network is exit 3 with an error object', () => {
    assert.equal(ctnet(state, ['network', 'create', 'ccli-iso', '--subnet', '10.231.2.0/24', '--internal']).code, 0);
    const ls = ctnet(state, ['network', 'ls']);
    assert.equal(ls.code, 0);
    assert.match(ls.stdout, /^NAME +SUBNET +GATEWAY +BRIDGE +MTU +ENDPOINTS +FLAGS$/m);
    assert.match(ls.stdout, /^ccli-iso +10\.231\.2\.0\/24 .* internal$/m);
    const j = ctnet(state, ['network', 'ls', '--json']).json<NetworkInfo[]>();
    assert.deepEqual(j.map((n) => n.name).sort(), ['ccli-iso', 'ccli-net1']);
    assert.equal(j.find((n) => n.name === 'ccli-iso')?.internal, true);
    const insp = ctnet(state, ['--json', 'network', 'inspect', 'ccli-net1']).json<{ network: NetworkInfo; endpoints: unknown[] }>();
    assert.equal(insp.network.bridge, 'ccli-br1');
    assert.deepEqual(insp.endpoints, []);
    const missing = ctnet(state, ['--json', 'network', 'inspect', 'ccli-nope']);
    assert.equal(missing.code, 3);
    const e = missing.json<{ error: { code: string; message: string; hint?: string } }>().error;
    assert.equal(e.code, 'ENOTFOUND');
    assert.match(e.message, /ccli-nope/);
    const human = ctnet(state, ['network', 'inspect', 'ccli-nope']);
    assert.equal(human.code, 3);
    assert.equal(human.stdout, '');
    assert.match(human.stderr, /^ctnet-fast: network "ccli-nope" not found: list networks with: ctnet-fast network ls\n$/);
  });

  it('network rm removes the bridge; removing it again is exit 3', () => {
    const r = ctnet(state, ['--json', 'network', 'rm', 'ccli-iso']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json(), { removed: ['ccli-iso'] });
    const again = ctnet(state, ['network', 'rm', 'ccli-iso']);
    assert.equal(again.code, 3);
  });

  it('netns add / ls / del use the names `ip netns` sees', () => {
    const add = ctnet(state, ['netns', 'add', 'ccli-ns-a', 'ccli-ns-b']);
    assert.equal(add.code, 0, add.stderr);
    const seen = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' });
    const names = (JSON.parse(seen.stdout || '[]') as Array<{ name: string }>).map((n) => n.name);
    assert.ok(names.includes('ccli-ns-a') && names.includes('ccli-ns-b'), names.join(','));
    const ls = ctnet(state, ['--json', 'netns', 'ls']).json<Array<{ name: string; path: string }>>();
    assert.deepEqual(ls.filter((n) => n.name.startsWith('ccli-ns-')), [
      { name: 'ccli-ns-a', path: '/run/netns/ccli-ns-a' }, { name: 'ccli-ns-b', path: '/run/netns/ccli-ns-b' },
    ]);
    assert.equal(ctnet(state, ['netns', 'add', 'ccli-ns-a']).code, 1);
    const del = ctnet(state, ['netns', 'del', 'ccli-ns-a', 'ccli-ns-b']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(existsSync('/run/netns/ccli-ns-a'), false);
    assert.equal(ctnet(state, ['netns', 'del', 'ccli-ns-a']).code, 3);
  });

  it('without root privileges: exit 4 and one clear line, no stack trace', () => {
    const r = withReadableCheckout((root) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--',
      process.execPath, path.join(root, 'bin/ctnet-fast.cjs'), 'network', 'create', 'ccli-np', '--subnet', '10.231.9.0/24'], { encoding: 'utf8', env: testEnv(state), cwd: root }));
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, /^ctnet-fast: network create: permission denied \(not root: missing CAP_NET_ADMIN and CAP_SYS_ADMIN\): run as root, e\.g\. sudo ctnet-fast network create …\n$/);
  });
});
