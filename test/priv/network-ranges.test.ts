/**
 * Several address ranges on one network (NetworkSpec.ranges, CNI host-local `ranges`): two
 * ranges in different subnets, each with its own gateway and rangeStart/rangeEnd. Checked with
 * real traffic and `ip -j`/`nft -j`: the bridge carries both gateways, IPAM fills the first
 * range (its bounds honoured) then moves to the next, each container has the prefix of its
 * range and its default route via that range's gateway, containers of both ranges reach each
 * other and the outside (masqueraded), a static address outside the ranges is refused, and bad
 * ranges are a clear error naming the key with nothing made. Names start with "ctr-".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host, type Endpoint, type Network } from '../../src/index.js';
import { CODE, InvalidInputError, codeOf } from '../../src/model/errors.js';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { ping, startServer, connect, type PeerServer } from '../helpers/traffic.js';

const run = promisify(execFile);
const OUT = 'ctr-out';

async function makeOutside(): Promise<void> {
  await ip(['netns', 'add', OUT]);
  await ip(['link', 'add', 'ctr-o0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT]);
  await ip(['addr', 'add', '192.0.2.1/24', 'dev', 'ctr-o0']);
  await ip(['link', 'set', 'ctr-o0', 'up']);
  await ip(['addr', 'add', '192.0.2.2/24', 'dev', 'eth0'], OUT);
  await ip(['link', 'set', 'eth0', 'up'], OUT);
  await ip(['route', 'add', 'default', 'via', '192.0.2.1'], OUT);
}

/** The elements of set `name` of table ip ctnet (nft -j), as text. */
async function ipSet(name: string): Promise<string> {
  const { stdout } = await run('nft', ['-j', 'list', 'table', 'ip', 'ctnet']);
  const objs = (JSON.parse(stdout) as { nftables: Array<{ set?: { name: string; elem?: unknown[] } }> }).nftables;
  return JSON.stringify(objs.find((o) => o.set?.name === name)?.set?.elem ?? []);
}

type AddrLink = { addr_info: Array<{ family: string; local: string; prefixlen: number }> };
const v4Addrs = async (dev: string, ns?: string): Promise<string[]> =>
  ((await ipJson<AddrLink>(['addr', 'show', dev], ns))[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
const netnsNames = (): string[] => { try { return readdirSync('/run/netns'); } catch { return []; } };

const RANGES = [
  { subnet: '10.71.0.0/24', rangeStart: '10.71.0.10', rangeEnd: '10.71.0.11' },
  { subnet: '10.72.0.0/24', rangeStart: '10.72.0.20', rangeEnd: '10.72.0.21', gateway: '10.72.0.254' },
];

describe('a network with two address ranges in different subnets (native backend)', function () {
  this.timeout(120000);
  let stateDir: string;
  let host: Host;
  let net: Network;
  const eps: Endpoint[] = [];
  const servers: PeerServer[] = [];

  before(async () => {
    assertSandbox();
    await removeLeftovers('ctr-');
    await run('nft', ['flush', 'ruleset']);
    await makeOutside();
    stateDir = mkdtempSync(path.join(tmpdir(), 'ctr-state-'));
    host = await Host.open({ stateDir });
    net = await host.network({ name: 'ctr-net', bridge: 'ctr-br0', ranges: RANGES });
  });

  after(async () => {
    for (const s of servers) s.stop();
    await host?.close().catch(() => undefined);
    await removeLeftovers('ctr-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  it('the bridge carries both gateways; the network reports its ranges; nft masquerades and hairpins both subnets', async () => {
    assert.deepEqual((await v4Addrs('ctr-br0')).sort(), ['10.71.0.1/24', '10.72.0.254/24']);
    const info = net.info;
    assert.deepEqual([info.subnet, info.gateway], ['10.71.0.0/24', '10.71.0.1']);
    assert.deepEqual(info.ranges, [{ ...RANGES[0], gateway: '10.71.0.1' }, RANGES[1]]);
    for (const set of ['masq', 'hairpin']) {
      const t = await ipSet(set);
      assert.match(t, /"addr":\s*"10\.71\.0\.0","len":\s*24/, `${set}: ${t}`);
      assert.match(t, /"addr":\s*"10\.72\.0\.0","len":\s*24/, `${set}: ${t}`);
    }
  });

  it('IPAM takes the first range within its bounds, then the next; exhausted after both, with nothing made', async () => {
    for (let i = 0; i < 4; i++) eps.push(await net.attach({ netns: `ctr-c${i}` }));
    assert.deepEqual(eps.map((e) => e.info.address), ['10.71.0.10/24', '10.71.0.11/24', '10.72.0.20/24', '10.72.0.21/24']);
    assert.deepEqual(eps.map((e) => e.info.gateway), ['10.71.0.1', '10.71.0.1', '10.72.0.254', '10.72.0.254']);
    for (const [i, e] of eps.entries()) {
      assert.deepEqual(await v4Addrs('eth0', `ctr-c${i}`), [e.info.address]);
      const r = await ipJson<{ gateway?: string }>(['route', 'show', 'default'], `ctr-c${i}`);
      assert.equal(r[0]?.gateway, e.info.gateway, `ctr-c${i} default route`);
    }
    await assert.rejects(net.attach({ netns: 'ctr-c9' }), (e: Error) => codeOf(e) === CODE.exhausted && /10\.71\.0\.10-10\.71\.0\.11.*10\.72\.0\.20-10\.72\.0\.21/.test(e.message));
    assert.ok(!netnsNames().includes('ctr-c9'), 'no netns made for the refused attach');
    // a static address inside a subnet but outside its range: refused, naming the ranges
    await assert.rejects(net.attach({ netns: 'ctr-c9', ip: '10.72.0.50' }), (e: Error) => e instanceof InvalidInputError && /10\.72\.0\.50 is outside the address ranges/.test(e.message));
    // a released address of the first range is handed out again
    await eps[1]?.detach();
    eps[1] = await net.attach({ netns: 'ctr-c1b' });
    assert.equal(eps[1].info.address, '10.71.0.11/24');
  });

  it('containers of both ranges reach each other (routed through their gateways) and the outside (masqueraded)', async () => {
    const [a, , b] = eps;
    assert.ok(await ping('ctr-c0', b?.ip ?? ''), 'range 1 → range 2');
    assert.ok(await ping('ctr-c2', a?.ip ?? ''), 'range 2 → range 1');
    assert.ok(await ping('ctr-c2', '10.72.0.254'), 'range 2 → its gateway');
    servers.push(await startServer('ctr-c2', 7201));
    assert.equal(await connect('ctr-c0', b?.ip ?? '', 7201), a?.ip, 'TCP across ranges, not masqueraded');
    servers.push(await startServer(OUT, 7202));
    assert.equal(await connect('ctr-c0', '192.0.2.2', 7202), '192.0.2.1', 'range 1 → outside, masqueraded');
    assert.equal(await connect('ctr-c3', '192.0.2.2', 7202), '192.0.2.1', 'range 2 → outside, masqueraded');
  });

  it('gc puts back what was removed behind its back: the second range\'s gateway on the bridge, a container\'s address and default route (its range\'s)', async () => {
    await ip(['addr', 'del', '10.72.0.254/24', 'dev', 'ctr-br0']);
    await ip(['addr', 'del', '10.72.0.20/24', 'dev', 'eth0'], 'ctr-c2');
    const report = await host.gc();
    assert.equal(report.errors.length, 0, report.errors.join('\n'));
    assert.deepEqual((await v4Addrs('ctr-br0')).sort(), ['10.71.0.1/24', '10.72.0.254/24']);
    assert.deepEqual(await v4Addrs('eth0', 'ctr-c2'), ['10.72.0.20/24']);
    assert.equal((await ipJson<{ gateway?: string }>(['route', 'show', 'default'], 'ctr-c2'))[0]?.gateway, '10.72.0.254');
    assert.ok(await ping('ctr-c2', '10.71.0.10'), 'range 2 → range 1 again');
    assert.deepEqual((await host.gc()).actions, [], 'a second gc finds nothing');
  });

  it('bad ranges are a clear error naming the key, and nothing is made', async () => {
    const bad: Array<[unknown[], RegExp]> = [
      [[{ subnet: '10.73.0.0/24', rangeStart: '10.74.0.5' }], /ranges\[0\]\.rangeStart "10\.74\.0\.5" of network "ctr-bad": it is outside subnet 10\.73\.0\.0\/24/],
      [[{ subnet: '10.73.0.0/24', rangeStart: '10.73.0.9', rangeEnd: '10.73.0.5' }], /ranges\[0\]\.rangeStart "10\.73\.0\.9".*after ranges\[0\]\.rangeEnd 10\.73\.0\.5/],
      [[{ subnet: '10.73.0.0/24', rangeEnd: '10.73.0.50' }, { subnet: '10.73.0.0/24', rangeStart: '10.73.0.40' }], /ranges\[1\] of network "ctr-bad".*overlaps ranges\[0\]/],
      [[{ subnet: '10.73.0.0/24' }, { subnet: '10.74.0.0/24', gateway: '10.73.0.1' }], /ranges\[1\]\.gateway "10\.73\.0\.1".*outside subnet 10\.74\.0\.0\/24/],
      [[{ subnet: '10.71.0.0/16' }], /overlaps 10\.71\.0\.0\/24 of network "ctr-net"/],
    ];
    for (const [ranges, re] of bad) {
      await assert.rejects(host.network({ name: 'ctr-bad', bridge: 'ctr-br9', ranges: ranges as never }), (e: Error) => re.test(e.message), JSON.stringify(ranges));
    }
    assert.deepEqual((await host.networks()).map((n) => n.name), ['ctr-net']);
    assert.deepEqual(await ipJson(['link', 'show', 'ctr-br9']).catch(() => []), []);
  });

  it('detach all and remove: no bridge, and neither subnet left in the masquerade set', async () => {
    for (const e of eps) await e.detach();
    await net.remove();
    assert.deepEqual(await ipJson(['link', 'show', 'ctr-br0']).catch(() => []), []);
    const t = await ipSet('masq').catch(() => '[]');
    assert.ok(!t.includes('10.71.0.0') && !t.includes('10.72.0.0'), t);
  });
});
