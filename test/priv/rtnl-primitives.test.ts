/**
 * Privileged: every rtnl primitive against the real kernel (inside test/sandbox.mjs), checked
 * through the independent `ip -j` oracle, in the sandbox's root netns and in a named netns.
 * ONE suite, run against BOTH backends; the native variant fails (never skips) when the
 * addon cannot load.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidInputError, NetlinkError } from '../../src/model/errors.js';
import type { Backend, Link } from '../../src/model/plan.js';
import { Rtnl, ops } from '../../src/rtnl/index.js';
import { createNetns, deleteNetns } from '../../src/netns/index.js';
import {
  BACKENDS, addrs, assertSandbox, backendFor, ipJson, link, links, netnsList, removeLeftovers, routes,
  type OracleAddrLink,
} from '../helpers/index.js';

const run = promisify(execFile);

async function sysctlOracle(key: string, ns?: string): Promise<string> {
  const args = ns === undefined ? ['-n', key] : [];
  const r = ns === undefined
    ? await run('sysctl', args, { encoding: 'utf8' })
    : await run('ip', ['netns', 'exec', ns, 'sysctl', '-n', key], { encoding: 'utf8' });
  return r.stdout.trim();
}

/** Kernel state we compare before/after a refused or failed call. */
async function snapshot(ns?: string): Promise<string> {
  const l = (await links(ns)).map((x) => `${x.ifindex}:${x.ifname}:${x.flags.join(',')}:${x.mtu}:${x.master ?? ''}`).sort();
  const a = [...(await addrs(ns)).entries()].map(([k, v]) => `${k}=${v.join(',')}`).sort();
  const r4 = (await routes(ns, 4)).map((x) => JSON.stringify(x)).sort();
  return JSON.stringify({ l, a, r4 });
}

for (const backendName of BACKENDS) {
  const P = backendName === 'iproute2' ? 'ctri' : 'ctrn'; // name prefix (≤ 4 chars + suffix ≤ 11)
  const NS = `${P}-ns1`;

  describe(`rtnl primitives against the kernel [${backendName}]`, function () {
    this.timeout(120_000);
    let backend: Backend;
    let host: Rtnl;
    let inNs: Rtnl;

    before(async () => {
      assertSandbox();
      backend = await backendFor(backendName);
      await removeLeftovers(P);
      host = new Rtnl(backend);
      await createNetns(NS, backend);
      inNs = host.at(NS);
    });

    after(async () => {
      await removeLeftovers(P);
      await backend?.close();
    });

    it('creates a bridge and a veth whose peer is born inside the netns, host end up + mastered', async () => {
      await host.link.addBridge(`${P}-br0`, { up: true, mtu: 1450 });
      await host.link.addVeth(`${P}-v0`, { name: 'eth0', ns: NS, mtu: 1450 }, { master: `${P}-br0`, up: true, mtu: 1450 });
      const br = await link(`${P}-br0`);
      const v0 = await link(`${P}-v0`);
      assert.equal(br?.linkinfo?.info_kind, 'bridge');
      assert.equal(v0?.linkinfo?.info_kind, 'veth');
      assert.equal(v0?.master, `${P}-br0`);
      assert.ok(v0?.flags.includes('UP'));
      assert.equal(v0?.mtu, 1450);
      const peer = await link('eth0', NS);
      assert.ok(peer, 'peer eth0 is in the netns');
      assert.equal(peer.mtu, 1450);
      assert.equal(peer.link_index, v0.ifindex, 'peer points back at the host end');
      assert.equal(await link('eth0'), undefined, 'peer is not in the root netns');
    });

    it('creates with alias, chosen ifindex, txqlen and IPv6 link-local off on both ends (up after addrgenmode)', async () => {
      await host.link.addVeth(`${P}-g0`, { name: 'eth3', ns: NS, alias: 'ctnet:peer', noIpv6LinkLocal: true, mac: '02:00:00:cc:00:03' },
        { up: true, alias: 'ctnet:host', noIpv6LinkLocal: true, index: 4242, txqlen: 500, master: `${P}-br0` });
      await inNs.link.set('eth3', { up: true });
      const g = await link(`${P}-g0`);
      assert.equal(g?.ifindex, 4242);
      assert.equal(g?.ifalias, 'ctnet:host');
      assert.equal(g?.txqlen, 500);
      assert.equal(g?.master, `${P}-br0`);
      assert.ok(g?.flags.includes('UP'));
      assert.equal((g as { inet6_addr_gen_mode?: string } | undefined)?.inet6_addr_gen_mode, 'none');
      const e = await link('eth3', NS);
      assert.equal(e?.ifalias, 'ctnet:peer');
      assert.equal(e?.address, '02:00:00:cc:00:03');
      assert.equal((e as { inet6_addr_gen_mode?: string } | undefined)?.inet6_addr_gen_mode, 'none');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual((await addrs()).get(`${P}-g0`), [], 'no fe80:: on the host end');
      assert.deepEqual((await addrs(NS)).get('eth3'), [], 'no fe80:: on the peer');
      const mine = await host.link.get(4242);
      assert.equal(mine.alias, 'ctnet:host');
      assert.equal(mine.name, `${P}-g0`);
      await host.link.del(`${P}-g0`);
      assert.equal(await link('eth3', NS), undefined);
    });

    it('get/list map every field the way the oracle sees it (by name and by index)', async () => {
      const o = await link(`${P}-v0`);
      assert.ok(o);
      const byName = await host.link.get(`${P}-v0`);
      const byIndex = await host.link.get(o.ifindex);
      assert.deepEqual(byIndex, byName);
      const br = await link(`${P}-br0`);
      // operstate settles asynchronously (linkwatch) after a link is created or set up:
      // compare it with an oracle read taken right after ours, retrying while it moves.
      for (let i = 0; i < 20; i++) {
        const mine = (await host.link.get(`${P}-v0`)).operState;
        if (mine === (await link(`${P}-v0`))?.operstate) break;
        await new Promise((r) => setTimeout(r, 50));
        if (i === 19) assert.fail(`operState ${mine} never matched the oracle`);
      }
      const expect: Partial<Link> = {
        index: o.ifindex, name: o.ifname, kind: 'veth', mtu: o.mtu, up: true,
        master: br?.ifindex, link: o.link_index, linkNetnsId: o.link_netnsid, txqlen: o.txqlen,
      };
      for (const [k, v] of Object.entries(expect)) assert.deepEqual(byName[k as keyof Link], v, k);
      assert.equal(byName.mac, o.address);
      assert.equal(byName.flags & 0x1, 1, 'IFF_UP in flags');
      const list = await host.link.list();
      assert.deepEqual(list.map((l) => l.name).sort(), (await links()).map((l) => l.ifname).sort());
      const lo = list.find((l) => l.name === 'lo');
      assert.equal(lo?.flags !== undefined && (lo.flags & 0x8) !== 0, true, 'IFF_LOOPBACK');
      const inside = await inNs.link.list();
      assert.deepEqual(inside.map((l) => l.name).sort(), ['eth0', 'lo']);
    });

    it('sets up/down, mtu, name, mac, alias, master/nomaster', async () => {
      const v = `${P}-v0`;
      await host.link.set(v, { up: false, mtu: 1400, mac: '02:00:00:aa:bb:01', alias: 'ctnet:test' });
      let o = await link(v);
      assert.ok(o && !o.flags.includes('UP'));
      assert.equal(o.mtu, 1400);
      assert.equal(o.address, '02:00:00:aa:bb:01');
      assert.equal(o.ifalias, 'ctnet:test');
      await host.link.set(v, { master: null });
      assert.equal((await link(v))?.master, undefined);
      await host.link.set(v, { master: `${P}-br0`, up: true, name: `${P}-v0r` });
      o = await link(`${P}-v0r`);
      assert.equal(o?.master, `${P}-br0`);
      assert.ok(o?.flags.includes('UP'));
      await host.link.set(`${P}-v0r`, { name: v });
      await inNs.link.set('eth0', { up: true, mac: '02:00:00:aa:bb:02' });
      await inNs.link.set('lo', { up: true });
      const e = await link('eth0', NS);
      assert.ok(e?.flags.includes('UP'));
      assert.equal(e?.address, '02:00:00:aa:bb:02');
    });

    it('moves a link into a netns (ip link set X netns N)', async () => {
      await host.link.addVeth(`${P}-m0`, { name: `${P}-m1` });
      await host.link.set(`${P}-m1`, { ns: NS });
      assert.equal(await link(`${P}-m1`), undefined);
      assert.ok(await link(`${P}-m1`, NS));
      await inNs.link.del(`${P}-m1`);
      assert.equal(await link(`${P}-m0`), undefined, 'deleting one end removes the pair');
    });

    it('adds, lists and deletes IPv4 and IPv6 addresses (IPv6 nodad) in both netns', async () => {
      await host.addr.add(`${P}-br0`, '10.77.0.1/24');
      await host.addr.add(`${P}-br0`, 'fd77::1/64');
      await inNs.addr.add('eth0', '10.77.0.2/24');
      await inNs.addr.add('eth0', 'fd77::2/64');
      assert.deepEqual((await addrs()).get(`${P}-br0`)?.filter((a) => !a.startsWith('fe80')), ['10.77.0.1/24', 'fd77::1/64']);
      assert.deepEqual((await addrs(NS)).get('eth0')?.filter((a) => !a.startsWith('fe80')), ['10.77.0.2/24', 'fd77::2/64']);
      const raw = await ipJson<OracleAddrLink>(['addr', 'show', 'dev', 'eth0'], NS);
      const v6 = raw[0]?.addr_info.find((a) => a.local === 'fd77::2');
      assert.equal(v6?.nodad, true);
      const listed = await inNs.addr.list({ link: 'eth0' });
      const l4 = listed.find((a) => a.local === '10.77.0.2');
      const eth0 = await link('eth0', NS);
      assert.deepEqual(l4 && { index: l4.index, family: l4.family, prefixLen: l4.prefixLen, scope: l4.scope },
        { index: eth0?.ifindex, family: 4, prefixLen: 24, scope: 0 });
      const l6 = listed.find((a) => a.local === 'fd77::2');
      assert.equal(l6?.family, 6);
      assert.equal((l6?.flags ?? 0) & 0x02, 0x02, 'IFA_F_NODAD');
      assert.equal((l6?.flags ?? 0) & 0x40, 0, 'not tentative');
      assert.deepEqual((await inNs.addr.list({ family: 6 })).every((a) => a.family === 6), true);
      await inNs.addr.add('eth0', '10.78.0.2/24');
      await inNs.addr.del('eth0', '10.78.0.2/24');
      assert.ok(!(await addrs(NS)).get('eth0')?.includes('10.78.0.2/24'));
    });

    it('adds, lists and deletes routes: default via, on-link dev, metric, table, IPv6', async () => {
      await inNs.route.add({ via: '10.77.0.1' });
      await inNs.route.add({ dst: '10.90.0.0/16', dev: 'eth0', metric: 7 });
      await inNs.route.add({ dst: '10.91.0.0/16', via: '10.77.0.1', table: 100 });
      await inNs.route.add({ dst: '192.0.2.0/24', via: '198.51.100.1', dev: 'eth0', onlink: true });
      await inNs.route.add({ via: 'fd77::1' });
      const r4 = await routes(NS, 4);
      assert.ok(r4.some((r) => r.dst === 'default' && r.gateway === '10.77.0.1' && r.dev === 'eth0'));
      assert.ok(r4.some((r) => r.dst === '10.90.0.0/16' && r.metric === 7 && r.dev === 'eth0'));
      assert.ok(r4.some((r) => r.dst === '192.0.2.0/24' && r.gateway === '198.51.100.1' && r.flags.includes('onlink')));
      assert.ok((await routes(NS, 4, 100)).some((r) => r.dst === '10.91.0.0/16'));
      assert.ok((await routes(NS, 6)).some((r) => r.dst === 'default' && r.gateway === 'fd77::1'));

      const eth0 = await link('eth0', NS);
      const listed = await inNs.route.list({ family: 4 });
      const def = listed.find((r) => r.dst === undefined);
      assert.deepEqual(def && { dstLen: def.dstLen, gateway: def.gateway, oif: def.oif, table: def.table, type: def.type, protocol: def.protocol },
        { dstLen: 0, gateway: '10.77.0.1', oif: eth0?.ifindex, table: 254, type: 1, protocol: 3 });
      const m = listed.find((r) => r.dst === '10.90.0.0');
      assert.equal(m?.metric, 7);
      assert.equal(m?.dstLen, 16);
      const onl = listed.find((r) => r.dst === '192.0.2.0');
      assert.equal((onl?.flags ?? 0) & 0x4, 0x4, 'RTNH_F_ONLINK');
      const t100 = await inNs.route.list({ table: 100 });
      assert.deepEqual(t100.map((r) => `${r.dst}/${r.dstLen}:${r.table}`), ['10.91.0.0/16:100']);
      const both = await inNs.route.list();
      assert.ok(both.some((r) => r.family === 6 && r.gateway === 'fd77::1'));
      const kernelRoute = listed.find((r) => r.dst === '10.77.0.0');
      assert.equal(kernelRoute?.protocol, 2, 'RTPROT_KERNEL');
      assert.equal(kernelRoute?.scope, 253, 'RT_SCOPE_LINK');
      assert.equal(kernelRoute?.prefsrc, '10.77.0.2');

      await inNs.route.del({ dst: '10.90.0.0/16', dev: 'eth0', metric: 7 });
      await inNs.route.del({ dst: '10.91.0.0/16', via: '10.77.0.1', table: 100 });
      assert.ok(!(await routes(NS, 4)).some((r) => r.dst === '10.90.0.0/16'));
      assert.deepEqual(await routes(NS, 4, 100), []);
      await assert.rejects(inNs.route.del({ dst: '10.90.0.0/16', dev: 'eth0' }), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'ESRCH' && e.message.includes('delete route 10.90.0.0/16 dev eth0 in ' + NS));
    });

    it('reads and writes sysctls in the current netns and in a named one', async () => {
      await host.sysctl.set('net/ipv4/ip_forward', 1);
      assert.equal(await sysctlOracle('net.ipv4.ip_forward'), '1');
      assert.equal(await host.sysctl.get('net.ipv4.ip_forward'), '1');
      await inNs.sysctl.set('net.ipv4.conf.eth0.rp_filter', '2');
      assert.equal(await sysctlOracle('net.ipv4.conf.eth0.rp_filter', NS), '2');
      assert.equal(await inNs.sysctl.get('net/ipv4/conf/eth0/rp_filter'), '2');
      assert.equal(await inNs.sysctl.get('net/ipv4/ip_forward'), '0', 'a netns has its own forwarding switch');
      await host.sysctl.set('net/ipv4/ip_forward', 0);
      await assert.rejects(inNs.sysctl.get('net/ipv4/conf/nope0/forwarding'), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'ENOENT' && e.message.includes('net/ipv4/conf/nope0/forwarding'));
    });

    it('a batch with one failing request in the middle reports exactly that one (and runs the others)', async () => {
      const b = host.batch();
      const ns2 = b.netnsCreate(`/run/netns/${P}-ns2`);
      const s1 = b.rtnl({ self: true }, [
        ops.vethAdd(`${P}-b0`, { name: 'eth0', ns: ns2 }, { master: `${P}-br0`, up: true }),
        ops.vethAdd(`${P}-v0`, { name: 'eth9', ns: ns2 }), // duplicate host name: EEXIST
        ops.vethAdd(`${P}-b1`, { name: 'eth1', ns: ns2 }),
      ]);
      const s2 = b.rtnl(ns2, [ops.linkSet('eth0', { up: true }), ops.addrAdd('eth0', '10.77.0.3/24')]);
      const res = await b.run();
      assert.equal(res.ok, false);
      const f = res.failures();
      assert.equal(f.length, 1);
      assert.equal(f[0]?.step, s1);
      assert.equal(f[0]?.op, 1);
      assert.equal(f[0]?.error.code, 'EEXIST');
      assert.equal(f[0]?.context, `create veth ${P}-v0→eth9 in ${P}-ns2`);
      const st = res.steps[s1];
      assert.ok(st && !st.ok && 'ops' in st);
      assert.deepEqual(st.ops?.map((o) => o.ok), [true, false, true]);
      assert.equal(st.failedOp, 1);
      assert.deepEqual(res.steps[s2], { ok: false, kind: 'rtnl', skipped: true });
      assert.ok(await link(`${P}-b0`) && await link(`${P}-b1`));
      assert.deepEqual((await links(`${P}-ns2`)).map((l) => l.ifname).sort(), ['eth0', 'eth1', 'lo']);
      assert.throws(() => res.throwIfFailed(), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'EEXIST' && e.message.startsWith(`create veth ${P}-v0→eth9 in ${P}-ns2: EEXIST`));
    });

    it('a batch without stopOnError runs the later steps and reports per-op values', async () => {
      const b = host.batch({ stopOnError: false });
      const s0 = b.rtnl({ path: `/run/netns/${P}-ns2` }, [ops.linkDel('nope0')]);
      const s1 = b.rtnl({ path: `/run/netns/${P}-ns2` }, [ops.linkSet('eth1', { up: true }), ops.linkGet('eth1'), ops.addrList({ link: 'eth1' })]);
      const s2 = b.sysctl({ path: `/run/netns/${P}-ns2` }, 'net/ipv4/ip_forward');
      const res = await b.run();
      assert.equal(res.failures().length, 1);
      assert.equal(res.failures()[0]?.step, s0);
      assert.equal(res.failures()[0]?.error.code, 'ENODEV');
      const l = res.opValue(s1, 1) as Link;
      assert.equal(l.name, 'eth1');
      assert.equal(l.up, true);
      assert.deepEqual(res.opValue(s1, 2), []);
      assert.equal(res.stepValue(s2), '0');
    });

    it('a netns created here is in `ip netns list` and usable by `ip netns exec NAME ip -j addr`', async () => {
      assert.ok((await netnsList()).includes(NS));
      const out = await run('ip', ['netns', 'exec', NS, 'ip', '-j', 'addr'], { encoding: 'utf8' });
      const parsed = JSON.parse(out.stdout) as OracleAddrLink[];
      assert.ok(parsed.find((l) => l.ifname === 'eth0')?.addr_info.some((a) => a.local === '10.77.0.2'));
    });

    describe('bad input: a clear error naming the object, nothing half-made', () => {
      let before0: string;
      let beforeNs: string;
      beforeEach(async () => {
        before0 = await snapshot();
        beforeNs = await snapshot(NS);
      });
      afterEach(async () => {
        assert.equal(await snapshot(), before0, 'root netns unchanged');
        assert.equal(await snapshot(NS), beforeNs, `${NS} unchanged`);
      });

      it('interface names of 16+ chars or with / are refused', async () => {
        await assert.rejects(host.link.addVeth(`${P}-0123456789ab`, { name: 'eth5', ns: NS }),
          (e: unknown) => e instanceof InvalidInputError && e.message.includes(`${P}-0123456789ab`));
        await assert.rejects(host.link.addVeth(`${P}-x0`, { name: 'eth/5', ns: NS }),
          (e: unknown) => e instanceof InvalidInputError && e.message.includes('eth/5'));
        await assert.rejects(host.link.addBridge('a:b'), /"a:b"/);
        await assert.rejects(host.link.set(`${P}-v0`, { name: 'x'.repeat(16) }), /x{16}/);
      });

      it('invalid or mismatched CIDRs are refused', async () => {
        await assert.rejects(inNs.addr.add('eth0', '10.77.0.300/24'), (e: unknown) => e instanceof InvalidInputError && e.message.includes('10.77.0.300'));
        await assert.rejects(inNs.addr.add('eth0', '10.77.0.3'), /10\.77\.0\.3/);
        await assert.rejects(inNs.addr.add('eth0', 'fd77::3/129'), /fd77::3\/129/);
        await assert.rejects(inNs.route.add({ dst: '10.95.0.0/16', via: 'fd77::1' }), /fd77::1/);
        await assert.rejects(inNs.route.add({ dst: '10.95.0.1/16', dev: 'eth0' }), /host bits/);
        await assert.rejects(host.link.set(`${P}-v0`, { mtu: 40 }), /MTU/);
        await assert.rejects(host.link.set(`${P}-v0`, { mac: 'zz:00:00:00:00:00' }), /zz:00/);
      });

      it('netns names with .. or / are refused', async () => {
        await assert.rejects(createNetns('..', backend), (e: unknown) => e instanceof InvalidInputError && e.message.includes('".."'));
        await assert.rejects(createNetns(`${P}/x`, backend), (e: unknown) => e instanceof InvalidInputError && e.message.includes(`${P}/x`));
        assert.throws(() => host.at('a..b'), InvalidInputError);
      });

      it('a missing netns or link is a clear error naming it', async () => {
        await assert.rejects(host.at(`${P}-nonexistent`).link.list(), (e: unknown) =>
          e instanceof NetlinkError && e.code === 'ENOENT' && e.message.includes(`${P}-nonexistent`));
        await assert.rejects(inNs.link.get('nope0'), (e: unknown) =>
          e instanceof NetlinkError && e.code === 'ENODEV' && e.message.includes('nope0') && e.message.includes(NS));
        await assert.rejects(host.link.del(`${P}-nope`), (e: unknown) => e instanceof NetlinkError && e.code === 'ENODEV' && e.message.includes(`${P}-nope`));
        await assert.rejects(inNs.addr.add('nope0', '10.1.1.1/24'), (e: unknown) => e instanceof NetlinkError && e.code === 'ENODEV' && e.message.includes('nope0'));
        await assert.rejects(host.link.addVeth(`${P}-x1`, { name: 'eth5' }, { master: `${P}-nobr` }), (e: unknown) =>
          e instanceof NetlinkError && e.code === 'ENODEV' && e.message.includes(`${P}-x1`));
        await assert.rejects(host.link.addVeth(`${P}-x2`, { name: 'eth5', ns: `${P}-nonexistent` }), (e: unknown) =>
          e instanceof NetlinkError && e.message.includes(`${P}-x2`) && e.message.includes(`${P}-nonexistent`));
      });

      it('a duplicate name is EEXIST naming both ends', async () => {
        await assert.rejects(host.link.addVeth(`${P}-v0`, { name: 'eth7', ns: NS }), (e: unknown) => {
          assert.ok(e instanceof NetlinkError);
          assert.equal(e.code, 'EEXIST');
          assert.equal(e.errno, 17);
          assert.equal(e.op, 'RTM_NEWLINK');
          assert.ok(e.message.startsWith(`create veth ${P}-v0→eth7 in ${NS}: EEXIST`), e.message);
          return true;
        });
        await assert.rejects(host.link.addVeth(`${P}-x3`, { name: 'eth0', ns: NS }), (e: unknown) =>
          e instanceof NetlinkError && e.code === 'EEXIST' && e.message.includes(`${P}-x3→eth0`));
        await assert.rejects(host.link.addBridge(`${P}-br0`), (e: unknown) => e instanceof NetlinkError && e.code === 'EEXIST' && e.message.includes(`${P}-br0`));
        await assert.rejects(inNs.addr.add('eth0', '10.77.0.2/24'), (e: unknown) => e instanceof NetlinkError && e.code === 'EEXIST' && e.message.includes('10.77.0.2/24'));
      });
    });

    it('deletes links (a veth takes its peer with it)', async () => {
      await host.link.del(`${P}-b1`);
      assert.equal(await link(`${P}-b1`), undefined);
      assert.equal(await link('eth1', `${P}-ns2`), undefined);
      // Through the library: the native backend caches sockets of path netns (that keeps a netns
      // alive) and drops them on its own netnsDelete.
      await deleteNetns(`${P}-ns2`, { backend });
      assert.ok(!(await netnsList()).includes(`${P}-ns2`));
      // The kernel reaps the netns (and the veth whose peer was inside) asynchronously.
      for (let i = 0; i < 100 && await link(`${P}-b0`) !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await link(`${P}-b0`), undefined, 'host end reaped with the peer netns');
    });
  });
}
