/**
 * The tutorial's own checks, through the library, with real traffic — against both kernel
 * backends. Runs only inside the sandbox (fresh net+mount namespace): the sandbox's netns is
 * the "host", and the "outside world" is a netns this suite creates (TEST-NET-1 addresses).
 */
import assert from 'node:assert/strict';
import { readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host, type Network, type Endpoint } from '../../src/index.js';
import { assertSandbox, ip, ipJson, removeLeftovers, BACKENDS, backendFor } from '../helpers/index.js';
import { ping, startServer, connect, type PeerServer } from '../helpers/traffic.js';

const run = promisify(execFile);
const OUT = 'ctt-out';

async function nftRuleset(): Promise<unknown[]> {
  const { stdout } = await run('nft', ['-j', 'list', 'ruleset']);
  return ((JSON.parse(stdout) as { nftables: Array<Record<string, unknown>> }).nftables).filter((o) => !('metainfo' in o));
}

function runNetns(): string[] {
  try { return readdirSync('/run/netns').sort(); } catch { return []; }
}

async function snapshot(): Promise<{ links: string[]; addrs: string[]; nft: string; netns: string[] }> {
  const links = (await ipJson<{ ifname: string }>(['link', 'show'])).map((l) => l.ifname).sort();
  const addrs = (await ipJson<{ ifname: string; addr_info: Array<{ local: string; prefixlen: number }> }>(['addr', 'show']))
    .flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`)).sort();
  return { links, addrs, nft: JSON.stringify(await nftRuleset()), netns: runNetns() };
}

/** Host veths are reaped by the kernel asynchronously after their netns goes: wait (bounded). */
async function settled<T>(read: () => Promise<T>, want: T, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  let last = await read();
  while (Date.now() < until && JSON.stringify(last) !== JSON.stringify(want)) {
    await new Promise((r) => setTimeout(r, 50));
    last = await read();
  }
  return last;
}

/** The outside world: a netns behind a veth from the host, TEST-NET-1 addresses only. */
async function makeOutside(): Promise<void> {
  await ip(['netns', 'add', OUT]);
  await ip(['link', 'add', 'ctt-o0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT]);
  await ip(['addr', 'add', '192.0.2.1/24', 'dev', 'ctt-o0']);
  await ip(['link', 'set', 'ctt-o0', 'up']);
  await ip(['addr', 'add', '192.0.2.2/24', 'dev', 'eth0'], OUT);
  await ip(['link', 'set', 'eth0', 'up'], OUT);
  await ip(['link', 'set', 'lo', 'up'], OUT);
  await ip(['route', 'add', 'default', 'via', '192.0.2.1'], OUT);
}

for (const backendName of BACKENDS) {
  describe(`topology: the tutorial's network, end to end [${backendName}]`, function () {
    this.timeout(120000);
    let stateDir: string;
    let host: Host;
    let net: Network;
    let c0: Endpoint;
    let c1: Endpoint;
    let baseline: Awaited<ReturnType<typeof snapshot>>;
    const servers: PeerServer[] = [];

    before(async () => {
      assertSandbox();
      await removeLeftovers('ctt-');
      await run('nft', ['flush', 'ruleset']);
      await makeOutside();
      baseline = await snapshot();
      stateDir = mkdtempSync(path.join(tmpdir(), 'ctt-state-'));
      host = await Host.open({ stateDir, backendInstance: await backendFor(backendName) });
      net = await host.network({ name: 'ctt-demo', subnet: '172.18.0.0/16', bridge: 'ctt-br0' });
      c0 = await net.attach({ netns: 'ctt-c0' });
      c1 = await net.attach({ netns: 'ctt-c1' });
    });

    after(async () => {
      for (const s of servers) s.stop();
      await host?.close().catch(() => undefined);
      await removeLeftovers('ctt-');
      await run('nft', ['flush', 'ruleset']).catch(() => undefined);
      if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    });

    it('creates the bridge with the gateway address, and each container its veth, address and default route (checked with ip -j)', async () => {
      const br = await ipJson<{ ifname: string; operstate: string; flags: string[] }>(['link', 'show', 'ctt-br0']);
      assert.ok(br[0]?.flags.includes('UP'));
      const braddr = await ipJson<{ addr_info: Array<{ local: string; prefixlen: number }> }>(['addr', 'show', 'ctt-br0']);
      assert.deepEqual(braddr[0]?.addr_info.filter((a) => a.local.includes('.')).map((a) => `${a.local}/${a.prefixlen}`), ['172.18.0.1/16']);
      for (const c of [c0, c1]) {
        const l = await ipJson<{ ifname: string; master?: string; flags: string[] }>(['link', 'show', c.hostIfname]);
        assert.equal(l[0]?.master, 'ctt-br0');
        assert.ok(l[0]?.flags.includes('UP'));
        const name = c.info.netnsName ?? '';
        const a = await ipJson<{ ifname: string; flags: string[]; address: string; addr_info: Array<{ local: string; prefixlen: number; family: string }> }>(['addr', 'show', 'eth0'], name);
        assert.deepEqual(a[0]?.addr_info.filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`), [c.address]);
        assert.equal(a[0]?.address, c.mac);
        const lo = await ipJson<{ flags: string[] }>(['link', 'show', 'lo'], name);
        assert.ok(lo[0]?.flags.includes('UP'));
        const r = await ipJson<{ dst: string; gateway?: string }>(['route', 'show', 'default'], name);
        assert.equal(r[0]?.gateway, '172.18.0.1');
      }
      assert.notEqual(c0.ip, c1.ip);
      // the native backend applies rules in-process; the iproute2 one through `nft`
      assert.equal(host.firewallName, backendName === 'native' ? 'libnftables' : 'nft');
    });

    it('two containers on one bridge ping each other, and ip neigh in each shows the other', async () => {
      assert.ok(await ping('ctt-c0', c1.ip), 'c0 → c1');
      assert.ok(await ping('ctt-c1', c0.ip), 'c1 → c0');
      const n0 = await ipJson<{ dst: string; lladdr?: string }>(['neigh', 'show'], 'ctt-c0');
      assert.ok(n0.some((n) => n.dst === c1.ip && n.lladdr === c1.mac), `c0 neigh: ${JSON.stringify(n0)}`);
      const n1 = await ipJson<{ dst: string; lladdr?: string }>(['neigh', 'show'], 'ctt-c1');
      assert.ok(n1.some((n) => n.dst === c0.ip && n.lladdr === c0.mac), `c1 neigh: ${JSON.stringify(n1)}`);
    });

    it('host ↔ container ping through the bridge address', async () => {
      assert.ok(await ping(undefined, c0.ip), 'host → c0');
      assert.ok(await ping('ctt-c0', '172.18.0.1'), 'c0 → gateway');
    });

    it('a container reaches the outside netns, which sees the host address (masquerade), and the reply returns', async () => {
      servers.push(await startServer(OUT, 7001));
      assert.equal(await connect('ctt-c0', '192.0.2.2', 7001), '192.0.2.1');
      assert.ok(await ping('ctt-c1', '192.0.2.2'), 'c1 → outside ping');
    });

    it('a published port reaches a container server from the outside, from the host, from 127.0.0.1 and from another container (hairpin)', async () => {
      const s0 = await startServer('ctt-c0', 80);
      servers.push(s0);
      const port = async (): Promise<boolean | undefined> =>
        (await ipJson<{ linkinfo?: { info_slave_data?: { hairpin?: boolean } } }>(['-d', 'link', 'show', c0.hostIfname]))[0]?.linkinfo?.info_slave_data?.hairpin;
      assert.equal(await port(), true, 'the bridge port is in hairpin mode (a container can reach its own published port)');
      const added = await c0.publish(['8080:80/tcp']);
      assert.equal(added.length, 1);
      // from the outside netns, through the host's outside address
      assert.ok((await connect(OUT, '192.0.2.1', 8080)) !== undefined, 'outside → 192.0.2.1:8080');
      // from the host itself
      assert.ok((await connect(undefined, '192.0.2.1', 8080)) !== undefined, 'host → 192.0.2.1:8080');
      assert.ok((await connect(undefined, '127.0.0.1', 8080)) !== undefined, 'host → 127.0.0.1:8080');
      // from a sibling container via the host address, and the container to itself (hairpin)
      assert.ok((await connect('ctt-c1', '192.0.2.1', 8080)) !== undefined, 'c1 → 192.0.2.1:8080');
      assert.ok((await connect('ctt-c0', '192.0.2.1', 8080)) !== undefined, 'c0 → its own published port');
      // the mapping is an element of our DNAT map (independent oracle: nft -j)
      const { stdout } = await run('nft', ['-j', 'list', 'table', 'ip', 'ctnet']);
      assert.match(stdout, /8080/);
    });

    it('a host port already published is a clear error, and unpublish removes exactly its own mapping', async () => {
      const s1 = await startServer('ctt-c1', 81);
      servers.push(s1);
      await c1.publish(['8081:81']);
      await assert.rejects(c1.publish(['8080:81/tcp']), (e: Error & { code?: string }) => /8080/.test(e.message) && e.code === 'EPORTINUSE');
      await c0.unpublish(['8080:80/tcp']);
      assert.equal(await connect(OUT, '192.0.2.1', 8080), undefined, '8080 stops answering');
      assert.ok((await connect(OUT, '192.0.2.1', 8081)) !== undefined, '8081 still answers');
      await c1.unpublish(['8081:81']);
      assert.equal(await connect(OUT, '192.0.2.1', 8081), undefined);
    });

    it('two networks cannot reach each other, and an internal network cannot reach the outside', async () => {
      const other = await host.network({ name: 'ctt-other', subnet: '172.19.0.0/16', bridge: 'ctt-br1' });
      const internal = await host.network({ name: 'ctt-int', subnet: '172.20.0.0/16', bridge: 'ctt-br2', internal: true });
      const o = await other.attach({ netns: 'ctt-o1' });
      const i = await internal.attach({ netns: 'ctt-i1' });
      try {
        assert.ok(await ping('ctt-o1', '172.19.0.1'), 'sanity: own gateway');
        assert.ok(await ping('ctt-o1', '192.0.2.2'), 'sanity: other network reaches outside');
        assert.equal(await ping('ctt-o1', c0.ip), false, 'network B → network A');
        assert.equal(await ping('ctt-c0', o.ip), false, 'network A → network B');
        assert.equal(await ping('ctt-i1', '192.0.2.2'), false, 'internal → outside');
        assert.equal(await connect('ctt-i1', '192.0.2.2', 7001), undefined, 'internal → outside TCP');
      } finally {
        await o.detach();
        await i.detach();
        await other.remove();
        await internal.remove();
      }
    });

    it('a netns attached to a second network gets eth1 and keeps its first default route', async () => {
      const second = await host.network({ name: 'ctt-second', subnet: '172.21.0.0/16', bridge: 'ctt-br3' });
      const e = await second.attach({ netns: 'ctt-c1' });
      try {
        assert.equal(e.info.ifname, 'eth1');
        const a = await ipJson<{ addr_info: Array<{ local: string; family: string }> }>(['addr', 'show', 'eth1'], 'ctt-c1');
        assert.deepEqual(a[0]?.addr_info.filter((x) => x.family === 'inet').map((x) => x.local), [e.ip]);
        const r = await ipJson<{ gateway?: string }>(['route', 'show', 'default'], 'ctt-c1');
        assert.deepEqual(r.map((x) => x.gateway), ['172.18.0.1']);
        assert.ok(await ping('ctt-c1', '172.21.0.1'), 'reaches the second gateway');
      } finally {
        await e.detach();
        await second.remove();
      }
      // detaching from the second network left the first one working
      assert.ok(await ping('ctt-c1', c0.ip));
    });

    it('a dual-stack network gives IPv4 and IPv6 addresses and default routes; containers ping over both', async () => {
      const ds = await host.network({ name: 'ctt-ds', subnet: '172.22.0.0/16', subnet6: 'fd00:22::/64', bridge: 'ctt-br4' });
      const a = await ds.attach({ netns: 'ctt-d0' });
      const b = await ds.attach({ netns: 'ctt-d1' });
      try {
        assert.equal(a.info.gateway6, 'fd00:22::1');
        const addrs = await ipJson<{ addr_info: Array<{ local: string; family: string; scope: string }> }>(['addr', 'show', 'eth0'], 'ctt-d0');
        assert.deepEqual(addrs[0]?.addr_info.filter((x) => x.family === 'inet6' && x.scope === 'global').map((x) => x.local), [a.info.ip6]);
        const r6 = await ipJson<{ gateway?: string }>(['-6', 'route', 'show', 'default'], 'ctt-d0');
        assert.equal(r6[0]?.gateway, 'fd00:22::1');
        assert.ok(await ping('ctt-d0', b.info.ip6 ?? ''), 'd0 → d1 over IPv6');
        assert.ok(await ping('ctt-d1', 'fd00:22::1'), 'd1 → IPv6 gateway');
        assert.ok(await ping('ctt-d0', b.ip), 'd0 → d1 over IPv4');
      } finally {
        await a.detach();
        await b.detach();
        await ds.remove();
      }
    });

    it('modes: none gives a netns with only lo up; host shares the host netns', async () => {
      const none = await host.attachNoneMode('ctt-n1');
      const l = await ipJson<{ ifname: string; flags: string[] }>(['link', 'show'], 'ctt-n1');
      assert.deepEqual(l.map((x) => x.ifname), ['lo']);
      assert.ok(l[0]?.flags.includes('UP'));
      const hostEp = await host.attachHostMode();
      assert.equal(hostEp.mode, 'host');
      assert.equal(none.mode, 'none');
      for (const e of await host.endpoints()) {
        if (e.mode !== 'bridge') await (await host.findEndpoint(e.netns))?.detach();
      }
      assert.ok(!runNetns().includes('ctt-n1'));
    });

    it('after detach and network removal, links, addresses, nft ruleset and /run/netns are exactly as before', async () => {
      for (const s of servers.splice(0)) s.stop();
      await c0.detach();
      await c1.detach();
      await net.remove();
      await host.close();
      const want = baseline;
      const got = await settled(snapshot, want);
      assert.deepEqual(got, want);
    });
  });
}
