// Privileged reproductions of the audit's attacks on the daemon (issue 10 items 4, 7, 8, 9), each
// shown to fail: --from-file naming a FIFO or a device (the daemon's event loop and memory), a state
// directory someone else can write (planted links, a replaced socket), a request naming another
// process's pid from another netns (socket and pipes), and pipe pairs lost to oversized requests.
// The CLI runs as a user runs it; what the daemon did is read from its own status, and kernel state
// from `ip -j`. Names start with "cdma-", subnets are in 10.234.0.0/16; afterEach kills the daemon
// by pid and removes what a test made, even after a failure. Runs inside test/sandbox.mjs.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants as fsc, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EndpointInfo, NetworkInfo } from '../../src/model/types.js';
import { assertSandbox, removeLeftovers } from '../helpers/index.js';
import { alive, daemonProcesses } from '../helpers/daemon-procs.js';
import { addrsOf, ctnet, ctnetAsync, ensureBuilt, ipj, type Run } from './cli-network.test.js';

interface Status { pid: number; served: number; declined: number; freePairs: number }
const OFF = { CTNET_DAEMON: 'off' } as const;
const NOBODY = 65534;

function ok(r: Run, what = ''): Run {
  assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function status(state: string): Status {
  return ok(ctnet(state, ['--json', 'daemon', 'status']), 'daemon status').json<Status>();
}



/** Run a node script (given as text, with args) inside netns `ns`; resolves to its stdout. */
function nodeIn(ns: string, script: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`attacker exit ${code}: ${err}`))));
  });
}

const HELLO = `JSON.stringify({ v: 1, type: 'hello', min: 1, max: 1, client: 'attacker' }) + '\\n'`;
/** A `cli` request over the socket with a pid of our choosing; prints the agent's answer. */
const SOCKET_ATTACK = `const [sock, pid, ...argv] = process.argv.slice(1);
const c = require('net').createConnection(sock); let b = '';
c.on('connect', () => c.write(${HELLO} + JSON.stringify({ v: 1, type: 'cli', id: 1, pid: Number(pid), argv }) + '\\n'));
c.on('data', (d) => { b += d; }); c.on('close', () => process.stdout.write(b)); c.on('error', () => {});`;

/** The same through a pipe pair, claimed in the decoy's name (busy/SEQ.PID). */
const PIPE_ATTACK = `const fs = require('fs'); const [base, pid, ...argv] = process.argv.slice(1);
const n = fs.readdirSync(base + '/free')[0]; const slot = n + '.' + pid; const dir = base + '/busy/' + slot;
fs.renameSync(base + '/free/' + n, dir);
const res = fs.openSync(dir + '/res', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
const req = fs.openSync(dir + '/req', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
fs.writeSync(req, ${HELLO} + JSON.stringify({ v: 1, type: 'cli', id: 1, pid: Number(pid), argv, slot }) + '\\n'); fs.closeSync(req);
let b = ''; const buf = Buffer.alloc(65536); const t0 = Date.now();
for (;;) { let k; try { k = fs.readSync(res, buf, 0, buf.length, null); } catch (e) { if (e.code !== 'EAGAIN') throw e; k = -1; }
  if (k > 0) { b += buf.toString('utf8', 0, k); if (b.includes('"declined"') || b.includes('"reply"')) break; }
  if (Date.now() - t0 > 10000) break; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); }
process.stdout.write(b);`;

describe('ctnet-fast daemon: the audit\'s attacks (privileged)', function () {
  this.timeout(60_000);
  let state: string;
  const extraDirs: string[] = [];
  const children: ChildProcess[] = [];
  const servers: net.Server[] = [];

  function start(dir = state): Status {
    ok(ctnet(dir, ['--json', 'daemon', 'start']), 'daemon start');
    return status(dir);
  }
  function network(name: string, subnet: string, bridge: string): NetworkInfo {
    return ok(ctnet(state, ['--json', 'network', 'create', name, '--subnet', subnet, '--bridge', bridge], { env: OFF }), `network create ${name}`).json<NetworkInfo>();
  }
  function bridgeExists(name: string): boolean {
    return ipj(['link', 'show', 'type', 'bridge']).some((l) => l.ifname === name);
  }

  before(() => {
    assertSandbox();
    ensureBuilt();
  });
  beforeEach(() => {
    state = mkdtempSync(path.join(tmpdir(), 'cdma-state-'));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const s of servers.splice(0)) s.close();
    for (const dir of [state, ...extraDirs]) {
      for (const p of daemonProcesses(dir)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    }
    for (let i = 0; i < 100 && [state, ...extraDirs].some((d) => daemonProcesses(d).length > 0); i++) await sleep(20);
    chmodSync(state, 0o700);
    chownSync(state, 0, 0);
    ctnet(state, ['gc'], { env: OFF });
    const nets = ctnet(state, ['--json', 'network', 'ls'], { env: OFF });
    const names = nets.code === 0 ? nets.json<NetworkInfo[]>().map((n) => n.name) : [];
    if (names.length > 0) ctnet(state, ['network', 'rm', '--force', ...names], { env: OFF });
    spawnSync('ip', ['netns', 'del', 'cdma-x'], { stdio: 'ignore' });
    for (const d of [state, ...extraDirs.splice(0)]) rmSync(d, { recursive: true, force: true });
    await removeLeftovers('cdma-');
  });

  // item 4
  it('--from-file naming a FIFO, //dev/zero or a link to it: refused at once, in the process and through the daemon; the daemon keeps answering and its memory stays small', async () => {
    const NET = 'cdma-n1';
    network(NET, '10.234.1.0/24', 'cdma-br1');
    const s0 = start();
    const cwd = mkdtempSync(path.join(state, 'cwd-'));
    spawnSync('mkfifo', [path.join(cwd, 'fifo')]);
    symlinkSync('/dev/zero', path.join(cwd, 'zero'));
    for (const [file, what] of [['fifo', 'a named pipe'], ['//dev/zero', 'a device'], ['zero', 'a device']] as const) {
      // a status asked while the attach runs is answered (the event loop is not blocked)
      const [viaDaemon, st] = await Promise.all([
        ctnetAsync(state, ['attach', '--network', NET, '--from-file', file], { cwd }),
        (async () => { await sleep(50); return ctnetAsync(state, ['--json', 'daemon', 'status']); })(),
      ]);
      const here = await ctnetAsync(state, ['attach', '--network', NET, '--from-file', file], { cwd, env: OFF });
      assert.equal(viaDaemon.code, 2, `${file} through the daemon: ${viaDaemon.stderr}`);
      assert.match(viaDaemon.stderr, new RegExp(`--from-file ${file}: cannot read: ${what}`));
      assert.deepEqual([here.code, here.stderr], [viaDaemon.code, viaDaemon.stderr], `${file}: the same in the process`);
      assert.equal(ok(st, 'daemon status during the attach').json<Status>().pid, s0.pid);
    }
    const s1 = status(state);
    assert.equal(s1.served, s0.served + 3, 'the daemon answered the three attaches (with the caller\'s error)');
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s1.pid}/status`, 'utf8'))?.[1]);
    assert.ok(rssKiB < 300 * 1024, `daemon RSS ${rssKiB} KiB`);
    // over the limit: an error naming it (a sparse file: no disk used)
    const big = path.join(cwd, 'big.txt');
    writeFileSync(big, '');
    truncateSync(big, (16 << 20) + 1);
    const tooBig = await ctnetAsync(state, ['attach', '--network', NET, '--from-file', big], { env: OFF });
    assert.equal(tooBig.code, 2, tooBig.stderr);
    assert.match(tooBig.stderr, /larger than the limit of 16 MiB/);
    // a link to a regular file the caller can read still works, through the daemon
    writeFileSync(path.join(cwd, 'real.txt'), 'cdma-l0\ncdma-l1\n');
    symlinkSync('real.txt', path.join(cwd, 'list'));
    const r = ok(await ctnetAsync(state, ['--json', 'attach', '--network', NET, '--from-file', 'list'], { cwd }), 'attach --from-file LINK');
    assert.deepEqual(r.json<EndpointInfo[]>().map((e) => e.netnsName), ['cdma-l0', 'cdma-l1']);
    for (const e of r.json<EndpointInfo[]>()) assert.deepEqual(addrsOf('eth0', e.netnsName), [e.address]);
    assert.equal(status(state).served, s1.served + 1);
  });

  // item 7
  it('a state directory others can write, or owned by another user, is refused before anything is created or followed in it', () => {
    const secret = path.join(mkdtempSync(path.join(tmpdir(), 'cdma-root-')), 'secret');
    extraDirs.push(path.dirname(secret));
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    chmodSync(state, 0o777);
    symlinkSync(secret, path.join(state, 'agent.log'));
    symlinkSync(secret, path.join(state, 'agent.starting'));
    for (const args of [['daemon', 'start'], ['network', 'ls'], ['network', 'rm', 'prod']]) {
      const r = ctnet(state, args, { env: { CTNET_DAEMON: 'auto' } });
      assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`refusing state directory ${state}: .*writable by group and others.*chmod go-w ${state}`));
    }
    assert.equal(readFileSync(secret, 'utf8'), 'root only\n', 'the root-only file was written through a planted link');
    assert.deepEqual(daemonProcesses(state), []);
    chmodSync(state, 0o700);
    chownSync(state, NOBODY, NOBODY);
    const r = ctnet(state, ['network', 'ls']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, new RegExp(`${state} is owned by uid ${NOBODY}`));
    assert.equal(readFileSync(secret, 'utf8'), 'root only\n');
  });

  it('a replaced agent.sock is not believed: in a writable directory nothing is sent; one owned by someone else is not talked to; planted links are not followed', async () => {
    let heard = 0;
    const fake = net.createServer((c) => { heard++; c.end(JSON.stringify({ o: 'network prod removed\n' }) + '\n' + JSON.stringify({ x: 0 }) + '\n'); });
    servers.push(fake);
    const sock = path.join(state, 'agent.sock');
    await new Promise<void>((resolve) => fake.listen(sock, resolve));
    chmodSync(state, 0o777);
    const rm = ctnet(state, ['network', 'rm', 'prod']);
    assert.equal(rm.code, 4, rm.stderr);
    assert.doesNotMatch(rm.stdout, /removed/);
    // trusted directory, but the socket belongs to another uid (as if it were planted): run here instead
    chmodSync(state, 0o700);
    chownSync(sock, NOBODY, NOBODY);
    const ls = ctnet(state, ['--json', 'network', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.json<NetworkInfo[]>(), []);
    assert.equal(heard, 0, 'the fake daemon received a command');
    // links in a trusted directory (root's own mistake) are not followed either
    fake.close();
    rmSync(sock, { force: true });
    const target = path.join(state, 'target');
    writeFileSync(target, 'keep\n', { mode: 0o600 });
    symlinkSync(target, path.join(state, 'agent.log'));
    const st = ctnet(state, ['daemon', 'start']);
    assert.notEqual(st.code, 0, 'daemon start wrote its log through a link');
    assert.equal(readFileSync(target, 'utf8'), 'keep\n');
    assert.ok(lstatSync(path.join(state, 'agent.log')).isSymbolicLink());
  });

  // item 8
  it('a root process in another netns naming an unrelated process\'s pid is handed back on the socket and on the pipes; nothing runs', async () => {
    const NET = 'cdma-n2';
    network(NET, '10.234.2.0/24', 'cdma-br2');
    start();
    assert.equal(spawnSync('ip', ['netns', 'add', 'cdma-x']).status, 0);
    const argv = ['network', 'rm', NET];
    // the decoy: a process in the daemon's netns whose command line ends with the attacker's argv
    const decoy = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...argv], { stdio: 'ignore' });
    children.push(decoy);
    await sleep(100);
    const s0 = status(state);
    const viaSocket = await nodeIn('cdma-x', SOCKET_ATTACK, [path.join(state, 'agent.sock'), String(decoy.pid), ...argv]);
    const NOT_YOU = { v: 1, type: 'declined', id: 1, reason: 'your pid does not name you here (another pid namespace?)' };
    const answer = (text: string): unknown[] => text.trim().split('\n').map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(answer(viaSocket), [{ v: 1, type: 'hello', version: 1, agent: 'ctnet-fast/0.1.0' }, NOT_YOU]);
    const viaPipe = await nodeIn('cdma-x', PIPE_ATTACK, [path.join(state, 'agent.pipes'), String(decoy.pid), ...argv]);
    assert.deepEqual(answer(viaPipe)[1], NOT_YOU);
    assert.ok(bridgeExists('cdma-br2'), 'the bridge was removed by a request that lied about its pid');
    const s1 = status(state);
    assert.deepEqual([s1.served, s1.declined], [s0.served, s0.declined + 2]);
    // the netns is what counts: the same command from there, honestly, is handed back too
    const honest = await nodeIn('cdma-x', SOCKET_ATTACK.replace('Number(pid)', 'process.pid'), [path.join(state, 'agent.sock'), '0', ...argv]);
    assert.match(String((answer(honest)[1] as { reason?: string }).reason), /pid does not name you|another network namespace/);
    assert.ok(bridgeExists('cdma-br2'));
  });

  // item 9
  it('three requests over the 4 MiB line limit on pipe pairs: each pair is replaced, 8 stay free; the next attach is served', async () => {
    const NET = 'cdma-n3';
    network(NET, '10.234.3.0/24', 'cdma-br3');
    const s0 = start();
    const base = path.join(state, 'agent.pipes');
    const pairs = (): number => readdirSync(path.join(base, 'free')).length;
    assert.equal(pairs(), 8);
    for (let i = 0; i < 3; i++) {
      const n = readdirSync(path.join(base, 'free'))[0] as string;
      const dir = path.join(base, 'busy', `${n}.${process.pid}`);
      renameSync(path.join(base, 'free', n), dir);
      const res = openSync(path.join(dir, 'res'), fsc.O_RDONLY | fsc.O_NONBLOCK);
      const req = openSync(path.join(dir, 'req'), fsc.O_WRONLY);
      const chunk = Buffer.alloc(64 * 1024, 'a');
      try {
        for (let k = 0; k < 68; k++) writeSync(req, chunk); // 4.25 MiB, no newline
      } catch { /* EPIPE: the daemon dropped the pair */ }
      closeSync(req);
      closeSync(res);
    }
    let free = pairs();
    for (let t = 0; t < 250 && free !== 8; t++) { await sleep(20); free = pairs(); }
    assert.equal(free, 8, 'free pipe pairs after three oversized requests');
    assert.equal(status(state).freePairs, 8);
    assert.deepEqual(readdirSync(path.join(base, 'busy')), [], 'dropped pairs left in busy/');
    const ep = ok(ctnet(state, ['--json', 'attach', 'cdma-p0', '--network', NET]), 'attach').json<EndpointInfo>();
    assert.deepEqual(addrsOf('eth0', 'cdma-p0'), [ep.address]);
    assert.equal(status(state).served, s0.served + 1 + 0);
    assert.ok(existsSync(base));
  });
});
