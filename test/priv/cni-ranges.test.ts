/**
 * Privileged: the CNI plugin with an IPv6-only config, with host-local `ranges` in two
 * subnets (rangeStart/rangeEnd, a gateway each), with `isGateway: false` and with
 * `hairpinMode: false` — driven as a runtime drives it (a process per call, env + stdin),
 * checked against the kernel (ip -j) and with real traffic. Names start with "cnir-".
 * Rebuild first: npx tsc -p tsconfig.json && npm run bundle.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { ping } from '../helpers/traffic.js';
import { haveReference, ok, ours, reference, type CniCall } from '../fixtures/cni/plugin.js';

const run = promisify(execFile);
const P = 'cnir-';

interface Res { ips: Array<{ address: string; gateway?: string; interface?: number }>; routes?: Array<{ dst: string; gw?: string }> }
type AddrLink = { addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string }> };
const globalAddrs = async (dev: string, ns?: string): Promise<string[]> =>
  ((await ipJson<AddrLink>(['addr', 'show', dev], ns))[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
const hairpin = async (dev: string): Promise<boolean | undefined> =>
  (await ipJson<{ linkinfo?: { info_slave_data?: { hairpin?: boolean } } }>(['-d', 'link', 'show', dev]))[0]?.linkinfo?.info_slave_data?.hairpin;

describe('cni plugin (privileged): IPv6-only, ranges in two subnets, isGateway false, hairpinMode false', function () {
  this.timeout(300000);
  let stateDir: string;
  const conf = (name: string, ipam: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    cniVersion: '1.1.0', name: `${P}${name}`, type: 'ctnet-cni', bridge: `${P}${name}`, isGateway: true, isDefaultGateway: true, ipMasq: true,
    ctnetStateDir: stateDir, ipam, ...extra,
  });
  const call = (command: string, id: string, more: Partial<CniCall> = {}): CniCall => ({ command, containerId: id, netns: `/run/netns/${P}${id}`, ifname: 'eth0', ...more });
  const add = async (id: string, c: Record<string, unknown>): Promise<Res> => {
    await ip(['netns', 'add', `${P}${id}`]);
    return ok(await ours(call('ADD', id), c), `ADD ${id}`) as unknown as Res;
  };
  const del = async (id: string, c: Record<string, unknown>): Promise<void> => {
    ok(await ours(call('DEL', id), c), `DEL ${id}`);
    await ip(['netns', 'del', `${P}${id}`]);
  };

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']);
    stateDir = mkdtempSync(path.join(tmpdir(), `${P}state-`));
  });
  after(async () => {
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  it('an IPv6-only config: ADD gives only an IPv6 address with its gateway and ::/0; ping6 between two containers; CHECK and DEL succeed', async () => {
    const c = conf('v6', { type: 'host-local', ranges: [[{ subnet: 'fd00:70::/64' }]] });
    const r0 = await add('a0', c);
    const r1 = await add('a1', c);
    assert.deepEqual(r0.ips, [{ address: 'fd00:70::2/64', gateway: 'fd00:70::1', interface: 2 }]);
    assert.deepEqual(r0.routes, [{ dst: '::/0', gw: 'fd00:70::1' }]);
    assert.deepEqual(await globalAddrs(`${P}v6`), ['fd00:70::1/64']);
    assert.deepEqual(await globalAddrs('eth0', `${P}a0`), ['fd00:70::2/64']);
    assert.equal((await ipJson<{ gateway?: string }>(['-6', 'route', 'show', 'default'], `${P}a0`))[0]?.gateway, 'fd00:70::1');
    assert.ok(await ping(`${P}a0`, (r1.ips[0]?.address ?? '').split('/')[0] ?? ''), 'a0 → a1 over IPv6');
    ok(await ours(call('CHECK', 'a0'), { ...c, prevResult: { cniVersion: '1.1.0', ...r0 } }), 'CHECK a0');
    await del('a0', c);
    await del('a1', c);
  });

  it('ranges in two subnets: the first range (one address) then the second; each its own gateway, prefix and routes; they reach each other; a bad range is code 7 naming its key', async () => {
    const c = conf('rg', { type: 'host-local', ranges: [[
      { subnet: '10.81.0.0/24', rangeStart: '10.81.0.10', rangeEnd: '10.81.0.10' },
      { subnet: '10.82.0.0/24', gateway: '10.82.0.254' },
    ]], routes: [{ dst: '198.51.100.0/24' }] });
    const r0 = await add('b0', c);
    const r1 = await add('b1', c);
    assert.deepEqual(r0.ips, [{ address: '10.81.0.10/24', gateway: '10.81.0.1', interface: 2 }]);
    assert.deepEqual(r1.ips, [{ address: '10.82.0.1/24', gateway: '10.82.0.254', interface: 2 }]);
    assert.deepEqual((await globalAddrs(`${P}rg`)).sort(), ['10.81.0.1/24', '10.82.0.254/24']);
    assert.equal((await ipJson<{ gateway?: string }>(['route', 'show', 'default'], `${P}b1`))[0]?.gateway, '10.82.0.254');
    // an ipam route without gw: via the gateway of each container's own range
    assert.equal((await ipJson<{ gateway?: string }>(['route', 'show', '198.51.100.0/24'], `${P}b0`))[0]?.gateway, '10.81.0.1');
    assert.equal((await ipJson<{ gateway?: string }>(['route', 'show', '198.51.100.0/24'], `${P}b1`))[0]?.gateway, '10.82.0.254');
    assert.ok(await ping(`${P}b0`, '10.82.0.1'), 'range 1 → range 2');
    assert.ok(await ping(`${P}b1`, '10.81.0.10'), 'range 2 → range 1');
    await del('b0', c);
    await del('b1', c);
    await ip(['netns', 'add', `${P}b9`]);
    const bad = await ours(call('ADD', 'b9'), conf('bd', { type: 'host-local', ranges: [[{ subnet: '10.83.0.0/24' }, { subnet: '10.84.0.0/24', rangeStart: '10.84.0.9', rangeEnd: '10.84.0.2' }]] }));
    assert.equal(bad.code, 1);
    assert.equal(bad.doc?.code, 7);
    assert.match(String(bad.doc?.msg), /ipam\.ranges\[0\]\[1\]\.rangeStart "10\.84\.0\.9".*after/);
    assert.deepEqual(await ipJson(['link', 'show', `${P}bd`]).catch(() => []), [], 'no bridge made');
    await ip(['netns', 'del', `${P}b9`]);
  });

  it('isGateway false: no address on the bridge, no default route in the container; containers still reach each other', async () => {
    const c = conf('ng', { type: 'host-local', subnet: '10.85.0.0/24' }, { isGateway: false, isDefaultGateway: false });
    const r0 = await add('c0', c);
    await add('c1', c);
    assert.deepEqual(await globalAddrs(`${P}ng`), []);
    assert.deepEqual(await ipJson(['route', 'show', 'default'], `${P}c0`), []);
    assert.deepEqual(r0.routes ?? [], []);
    assert.ok(await ping(`${P}c1`, (r0.ips[0]?.address ?? '').split('/')[0] ?? ''), 'c1 → c0 on the bridge');
    await del('c0', c);
    await del('c1', c);
  });

  it('hairpinMode false: the host port is not in hairpin mode; absent: it is (the library default)', async () => {
    const off = conf('hp', { type: 'host-local', subnet: '10.86.0.0/24' }, { hairpinMode: false });
    const on = conf('hp', { type: 'host-local', subnet: '10.86.0.0/24' });
    await add('d0', off);
    await add('d1', on);
    // the host end of a container's eth0: the bridge port whose ifindex eth0 names as its peer
    const hostIf = async (id: string): Promise<string> => {
      const peerIndex = (await ipJson<{ link_index?: number }>(['link', 'show', 'eth0'], `${P}${id}`))[0]?.link_index;
      const port = (await ipJson<{ ifindex: number; ifname: string }>(['link', 'show', 'master', `${P}hp`])).find((l) => l.ifindex === peerIndex);
      assert.ok(port !== undefined, `host end of ${id}`);
      return port.ifname;
    };
    assert.equal(await hairpin(await hostIf('d0')), false);
    assert.equal(await hairpin(await hostIf('d1')), true);
    await del('d0', off);
    await del('d1', on);
  });

  describe('the same configs through the reference bridge + host-local: the same result document but names and MACs', function () {
    before(function () { if (!haveReference('bridge') || !haveReference('host-local')) this.skip(); });
    // each case over subnet number n (10.9n…, fd00:9n::), normalised so two subnets compare equal
    const cases: Array<[string, (n: number) => Record<string, unknown>, Record<string, unknown>]> = [
      ['IPv6-only', (n) => ({ ranges: [[{ subnet: `fd00:9${n}::/64` }]] }), {}],
      ['ranges in two subnets, rangeStart/rangeEnd, a gateway each, a route without gw', (n) => ({
        ranges: [[{ subnet: `10.9${n}.1.0/24`, rangeStart: `10.9${n}.1.7`, rangeEnd: `10.9${n}.1.9` }, { subnet: `10.9${n}.2.0/24`, gateway: `10.9${n}.2.254` }]],
        routes: [{ dst: '198.51.100.0/24' }],
      }), {}],
      ['isGateway false', (n) => ({ subnet: `10.9${n}.3.0/24` }), { isGateway: false, isDefaultGateway: false }],
    ];
    const norm = (doc: Record<string, unknown>, n: number): Record<string, unknown> =>
      JSON.parse(JSON.stringify(doc).replaceAll(`10.9${n}.`, 'V4.').replaceAll(`fd00:9${n}::`, 'V6::')) as Record<string, unknown>;
    let n = 0;
    for (const [what, ipamOf, extra] of cases) {
      it(what, async () => {
        const [a, b] = [++n, ++n];
        const common = { cniVersion: '1.0.0', isGateway: true, isDefaultGateway: true, ipMasq: true, ...extra };
        const ourConf = { ...common, name: `${P}q${a}`, type: 'ctnet-cni', bridge: `${P}q${a}`, ctnetStateDir: stateDir, ipam: { type: 'host-local', ...ipamOf(a) } };
        const refConf = { ...common, name: `${P}q${b}`, type: 'bridge', bridge: `${P}q${b}`, ipam: { type: 'host-local', dataDir: `/run/${P}ipam`, ...ipamOf(b) } };
        await ip(['netns', 'add', `${P}q${a}`]);
        await ip(['netns', 'add', `${P}q${b}`]);
        type Doc = { interfaces: Array<Record<string, unknown>>; ips: unknown; routes: unknown };
        const A = norm(ok(await ours(call('ADD', `q${a}`), ourConf), 'ours'), a) as unknown as Doc;
        const B = norm(ok(await reference('bridge', call('ADD', `q${b}`), refConf), 'reference'), b) as unknown as Doc;
        assert.deepEqual(Object.keys(A).sort(), Object.keys(B).sort(), 'top-level keys');
        assert.deepEqual(A.ips, B.ips, 'ips');
        assert.deepEqual(A.routes, B.routes, 'routes');
        assert.deepEqual(A.interfaces.map((x) => Object.keys(x).sort()), B.interfaces.map((x) => Object.keys(x).sort()), 'interfaces keys');
        // the kernel agrees: the same addresses on the bridge and routes in the container, but the prefixes
        const brA = (await globalAddrs(`${P}q${a}`)).map((x) => x.replaceAll(`10.9${a}.`, 'V4.').replaceAll(`fd00:9${a}::`, 'V6::')).sort();
        const brB = (await globalAddrs(`${P}q${b}`)).map((x) => x.replaceAll(`10.9${b}.`, 'V4.').replaceAll(`fd00:9${b}::`, 'V6::')).sort();
        // the reference adds a range's gateway when its first container comes; we add every range's at creation (a superset)
        assert.ok(brB.every((x) => brA.includes(x)), `bridge addresses: ${brA.join(' ')} ⊇ ${brB.join(' ')}`);
        assert.deepEqual(brA, [...new Set(brA)].sort(), 'no duplicates');
        const rt = async (ns: string, k: number): Promise<string[]> => (await Promise.all(['-4', '-6'].map((f) => ipJson<{ dst: string; gateway?: string }>([f, 'route', 'show'], ns))))
          .flat().filter((r) => !r.dst.startsWith('fe80')).map((r) => `${r.dst} ${r.gateway ?? ''}`.replaceAll(`10.9${k}.`, 'V4.').replaceAll(`fd00:9${k}::`, 'V6::')).sort();
        assert.deepEqual(await rt(`${P}q${a}`, a), await rt(`${P}q${b}`, b), 'container routes');
        ok(await ours(call('DEL', `q${a}`), ourConf), 'DEL ours');
        ok(await reference('bridge', call('DEL', `q${b}`), refConf), 'DEL reference');
        await ip(['netns', 'del', `${P}q${a}`]);
        await ip(['netns', 'del', `${P}q${b}`]);
        await ip(['link', 'del', `${P}q${b}`]).catch(() => undefined);
      });
    }
  });
});
