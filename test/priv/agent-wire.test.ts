// Privileged tests of the agent's protocol (docs/agent-protocol.md, src/cli/daemon/): the hello and
// its version negotiation in both directions (a fake client whose min/max lie outside the agent's
// range), a CLI of the old daemon protocol, typed requests (network, attach, publish, check,
// detach, gc, cni) with an `events` follower seeing them, who may talk (a uid outside the group is
// refused before parsing even on a socket chmodded open; a group member may name only a netns it
// could open itself and may not skip host checks). Kernel state is read with `ip -j` / `nsenter ip
// -j`, the state with `ctnet-fast ls --json`; real traffic with ping. Names start with "agw-",
// subnets are in 10.236.0.0/16; afterEach kills the agent by pid and removes what a test made.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EndpointInfo, NetworkInfo } from '../../src/model/types.js';
import { assertSandbox, removeLeftovers } from '../helpers/index.js';
import { alive, daemonProcesses } from '../helpers/daemon-procs.js';
import { BIN, addrsOf, ctnet, ensureBuilt, ipj, testEnv, type Run } from './cli-network.test.js';

export type Line = Record<string, unknown>;
export const HELLO: Line = { v: 1, type: 'hello', min: 1, max: 1, client: 'agw-test/1' };
const NOBODY = 65534;
const OFF = { CTNET_DAEMON: 'off' } as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function ok(r: Run, what = ''): Run {
  assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/**
 * Send `lines` to the agent socket at once and collect every line it answers until it closes
 * (or, with `until`, until a line satisfies it). As `uid` when given (a child process).
 */
export function talk(sock: string, lines: readonly Line[], opts: { uid?: number; until?: (l: Line) => boolean; onLine?: (l: Line) => void } = {}): Promise<Line[]> {
  const text = lines.map((l) => JSON.stringify(l) + '\n').join('');
  if (opts.uid !== undefined) {
    const script = `const c = require('net').createConnection(process.argv[1]); let b = '';
c.on('connect', () => c.write(process.argv[2])); c.on('data', (d) => { b += d; });
c.on('error', (e) => { b += JSON.stringify({ connectError: e.code }) + '\\n'; }); c.on('close', () => process.stdout.write(b));`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script, sock, text], { uid: opts.uid, gid: opts.uid, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('error', reject);
      child.on('close', () => resolve(out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line)));
    });
  }
  return new Promise((resolve) => {
    const c = net.createConnection(sock);
    const got: Line[] = [];
    let buf = '';
    c.on('connect', () => c.write(text));
    c.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const l = JSON.parse(buf.slice(0, nl)) as Line;
        buf = buf.slice(nl + 1);
        got.push(l);
        opts.onLine?.(l);
        if (opts.until?.(l) === true) { c.destroy(); resolve(got); return; }
      }
    });
    c.on('error', (e: NodeJS.ErrnoException) => got.push({ connectError: e.code }));
    c.on('close', () => resolve(got));
  });
}

/** One typed request as root; its answer line (the one after the hello reply). */
export async function ask(sock: string, req: Line): Promise<Line> {
  const got = await talk(sock, [HELLO, { v: 1, id: 1, ...req }]);
  assert.equal(got[0]?.type, 'hello', `no hello reply: ${JSON.stringify(got)}`);
  return got[1] ?? {};
}

export function result<T>(answer: Line): T {
  assert.equal(answer.type, 'reply', `not a reply: ${JSON.stringify(answer)}`);
  return answer.result as T;
}

let publicBin: string | undefined;
/**
 * The CLI as another uid: that uid may not read the repository (CI clones it into a 0700
 * directory under /root), so a copy of bin/ctnet-fast.cjs and the bundles it loads
 * (dist/bundle: enough for `agent status|stop`) in a fresh world-readable temp dir runs.
 */
export function ctnetAs(uid: number, state: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  if (publicBin === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'agw-pub-'));
    for (const sub of ['bin', 'dist/bundle']) mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 });
    copyFileSync(BIN, path.join(dir, 'bin', 'ctnet-fast.cjs'));
    const bundles = path.join(path.dirname(BIN), '..', 'dist', 'bundle');
    for (const f of readdirSync(bundles).filter((x) => x.endsWith('.cjs'))) copyFileSync(path.join(bundles, f), path.join(dir, 'dist', 'bundle', f));
    spawnSync('chmod', ['-R', 'a+rX', dir]);
    publicBin = path.join(dir, 'bin', 'ctnet-fast.cjs');
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return spawnSync(process.execPath, [publicBin, ...args], { uid, gid: uid, cwd: '/', encoding: 'utf8', env: testEnv(state) });
}

/** Kill every agent serving `state` (by pid, checked to be one right before) and wait for them. */
export async function killAgents(state: string): Promise<void> {
  const pids = daemonProcesses(state);
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  for (let i = 0; i < 250 && pids.some(alive); i++) await sleep(20);
}

/** Remove the networks a test made (by local processes), then our leftovers. */
export async function cleanState(state: string, prefix: string): Promise<void> {
  ctnet(state, ['gc'], { env: OFF });
  const nets = ctnet(state, ['--json', 'network', 'ls'], { env: OFF });
  const names = nets.code === 0 ? nets.json<NetworkInfo[]>().map((n) => n.name) : [];
  if (names.length > 0) ctnet(state, ['network', 'rm', '--force', ...names], { env: OFF });
  await removeLeftovers(prefix);
}

describe('the agent protocol (privileged)', function () {
  this.timeout(60_000);
  let state: string;
  let sock: string;
  const children: ChildProcess[] = [];

  function start(extra: readonly string[] = []): { pid: number } {
    return ok(ctnet(state, ['--json', 'agent', 'start', ...extra]), 'agent start').json<{ pid: number }>();
  }

  before(() => {
    assertSandbox();
    ensureBuilt();
  });
  beforeEach(() => {
    state = mkdtempSync(path.join(tmpdir(), 'agw-state-'));
    sock = path.join(state, 'agent.sock');
  });
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await killAgents(state);
    chmodSync(state, 0o700);
    await cleanState(state, 'agw-');
    rmSync(state, { recursive: true, force: true });
  });

  it('hello: version 1 is agreed; a newer-only or older-only client gets EPROTO naming both ranges and the agent, then close; no hello first is EPROTO; an old-protocol CLI is told to run it itself', async () => {
    start();
    const good = await talk(sock, [{ ...HELLO, min: 1, max: 5 }, { v: 1, type: 'status', id: 9 }]);
    assert.deepEqual(good[0], { v: 1, type: 'hello', version: 1, agent: 'ctnet-fast/0.1.0' });
    assert.equal(good[1]?.id, 9);
    assert.equal((good[1]?.result as { protocol: unknown }).protocol !== undefined, true);
    // a newer client (speaks only 2..3): the agent is older
    const newer = await talk(sock, [{ v: 2, type: 'hello', min: 2, max: 3, client: 'future-cni/9.0' }, { v: 2, type: 'status', id: 1 }]);
    assert.equal(newer.length, 1, `one line, then close: ${JSON.stringify(newer)}`);
    assert.equal(newer[0]?.type, 'error');
    assert.equal(newer[0]?.code, 'EPROTO');
    assert.match(String(newer[0]?.message), /future-cni\/9\.0 speaks 2\.\.3, this agent \(ctnet-fast\/0\.1\.0\) speaks 1\.\.1; upgrade the agent/);
    // an older client (speaks only 0): the agent is newer
    const older = await talk(sock, [{ v: 0, type: 'hello', min: 0, max: 0, client: 'ancient/0.0.1' }]);
    assert.deepEqual(older.map((l) => [l.type, l.code]), [['error', 'EPROTO']]);
    assert.match(String(older[0]?.message), /ancient\/0\.0\.1 speaks 0\.\.0, this agent \(ctnet-fast\/0\.1\.0\) speaks 1\.\.1; upgrade the client/);
    const noHello = await talk(sock, [{ v: 1, type: 'status', id: 1 }]);
    assert.deepEqual(noHello.map((l) => [l.type, l.code]), [['error', 'EPROTO']]);
    assert.match(String(noHello[0]?.message), /expected a hello first/);
    const legacy = await talk(sock, [{ v: 1, pid: process.pid, argv: ['ls'] }]);
    assert.equal(legacy.length, 1);
    assert.match(String(legacy[0]?.local), /agent protocol 1\.\.1 \(hello first\); your ctnet-fast is older/);
    const unknown = await ask(sock, { type: 'frobnicate' });
    assert.equal(unknown.code, 'EPROTO');
    assert.match(String(unknown.message), /unknown request type "frobnicate"/);
    const st = result<{ served: number; declined: number }>(await ask(sock, { type: 'status' }));
    assert.deepEqual([st.served, st.declined], [0, 0], 'nothing was served or run');
  });

  it('typed requests: network, attach (with publish), check, publish, detach, gc; an events follower sees network/attach/publish/detach; kernel, state and ping agree', async () => {
    start();
    const events: Line[] = [];
    const follower = talk(sock, [HELLO, { v: 1, type: 'events', id: 5 }], { onLine: (l) => { if (l.type === 'event') events.push(l.event as Line); }, until: (l) => (l.event as Line | undefined)?.kind === 'detach' });
    for (let i = 0; i < 100 && result<{ subscribers: number }>(await ask(sock, { type: 'status' })).subscribers === 0; i++) await sleep(20);
    const netInfo = result<NetworkInfo>(await ask(sock, { type: 'network', spec: { name: 'agw-n1', subnet: '10.236.1.0/24', bridge: 'agw-br1' } }));
    assert.equal(netInfo.name, 'agw-n1');
    assert.equal(ipj(['link', 'show', 'dev', 'agw-br1']).length, 1, 'bridge in the kernel');
    const ep = result<EndpointInfo>(await ask(sock, { type: 'attach', network: 'agw-n1', netns: 'agw-c1', publish: ['127.0.0.1:18301:80'] }));
    assert.match(ep.address, /^10\.236\.1\.\d+\/24$/);
    assert.deepEqual(addrsOf('eth0', 'agw-c1'), [ep.address]);
    assert.equal(ipj(['link', 'show', 'dev', ep.hostIfname])[0]?.master, 'agw-br1');
    assert.equal(spawnSync('ip', ['netns', 'exec', 'agw-c1', 'ping', '-c1', '-W2', ep.gateway], { stdio: 'ignore' }).status, 0, 'ping the gateway');
    const ls = ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<EndpointInfo[]>();
    assert.deepEqual(ls.map((e) => [e.id, e.address]), [[ep.id, ep.address]]);
    const good = result<{ ok: boolean; problems: string[] }>(await ask(sock, { type: 'check', netns: 'agw-c1' }));
    assert.deepEqual(good, { ...good, ok: true, problems: [] });
    const pub = result<{ ports: unknown[] }>(await ask(sock, { type: 'publish', netns: 'agw-c1', ports: ['18302:80/udp'] }));
    assert.equal(pub.ports.length, 2);
    // damage behind its back: check says what is missing
    assert.equal(spawnSync('ip', ['link', 'set', ep.hostIfname, 'nomaster']).status, 0);
    const bad = result<{ ok: boolean; problems: string[] }>(await ask(sock, { type: 'check', netns: 'agw-c1' }));
    assert.equal(bad.ok, false);
    assert.match(bad.problems.join('; '), new RegExp(`host veth ${ep.hostIfname} is on no bridge, not on agw-br1`));
    assert.equal(spawnSync('ip', ['link', 'set', ep.hostIfname, 'master', 'agw-br1']).status, 0);
    assert.equal(spawnSync('ip', ['-n', 'agw-c1', 'addr', 'flush', 'dev', 'eth0']).status, 0);
    const bad2 = result<{ ok: boolean; problems: string[] }>(await ask(sock, { type: 'check', netns: 'agw-c1' }));
    assert.deepEqual(bad2.problems, [`eth0 in /run/netns/agw-c1 lacks ${ep.address}`]);
    const missing = await ask(sock, { type: 'attach', network: 'agw-nonet', netns: 'agw-c2' });
    assert.deepEqual([missing.type, missing.code, missing.id], ['error', 'ENOTFOUND', 1]);
    const det = result<{ detached: EndpointInfo[] }>(await ask(sock, { type: 'detach', netns: 'agw-c1' }));
    assert.deepEqual(det.detached.map((e) => e.id), [ep.id]);
    await follower;
    assert.deepEqual(events.map((e) => e.kind), ['network', 'attach', 'publish', 'detach']);
    assert.equal((events[1]?.endpoint as EndpointInfo).id, ep.id);
    assert.deepEqual(ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<unknown[]>(), []);
    const gc = result<{ errors: string[] }>(await ask(sock, { type: 'gc', dryRun: true }));
    assert.deepEqual(gc.errors, []);
    const st = result<{ served: number }>(await ask(sock, { type: 'status' }));
    assert.equal(st.served, 8, 'network, attach, check, publish, check, check, detach, gc (not the failed attach, not status or events)');
  });

  it('the CLI is a client of the same agent: its command lines show as events with via "cli"; a kinds filter drops the rest', async () => {
    ok(ctnet(state, ['network', 'create', 'agw-n4', '--subnet', '10.236.4.0/24', '--bridge', 'agw-br4'], { env: OFF }));
    start();
    const events: Line[] = [];
    const follower = talk(sock, [HELLO, { v: 1, type: 'events', id: 2, kinds: ['attach', 'detach'] }], { onLine: (l) => { if (l.type === 'event') events.push(l.event as Line); }, until: (l) => (l.event as Line | undefined)?.kind === 'detach' });
    for (let i = 0; i < 100 && result<{ subscribers: number }>(await ask(sock, { type: 'status' })).subscribers === 0; i++) await sleep(20);
    const ep = ok(ctnet(state, ['--json', 'attach', 'agw-e1', '--network', 'agw-n4'])).json<EndpointInfo>();
    ok(ctnet(state, ['publish', 'agw-e1', '18311:80']));
    ok(ctnet(state, ['detach', 'agw-e1']));
    await follower;
    assert.deepEqual(events.map((e) => [e.kind, e.via, (e.argv as string[]).join(' ')]), [
      ['attach', 'cli', '--json attach agw-e1 --network agw-n4'], ['detach', 'cli', 'detach agw-e1'],
    ]);
    assert.equal(result<{ served: number }>(await ask(sock, { type: 'status' })).served, 3, 'the three commands went through the agent');
    assert.deepEqual(ipj(['link', 'show', 'dev', ep.hostIfname]).filter((l) => l.master === 'agw-br4'), [], 'detached');
  });

  it('cni: VERSION through the agent answers as the plugin does; a request from a uid outside the group is refused before parsing, even on a socket opened by hand', async () => {
    start();
    const v = await ask(sock, { type: 'cni', env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' });
    assert.deepEqual([v.type, v.exitCode, v.id], ['reply', 0, 1]);
    assert.deepEqual((JSON.parse(String(v.stdout)) as { supportedVersions: string[] }).supportedVersions, ['0.4.0', '1.0.0', '1.1.0']);
    chmodSync(state, 0o711);
    // the mode refuses nobody at connect()
    const byMode = await talk(sock, [HELLO, { v: 1, type: 'status', id: 1 }], { uid: NOBODY });
    assert.deepEqual(byMode, [{ connectError: 'EACCES' }]);
    // opened by hand: the agent's own check (SO_PEERCRED) refuses it, and reads nothing it sent
    chmodSync(sock, 0o666);
    const refused = await talk(sock, [HELLO, { v: 1, type: 'gc', id: 1 }], { uid: NOBODY });
    assert.equal(refused.length, 1, JSON.stringify(refused));
    assert.deepEqual([refused[0]?.type, refused[0]?.code], ['error', 'EACCES']);
    assert.match(String(refused[0]?.message), /uid 65534 is neither root nor a member of the agent's group \(none configured: root only\)/);
    const garbage = await talk(sock, [{ not: 'a hello' }], { uid: NOBODY });
    assert.equal(garbage[0]?.code, 'EACCES', 'refused before the line was parsed');
    // the CLI as that user says so (exit 4), not "no agent running"
    const cliStatus = ctnetAs(NOBODY, state, ['agent', 'status']);
    assert.equal(cliStatus.status, 4, cliStatus.stderr);
    assert.match(cliStatus.stderr, new RegExp(`the agent at ${sock} refuses you \\(uid 65534\\): .*root and members of its configured group may talk to it`));
    const st = result<{ served: number }>(await ask(sock, { type: 'status' }));
    assert.equal(st.served, 1, 'only the VERSION was served');
  });

  it('a member of the configured group: served; names only a netns it could enter (its own user netns yes; a named one, that of init, its own in the host userns, /proc/self no); no host-check skips, no gc, no stop, no cli', async () => {
    const cfg = path.join(state, 'agent.json');
    writeFileSync(cfg, JSON.stringify({ group: String(NOBODY) }));
    ok(ctnet(state, ['network', 'create', 'agw-n2', '--subnet', '10.236.2.0/24', '--bridge', 'agw-br2'], { env: OFF }));
    start(['--config', cfg]);
    const s0 = result<{ group: string; gid: number }>(await ask(sock, { type: 'status' }));
    assert.deepEqual([s0.group, s0.gid], [String(NOBODY), NOBODY]);
    chmodSync(state, 0o711);
    const asNobody = async (req: Line): Promise<Line> => {
      const got = await talk(sock, [HELLO, { v: 1, id: 3, ...req }], { uid: NOBODY });
      assert.equal(got[0]?.type, 'hello', JSON.stringify(got));
      return got[1] ?? {};
    };
    assert.equal((await asNobody({ type: 'status' })).type, 'reply');
    const cliStatus = ctnetAs(NOBODY, state, ['--json', 'agent', 'status']);
    assert.equal(cliStatus.status, 0, cliStatus.stderr);
    assert.equal((JSON.parse(cliStatus.stdout) as { group: string }).group, String(NOBODY));
    // netns nobody could not enter: a named one root made, init's, its own process's in the host's user namespace
    assert.equal(spawnSync('ip', ['netns', 'add', 'agw-root']).status, 0);
    const plain = spawn('sleep', ['60'], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    children.push(plain);
    for (const [netns, why] of [
      ['agw-root', /may not name a named or bind-mounted netns/],
      ['/run/netns/agw-root', /may not name a named or bind-mounted netns/],
      ['/proc/1/ns/net', /does not own process 1 \(uid 0\)/],
      [`/proc/${plain.pid}/ns/net`, /names a netns of the agent's own user namespace \(the host's\)/],
    ] as const) {
      const a = await asNobody({ type: 'attach', network: 'agw-n2', netns });
      assert.deepEqual([a.type, a.code], ['error', 'EACCES'], `${netns}: ${JSON.stringify(a)}`);
      assert.match(String(a.message), why, netns);
    }
    assert.deepEqual(ipj(['link', 'show', 'master', 'agw-br2']), [], 'nothing was attached');
    const self = await asNobody({ type: 'attach', network: 'agw-n2', netns: '/proc/self/ns/net' });
    assert.deepEqual([self.type, self.code], ['error', 'EINVALID_INPUT']);
    const create = await asNobody({ type: 'attach', network: 'agw-n2', netns: 'agw-new' });
    assert.equal(create.type, 'error');
    assert.equal(existsSync('/run/netns/agw-new'), false, 'no netns created for nobody');
    // its own netns (a user namespace of its own): attached by the agent
    const own = spawn('unshare', ['-Urn', 'sleep', '60'], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    children.push(own);
    const nsPath = `/proc/${own.pid}/ns/net`;
    for (let i = 0; i < 100 && spawnSync('readlink', [nsPath], { encoding: 'utf8' }).stdout === spawnSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).stdout; i++) await sleep(20);
    const skip = await asNobody({ type: 'attach', network: 'agw-n2', netns: nsPath, skipHostPortChecks: true });
    assert.deepEqual([skip.type, skip.code], ['error', 'EPERM']);
    const att = await asNobody({ type: 'attach', network: 'agw-n2', netns: nsPath });
    assert.equal(att.type, 'reply', JSON.stringify(att));
    const ep = att.result as EndpointInfo;
    const inside = spawnSync('nsenter', [`--net=${nsPath}`, 'ip', '-j', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
    assert.equal(inside.status, 0, inside.stderr);
    assert.deepEqual((JSON.parse(inside.stdout) as Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>)
      .flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)), [ep.address]);
    for (const [req, code] of [
      [{ type: 'network', spec: { name: 'agw-n3', subnet: '10.236.3.0/24', ignoreHostRoutes: true } }, 'EPERM'],
      [{ type: 'gc' }, 'EPERM'],
      [{ type: 'stop' }, 'EPERM'],
    ] as const) {
      const a = await asNobody(req);
      assert.deepEqual([a.type, a.code], ['error', code], JSON.stringify(req));
    }
    const cli = await asNobody({ type: 'cli', pid: 1, argv: ['ls'] });
    assert.equal(cli.type, 'declined');
    assert.equal((await asNobody({ type: 'gc', dryRun: true })).type, 'reply');
    const det = await asNobody({ type: 'detach', netns: nsPath });
    assert.equal(det.type, 'reply', JSON.stringify(det));
    assert.deepEqual(ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<unknown[]>(), []);
    assert.ok(daemonProcesses(state).length === 1, 'the agent is still running');
    spawnSync('ip', ['netns', 'del', 'agw-root']);
  });
});
