/**
 * Privileged: the CNI plugin (dist/bundle/cni.cjs) driven exactly as a runtime drives it —
 * a process per call, CNI_* env and the config on stdin — for every command and spec
 * version, checked against the kernel (ip -j, nft -j) and real traffic; compared field by
 * field with Debian's reference bridge + host-local on the same config; chained with the
 * reference tuning plugin. Rebuild first: npx tsc -p tsconfig.json && npm run bundle.
 * Run: node test/run.mjs test/priv/cni-plugin.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { connect, ping, startServer, type PeerServer } from '../helpers/traffic.js';
import { haveReference, ok, ours, reference } from '../fixtures/cni/plugin.js';

const run = promisify(execFile);
const P = 'cnip-';
const OUT = `${P}out`;
const VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;

/** The outside world: a netns behind a veth from the host, TEST-NET-1 addresses only. */
async function makeOutside(): Promise<void> {
  await ip(['netns', 'add', OUT]);
  await ip(['link', 'add', `${P}o0`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT]);
  await ip(['addr', 'add', '192.0.2.1/24', 'dev', `${P}o0`]);
  await ip(['link', 'set', `${P}o0`, 'up']);
  await ip(['addr', 'add', '192.0.2.2/24', 'dev', 'eth0'], OUT);
  await ip(['link', 'set', 'eth0', 'up'], OUT);
  await ip(['link', 'set', 'lo', 'up'], OUT);
  await ip(['route', 'add', 'default', 'via', '192.0.2.1'], OUT);
}

interface AddrInfo { family: string; local: string; prefixlen: number }
const v4Of = async (ns: string, dev = 'eth0'): Promise<string[]> =>
  (await ipJson<{ addr_info: AddrInfo[] }>(['addr', 'show', 'dev', dev], ns)).flatMap((l) => l.addr_info).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);

describe('cni plugin (privileged): every command and version, as a runtime calls it', function () {
  this.timeout(180000);
  let stateDir: string;
  const servers: PeerServer[] = [];
  const conf = (v: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    cniVersion: v, name: `${P}net`, type: 'ctnet-cni', bridge: `${P}br`, isGateway: true, isDefaultGateway: true, ipMasq: true,
    ctnetStateDir: stateDir, ipam: { type: 'host-local', subnet: '10.210.0.0/24', routes: [{ dst: '10.211.0.0/16' }] }, ...extra,
  });
  const call = (command: string, id: string, ns: string, more: Record<string, string> = {}) =>
    ({ command, containerId: id, netns: ns === '' ? '' : `/run/netns/${ns}`, ifname: 'eth0', ...more });

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']);
    await makeOutside();
    stateDir = mkdtempSync(path.join(tmpdir(), `${P}state-`));
  });

  after(async () => {
    for (const s of servers) s.stop();
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  it('VERSION answers with dummy env, for each version, without any state', async () => {
    for (const v of VERSIONS) {
      const r = await ours({ command: 'VERSION', extra: { CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' } }, { cniVersion: v });
      assert.deepEqual(ok(r, 'VERSION'), { cniVersion: v, supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
    }
  });

  it('STATUS exits 0 with nothing on stdout when ADD can work', async () => {
    const r = await ours({ command: 'STATUS' }, conf('1.1.0'));
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.stdout.trim(), '');
  });

  for (const v of VERSIONS) {
    it(`ADD, CHECK, DEL, DEL again [${v}]: the result matches ip -j; CHECK passes; DEL leaves nothing`, async () => {
      const ns = `${P}v${v.replaceAll('.', '')}`;
      await ip(['netns', 'add', ns]);
      const res = ok(await ours(call('ADD', `id-${ns}`, ns), conf(v)), 'ADD') as {
        cniVersion: string; interfaces: Array<{ name: string; mac: string; sandbox?: string }>;
        ips: Array<{ address: string; gateway: string; interface: number; version?: string }>; routes: Array<{ dst: string; gw?: string }>; dns: object;
      };
      assert.equal(res.cniVersion, v);
      const [br, veth, ctr] = res.interfaces;
      assert.equal(br?.name, `${P}br`);
      assert.equal(ctr?.name, 'eth0');
      assert.equal(ctr?.sandbox, `/run/netns/${ns}`);
      const inside = await ipJson<{ ifname: string; address: string }>(['link', 'show', 'eth0'], ns);
      assert.equal(inside[0]?.address, ctr?.mac);
      const hostVeth = await ipJson<{ ifname: string; address: string; master?: string }>(['link', 'show', veth?.name ?? '']);
      assert.equal(hostVeth[0]?.address, veth?.mac);
      assert.equal(hostVeth[0]?.master, `${P}br`);
      const brLink = await ipJson<{ address: string }>(['link', 'show', `${P}br`]);
      assert.equal(brLink[0]?.address, br?.mac);
      assert.equal(res.ips.length, 1);
      assert.equal(res.ips[0]?.interface, 2);
      assert.equal(res.ips[0]?.gateway, '10.210.0.1');
      assert.equal(res.ips[0]?.version, v === '0.4.0' ? '4' : undefined);
      assert.deepEqual(await v4Of(ns), [res.ips[0]?.address]);
      assert.deepEqual(res.routes, [{ dst: '10.211.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.210.0.1' }]);
      const rts = await ipJson<{ dst: string; gateway?: string }>(['route', 'show'], ns);
      assert.ok(rts.some((r) => r.dst === 'default' && r.gateway === '10.210.0.1'), JSON.stringify(rts));
      assert.ok(rts.some((r) => r.dst === '10.211.0.0/16' && r.gateway === '10.210.0.1'), JSON.stringify(rts));
      assert.deepEqual(res.dns, {});

      const chk = await ours(call('CHECK', `id-${ns}`, ns), conf(v, { prevResult: res }));
      assert.equal(chk.code, 0, chk.stdout);
      for (let i = 0; i < 2; i++) {
        const del = await ours(call('DEL', `id-${ns}`, ns), conf(v, { prevResult: res }));
        assert.equal(del.code, 0, `DEL #${i + 1}: ${del.stdout}`);
      }
      assert.deepEqual(await v4Of(ns).catch(() => []), []);
      // the runtime owns a pinned netns: it stays; our veth went with the detach
      assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'], ns)).map((l) => l.ifname), ['lo']);
      await ip(['netns', 'del', ns]);
    });
  }

  it('kubelet through containerd CRI: ADD in parallel with the reference loopback ADD on a fresh pinned netns; DEL with the netns, then DEL with none', async function () {
    if (!haveReference('loopback')) this.skip();
    const ns = `${P}pod`;
    await ip(['netns', 'add', ns]);
    const args = 'IgnoreUnknown=1;K8S_POD_UID=u1;K8S_POD_NAME=p1;K8S_POD_INFRA_CONTAINER_ID=sandbox1;K8S_POD_NAMESPACE=default';
    const lo = { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' };
    const [mine, theirs] = await Promise.all([ours(call('ADD', 'sandbox1', ns, { args }), conf('1.0.0')), reference('loopback', call('ADD', 'sandbox1', ns, { args, ifname: 'lo' }), lo)]);
    const res = ok(mine, 'ADD') as { ips: Array<{ address: string; interface: number }>; interfaces: Array<{ name: string }> };
    ok(theirs, 'loopback ADD');
    // the pod IP Kubernetes reads: the ips entry whose interface is eth0
    assert.equal(res.interfaces[res.ips[0]?.interface ?? -1]?.name, 'eth0');
    assert.deepEqual(await v4Of(ns), [res.ips[0]?.address]);
    assert.ok((await ipJson<{ flags: string[] }>(['link', 'show', 'lo'], ns))[0]?.flags.includes('UP'));
    ok(await ours(call('DEL', 'sandbox1', ns, { args }), conf('1.0.0', { prevResult: res })), 'DEL (StopPodSandbox)');
    ok(await reference('loopback', call('DEL', 'sandbox1', ns, { args, ifname: 'lo' }), lo), 'loopback DEL');
    await ip(['netns', 'del', ns]);
    ok(await ours(call('DEL', 'sandbox1', '', { args }), conf('1.0.0')), 'DEL (RemovePodSandbox, no netns, no prevResult)');
  });

  describe('traffic', () => {
    const ids = ['t1', 't2'];
    const res: Record<string, { ips: Array<{ address: string }> }> = {};
    const cfg = () => conf('1.0.0', { capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }] } });

    let holder: ChildProcess | undefined;

    before(async () => {
      // the runtime itself holds the host port open (podman does): publishing is pure DNAT,
      // never a bind, so ADD works and the traffic below reaches the container, not this
      holder = spawn(process.execPath, ['-e', "require('node:net').createServer((c) => c.end('HOST\\n')).listen(8080, '0.0.0.0', () => console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((resolve) => holder?.stdout?.once('data', resolve));
      for (const id of ids) {
        await ip(['netns', 'add', `${P}${id}`]);
        const withPorts = id === 't1' ? cfg() : conf('1.0.0');
        res[id] = ok(await ours(call('ADD', id, `${P}${id}`, { args: `IgnoreUnknown=1;K8S_POD_NAME=${id};K8S_POD_NAMESPACE=default` }), withPorts), `ADD ${id}`) as { ips: Array<{ address: string }> };
      }
      servers.push(await startServer(`${P}t1`, 80));
    });

    after(async () => {
      holder?.kill('SIGKILL');
      for (const id of ids) await ours(call('DEL', id, ''), conf('1.0.0')).catch(() => undefined);
    });

    it('container ↔ container ping, and the outside netns is reached through masquerade', async () => {
      const a1 = res.t1?.ips[0]?.address.split('/')[0] ?? '';
      const a2 = res.t2?.ips[0]?.address.split('/')[0] ?? '';
      assert.ok(await ping(`${P}t1`, a2), 't1 → t2');
      assert.ok(await ping(`${P}t2`, a1), 't2 → t1');
      assert.ok(await ping(`${P}t1`, '192.0.2.2'), 't1 → outside');
    });

    it('the published port (capitalised runtimeConfig keys) is an nft element and answers from outside, the host, 127.0.0.1, another container and itself (hairpin)', async () => {
      const a1 = res.t1?.ips[0]?.address.split('/')[0] ?? '';
      const { stdout } = await run('nft', ['-j', 'list', 'map', 'ip', 'ctnet', 'pub_any_addr']);
      assert.ok(stdout.includes('8080') && stdout.includes(a1), stdout);
      assert.equal(await connect(OUT, '192.0.2.1', 8080), '192.0.2.2', 'outside → host:8080');
      assert.ok((await connect(undefined, '192.0.2.1', 8080)) !== undefined, 'host → its own address:8080');
      assert.ok((await connect(undefined, '127.0.0.1', 8080)) !== undefined, 'host → 127.0.0.1:8080');
      assert.ok((await connect(`${P}t2`, '192.0.2.1', 8080)) !== undefined, 'other container → host:8080');
      assert.ok((await connect(`${P}t1`, '192.0.2.1', 8080)) !== undefined, 'the container → its own published port (hairpin)');
    });

    it('DEL releases the published port (element gone, the runtime listener answers again) and deletes the flows of its address (conntrack -L)', async () => {
      const a1 = res.t1?.ips[0]?.address.split('/')[0] ?? '';
      const flows = async (): Promise<string[]> => (await run('conntrack', ['-L'], { encoding: 'utf8' }).catch(() => ({ stdout: '' }))).stdout.split('\n').filter((l) => l.includes(`=${a1} `));
      assert.ok((await flows()).length > 0, 'the connections above left flows of the container');
      ok(await ours(call('DEL', 't1', ''), cfg()), 'DEL t1');
      assert.deepEqual(await flows(), []);
      const { stdout } = await run('nft', ['-j', 'list', 'map', 'ip', 'ctnet', 'pub_any_addr']);
      assert.ok(!stdout.includes('8080'), stdout);
      assert.equal(await connect(OUT, '192.0.2.1', 8080), undefined, 'the host holder answers now (no peer= line)');
    });
  });

  describe('against the reference bridge + host-local (Debian containernetworking-plugins)', function () {
    const DNS = { nameservers: ['192.0.2.53'], domain: 'example', search: ['a.example'], options: ['ndots:2'] };
    before(function () { if (!haveReference('bridge') || !haveReference('host-local')) this.skip(); });

    /** An ipam section over subnet number `n` (10.22n.0.0/24, and fd00:22n::/64 when dual stack). */
    const ipamOf = (n: number, dual: boolean): Record<string, unknown> => ({
      type: 'host-local', dataDir: `/run/${P}ipam`, routes: [{ dst: '10.250.0.0/16' }],
      ranges: [[{ subnet: `10.22${n}.0.0/24` }], ...(dual ? [[{ subnet: `fd00:22${n}::/64` }]] : [])],
    });
    /** The document with subnet number `n`'s prefixes replaced, so two subnets compare equal. */
    const norm = (doc: Record<string, unknown>, n: number): Record<string, unknown> =>
      JSON.parse(JSON.stringify(doc).replaceAll(`10.22${n}.0.`, 'V4.').replaceAll(`fd00:22${n}::`, 'V6::')) as Record<string, unknown>;
    let n = 0;
    for (const v of ['0.4.0', '1.0.0'] as const) {
      for (const dual of [false, true]) {
        it(`the same config gives the same result document, field by field, but names and MACs [${v}${dual ? ', dual stack' : ''}]`, async () => {
          const [a, b] = [++n, ++n];
          const mine = `${P}m${a}`;
          const ref = `${P}r${b}`;
          await ip(['netns', 'add', mine]);
          await ip(['netns', 'add', ref]);
          // dual stack also carries the config's own dns (both plugins return it as given)
          const common = { cniVersion: v, isGateway: true, isDefaultGateway: true, ipMasq: true, ...(dual ? { dns: DNS } : {}) };
          const ourConf = { ...common, name: `${P}c${a}`, type: 'ctnet-cni', bridge: `${P}mb${a}`, ctnetStateDir: stateDir, ipam: ipamOf(a, dual) };
          const refConf = { ...common, name: `${P}c${b}`, type: 'bridge', bridge: `${P}rb${b}`, ipam: ipamOf(b, dual) };
          type Doc = { cniVersion: string; interfaces: Array<Record<string, unknown>>; ips: unknown; routes: unknown; dns: unknown };
          const A = norm(ok(await ours(call('ADD', 'cmp', mine), ourConf), 'ours'), a) as unknown as Doc;
          const B = norm(ok(await reference('bridge', call('ADD', 'cmp', ref), refConf), 'reference'), b) as unknown as Doc;
          // must match: version, keys, ips (address, gateway, interface index, version), routes, dns,
          // the container interface (name, sandbox); may differ: interface names and MAC values
          assert.equal(A.cniVersion, B.cniVersion);
          assert.deepEqual(Object.keys(A).sort(), Object.keys(B).sort(), 'top-level keys');
          assert.deepEqual(A.ips, B.ips, 'ips');
          assert.deepEqual(A.routes, B.routes, 'routes');
          assert.deepEqual(A.dns, B.dns, 'dns');
          if (dual) assert.deepEqual(A.dns, DNS);
          assert.equal(A.interfaces.length, B.interfaces.length, 'interfaces');
          for (const [i, x] of A.interfaces.entries()) {
            const y = B.interfaces[i] ?? {};
            assert.deepEqual(Object.keys(x).sort(), Object.keys(y).sort(), `interfaces[${i}] keys`);
            assert.match(String(x.mac), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
          }
          assert.equal(A.interfaces[2]?.name, B.interfaces[2]?.name);
          assert.equal(A.interfaces[2]?.sandbox, `/run/netns/${mine}`);
          assert.equal(A.interfaces[0]?.name, `${P}mb${a}`);
          assert.deepEqual(await v4Of(mine), [`10.22${a}.0.2/24`]);
          assert.deepEqual(await v4Of(ref), [`10.22${b}.0.2/24`]);
          ok(await ours(call('DEL', 'cmp', mine), ourConf), 'DEL ours');
          ok(await reference('bridge', call('DEL', 'cmp', ref), refConf), 'DEL reference');
          await ip(['netns', 'del', mine]);
          await ip(['netns', 'del', ref]);
          await ip(['link', 'del', `${P}rb${b}`]).catch(() => undefined);
        });
      }
    }

    it('the reference bandwidth and firewall plugins chained after ours find the host veth and the address in our result', async function () {
      if (!haveReference('bandwidth') || !haveReference('firewall')) this.skip();
      const ns = `${P}chain`;
      await ip(['netns', 'add', ns]);
      const res = ok(await ours(call('ADD', 'chain', ns), conf('1.0.0')), 'ADD') as { interfaces: Array<{ name: string }>; ips: Array<{ address: string }> };
      const bwConf = { cniVersion: '1.0.0', name: `${P}net`, type: 'bandwidth', ingressRate: 1000000, ingressBurst: 100000, egressRate: 1000000, egressBurst: 100000 };
      const bw = ok(await reference('bandwidth', call('ADD', 'chain', ns), { ...bwConf, prevResult: res }), 'bandwidth ADD');
      // bandwidth shapes the container's ingress on the host veth it found through our interfaces list
      const { stdout: qd } = await run('tc', ['-j', 'qdisc', 'show', 'dev', res.interfaces[1]?.name ?? '']);
      assert.ok((JSON.parse(qd) as Array<{ kind: string }>).some((q) => q.kind === 'tbf'), qd);
      const fwConf = { cniVersion: '1.0.0', name: `${P}net`, type: 'firewall', backend: 'iptables' };
      const fw = ok(await reference('firewall', call('ADD', 'chain', ns), { ...fwConf, prevResult: bw }), 'firewall ADD');
      const { stdout: rules } = await run('iptables', ['-S', 'CNI-FORWARD']);
      assert.ok(rules.includes(`${res.ips[0]?.address.split('/')[0]}/32`), rules);
      ok(await ours(call('CHECK', 'chain', ns), conf('1.0.0', { prevResult: fw })), 'our CHECK with the chain\'s result');
      ok(await reference('firewall', call('DEL', 'chain', ns), { ...fwConf, prevResult: fw }), 'firewall DEL');
      ok(await reference('bandwidth', call('DEL', 'chain', ns), { ...bwConf, prevResult: fw }), 'bandwidth DEL');
      ok(await ours(call('DEL', 'chain', ns), conf('1.0.0', { prevResult: fw })), 'DEL');
      await ip(['netns', 'del', ns]);
      await run('iptables', ['-F']).catch(() => undefined);
    });

    it('the reference tuning plugin chained after ours takes our result as prevResult', async () => {
      const ns = `${P}tun`;
      await ip(['netns', 'add', ns]);
      const res = ok(await ours(call('ADD', 'tun', ns), conf('1.0.0')), 'ADD');
      const tuned = ok(await reference('tuning', call('ADD', 'tun', ns), {
        cniVersion: '1.0.0', name: `${P}net`, type: 'tuning', mtu: 1400, mac: '02:00:5e:00:00:77', sysctl: { 'net.core.somaxconn': '512' }, prevResult: res,
      }), 'tuning ADD');
      assert.equal((await ipJson<{ address: string }>(['link', 'show', 'eth0'], ns))[0]?.address, '02:00:5e:00:00:77');
      // CHECK gets the chain's final result: the MAC tuning set is the one expected
      const chk = await ours(call('CHECK', 'tun', ns), conf('1.0.0', { prevResult: tuned }));
      assert.equal(chk.code, 0, chk.stdout);
      assert.deepEqual((tuned as { ips: unknown }).ips, (res as { ips: unknown }).ips, 'tuning passes our ips through');
      assert.equal((await ipJson<{ mtu: number }>(['link', 'show', 'eth0'], ns))[0]?.mtu, 1400);
      const { stdout } = await run('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/core/somaxconn']);
      assert.equal(stdout.trim(), '512');
      ok(await reference('tuning', call('DEL', 'tun', ns), { cniVersion: '1.0.0', name: `${P}net`, type: 'tuning', mtu: 1400, prevResult: tuned }), 'tuning DEL');
      ok(await ours(call('DEL', 'tun', ns), conf('1.0.0', { prevResult: tuned })), 'DEL');
      await ip(['netns', 'del', ns]);
    });
  });
});
