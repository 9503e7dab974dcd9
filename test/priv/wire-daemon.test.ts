/**
 * The daemon watches the firewall (issue 10 item 6), wired: with the daemon running and a
 * network with a published port, `nft flush ruleset` (what a firewall reload does) is
 * noticed by the daemon itself: our tables and the published port's element come back
 * (polled with `nft -j list tables` for up to 3 s: a correctness bound, not a benchmark),
 * the restore is in the daemon's log, real TCP through the published port works again, and
 * a publish right after a flush succeeds through the daemon. Named "wdm-"; root, sandbox only.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertSandbox, removeLeftovers } from '../helpers/index.js';
import { alive, daemonProcesses } from '../helpers/daemon-procs.js';
import { connect, startServer, type PeerServer } from '../helpers/traffic.js';
import { ctnet, ensureBuilt, type Run } from './cli-network.test.js';

const OFF = { CTNET_DAEMON: 'off' } as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}

/** Our tables that exist (oracle: nft -j list tables). */
function ourTables(): string[] {
  return ourTableHandles().map((t) => t.split(' ')[0] as string);
}

/** Our tables as "FAMILY HANDLE": a table re-created after a flush has a new handle. */
function ourTableHandles(): string[] {
  const r = spawnSync('nft', ['-j', 'list', 'tables'], { encoding: 'utf8' });
  const objs = (JSON.parse(r.stdout) as { nftables: Array<{ table?: { family: string; name: string; handle: number } }> }).nftables;
  return objs.flatMap((o) => (o.table?.name === 'ctnet' ? [`${o.table.family} ${o.table.handle}`] : [])).sort();
}

/** Host ports in `ip ctnet`'s pub_any_port map (oracle: nft -j). */
function publishedPorts(): number[] {
  const r = spawnSync('nft', ['-j', 'list', 'map', 'ip', 'ctnet', 'pub_any_port'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const m = (JSON.parse(r.stdout) as { nftables: Array<{ map?: { elem?: Array<[{ concat: [string, number] }, number]> } }> }).nftables.find((o) => o.map !== undefined)?.map;
  return (m?.elem ?? []).map(([k]) => k.concat[1]).sort((a, b) => a - b);
}

/** Poll (every 50 ms, up to `ms`) until `cond` holds; whether it did. */
async function within(ms: number, cond: () => boolean): Promise<boolean> {
  for (const end = Date.now() + ms; ; await sleep(50)) {
    if (cond()) return true;
    if (Date.now() > end) return false;
  }
}

describe('wire: the daemon restores our firewall after nft flush ruleset (nft -j, TCP)', function () {
  this.timeout(90000);
  let state = '';
  let pid = 0;
  const servers: PeerServer[] = [];

  before(async () => {
    assertSandbox();
    ensureBuilt();
    await removeLeftovers('wdm-');
    spawnSync('nft', ['flush', 'ruleset']);
    state = mkdtempSync(path.join(tmpdir(), 'wdm-state-'));
  });
  after(async () => {
    for (const s of servers) s.stop();
    for (const p of [pid, ...daemonProcesses(state)]) {
      if (p > 0 && daemonProcesses(state).includes(p)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    }
    for (let i = 0; i < 100 && pid > 0 && alive(pid); i++) await sleep(20);
    if (state !== '') {
      ctnet(state, ['network', 'rm', '--force', 'wdm-n'], { env: OFF });
      rmSync(state, { recursive: true, force: true });
    }
    await removeLeftovers('wdm-');
    spawnSync('nft', ['flush', 'ruleset']);
  });

  it('a flush is undone by the daemon within its check interval; traffic and a publish right after a flush work', async () => {
    ok(ctnet(state, ['network', 'create', 'wdm-n', '--subnet', '10.84.0.0/24', '--bridge', 'wdm-br'], { env: OFF }), 'network create');
    pid = (ok(ctnet(state, ['--json', 'daemon', 'start']), 'daemon start').json<{ pid: number }>()).pid;
    const served = (): number => ok(ctnet(state, ['--json', 'daemon', 'status']), 'daemon status').json<{ served: number }>().served;
    ok(ctnet(state, ['attach', 'wdm-c1', '--network', 'wdm-n', '--publish', '18201:8080']), 'attach');
    assert.equal(served(), 1, 'the attach went through the daemon');
    servers.push(await startServer('wdm-c1', 8080));
    assert.ok(await connect(undefined, '127.0.0.1', 18201) !== undefined, 'the published port works');
    const tables = ourTables();
    assert.deepEqual(tables, ['bridge', 'ip', 'ip6']);
    const handles = ourTableHandles();

    assert.equal(spawnSync('nft', ['flush', 'ruleset']).status, 0, 'nft flush ruleset');
    // flushed: our tables are gone, or (the daemon's 500 ms check came first) they are new ones
    const after = ourTableHandles();
    assert.ok(after.length === 0 || after.every((h) => !handles.includes(h)), `flushed (before: ${handles.join(', ')}; now: ${after.join(', ')})`);
    // the daemon may restore within its 500 ms check before this connect runs: then a live port is fine
    const during = await connect(undefined, '127.0.0.1', 18201);
    assert.ok(during === undefined || ourTables().length === 3, 'without our tables the port is dead (unless the daemon already restored them)');
    const back = await within(3000, () => ourTables().length === 3 && publishedPorts().includes(18201));
    assert.ok(back, `the daemon restored our tables and the port (tables: ${ourTables().join(',')}, ports: ${publishedPorts().join(',')})`);
    assert.deepEqual(ourTables(), tables);
    assert.ok(await connect(undefined, '127.0.0.1', 18201) !== undefined, 'the published port works again');
    assert.match(readFileSync(path.join(state, 'agent.log'), 'utf8'), /firewall tables had vanished.*restored/, 'the restore is in the daemon\'s log');

    // a publish right after a flush: through the daemon, it restores the rest too
    spawnSync('nft', ['flush', 'ruleset']);
    const before = served();
    ok(ctnet(state, ['publish', 'wdm-c1', '18202:8080']), 'publish right after a flush');
    assert.equal(served(), before + 1, 'the publish went through the daemon');
    assert.ok(publishedPorts().includes(18201) && publishedPorts().includes(18202), `both ports: ${publishedPorts().join(',')}`);
    assert.ok(await connect(undefined, '127.0.0.1', 18202) !== undefined, 'the new port works');
    assert.ok(await connect(undefined, '127.0.0.1', 18201) !== undefined, 'the old one too');
  });
});
