/**
 * test/priv/native-rtnl.test.ts — every rtnetlink op of the addon against the real kernel,
 * checked with `ip -j` (argument arrays, never a shell) as the independent oracle.
 * Root, inside the sandbox only: `node test/run.mjs 'test/priv/native-*.test.ts'`.
 * Everything is named ctnn-*; leftovers are removed at start and in after hooks.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadNative } from '../../src/backend/native.js';
import type { Addr, KernelError, Link, NativeAddon, OpResult, Route, RtnlOp, StepResult } from '../../src/model/plan.js';
import { addrs, assertSandbox, ip, ipJson, link, links, removeLeftovers, routes } from '../helpers/index.js';

const execFileP = promisify(execFile);
const P = 'ctnn-';
const SELF = { self: true } as const;

function addon(): NativeAddon {
  const l = loadNative();
  if (!l.addon) throw new Error(l.error ?? 'addon missing');
  return l.addon;
}

async function rtnl(ops: RtnlOp[], ns: { self: true } | { path: string } = SELF): Promise<StepResult> {
  const [r] = await addon().run({ steps: [{ kind: 'rtnl', ns, ops }] });
  assert.ok(r);
  return r;
}

function okOps(r: StepResult): readonly OpResult[] {
  assert.ok(r.ok, `step failed: ${JSON.stringify(r)}`);
  assert.ok('ops' in r && r.ops);
  return r.ops;
}

function errOf(o: OpResult | undefined): KernelError {
  assert.ok(o && !o.ok, `expected a failed op, got ${JSON.stringify(o)}`);
  return o.error;
}

describe('native addon (privileged): rtnetlink ops against the kernel', function () {
  this.timeout(60_000);

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    okOps(await rtnl([{ op: 'linkAdd', kind: 'bridge', name: `${P}br`, up: true, bridge: { forwardDelay: 0, stp: false } }]));
    await ip(['addr', 'add', '10.77.0.1/24', 'dev', `${P}br`]);
  });
  after(async () => {
    await removeLeftovers(P);
  });

  it('linkAdd bridge: kind, options and up state as ip -d shows them', async () => {
    const l = await link(`${P}br`);
    assert.ok(l);
    assert.equal(l.linkinfo?.info_kind, 'bridge');
    assert.ok(l.flags.includes('UP'));
    const d = await ipJson<{ linkinfo: { info_data: { forward_delay: number; stp_state: number } } }>(['-d', 'link', 'show', `${P}br`]);
    assert.equal(d[0]?.linkinfo.info_data.forward_delay, 0);
    assert.equal(d[0]?.linkinfo.info_data.stp_state, 0);
  });

  it('one plan: netns + veth born inside it with chosen ifindexes, host end mastered and up; lo/eth0 up, addr, default route; traffic flows', async () => {
    const name = `${P}a`;
    const r = await addon().run({ steps: [
      { kind: 'netnsCreate', path: `/run/netns/${name}` },
      { kind: 'rtnl', ns: SELF, ops: [{ op: 'linkAdd', kind: 'veth', name: `${P}va`, index: 300, up: true, master: `${P}br`, peer: { name: 'eth0', ns: { slot: 0 }, index: 7 } }] },
      { kind: 'rtnl', ns: { slot: 0 }, ops: [
        { op: 'linkSet', link: 'lo', up: true },
        { op: 'linkSet', link: 'eth0', up: true },
        { op: 'addrAdd', link: 'eth0', family: 4, local: '10.77.0.2', prefixLen: 24 },
        { op: 'routeAdd', family: 4, gateway: '10.77.0.1', link: 'eth0' },
      ] },
    ] });
    assert.deepEqual(r.map((s) => s.ok), [true, true, true], JSON.stringify(r));
    const host = await link(`${P}va`);
    assert.ok(host);
    assert.equal(host.ifindex, 300);
    assert.equal(host.master, `${P}br`);
    assert.ok(host.flags.includes('UP'));
    assert.equal(host.link_index, 7, 'peer ifindex as chosen');
    const inside = await links(name);
    const eth0 = inside.find((l) => l.ifname === 'eth0');
    assert.ok(eth0, 'peer was born inside the netns');
    assert.equal(eth0.ifindex, 7);
    assert.ok(eth0.flags.includes('UP'));
    assert.ok(inside.find((l) => l.ifname === 'lo')?.flags.includes('UP'));
    assert.deepEqual((await addrs(name)).get('eth0')?.filter((a) => !a.startsWith('fe80')), ['10.77.0.2/24']);
    const rt = await routes(name);
    assert.ok(rt.some((x) => x.dst === 'default' && x.gateway === '10.77.0.1' && x.dev === 'eth0'), JSON.stringify(rt));
    await execFileP('ip', ['netns', 'exec', name, 'ping', '-c', '1', '-W', '2', '10.77.0.1']);
  });

  it('a batch with one failing request in the middle reports exactly that one; the others are applied', async () => {
    okOps(await rtnl([{ op: 'linkAdd', kind: 'veth', name: `${P}vb`, peer: { name: `${P}vbp` } }]));
    const r = await rtnl([
      { op: 'addrAdd', link: `${P}vb`, family: 4, local: '10.78.0.1', prefixLen: 24 },
      { op: 'addrAdd', link: 999_999, family: 4, local: '10.78.1.1', prefixLen: 24 },
      { op: 'addrAdd', link: `${P}vb`, family: 4, local: '10.78.2.1', prefixLen: 24 },
      { op: 'linkSet', link: `${P}vb`, mtu: 1400 },
    ]);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && 'failedOp' in r);
    assert.equal(r.failedOp, 1);
    assert.ok(r.ops);
    assert.deepEqual(r.ops.map((o) => o.ok), [true, false, true, true]);
    const e = errOf(r.ops[1]);
    assert.equal(e.code, 'ENODEV');
    assert.equal(e.op, 'RTM_NEWADDR');
    assert.deepEqual(r.error, e);
    assert.deepEqual((await addrs()).get(`${P}vb`)?.filter((a) => !a.startsWith('fe80')).sort(), ['10.78.0.1/24', '10.78.2.1/24']);
    assert.equal((await link(`${P}vb`))?.mtu, 1400);
  });

  it('EEXIST carries the kernel\'s extended-ack message', async () => {
    const r = await rtnl([{ op: 'addrAdd', link: `${P}vb`, family: 4, local: '10.78.0.1', prefixLen: 24 }]);
    const e = errOf('ops' in r ? r.ops?.[0] : undefined);
    assert.equal(e.errno, 17);
    assert.equal(e.code, 'EEXIST');
    assert.equal(e.op, 'RTM_NEWADDR');
    assert.match(e.message ?? '', /already assigned/);
    const l = await rtnl([{ op: 'linkAdd', kind: 'bridge', name: `${P}br` }]);
    const le = errOf('ops' in l ? l.ops?.[0] : undefined);
    assert.deepEqual([le.code, le.op], ['EEXIST', 'RTM_NEWLINK']);
  });

  it('a link name that does not exist gives ENODEV naming it; invalid input gives EINVAL and sends nothing', async () => {
    const r = await rtnl([
      { op: 'linkAdd', kind: 'veth', name: `${P}vc`, master: `${P}nope`, peer: { name: `${P}vcp` } },
      { op: 'linkAdd', kind: 'veth', name: `${P}waytoolongname`, peer: { name: `${P}x` } },
      { op: 'addrAdd', link: `${P}vb`, family: 4, local: '300.1.1.1', prefixLen: 24 },
      { op: 'linkDel', link: `${P}nope` },
    ]);
    assert.ok('ops' in r && r.ops);
    const e0 = errOf(r.ops[0]);
    assert.equal(e0.code, 'ENODEV');
    assert.match(e0.message ?? '', /ctnn-nope/);
    const e1 = errOf(r.ops[1]);
    assert.equal(e1.code, 'EINVAL');
    assert.match(e1.message ?? '', /ctnn-waytoolongname.*15/);
    assert.match(errOf(r.ops[2]).message ?? '', /300\.1\.1\.1/);
    assert.equal(errOf(r.ops[3]).code, 'ENODEV');
    const names = (await links()).map((l) => l.ifname);
    assert.ok(!names.includes(`${P}vc`) && !names.some((n) => n.startsWith(`${P}waytoo`)));
  });

  it('linkSet: mtu, mac, alias, master/nomaster, rename, down — and linkGet reads it back like ip -j', async () => {
    okOps(await rtnl([{ op: 'linkAdd', kind: 'veth', name: `${P}vd`, peer: { name: `${P}vdp` } }]));
    okOps(await rtnl([
      { op: 'linkSet', link: `${P}vd`, mtu: 1300, mac: '02:11:22:33:44:55', alias: 'ctnet:test', master: `${P}br`, up: true },
    ]));
    let l = await link(`${P}vd`);
    assert.ok(l);
    assert.deepEqual([l.mtu, l.address, l.ifalias, l.master], [1300, '02:11:22:33:44:55', 'ctnet:test', `${P}br`]);
    const got = okOps(await rtnl([{ op: 'linkGet', link: `${P}vd` }]))[0];
    assert.ok(got?.ok);
    const v = got.value as Link;
    assert.deepEqual([v.index, v.name, v.kind, v.mtu, v.mac, v.alias, v.up], [l.ifindex, `${P}vd`, 'veth', 1300, '02:11:22:33:44:55', 'ctnet:test', true]);
    assert.equal(v.master, (await link(`${P}br`))?.ifindex);
    okOps(await rtnl([{ op: 'linkSet', link: `${P}vd`, master: 0, up: false, name: `${P}ve` }]));
    l = await link(`${P}ve`);
    assert.ok(l);
    assert.equal(l.master, undefined);
    assert.ok(!l.flags.includes('UP'));
    const byIndex = okOps(await rtnl([{ op: 'linkGet', link: l.ifindex }]))[0];
    assert.equal((byIndex?.ok && (byIndex.value as Link).name), `${P}ve`);
  });

  it('noIpv6LinkLocal: the link goes up without an IPv6 link-local address (host end and peer)', async () => {
    okOps(await rtnl([
      { op: 'linkAdd', kind: 'veth', name: `${P}vf`, up: true, noIpv6LinkLocal: true, alias: 'ctnet:v6off', peer: { name: `${P}vfp`, noIpv6LinkLocal: true } },
      { op: 'linkSet', link: `${P}vfp`, up: true },
    ]));
    const a = await ipJson<{ ifname: string; addr_info: Array<{ family: string }> }>(['addr', 'show']);
    for (const n of [`${P}vf`, `${P}vfp`]) {
      const e = a.find((x) => x.ifname === n);
      assert.ok(e, n);
      assert.deepEqual(e.addr_info.filter((x) => x.family === 'inet6'), [], `${n} has no IPv6 address`);
    }
    assert.equal((await link(`${P}vf`))?.ifalias, 'ctnet:v6off');
    assert.ok((await link(`${P}vf`))?.flags.includes('UP'));
  });

  it('names created earlier in the same step are usable by later ops (master, addr)', async () => {
    okOps(await rtnl([
      { op: 'linkAdd', kind: 'bridge', name: `${P}br2`, up: true },
      { op: 'linkAdd', kind: 'veth', name: `${P}vg`, master: `${P}br2`, peer: { name: `${P}vgp` } },
      { op: 'addrAdd', link: `${P}br2`, family: 4, local: '10.79.0.1', prefixLen: 24, broadcast: '10.79.0.255' },
    ]));
    assert.equal((await link(`${P}vg`))?.master, `${P}br2`);
    const j = await ipJson<{ addr_info: Array<{ local: string; broadcast?: string }> }>(['addr', 'show', 'dev', `${P}br2`]);
    assert.ok(j[0]?.addr_info.some((x) => x.local === '10.79.0.1' && x.broadcast === '10.79.0.255'));
  });

  it('IPv6 address with nodad and routes with metric/table/onlink/src; routeList/addrList/linkList agree with ip -j', async () => {
    okOps(await rtnl([
      { op: 'linkSet', link: `${P}vb`, up: true },
      { op: 'linkSet', link: `${P}vbp`, up: true },
      { op: 'addrAdd', link: `${P}vb`, family: 6, local: 'fd77::1', prefixLen: 64, nodad: true },
      { op: 'routeAdd', family: 4, dst: '10.90.0.0', dstLen: 16, link: `${P}vb`, metric: 50 },
      { op: 'routeAdd', family: 4, dst: '10.91.0.0', dstLen: 16, gateway: '192.0.2.9', link: `${P}vb`, onlink: true, src: '10.78.0.1' },
      { op: 'routeAdd', family: 4, dst: '10.92.0.0', dstLen: 16, link: `${P}vb`, table: 100 },
      { op: 'routeAdd', family: 4, dst: '10.93.0.0', dstLen: 16, link: `${P}vb`, table: 1000 },
      { op: 'routeAdd', family: 6, dst: 'fd78::', dstLen: 64, gateway: 'fd77::2', link: `${P}vb` },
    ]));
    const j6 = await ipJson<{ ifname: string; addr_info: Array<{ local: string; nodad?: boolean; family: string }> }>(['-6', 'addr', 'show', 'dev', `${P}vb`]);
    assert.ok(j6[0]?.addr_info.some((a) => a.local === 'fd77::1' && a.nodad === true), JSON.stringify(j6));
    const main4 = await routes();
    assert.ok(main4.some((r) => r.dst === '10.90.0.0/16' && r.metric === 50 && r.dev === `${P}vb`));
    const onl = main4.find((r) => r.dst === '10.91.0.0/16');
    assert.ok(onl && onl.gateway === '192.0.2.9' && onl.flags.includes('onlink'), JSON.stringify(onl));
    assert.ok((await routes(undefined, 4, 100)).some((r) => r.dst === '10.92.0.0/16'));
    assert.ok((await routes(undefined, 4, 1000)).some((r) => r.dst === '10.93.0.0/16'));

    const ops = okOps(await rtnl([
      { op: 'linkList' },
      { op: 'addrList', family: 4 },
      { op: 'addrList', link: `${P}vb` },
      { op: 'routeList', family: 4 },
      { op: 'routeList', family: 4, table: 100 },
      { op: 'routeList', family: 6 },
      { op: 'routeList', table: 4242 },
    ]));
    const val = <T>(i: number): T => { const o = ops[i]; assert.ok(o?.ok); return o.value as T; };
    const ll = val<Link[]>(0);
    const oracleLinks = await links();
    assert.deepEqual(ll.map((l) => l.name).sort(), oracleLinks.map((l) => l.ifname).sort());
    const a4 = val<Addr[]>(1);
    const o4 = await ipJson<{ addr_info: Array<{ local: string; prefixlen: number }> }>(['-4', 'addr', 'show']);
    assert.deepEqual(a4.map((a) => `${a.local}/${a.prefixLen}`).sort(), o4.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).sort());
    assert.ok(val<Addr[]>(2).every((a) => a.index === oracleLinks.find((l) => l.ifname === `${P}vb`)?.ifindex));
    assert.ok(val<Addr[]>(2).some((a) => a.local === 'fd77::1' && a.family === 6));
    const fmt = (r: Route) => (r.dst === undefined ? 'default' : r.dstLen === 32 || r.dstLen === 128 ? r.dst : `${r.dst}/${r.dstLen}`);
    assert.deepEqual(val<Route[]>(3).map(fmt).sort(), main4.map((r) => r.dst).sort());
    assert.deepEqual(val<Route[]>(4).map(fmt), ['10.92.0.0/16']);
    assert.deepEqual(val<Route[]>(5).map(fmt).sort(), (await routes(undefined, 6)).map((r) => r.dst).sort());
    assert.deepEqual(val<Route[]>(6), [], 'a table that does not exist has no routes');
  });

  it('linkSet ns moves a link into another netns (by path)', async () => {
    okOps(await rtnl([{ op: 'linkAdd', kind: 'veth', name: `${P}vm`, peer: { name: `${P}vmp` } }]));
    okOps(await rtnl([{ op: 'linkSet', link: `${P}vmp`, ns: { path: `/run/netns/${P}a` } }]));
    assert.ok(!(await links()).some((l) => l.ifname === `${P}vmp`));
    assert.ok((await links(`${P}a`)).some((l) => l.ifname === `${P}vmp`));
    const inside = okOps(await rtnl([{ op: 'linkGet', link: `${P}vmp` }], { path: `/run/netns/${P}a` }))[0];
    assert.ok(inside?.ok && (inside.value as Link).linkNetnsId !== undefined, 'peer lives in another netns');
  });

  it('routeDel, addrDel, linkDel by name and by index', async () => {
    okOps(await rtnl([
      { op: 'routeDel', family: 4, dst: '10.90.0.0', dstLen: 16, link: `${P}vb` },
      { op: 'addrDel', link: `${P}vb`, family: 4, local: '10.78.2.1', prefixLen: 24 },
    ]));
    assert.ok(!(await routes()).some((r) => r.dst === '10.90.0.0/16'));
    assert.ok(!(await addrs()).get(`${P}vb`)?.includes('10.78.2.1/24'));
    const idx = (await link(`${P}ve`))?.ifindex;
    assert.ok(idx);
    okOps(await rtnl([{ op: 'linkDel', link: `${P}vg` }, { op: 'linkDel', link: idx }]));
    const names = (await links()).map((l) => l.ifname);
    assert.ok(!names.includes(`${P}vg`) && !names.includes(`${P}ve`));
  });
});
