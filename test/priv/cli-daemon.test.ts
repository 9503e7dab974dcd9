// Privileged tests of the resident daemon (`ctnet-fast daemon start|stop|status|run`, src/cli/daemon.ts)
// and of its client half in bin/ctnet-fast.cjs: command lines relayed to it, "run it yourself"
// fallbacks, a daemon killed mid-command, the idle exit, relative paths. The CLI is spawned as a
// user runs it (argument arrays, state in a temp dir); what the daemon did is read from its own
// `served` / `declined` counters, and the results are checked against the kernel (`ip -j`,
// `nft -j`) and with real traffic (ping, TCP through a published port), all inside
// test/sandbox.mjs. Names start with "cdmn-", subnets are in 10.233.0.0/16, and every test
// leaves no daemon behind: afterEach kills it by pid (from its status), even after a failure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EndpointInfo, GcReport, NetworkInfo } from '../../src/model/types.js';
import { assertSandbox, removeLeftovers } from '../helpers/index.js';
import { alive, daemonProcesses } from '../helpers/daemon-procs.js';
import { connect, startServer, type PeerServer } from '../helpers/traffic.js';
import { BIN, addrsOf, ctnet, ctnetAsync, ensureBuilt, ipj, setElements, testEnv, type Run } from './cli-network.test.js';

/** `daemon status --json` (and `daemon start --json`, which adds `started`). */
interface Status {
  running: true; pid: number; socket: string; stateDir: string; startedAt: string; uptimeMs: number;
  served: number; declined: number; inFlight: number; idleTimeout: number; started?: boolean;
}

const OFF = { CTNET_DAEMON: 'off' } as const;
const SOCKET = 'agent.sock';
const PID_FILE = 'agent.pid';
/** The agent's directory of named-pipe pairs (the CLI's fast transport). */
const PIPES_DIR = 'agent.pipes';
/** The agent protocol's hello (docs/agent-protocol.md). */
const HELLO = JSON.stringify({ v: 1, type: 'hello', min: 1, max: 1, client: 'cdmn-test' }) + '\n';

function ok(r: Run, what = ''): Run {
  assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** `ctnet-fast daemon status --json`: the status, or undefined when it says none is running (exit 3). */
function status(stateDir: string): Status | undefined {
  const r = ctnet(stateDir, ['--json', 'daemon', 'status']);
  if (r.code === 3) return undefined;
  return ok(r, 'daemon status').json<Status>();
}

function mustStatus(stateDir: string): Status {
  const s = status(stateDir);
  assert.ok(s !== undefined, 'daemon status: no daemon is running');
  return s;
}

/** The status straight from the socket, without starting a process (for tight polling and cleanup). */
function sockStatus(stateDir: string, timeoutMs = 2000): Promise<Status | undefined> {
  return new Promise((resolve) => {
    const c = net.createConnection(path.join(stateDir, SOCKET));
    let buf = '';
    const done = (s: Status | undefined): void => { clearTimeout(t); c.destroy(); resolve(s); };
    const t = setTimeout(() => done(undefined), timeoutMs);
    c.on('connect', () => c.write(HELLO + JSON.stringify({ v: 1, type: 'status', id: 1 }) + '\n'));
    c.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      if (lines.length < 3) return; // the hello reply, then the status
      try {
        const s = (JSON.parse(lines[1] ?? '') as { result?: Status }).result;
        done(typeof s?.pid === 'number' ? s : undefined);
      } catch {
        done(undefined);
      }
    });
    c.on('error', () => done(undefined));
    c.on('close', () => done(undefined));
  });
}


async function waitGone(pid: number, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > ms) return false;
    await sleep(10);
  }
  return true;
}


function ping(fromNs: string, ip: string): boolean {
  for (let i = 0; i < 3; i++) {
    if (spawnSync('ip', ['netns', 'exec', fromNs, 'ping', '-c1', '-W1', ip], { stdio: 'ignore' }).status === 0) return true;
  }
  return false;
}

/** Addresses of eth0 as `ip -j addr` prints them when run through `ctnet-fast exec NETNS --` (bypasses the daemon). */
function addrsViaExec(stateDir: string, ns: string): string[] {
  const r = ok(ctnet(stateDir, ['exec', ns, '--', 'ip', '-j', 'addr', 'show', 'dev', 'eth0']), `exec ${ns}`);
  return (JSON.parse(r.stdout) as Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>)
    .flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`));
}

/** Is `pid` a `daemon run` for this state dir (so that cleanup never signals a recycled pid)? */
function isOurDaemon(pid: number, stateDir: string): boolean {
  return daemonProcesses(stateDir).includes(pid);
}

/** Names of host-side veths our product made (ctv…) in the sandbox netns. */
function ctvVeths(): string[] {
  return ipj(['link', 'show', 'type', 'veth']).map((l) => String(l.ifname)).filter((n) => n.startsWith('ctv'));
}

describe('ctnet-fast daemon (privileged)', function () {
  this.timeout(60_000);
  let state: string;
  let sock: string;
  const pids = new Set<number>();
  const servers: PeerServer[] = [];

  /** `daemon start --json` (remembering the pid for cleanup). */
  function start(extra: readonly string[] = []): Status {
    const s = ok(ctnet(state, ['--json', 'daemon', 'start', ...extra]), 'daemon start').json<Status>();
    pids.add(s.pid);
    return s;
  }

  /** A network made by a local process (not through the daemon). */
  function network(name: string, subnet: string, bridge: string): NetworkInfo {
    return ok(ctnet(state, ['--json', 'network', 'create', name, '--subnet', subnet, '--bridge', bridge], { env: OFF }), `network create ${name}`).json<NetworkInfo>();
  }

  before(() => {
    assertSandbox();
    ensureBuilt();
    state = mkdtempSync(path.join(tmpdir(), 'cdmn-state-'));
    sock = path.join(state, SOCKET);
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) s.stop();
    // the daemon first, by pid (its status, what start reported, any `daemon run` for this state
    // dir), each checked to still be our daemon right before the signal
    const s = await sockStatus(state);
    if (s !== undefined) pids.add(s.pid);
    for (const p of daemonProcesses(state)) pids.add(p);
    const killed = [...pids].filter((p) => isOurDaemon(p, state));
    pids.clear();
    for (const p of killed) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone already */ }
    }
    for (const p of killed) await waitGone(p, 5000);
    // then what the test built, by local processes
    ctnet(state, ['gc'], { env: OFF });
    const nets = ctnet(state, ['--json', 'network', 'ls'], { env: OFF });
    const names = nets.code === 0 ? nets.json<NetworkInfo[]>().map((n) => n.name) : [];
    if (names.length > 0) ctnet(state, ['network', 'rm', '--force', ...names], { env: OFF });
    await removeLeftovers('cdmn-');
  });

  after(() => {
    if (state !== undefined) rmSync(state, { recursive: true, force: true });
  });

  it('start → status (pid alive, served 0) → attach through it (served 1); kernel, exec and ping agree; errors read the same without the daemon', () => {
    const NET = 'cdmn-n1';
    network(NET, '10.233.1.0/24', 'cdmn-br1');
    const started = start();
    assert.equal(started.started, true);
    const s0 = mustStatus(state);
    assert.equal(s0.pid, started.pid);
    assert.ok(alive(s0.pid), `pid ${s0.pid} is not running`);
    assert.deepEqual(readFileSync(`/proc/${s0.pid}/cmdline`, 'utf8').split('\0').slice(1, 4), [BIN, 'agent', 'run']);
    assert.deepEqual([s0.served, s0.declined, s0.inFlight, s0.idleTimeout], [0, 0, 0, 0]);
    assert.equal(s0.socket, sock);
    assert.ok(statSync(sock).isSocket());
    // root and the configured group (none here: root's group) may connect; others are refused by the mode
    assert.equal(statSync(sock).mode & 0o777, 0o660, 'socket mode');
    assert.equal(statSync(sock).gid, 0, 'socket group');
    assert.equal(readFileSync(path.join(state, PID_FILE), 'utf8').trim(), String(s0.pid));

    const ep = ok(ctnet(state, ['--json', 'attach', 'cdmn-a1', '--network', NET])).json<EndpointInfo>();
    const s1 = mustStatus(state);
    assert.equal(s1.served, 1, 'the attach did not go through the daemon');
    assert.equal(s1.pid, s0.pid);
    assert.equal(ep.netnsName, 'cdmn-a1');
    assert.match(ep.address, /^10\.233\.1\.\d+\/24$/);
    assert.deepEqual(addrsOf('eth0', 'cdmn-a1'), [ep.address]);
    assert.deepEqual(addrsViaExec(state, 'cdmn-a1'), [ep.address]);
    assert.equal(ipj(['link', 'show', 'dev', ep.hostIfname])[0]?.master, 'cdmn-br1');
    assert.equal(ep.gateway, '10.233.1.1');
    assert.ok(ping('cdmn-a1', ep.gateway ?? '?'), 'cdmn-a1 → gateway ping');

    // the same command line gives the same bytes and exit code with and without the daemon
    const cases: string[][] = [
      ['attach', 'cdmn-a2', '--network', 'cdmn-nonet'],
      ['--json', 'attach', 'cdmn-a2', '--network', 'cdmn-nonet'],
      ['--json', 'ls'],
    ];
    for (const args of cases) {
      const before = mustStatus(state).served;
      const viaDaemon = ctnet(state, args);
      assert.equal(mustStatus(state).served, before + 1, `${args.join(' ')} did not go through the daemon`);
      const here = ctnet(state, args, { env: OFF });
      assert.equal(mustStatus(state).served, before + 1, `${args.join(' ')} with CTNET_DAEMON=off went through the daemon`);
      assert.deepEqual({ code: viaDaemon.code, stdout: viaDaemon.stdout, stderr: viaDaemon.stderr },
        { code: here.code, stdout: here.stdout, stderr: here.stderr }, `${args.join(' ')}: daemon vs CTNET_DAEMON=off`);
    }
    const human = ctnet(state, cases[0] ?? []);
    assert.equal(human.code, 3);
    assert.equal(human.stdout, '');
    assert.equal(human.stderr, 'ctnet-fast: network "cdmn-nonet" not found: list networks with: ctnet-fast network ls\n');
    assert.equal(existsSync('/run/netns/cdmn-a2'), false, 'nothing created for the failed attach');
    assert.deepEqual(ctnet(state, ['--json', 'ls']).json<EndpointInfo[]>().map((e) => e.id), [ep.id]);
  });

  it('50 concurrent attach through the daemon: all exit 0, 50 distinct addresses in the kernel, served +50', async () => {
    const NET = 'cdmn-n2';
    const BR = 'cdmn-br2';
    network(NET, '10.233.4.0/22', BR);
    start();
    const s0 = mustStatus(state);
    const names = Array.from({ length: 50 }, (_, i) => `cdmn-p${i}`);
    const runs = await Promise.all(names.map((n) => ctnetAsync(state, ['--json', 'attach', n, '--network', NET])));
    assert.deepEqual(runs.filter((r) => r.code !== 0).map((r) => `exit ${r.code}: ${r.stderr}`), []);
    const s1 = mustStatus(state);
    assert.equal(s1.pid, s0.pid);
    assert.equal(s1.served - s0.served, 50, 'not every attach went through the daemon');
    assert.equal(s1.declined, s0.declined);
    assert.equal(s1.inFlight, 0);
    const eps = runs.map((r) => r.json<EndpointInfo>());
    assert.deepEqual(eps.map((e) => e.netnsName), names);
    assert.equal(new Set(eps.map((e) => e.ip)).size, 50, `duplicate addresses: ${eps.map((e) => e.ip).join(' ')}`);
    for (const e of eps) {
      assert.deepEqual(addrsOf('eth0', e.netnsName), [e.address], e.netnsName);
      assert.equal(ipj(['link', 'show', 'dev', e.hostIfname])[0]?.master, BR, e.hostIfname);
    }
    assert.deepEqual(ipj(['link', 'show', 'master', BR]).map((l) => String(l.ifname)).sort(), eps.map((e) => e.hostIfname).sort());
    assert.ok(ping('cdmn-p0', eps[49]?.ip ?? '?'), 'cdmn-p0 → cdmn-p49 ping');
    const d = ok(ctnet(state, ['--json', 'detach', ...names]));
    assert.equal(d.json<{ detached: EndpointInfo[] }>().detached.length, 50);
    assert.equal(mustStatus(state).served, s1.served + 1);
    for (const n of names) assert.equal(existsSync(`/run/netns/${n}`), false, n);
  });

  it('CTNET_DAEMON=off runs here (served unchanged); another CTNET_BACKEND or another netns is declined and runs here', () => {
    const NET = 'cdmn-n3';
    network(NET, '10.233.3.0/24', 'cdmn-br3');
    start();
    const s0 = mustStatus(state);

    const off = ok(ctnet(state, ['--json', '-v', 'attach', 'cdmn-o1', '--network', NET], { env: OFF }));
    const s1 = mustStatus(state);
    assert.deepEqual([s1.served, s1.declined], [s0.served, s0.declined], 'CTNET_DAEMON=off reached the daemon');
    assert.match(off.stderr, /library loaded in/, 'the attach did not load the library here');
    const o1 = off.json<EndpointInfo>();
    assert.deepEqual(addrsOf('eth0', 'cdmn-o1'), [o1.address]);

    const other = ok(ctnet(state, ['--json', '-v', 'attach', 'cdmn-o2', '--network', NET], { env: { CTNET_BACKEND: 'iproute2' } }));
    const s2 = mustStatus(state);
    assert.equal(s2.declined, s1.declined + 1, 'a caller with another CTNET_BACKEND was not declined');
    assert.equal(s2.served, s1.served);
    assert.match(other.stderr, /^\[verbose\] agent: CTNET_BACKEND differs from the agent's; running here$/m);
    assert.match(other.stderr, /backend iproute2/);
    const o2 = other.json<EndpointInfo>();
    assert.deepEqual(addrsOf('eth0', 'cdmn-o2'), [o2.address]);
    assert.ok(ping('cdmn-o2', o1.ip), 'cdmn-o2 → cdmn-o1 ping');

    // a caller in another network namespace (and mount namespace: ip netns exec makes one)
    const r = spawnSync('ip', ['netns', 'exec', 'cdmn-o1', process.execPath, BIN, '--json', '-v', 'network', 'ls'], { encoding: 'utf8', env: testEnv(state) });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^\[verbose\] agent: you are in another (network|mount) namespace than the agent; running here$/m);
    assert.deepEqual((JSON.parse(r.stdout) as NetworkInfo[]).map((n) => n.name), [NET]);
    const s3 = mustStatus(state);
    assert.equal(s3.declined, s2.declined + 1, 'a caller in another netns was not declined');
    assert.equal(s3.served, s2.served);

    // the daemon itself still serves callers like itself
    ok(ctnet(state, ['ls']));
    assert.equal(mustStatus(state).served, s3.served + 1);
  });

  it('CTNET_DAEMON=auto: of 10 first callers at once each runs here and exactly one daemon starts; later commands go to it', async () => {
    const NET = 'cdmn-n12';
    network(NET, '10.233.13.0/24', 'cdmn-br12');
    const AUTO = { CTNET_DAEMON: 'auto' };
    assert.equal(status(state), undefined, 'no daemon before');
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => ctnetAsync(state, ['--json', 'attach', `cdmn-u${i}`, '--network', NET], { env: AUTO })));
    first.forEach((r, i) => assert.equal(r.code, 0, `caller ${i}: ${r.stderr}`));
    // the daemon comes up in the background
    let st: Status | undefined;
    for (const t0 = Date.now(); st === undefined && Date.now() - t0 < 10_000;) { st = status(state); if (st === undefined) await sleep(50); }
    assert.ok(st !== undefined, `no daemon came up within 10 s; log: ${existsSync(path.join(state, 'agent.log')) ? readFileSync(path.join(state, 'agent.log'), 'utf8') : '(none)'}; files: ${readdirSync(state).join(' ')}`);
    pids.add(st.pid);
    // the caller that started it ran in its own process; callers that came after it was up were served
    assert.ok(st.served <= 9, `served ${st.served} of the 10 first callers: the starter must have run in its process`);
    assert.equal(st.idleTimeout, 300);
    await sleep(300); // any loser of the start race has exited by now
    assert.deepEqual(daemonProcesses(state), [st.pid], 'exactly one daemon process for the state dir');
    assert.equal(existsSync(path.join(state, 'agent.starting')), false, 'the start marker is removed');
    const addrs = first.map((r) => r.json<EndpointInfo>().address);
    assert.equal(new Set(addrs).size, 10, 'distinct addresses');
    const next = ok(ctnet(state, ['--json', 'attach', 'cdmn-u10', '--network', NET], { env: AUTO }));
    assert.equal(mustStatus(state).served, st.served + 1, 'the next command did not go to the daemon');
    assert.deepEqual(addrsOf('eth0', 'cdmn-u10'), [next.json<EndpointInfo>().address]);
  });

  it('a new build (the bundle replaced under it): the daemon hands the command back and exits; the command runs here', async () => {
    const s = start();
    ok(ctnet(state, ['ls']));
    assert.equal(mustStatus(state).served, 1);
    const bundle = path.join(path.dirname(path.dirname(BIN)), 'dist/bundle/cli.cjs');
    const now = new Date();
    utimesSync(bundle, now, now); // what npm run build does to it, as far as the daemon can tell
    const r = ok(ctnet(state, ['--json', '-v', 'network', 'ls']));
    assert.match(r.stderr, /^\[verbose\] agent: the agent runs an older build of ctnet-fast \(it exits now\); running here$/m);
    assert.deepEqual(r.json(), []);
    assert.ok(await waitGone(s.pid, 5000), `the stale daemon (pid ${s.pid}) did not exit`);
    assert.equal(status(state), undefined, 'a daemon still answers');
    assert.equal(existsSync(sock), false, 'its socket is removed');
  });

  it('a request whose pid names another process (a caller in another pid namespace) is handed back, not run as that process', async () => {
    start();
    const answer = await new Promise<string>((resolve, reject) => {
      const c = net.createConnection(sock);
      let buf = '';
      // this test process is not running `ctnet-fast ls`: its cwd and environment are not the sender's
      c.on('connect', () => c.write(HELLO + JSON.stringify({ v: 1, type: 'cli', id: 1, pid: process.pid, argv: ['--json', 'ls'] }) + '\n'));
      c.on('data', (d: Buffer) => { buf += d.toString(); });
      c.on('close', () => resolve(buf));
      c.on('error', reject);
    });
    const lines = answer.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines[0]?.type, 'hello');
    assert.deepEqual(lines.slice(1), [{ v: 1, type: 'declined', id: 1, reason: 'your pid does not name you here (another pid namespace?)' }]);
    const st = mustStatus(state);
    assert.deepEqual([st.served, st.declined], [0, 1]);
  });

  it('on a terminal (a real pty) bulk attach shows progress and colours, in the process and through the daemon alike; in a pipe neither', () => {
    const NET = 'cdmn-n13';
    network(NET, '10.233.14.0/24', 'cdmn-br13');
    const list = (tag: string): string => {
      const f = path.join(state, `tty-${tag}.txt`);
      writeFileSync(f, Array.from({ length: 30 }, (_, i) => `cdmn-y${tag}${i}`).join('\n'));
      return f;
    };
    // python's pty.spawn: the command on a pseudo-terminal, argument arrays only (no shell)
    const onPty = (args: string[], env: NodeJS.ProcessEnv): { code: number | null; out: string } => {
      const r = spawnSync('python3', ['-c', 'import pty,sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', process.execPath, BIN, ...args],
        { encoding: 'utf8', env: { ...testEnv(state, env), NO_COLOR: undefined } as NodeJS.ProcessEnv, timeout: 60_000 });
      return { code: r.status, out: r.stdout };
    };
    const progress = new RegExp(`\\r\\x1b\\[Kattach to ${NET} \\[[#.]{24}\\] \\d+/30`);
    const local = onPty(['attach', '--network', NET, '--from-file', list('l')], OFF);
    assert.equal(local.code, 0, local.out);
    assert.match(local.out, progress, 'no progress on a terminal (in the process)');
    assert.match(local.out, /\x1b\[1mNETNS/, 'no bold table header on a terminal (in the process)');
    start();
    const served = onPty(['attach', '--network', NET, '--from-file', list('d')], {});
    assert.equal(served.code, 0, served.out);
    assert.equal(mustStatus(state).served, 1, 'the attach did not go through the daemon');
    assert.match(served.out, progress, 'no progress on a terminal (through the daemon)');
    assert.match(served.out, /\x1b\[1mNETNS/, 'no bold table header on a terminal (through the daemon)');
    // the same through a pipe: plain text
    const piped = ok(ctnet(state, ['attach', '--network', NET, '--from-file', list('p')], { env: { NO_COLOR: '' } }));
    assert.equal(mustStatus(state).served, 2);
    assert.doesNotMatch(piped.stdout + piped.stderr, /\x1b\[/, 'escape codes in a pipe');
    assert.equal(piped.stdout.trim().split('\n').length, 31, 'a header and 30 rows');
  });

  it('a daemon started with --state-dir D serves callers that name D with $CTNET_STATE_DIR, and the reverse', () => {
    const NET = 'cdmn-n11';
    network(NET, '10.233.11.0/24', 'cdmn-br11');
    const other = mkdtempSync(path.join(tmpdir(), 'cdmn-other-'));
    try {
      // started with the flag, from an environment that names another directory
      const r = ok(ctnet(other, ['--json', 'daemon', 'start', '--state-dir', state]));
      pids.add(r.json<{ pid: number }>().pid);
      ok(ctnet(state, ['attach', 'cdmn-d9', '--network', NET])); // $CTNET_STATE_DIR=D, no flag
      assert.equal(mustStatus(state).served, 1, 'a caller naming D by $CTNET_STATE_DIR was not served');
      const ls = ok(ctnet(other, ['--json', '--state-dir', state, 'ls'])); // the flag, env elsewhere
      assert.equal(mustStatus(state).served, 2, 'a caller naming D by --state-dir was not served');
      assert.deepEqual(ls.json<EndpointInfo[]>().map((e) => e.netnsName), ['cdmn-d9']);
      assert.equal(existsSync(path.join(other, 'state.db')), false, 'the daemon wrote to the directory of its starter\'s environment');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('stale cache: a network removed and re-created by another process; attach --publish through the daemon uses the new bridge and nft state', async () => {
    const NET = 'cdmn-n4';
    const BR = 'cdmn-br4';
    const create = ['network', 'create', NET, '--subnet', '10.233.8.0/24', '--bridge', BR];
    start();
    // through the daemon: it learns the bridge's ifindex and installs our nft tables
    ok(ctnet(state, create));
    ok(ctnet(state, ['attach', 'cdmn-s0', '--network', NET, '--publish', '127.0.0.1:18081:80']));
    const s0 = mustStatus(state);
    assert.equal(s0.served, 2);
    const oldIndex = ipj(['link', 'show', 'dev', BR])[0]?.ifindex;
    assert.equal(typeof oldIndex, 'number');

    // another process removes the network and makes it again, same name
    ok(ctnet(state, ['network', 'rm', '--force', NET], { env: OFF }));
    assert.deepEqual(ipj(['link', 'show', 'dev', BR]), []);
    ok(ctnet(state, create, { env: OFF }));
    const newIndex = ipj(['link', 'show', 'dev', BR])[0]?.ifindex;
    assert.equal(typeof newIndex, 'number');
    assert.notEqual(newIndex, oldIndex, 'the bridge was not re-created');
    assert.equal(mustStatus(state).served, s0.served, 'rm/create went through the daemon');

    const r = ok(ctnet(state, ['--json', 'attach', 'cdmn-s1', '--network', NET, '--publish', '127.0.0.1:18080:80']),
      'attach through the daemon after the bridge was re-created (stale bridge ifindex?)');
    assert.equal(mustStatus(state).served, s0.served + 1, 'the attach did not go through the daemon');
    const ep = r.json<EndpointInfo>();
    assert.equal(ipj(['link', 'show', 'dev', ep.hostIfname])[0]?.master, BR);
    assert.deepEqual(ipj(['link', 'show', 'master', BR]).map((l) => l.ifname), [ep.hostIfname]);
    assert.deepEqual(addrsOf('eth0', 'cdmn-s1'), [ep.address]);
    const elems = setElements('pub_ip_addr');
    for (const want of ['127.0.0.1', '18080', ep.ip]) assert.ok(elems.includes(want), `pub_ip_addr lacks ${want}: ${elems}`);
    assert.match(setElements('bridges'), new RegExp(BR));
    assert.ok(ping('cdmn-s1', ep.gateway ?? '?'), 'cdmn-s1 → gateway ping');
    servers.push(await startServer('cdmn-s1', 80));
    assert.ok((await connect(undefined, '127.0.0.1', 18080)) !== undefined, 'no TCP answer through 127.0.0.1:18080 → cdmn-s1:80');

    // once more, with our nft tables gone meanwhile (removing the last network removes them):
    // the daemon must not trust "tables installed" either
    ok(ctnet(state, ['network', 'rm', '--force', NET], { env: OFF }));
    assert.notEqual(spawnSync('nft', ['list', 'table', 'ip', 'ctnet'], { stdio: 'ignore' }).status, 0,
      'table ip ctnet still exists after the last network was removed (another state dir in this sandbox?)');
    ok(ctnet(state, create), 'network create through the daemon after another process removed our nft tables');
    ok(ctnet(state, ['attach', 'cdmn-s2', '--network', NET, '--publish', '127.0.0.1:18082:80']), 'attach --publish through the daemon');
    assert.equal(mustStatus(state).served, s0.served + 3);
    assert.match(setElements('bridges'), new RegExp(BR));
    assert.match(setElements('pub_ip_addr'), /18082/);
  });

  it('daemon stop: returns when the daemon has exited; socket and pid file gone; next attach runs here; status exits 3', () => {
    const NET = 'cdmn-n5';
    network(NET, '10.233.5.0/24', 'cdmn-br5');
    const s = start();
    ok(ctnet(state, ['attach', 'cdmn-t0', '--network', NET]));
    const stop = ok(ctnet(state, ['--json', 'daemon', 'stop'])).json<{ running: boolean; stopped: number; served: number }>();
    assert.equal(stop.running, false);
    assert.equal(stop.stopped, s.pid);
    assert.equal(stop.served, 1);
    assert.equal(alive(s.pid), false, `daemon stop returned while pid ${s.pid} still runs`);
    assert.equal(existsSync(sock), false, 'socket left behind');
    assert.equal(existsSync(path.join(state, PID_FILE)), false, 'pid file left behind');
    assert.equal(existsSync(path.join(state, PIPES_DIR)), false, 'pipe pairs left behind');

    const st = ctnet(state, ['daemon', 'status']);
    assert.equal(st.code, 3);
    assert.equal(st.stderr, `ctnet-fast: no ctnet-fast agent is running for ${state}: start one with ctnet-fast agent start\n`);

    const a = ok(ctnet(state, ['--json', '-v', 'attach', 'cdmn-t1', '--network', NET]));
    assert.match(a.stderr, /library loaded in/, 'the attach did not run here');
    assert.doesNotMatch(a.stderr, /daemon/);
    assert.deepEqual(addrsOf('eth0', 'cdmn-t1'), [a.json<EndpointInfo>().address]);
    assert.deepEqual(addrsOf('eth0', 'cdmn-t0').length, 1, 'what the daemon attached stays attached');

    const again = ok(ctnet(state, ['--json', 'daemon', 'stop']));
    assert.deepEqual(again.json(), { running: false, stateDir: state });
  });

  it('SIGKILL while 20 attach commands are in flight: later commands run here, gc repairs, nothing leaks', async () => {
    const NET = 'cdmn-n6';
    const BR = 'cdmn-br6';
    network(NET, '10.233.12.0/22', BR);
    const s = start();
    // 20 callers, each attaching 12 netns in one command (so that several commands are in the daemon at once)
    const lists = Array.from({ length: 20 }, (_, i) => {
      const f = path.join(state, `kill-${i}.txt`);
      writeFileSync(f, Array.from({ length: 12 }, (_, j) => `cdmn-k${i}x${j}`).join('\n'));
      return f;
    });
    const runs = lists.map((f) => ctnetAsync(state, ['--json', 'attach', '--network', NET, '--from-file', f]));
    // kill it as soon as 5 commands are running in it (or, late, as soon as any one is)
    let seen: Status | undefined;
    const t0 = Date.now();
    while (Date.now() - t0 < 20_000) {
      const st = await sockStatus(state, 500);
      if (st === undefined) continue;
      if (st.inFlight >= 5 || (st.inFlight >= 1 && st.served >= 14)) { seen = st; break; }
      if (st.served >= 20) break;
    }
    process.kill(s.pid, 'SIGKILL');
    const results = await Promise.all(runs);
    assert.ok(seen !== undefined, 'all 20 commands finished before the test saw one running in the daemon: nothing was interrupted');
    // gc counts an owner that is still a zombie as alive (src/topology/host.ts pidAlive), and the
    // init of some machines reaps orphans only every ~1.5 s: wait until the daemon is reaped
    const t1 = Date.now();
    while (existsSync(`/proc/${s.pid}`) && Date.now() - t1 < 15_000) await sleep(20);
    assert.equal(existsSync(`/proc/${s.pid}`), false, `the killed daemon (pid ${s.pid}) was not reaped within 15 s`);

    // the socket file is left behind; the bin runs commands here
    assert.ok(existsSync(sock) && statSync(sock).isSocket(), 'a SIGKILLed daemon cannot remove its socket: the test needs it left behind');
    assert.equal(status(state), undefined, 'daemon status after SIGKILL');
    for (const r of results) {
      assert.ok(r.code === 0 || (r.code === 1 && r.stderr.trim() !== ''), `a caller of the killed daemon: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    const after = ok(ctnet(state, ['--json', 'attach', 'cdmn-kafter', '--network', NET]), 'attach with a dead daemon socket');
    assert.deepEqual(addrsOf('eth0', 'cdmn-kafter'), [after.json<EndpointInfo>().address]);

    const gc = ok(ctnet(state, ['--json', 'gc'])).json<GcReport>();
    assert.deepEqual(gc.errors, []);
    const again = ok(ctnet(state, ['--json', 'gc', '--dry-run'])).json<GcReport>();
    assert.deepEqual(again.actions, [], `gc did not converge: ${again.actions.join('; ')}`);

    const eps = ok(ctnet(state, ['--json', 'ls'])).json<EndpointInfo[]>();
    // what a caller was told is attached, is
    for (const r of results.filter((x) => x.code === 0)) {
      for (const told of r.json<EndpointInfo[]>()) {
        const ep = eps.find((e) => e.id === told.id);
        assert.ok(ep !== undefined, `${told.netnsName} was reported attached (exit 0) but gc removed it`);
        assert.equal(ep.address, told.address);
      }
    }
    // every endpoint is whole: its netns with the address, its host veth on the bridge
    for (const ep of eps) {
      assert.deepEqual(addrsOf('eth0', ep.netnsName), [ep.address], ep.netnsName);
      assert.equal(ipj(['link', 'show', 'dev', ep.hostIfname])[0]?.master, BR, `${ep.netnsName}: host veth ${ep.hostIfname}`);
    }
    // and nothing else is left: no ctv* veth and no cdmn-k* netns without an endpoint (veths go asynchronously)
    const known = new Set(eps.map((e) => e.hostIfname));
    let stray: string[] = [];
    for (let i = 0; i < 100; i++) {
      stray = ctvVeths().filter((n) => !known.has(n));
      if (stray.length === 0) break;
      await sleep(50);
    }
    assert.deepEqual(stray, [], 'host veths without an endpoint');
    const names = new Set(eps.map((e) => e.netnsName));
    assert.deepEqual(readdirSync('/run/netns').filter((n) => n.startsWith('cdmn-k') && !names.has(n)), [], 'netns without an endpoint');
    assert.ok(eps.length > 1, 'nothing was attached before the kill');
  });

  it('daemon start twice: the second says already running, exit 0, same pid, one process', () => {
    const a = start();
    const b = ok(ctnet(state, ['daemon', 'start']));
    assert.equal(b.stdout, `ctnet-fast agent already running (pid ${a.pid}, socket ${sock})\n`);
    const c = ok(ctnet(state, ['--json', 'daemon', 'start'])).json<Status>();
    assert.equal(c.started, false);
    assert.equal(c.pid, a.pid);
    assert.equal(mustStatus(state).pid, a.pid);
    assert.deepEqual(daemonProcesses(state), [a.pid]);
  });

  // `daemon start` is idempotent one at a time; run at once (boot scripts, parallel CI jobs) the
  // callers whose child loses the race to the winner's socket exit 1 ("the daemon exited (status 1):
  // daemon: already running …") instead of reporting the running daemon with exit 0.
  it('three concurrent daemon start: all exit 0 and name the same daemon; one process', async () => {
    const rs = await Promise.all([0, 1, 2].map(() => ctnetAsync(state, ['--json', 'daemon', 'start'])));
    for (const r of rs) {
      try { pids.add(r.json<Status>().pid); } catch { /* reported below */ }
    }
    for (const p of daemonProcesses(state)) pids.add(p);
    assert.deepEqual(rs.map((r) => r.code), [0, 0, 0],
      `BUG (src/cli/daemon.ts start/listen): concurrent \`daemon start\` should all succeed with the one daemon; got:\n${rs.map((r) => `exit ${r.code}: ${r.stderr.trim()}`).join('\n')}`);
    const reported = new Set(rs.map((r) => r.json<Status>().pid));
    assert.equal(reported.size, 1, `different pids reported: ${[...reported].join(', ')}`);
    assert.deepEqual(daemonProcesses(state), [...reported], 'daemon processes for this state dir');
    assert.equal(mustStatus(state).pid, [...reported][0]);
  });

  it('--idle-timeout 1: stays up while commands keep coming, exits by itself ~1 s after the last one', async () => {
    const s = start(['--idle-timeout', '1']);
    assert.equal(s.idleTimeout, 1);
    // commands closer together than the timeout keep it alive past it
    for (let i = 0; i < 4; i++) {
      ok(ctnet(state, ['--json', 'network', 'ls']));
      await sleep(300);
    }
    const last = Date.now();
    const st = await sockStatus(state);
    assert.ok(st !== undefined && st.pid === s.pid, 'the daemon exited while commands kept coming');
    assert.equal(st.served, 4);
    let gone: number | undefined;
    while (Date.now() - last < 5000) {
      if (status(state) === undefined) { gone = Date.now() - last; break; }
      await sleep(100);
    }
    assert.ok(gone !== undefined, 'the daemon was still running 5 s after the last command');
    assert.ok(await waitGone(s.pid, 2000), `status says no daemon but pid ${s.pid} still runs`);
    assert.equal(existsSync(sock), false, 'socket left behind by the idle exit');
    assert.equal(existsSync(path.join(state, PID_FILE)), false, 'pid file left behind by the idle exit');
    assert.equal(existsSync(path.join(state, PIPES_DIR)), false, 'pipe pairs left behind by the idle exit');
  });

  it('attach --from-file RELATIVE through the daemon reads it in the caller\'s cwd (two directories at once)', async () => {
    const NET = 'cdmn-n8';
    network(NET, '10.233.9.0/24', 'cdmn-br8');
    start();
    const dirs = ['a', 'b'].map((x) => mkdtempSync(path.join(state, `cwd-${x}-`)));
    const want = [['cdmn-ra0', 'cdmn-ra1', 'cdmn-ra2'], ['cdmn-rb0', 'cdmn-rb1', 'cdmn-rb2']];
    dirs.forEach((d, i) => writeFileSync(path.join(d, 'list.txt'), `${(want[i] ?? []).join('\n')}\n`));
    const s0 = mustStatus(state);
    const rs = await Promise.all(dirs.map((d) => ctnetAsync(state, ['--json', 'attach', '--network', NET, '--from-file', 'list.txt'], { cwd: d })));
    rs.forEach((r) => ok(r, 'attach --from-file list.txt'));
    const s1 = mustStatus(state);
    assert.equal(s1.served, s0.served + 2, 'the attaches did not go through the daemon');
    assert.equal(s1.declined, s0.declined);
    rs.forEach((r, i) => {
      const eps = r.json<EndpointInfo[]>();
      assert.deepEqual(eps.map((e) => e.netnsName), want[i], `cwd ${dirs[i]}`);
      for (const e of eps) assert.deepEqual(addrsOf('eth0', e.netnsName), [e.address], e.netnsName);
    });
    // a relative file missing in the caller's cwd (though present where the daemon was last): same error as here
    const empty = mkdtempSync(path.join(state, 'cwd-c-'));
    const viaDaemon = await ctnetAsync(state, ['attach', '--network', NET, '--from-file', 'list.txt'], { cwd: empty });
    const here = await ctnetAsync(state, ['attach', '--network', NET, '--from-file', 'list.txt'], { cwd: empty, env: OFF });
    assert.equal(mustStatus(state).served, s1.served + 1);
    assert.equal(viaDaemon.code, 3, viaDaemon.stderr);
    assert.deepEqual([viaDaemon.code, viaDaemon.stdout, viaDaemon.stderr], [here.code, here.stdout, here.stderr]);
  });

  // The bin keeps `--from-file -` local because stdin is the caller's; /dev/stdin, /dev/fd/N (what
  // bash's <(…) passes) and /proc/self/fd/N name the caller's fds just the same, but the daemon opens
  // them as its own (/dev/stdin is its /dev/null): the list comes out empty, or wrong.
  it('attach --from-file /dev/stdin (< list, or <(…) as /dev/fd/N) reads the caller\'s input with the daemon as without it', async () => {
    const NET = 'cdmn-n9';
    network(NET, '10.233.10.0/24', 'cdmn-br9');
    start();
    const [list0, list1] = ['cdmn-i0', 'cdmn-i1'].map((n) => {
      const f = path.join(state, `${n}.txt`);
      writeFileSync(f, `${n}\n`);
      return f;
    }) as [string, string];
    const here = await ctnetAsync(state, ['--json', 'attach', '--network', NET, '--from-file', '/dev/stdin'], { stdinFile: list0, env: OFF });
    ok(here, 'CTNET_DAEMON=off attach --from-file /dev/stdin');
    assert.deepEqual(here.json<EndpointInfo[]>().map((e) => e.netnsName), ['cdmn-i0']);
    const s0 = mustStatus(state);
    const viaDaemon = await ctnetAsync(state, ['--json', 'attach', '--network', NET, '--from-file', '/dev/stdin'], { stdinFile: list1 });
    const s1 = mustStatus(state);
    assert.equal(viaDaemon.code, 0,
      `BUG (bin/ctnet-fast.cjs + src/cli/daemon.ts): with a daemon running, \`attach --from-file /dev/stdin\` is sent to the daemon, which opens ITS OWN `
      + `/dev/stdin (/dev/null) instead of the caller's (only "-" is kept local; /dev/fd/N from <(…) has the same problem); `
      + `served ${s0.served}→${s1.served}, exit ${viaDaemon.code}, stderr: ${viaDaemon.stderr.trim()}`);
    assert.deepEqual(viaDaemon.json<EndpointInfo[]>().map((e) => e.netnsName), ['cdmn-i1']);
    assert.equal(addrsOf('eth0', 'cdmn-i1').length, 1);
  });
});
