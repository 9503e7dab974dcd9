// Privileged tests of `ctnet-fast attach | detach | ls | publish | unpublish | exec | inspect | gc`
// run as a user would (spawned CLI, argument arrays), checked against the kernel (`ip -j`,
// `nft -j`) and with real traffic (ping between attached netns). Inside test/sandbox.mjs only.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { EndpointInfo, GcReport, PortMapping } from '../../src/model/types.js';
import { BIN, addrsOf, ctnet, ctnetAsync, ensureBuilt, ipj, setElements, tempState, testEnv, type Run } from './cli-network.test.js';

function ping(fromNs: string, ip: string): boolean {
  for (let i = 0; i < 3; i++) {
    if (spawnSync('ip', ['netns', 'exec', fromNs, 'ping', '-c1', '-W1', ip], { stdio: 'ignore' }).status === 0) return true;
  }
  return false;
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

describe('ctnet-fast CLI: containers (privileged)', function () {
  this.timeout(180_000);
  let state: string;
  const NET = 'ccli-att';
  const BR = 'ccli-br3';

  before(() => {
    ensureBuilt();
    state = tempState();
    ok(ctnet(state, ['network', 'create', NET, '--subnet', '10.231.16.0/22', '--bridge', BR]));
  });
  after(() => {
    ctnet(state, ['network', 'rm', '--force', NET]);
    for (const n of ['ccli-none', 'ccli-pre']) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    rmSync(state, { recursive: true, force: true });
  });

  it('attach two netns in one call: a table for people; the kernel has the addresses; they ping each other', () => {
    const r = ok(ctnet(state, ['attach', 'ccli-c0', 'ccli-c1', '--network', NET]));
    assert.match(r.stdout, /^NETNS +NETWORK +MODE +IFNAME +ADDRESS +MAC +HOST IF +PORTS$/m);
    assert.match(r.stdout, /^ccli-c0 +ccli-att +bridge +eth0 +10\.231\.1[6-9]\.\d+\/22 /m);
    const eps = ctnet(state, ['--json', 'ls', '--network', NET]).json<EndpointInfo[]>();
    const c0 = eps.find((e) => e.netnsName === 'ccli-c0');
    const c1 = eps.find((e) => e.netnsName === 'ccli-c1');
    assert.ok(c0 !== undefined && c1 !== undefined);
    assert.notEqual(c0.ip, c1.ip);
    assert.deepEqual(addrsOf('eth0', 'ccli-c0'), [c0.address]);
    assert.deepEqual(addrsOf('eth0', 'ccli-c1'), [c1.address]);
    const hostEnd = ipj(['link', 'show', 'dev', c0.hostIfname])[0];
    assert.equal(hostEnd?.master, BR);
    assert.ok(ping('ccli-c0', c1.ip), 'c0 → c1 ping');
    assert.ok(ping('ccli-c1', c0.ip), 'c1 → c0 ping');
  });

  it('attach --json: one EndpointInfo for one NETNS; --quiet prints only the address', () => {
    const r = ok(ctnet(state, ['--json', 'attach', 'ccli-c2', '--network', NET, '--ip', '10.231.17.7', '--mac', '02:00:0A:E7:11:07']));
    const ep = r.json<EndpointInfo>();
    assert.equal(ep.ip, '10.231.17.7');
    assert.equal(ep.address, '10.231.17.7/22');
    assert.equal(ep.mac, '02:00:0a:e7:11:07');
    assert.equal(ep.network, NET);
    assert.equal(ep.mode, 'bridge');
    assert.equal(ipj(['link', 'show', 'dev', 'eth0'], 'ccli-c2')[0]?.address, '02:00:0a:e7:11:07');
    const q = ok(ctnet(state, ['-q', 'attach', 'ccli-c3', '--network', NET]));
    assert.match(q.stdout, /^10\.231\.1[6-9]\.\d+\n$/);
    assert.equal(q.stderr, '');
  });

  it('exec NETNS -- CMD runs CMD in the container netns: ip -j addr shows its address; exit status passes through', () => {
    const ep = ctnet(state, ['--json', 'ls']).json<EndpointInfo[]>().find((e) => e.netnsName === 'ccli-c0');
    assert.ok(ep !== undefined);
    const r = ok(ctnet(state, ['exec', 'ccli-c0', '--', 'ip', '-j', 'addr', 'show', 'dev', 'eth0']));
    const addrs = (JSON.parse(r.stdout) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>)
      .flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
    assert.ok(addrs.includes(ep.address), addrs.join(','));
    // by path too, and the command's own exit status
    assert.equal(ctnet(state, ['exec', '/run/netns/ccli-c0', '--', 'sh', '-c', 'exit 7']).code, 7);
    const nf = ctnet(state, ['exec', 'ccli-c0', '--', 'ccli-no-such-command']);
    assert.equal(nf.code, 127);
    assert.match(nf.stderr, /ccli-no-such-command: command not found/);
    // stdin reaches the command
    assert.equal(ctnet(state, ['exec', 'ccli-c0', '--', 'cat'], { input: 'through stdin\n' }).stdout, 'through stdin\n');
  });

  it('publish / unpublish: the DNAT map gets and loses the element; errors name the port', () => {
    const pub = ok(ctnet(state, ['--json', 'publish', 'ccli-c0', '18080:80', '18053:53/udp']));
    const ports = pub.json<PortMapping[]>();
    assert.deepEqual(ports.map((p) => [p.hostPort, p.containerPort, p.protocol]), [[18080, 80, 'tcp'], [18053, 53, 'udp']]);
    const ep = ctnet(state, ['--json', 'ls']).json<EndpointInfo[]>().find((e) => e.netnsName === 'ccli-c0');
    assert.equal(ep?.ports.length, 2);
    const before = setElements('pub_any_addr');
    assert.match(before, /18080/);
    assert.ok(before.includes(ep?.ip ?? '?'), before);
    const bad = ctnet(state, ['publish', 'ccli-c0', '70000:80']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^ctnet-fast: publish: invalid port mapping "70000:80": host port 70000 is out of range \(1-65535\)/);
    const notPub = ctnet(state, ['unpublish', 'ccli-c0', '19999:80']);
    assert.equal(notPub.code, 3);
    assert.match(notPub.stderr, /19999->80\/tcp is not published by ccli-c0/);
    ok(ctnet(state, ['unpublish', 'ccli-c0', '18080:80', '18053:53/udp']));
    assert.doesNotMatch(setElements('pub_any_addr'), /18080/);
    const notAttached = ctnet(state, ['publish', 'ccli-zz', '8080:80']);
    assert.equal(notAttached.code, 3);
  });

  it('attach errors: unknown network (3), missing netns path (3), port 70000 (2), --json error object', () => {
    const unknown = ctnet(state, ['--json', 'attach', 'ccli-x', '--network', 'ccli-nonet']);
    assert.equal(unknown.code, 3);
    const e = unknown.json<{ error: { code: string; message: string } }>().error;
    assert.equal(e.code, 'ENOTFOUND');
    assert.match(e.message, /ccli-nonet/);
    assert.equal(existsSync('/run/netns/ccli-x'), false, 'nothing created for a failed attach');
    const path404 = ctnet(state, ['attach', '/proc/999999999/ns/net', '--network', NET]);
    assert.equal(path404.code, 3);
    assert.match(path404.stderr, /\/proc\/999999999\/ns\/net does not exist/);
    const port = ctnet(state, ['attach', 'ccli-x', '--network', NET, '-p', '70000:80']);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /--publish invalid port mapping "70000:80"/);
    const usage = ctnet(state, ['attach', 'ccli-x']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing --network NAME/);
  });

  it('attach --from-file - (stdin): many netns in one process, per-line options', () => {
    const lines = ['ccli-f0', 'ccli-f1 --ip 10.231.18.50', '# a comment', '', 'ccli-f2 -p 28080:80', 'ccli-f3', 'ccli-f4'].join('\n');
    const r = ok(ctnet(state, ['--json', 'attach', '--network', NET, '--from-file', '-'], { input: lines }));
    const eps = r.json<EndpointInfo[]>();
    assert.deepEqual(eps.map((x) => x.netnsName), ['ccli-f0', 'ccli-f1', 'ccli-f2', 'ccli-f3', 'ccli-f4']);
    assert.equal(eps[1]?.ip, '10.231.18.50');
    assert.equal(eps[2]?.ports[0]?.hostPort, 28080);
    for (const ep of eps) assert.deepEqual(addrsOf('eth0', ep.netnsName), [ep.address]);
    const d = ok(ctnet(state, ['--json', 'detach', 'ccli-f0', 'ccli-f1', 'ccli-f2', 'ccli-f3', 'ccli-f4']));
    assert.equal(d.json<{ detached: EndpointInfo[] }>().detached.length, 5);
    for (const ep of eps) assert.equal(existsSync(`/run/netns/${ep.netnsName}`), false);
  });

  it('a bulk attach that fails part-way says what stays attached (human line and JSON details)', () => {
    const lines = ['ccli-b0 --ip 10.231.19.10', 'ccli-b1', 'ccli-b2 --ip 10.231.19.10', 'ccli-b3'].join('\n');
    const r = ctnet(state, ['--json', 'attach', '--network', NET, '--from-file', '-'], { input: lines });
    assert.equal(r.code, 1, r.stderr);
    const e = r.json<{ error: { message: string; details?: { attached: EndpointInfo[] } } }>().error;
    assert.match(e.message, /ccli-b2/);
    assert.match(e.message, /2 of 4 attached before this stay attached: ccli-b0, ccli-b1/);
    assert.deepEqual(e.details?.attached.map((x) => x.netnsName), ['ccli-b0', 'ccli-b1']);
    assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1);
    assert.equal(existsSync('/run/netns/ccli-b2'), false, 'the failed one is rolled back');
    assert.equal(existsSync('/run/netns/ccli-b3'), false, 'nothing after the failure');
    ok(ctnet(state, ['detach', 'ccli-b0', 'ccli-b1']));
  });

  it('50 concurrent attach invocations to one network all succeed with distinct addresses', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `ccli-p${i}`);
    const runs = await Promise.all(names.map((n) => ctnetAsync(state, ['--json', 'attach', n, '--network', NET])));
    const failed = runs.filter((r) => r.code !== 0);
    assert.deepEqual(failed.map((r) => r.stderr), []);
    const ips = runs.map((r) => r.json<EndpointInfo>().ip);
    assert.equal(new Set(ips).size, 50, `duplicate addresses: ${ips.join(' ')}`);
    names.forEach((n, i) => assert.deepEqual(addrsOf('eth0', n), [runs[i]?.json<EndpointInfo>().address]));
    assert.ok(ping('ccli-p0', ips[49] ?? '?'), 'p0 → p49 ping');
    const d = await Promise.all(names.map((n) => ctnetAsync(state, ['detach', n])));
    assert.deepEqual(d.filter((r) => r.code !== 0).map((r) => r.stderr), []);
  });

  it('a killed bulk attach leaves nothing gc cannot repair', async () => {
    const list = path.join(state, 'kill-list.txt');
    writeFileSync(list, Array.from({ length: 200 }, (_, i) => `ccli-k${i}`).join('\n'));
    const child = spawn(process.execPath, [BIN, 'attach', '--network', NET, '--from-file', list], { env: testEnv(state), stdio: 'ignore' });
    // kill it mid-way: once a few endpoints exist
    const t0 = Date.now();
    while (Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 20));
      if (ipj(['link', 'show', 'master', BR]).length >= 5) break;
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const gc = ok(ctnet(state, ['--json', 'gc']));
    const report = gc.json<GcReport & { dryRun: boolean }>();
    assert.deepEqual(report.errors, []);
    const again = ok(ctnet(state, ['--json', 'gc', '--dry-run'])).json<GcReport>();
    assert.deepEqual(again.actions, [], `gc did not converge: ${again.actions.join('; ')}`);
    // every endpoint that survived is whole: netns, address, host end on the bridge
    const eps = ctnet(state, ['--json', 'ls', '--network', NET]).json<EndpointInfo[]>().filter((e) => e.netnsName?.startsWith('ccli-k'));
    for (const ep of eps) {
      assert.deepEqual(addrsOf('eth0', ep.netnsName), [ep.address], ep.netnsName);
      assert.equal(ipj(['link', 'show', 'dev', ep.hostIfname])[0]?.master, BR, ep.hostIfname);
    }
    // every ctnet-tagged veth on the bridge belongs to a known endpoint
    const known = new Set(ctnet(state, ['--json', 'ls']).json<EndpointInfo[]>().map((e) => e.hostIfname));
    for (const l of ipj(['link', 'show', 'master', BR])) assert.ok(known.has(String(l.ifname)), `stray port ${String(l.ifname)}`);
    assert.ok(eps.length < 200, 'the attach was not interrupted');
    if (eps.length > 0) ok(ctnet(state, ['detach', ...eps.map((e) => e.netnsName ?? e.netns)]));
    for (let i = 0; i < 200; i++) spawnSync('ip', ['netns', 'del', `ccli-k${i}`], { stdio: 'ignore' });
  });

  it('inspect NETNS --json shows eth0 with its address and the default route; inspect (host) shows the bridge and our nft tables', () => {
    const ep = ctnet(state, ['--json', 'ls']).json<EndpointInfo[]>().find((e) => e.netnsName === 'ccli-c0');
    const r = ok(ctnet(state, ['--json', 'inspect', 'ccli-c0']));
    const rep = r.json<{ netns: string; devices: Array<{ name: string; addresses: string[] }>; routes: Array<{ dst: string; via?: string }>; nftables: { tables: unknown[] } | null }>();
    assert.equal(rep.netns, '/run/netns/ccli-c0');
    assert.deepEqual(rep.devices.find((d) => d.name === 'eth0')?.addresses, [ep?.address]);
    assert.equal(rep.routes.find((x) => x.dst === 'default')?.via, ep?.gateway);
    const host = ok(ctnet(state, ['--json', 'inspect'])).json<typeof rep & { nftables: { text: string; json: unknown[] } | null }>();
    assert.ok(host.devices.some((d) => d.name === BR));
    assert.ok((host.nftables?.tables.length ?? 0) >= 1);
    assert.match(host.nftables?.text ?? '', /^table ip ctnet \{/m);
    assert.ok((host.nftables?.json.length ?? 0) > 0, 'the nft -j objects of our tables');
    assert.match(ok(ctnet(state, ['inspect'])).stdout, /^# nftables \(ctnet-fast tables\)\ntable ip ctnet \{/m);
    // the addon's dump and ip -j tell the same story
    const viaIp = ok(ctnet(state, ['--json', '--backend', 'iproute2', 'inspect', 'ccli-c0'])).json<typeof rep & { source: string }>();
    assert.equal(viaIp.source, 'ip');
    const view = (x: typeof rep) => ({ devices: x.devices.map((d) => [d.name, d.addresses]), routes: x.routes.map((y) => [y.dst, y.via]) });
    assert.deepEqual(view(viaIp), view(rep));
    const human = ok(ctnet(state, ['inspect', 'ccli-c0']));
    assert.match(human.stdout, /# Network devices\n/);
    assert.match(human.stdout, /# Routes\n/);
    assert.match(human.stdout, /# Neighbours\n/);
  });

  it('--network none and --network host modes', () => {
    const none = ok(ctnet(state, ['--json', 'attach', 'ccli-none', '--network', 'none'])).json<EndpointInfo>();
    assert.equal(none.mode, 'none');
    const lo = ipj(['link', 'show', 'dev', 'lo'], 'ccli-none')[0];
    assert.ok((lo?.flags as string[]).includes('UP'));
    assert.equal(ipj(['link', 'show'], 'ccli-none').length, 1);
    ok(ctnet(state, ['detach', 'ccli-none']));
    spawnSync('ip', ['netns', 'add', 'ccli-pre']);
    const host = ok(ctnet(state, ['--json', 'attach', 'ccli-pre', '--network', 'host'])).json<EndpointInfo>();
    assert.equal(host.mode, 'host');
    ok(ctnet(state, ['detach', 'ccli-pre']));
  });

  it('detach without --network: a netns on two networks is a usage error naming them; the others still detach', () => {
    ok(ctnet(state, ['attach', 'ccli-amb', 'ccli-one', '--network', NET]));
    ok(ctnet(state, ['attach', 'ccli-amb', '--network', 'host']));
    const r = ctnet(state, ['--json', 'detach', 'ccli-amb', 'ccli-one']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.json<{ error: { message: string } }>().error.message, /ccli-amb is attached to 2 networks \(ccli-att, host\): say which with --network/);
    assert.equal(existsSync('/run/netns/ccli-one'), false, 'the unambiguous one is detached');
    ok(ctnet(state, ['detach', 'ccli-amb', '--network', NET]));
    ok(ctnet(state, ['detach', 'ccli-amb']));
  });

  it('detach removes what attach created; detaching again is exit 3', () => {
    const d = ok(ctnet(state, ['detach', 'ccli-c0', 'ccli-c1', 'ccli-c2', 'ccli-c3']));
    assert.match(d.stdout, /detached ccli-c0 from ccli-att/);
    for (const n of ['ccli-c0', 'ccli-c1', 'ccli-c2', 'ccli-c3']) assert.equal(existsSync(`/run/netns/${n}`), false, n);
    assert.deepEqual(ctnet(state, ['--json', 'ls', '--network', NET]).json(), []);
    const again = ctnet(state, ['detach', 'ccli-c0']);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /ccli-c0 is not attached/);
  });
});
