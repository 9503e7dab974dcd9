/**
 * test/unit/cni-config.test.ts — the CNI config parser (src/cni/config.ts) and handleCni's
 * answers that need no Host: VERSION, decode errors, versions, missing env. A bad config is
 * code 7 naming the key; keys are read as Go reads them (case-insensitively).
 */
import assert from 'node:assert/strict';
import { decodeConfig, field, parseCniArgs, parseConfig } from '../../src/cni/config.js';
import { CniError } from '../../src/cni/errors.js';
import { handleCni, type CniHosts } from '../../src/cni/index.js';
import { buildResult, prevAddresses, prevMac } from '../../src/cni/result.js';
import { findPlugin, parseIpamResult } from '../../src/cni/delegate.js';
import { networkSpec } from '../../src/cni/commands.js';

const BASE = { cniVersion: '1.0.0', name: 'n1', type: 'ctnet-cni', ipam: { type: 'host-local', subnet: '10.1.0.0/24' } };
const parse = (o: object, args = ''): ReturnType<typeof parseConfig> => parseConfig(decodeConfig(JSON.stringify(o)), parseCniArgs(args));

function refused(o: object, key: string, code = 7): void {
  assert.throws(() => parse(o), (e: unknown) => {
    assert.ok(e instanceof CniError, String(e));
    assert.equal(e.cniCode, code, e.message);
    assert.ok(e.message.includes(key), `"${e.message}" names ${key}`);
    return true;
  });
}

/** A Host must never be opened for these calls. */
const NO_HOSTS: CniHosts = { open: () => { throw new Error('no Host may be opened here'); } };

describe('cni config', () => {
  it('reads keys case-insensitively, exact match first (as Go does)', () => {
    assert.equal(field({ HostPort: 1 }, 'hostPort'), 1);
    assert.equal(field({ hostport: 2, hostPort: 3 }, 'hostPort'), 3);
    const c = parse({ ...BASE, runtimeConfig: { portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'TCP', HostIP: '' }, { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' }] } });
    assert.deepEqual(c.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 53, containerPort: 53, protocol: 'udp', hostIp: '127.0.0.1' }]);
    const d = parse({ CNIVersion: '0.4.0', Name: 'n2', IPAM: { Type: 'host-local', Subnet: '10.2.0.0/24' }, IsDefaultGateway: true, IPMasq: true });
    assert.equal(d.cniVersion, '0.4.0');
    assert.equal(d.name, 'n2');
    assert.equal(d.isDefaultGateway, true);
    assert.equal(d.isGateway, true);
    assert.equal(d.ipMasq, true);
  });

  it('maps the reference bridge keys and ignores unknown ones', () => {
    const c = parse({ ...BASE, bridge: 'cni0', mtu: 1400, hairpinMode: true, promiscMode: true, somethingNew: { x: 1 }, ipMasq: false });
    assert.equal(c.bridge, 'cni0');
    assert.equal(c.mtu, 1400);
    assert.equal(c.ipMasq, false);
    assert.equal(c.isGateway, false);
    assert.deepEqual(c.ipam.kind === 'native' ? c.ipam.v4 : undefined, [{ subnet: '10.1.0.0/24', family: 4 }]);
  });

  it('host-local ranges: a v4 and a v6 range set, several ranges of one subnet, routes, dns', () => {
    const c = parse({ ...BASE, ipam: { type: 'host-local', ranges: [
      [{ subnet: '10.3.0.0/24', rangeStart: '10.3.0.10', rangeEnd: '10.3.0.20', gateway: '10.3.0.1' }, { subnet: '10.3.0.0/24', rangeStart: '10.3.0.100', gateway: '10.3.0.1' }],
      [{ subnet: 'fd00:3::/64' }],
    ], routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.3.0.254' }], dns: { nameservers: ['10.3.0.1'] } } });
    assert.equal(c.ipam.kind, 'native');
    if (c.ipam.kind !== 'native') return;
    assert.equal(c.ipam.v4?.length, 2);
    assert.equal(c.ipam.v4?.[0]?.rangeStart, '10.3.0.10');
    assert.equal(c.ipam.v6?.[0]?.subnet, 'fd00:3::/64');
    assert.deepEqual(c.ipam.routes, [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.3.0.254' }]);
    assert.deepEqual(c.ipam.dns, { nameservers: ['10.3.0.1'] });
  });

  it('static IPAM: the subnet comes from the address; CNI_ARGS IP= and MAC=, runtimeConfig ips', () => {
    const c = parse({ ...BASE, ipam: { type: 'static', addresses: [{ address: '10.4.0.5/24', gateway: '10.4.0.1' }] } });
    assert.ok(c.ipam.kind === 'native');
    assert.deepEqual(c.ipam.kind === 'native' ? [c.ipam.v4, c.ipam.addresses] : [], [[{ subnet: '10.4.0.0/24', family: 4, gateway: '10.4.0.1' }], ['10.4.0.5']]);
    const a = parse({ ...BASE }, 'IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.9;MAC=02:AA:bb:cc:dd:ee');
    assert.deepEqual(a.ips, ['10.1.0.9']);
    assert.equal(a.mac, '02:aa:bb:cc:dd:ee');
    const r = parse({ ...BASE, runtimeConfig: { ips: ['10.1.0.7/24'], mac: '02:00:00:00:00:01' } });
    assert.deepEqual(r.ips, ['10.1.0.7/24']);
    assert.equal(r.mac, '02:00:00:00:00:01');
  });

  it('other IPAM types are delegated', () => {
    assert.deepEqual(parse({ ...BASE, ipam: { type: 'dhcp' } }).ipam, { kind: 'delegate', type: 'dhcp' });
  });

  it('bad configs: code 7 naming the key', () => {
    refused({ ...BASE, name: undefined }, 'name');
    refused({ ...BASE, name: 'a b' }, 'name');
    refused({ ...BASE, ipam: undefined }, 'ipam');
    refused({ ...BASE, ipam: { type: 'host-local' } }, 'ipam.ranges');
    refused({ ...BASE, ipam: { type: 'host-local', subnet: '10.1.0.0/33' } }, 'ipam.subnet');
    refused({ ...BASE, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'nonsense' }]] } }, 'ipam.ranges[0][1].subnet');
    refused({ ...BASE, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] } }, 'ipam.ranges[1]');
    // ranges: outside its subnet, start after end, overlapping, gateway outside — the key named
    refused({ ...BASE, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.5' }]] } }, 'ipam.ranges[0][0].rangeStart');
    refused({ ...BASE, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.9.0.0/24', rangeStart: '10.9.0.9', rangeEnd: '10.9.0.5' }]] } }, 'ipam.ranges[0][1].rangeStart');
    refused({ ...BASE, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.50' }, { subnet: '10.1.0.0/24', rangeStart: '10.1.0.50' }]] } }, 'ipam.ranges[0][1]');
    refused({ ...BASE, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.9.0.0/24', gateway: '10.1.0.1' }]] } }, 'ipam.ranges[0][1].gateway');
    refused({ ...BASE, ipam: { type: 'host-local', subnet: '10.1.0.0/24', rangeStart: '10.1.0.9', rangeEnd: '10.1.0.5' } }, 'ipam.rangeStart');
    refused({ ...BASE, ipam: { type: 'host-local', subnet: '10.1.0.0/24', rangeStart: 'x' } }, 'ipam.rangeStart');
    refused({ ...BASE, ipam: { type: 'host-local', subnet: '10.1.0.0/24', gateway: 'fd00::1' } }, 'ipam.gateway');
    refused({ ...BASE, ipam: { type: 'host-local', subnet: '10.1.0.0/24', routes: [{ dst: 'x' }] } }, 'ipam.routes[0].dst');
    refused({ ...BASE, ipam: { type: 'static', addresses: [{ address: '10.1.0.5' }] } }, 'ipam.addresses[0].address');
    refused({ ...BASE, ipam: { type: 'host-local', subnet: '10.1.0.0/24', resolvConf: 'etc/resolv.conf' } }, 'ipam.resolvConf');
    refused({ ...BASE, mtu: 'big' }, 'mtu');
    refused({ ...BASE, isGateway: 'yes' }, 'isGateway');
    refused({ ...BASE, bridge: 'a/b' }, 'bridge');
    refused({ ...BASE, mac: 'zz' }, 'mac');
    refused({ ...BASE, ctnetStateDir: 'rel' }, 'ctnetStateDir');
    refused({ ...BASE, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } }, 'runtimeConfig.portMappings[0].hostPort');
    refused({ ...BASE, runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'sctp' }] } }, 'runtimeConfig.portMappings[0].protocol');
    refused({ ...BASE, 'cni.dev/valid-attachments': [{ containerID: 'a' }] }, 'cni.dev/valid-attachments[0]');
    refused({ ...BASE, cniVersion: '0.3.1' }, '0.3.1', 1);
  });

  it('builds the reference bridge layout; 0.4.0 adds ips[].version', () => {
    const ep = { id: 'x', network: 'n1', mode: 'bridge' as const, netns: '/run/netns/c', ownsNetns: false, ifname: 'eth0', hostIfname: 'ctv1', address: '10.1.0.2/24', ip: '10.1.0.2', gateway: '10.1.0.1', mac: '02:42:0a:01:00:02', ports: [], createdAt: '' };
    const net = { name: 'n1', subnet: '10.1.0.0/24', gateway: '10.1.0.1', bridge: 'br1', bridgeMac: '06:00:00:00:00:01', mtu: 1500, internal: false, masquerade: true, endpoints: 1, createdAt: '' };
    for (const v of ['0.4.0', '1.0.0', '1.1.0']) {
      const cfg = parse({ ...BASE, cniVersion: v, isDefaultGateway: true });
      const r = buildResult({ cfg, ep, net, sandbox: '/run/netns/c', hostMac: '52:00:00:00:00:01', ipamRoutes: [] });
      assert.equal(r.cniVersion, v);
      assert.deepEqual(r.interfaces.map((i) => i.name), ['br1', 'ctv1', 'eth0']);
      assert.equal(r.interfaces[2]?.sandbox, '/run/netns/c');
      assert.deepEqual(r.ips, [{ ...(v === '0.4.0' ? { version: '4' } : {}), address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 2 }]);
      assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
      assert.deepEqual(prevAddresses(r, 'eth0'), ['10.1.0.2']);
      assert.deepEqual(prevAddresses(r, 'eth1'), []);
    }
  });
});

describe('cni IPAM delegation and network mapping', () => {
  it("reads a delegated IPAM plugin's result (any version), refuses one without address", () => {
    const r = parseIpamResult(JSON.stringify({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.5.0.3/24', gateway: '10.5.0.1' }, { version: '6', address: 'fd00:5::3/64' }], routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['1.1.1.1'] } }), 'x');
    assert.deepEqual(r, { v4: { address: '10.5.0.3/24', gateway: '10.5.0.1' }, v6: { address: 'fd00:5::3/64' }, routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['1.1.1.1'] } });
    assert.throws(() => parseIpamResult('{"ips":[]}', 'x'), (e: unknown) => e instanceof CniError && e.message.includes('no address'));
    assert.throws(() => parseIpamResult('nope', 'x'), (e: unknown) => e instanceof CniError && e.cniCode === 6);
    assert.throws(() => findPlugin('absent-plugin', '/nonexistent:/also-not'), (e: unknown) => e instanceof CniError && e.cniCode === 7 && e.message.includes('ipam.type'));
  });

  it('maps a config onto a network: a plain range as subnet, ranges as ranges, ipMasq → masquerade, isGateway false → no gateway on the bridge; IPv6-only', () => {
    const c = parse({ ...BASE, bridge: 'b0', mtu: 1450, ipMasq: true, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.6.0.0/24', gateway: '10.6.0.254' }], [{ subnet: 'fd00:6::/64' }]] } });
    assert.deepEqual(networkSpec(c), { name: 'n1', subnet: '10.6.0.0/24', gateway: '10.6.0.254', subnet6: 'fd00:6::/64', bridge: 'b0', mtu: 1450, masquerade: true });
    const d = parse({ ...BASE, ipam: { type: 'dhcp' } });
    assert.deepEqual(networkSpec(d, { v4: { address: '10.7.0.9/16', gateway: '10.7.0.1' }, routes: [] }), { name: 'n1', subnet: '10.7.0.0/16', gateway: '10.7.0.1', masquerade: false, gatewayOnBridge: false });
    const v6 = parse({ ...BASE, isGateway: true, ipam: { type: 'host-local', subnet: 'fd00:8::/64' } });
    assert.deepEqual(networkSpec(v6), { name: 'n1', subnet6: 'fd00:8::/64', masquerade: false });
    const r = parse({ ...BASE, isDefaultGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.8.0.0/24', rangeStart: '10.8.0.10', rangeEnd: '10.8.0.11' }, { subnet: '10.9.0.0/24', gateway: '10.9.0.254' }]] } });
    assert.deepEqual(networkSpec(r), { name: 'n1', masquerade: false, ranges: [{ subnet: '10.8.0.0/24', rangeStart: '10.8.0.10', rangeEnd: '10.8.0.11' }, { subnet: '10.9.0.0/24', gateway: '10.9.0.254' }] });
  });

  it("CHECK's expected MAC is the chain's result's for the container interface", () => {
    const prev = { interfaces: [{ name: 'br' }, { name: 'eth0', mac: 'AA:00:00:00:00:01' }, { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/run/netns/x' }] };
    assert.equal(prevMac(prev, 'eth0'), '02:00:00:00:00:02');
    assert.equal(prevMac(prev, 'eth1'), undefined);
    assert.equal(prevMac(undefined, 'eth0'), undefined);
  });
});

describe('handleCni without a Host', () => {
  const env = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };

  it('VERSION answers at once with dummy env and opens nothing', async () => {
    const r = await handleCni(NO_HOSTS, { env: { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' }, stdin: '{"cniVersion":"1.0.0"}' });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
    const e = await handleCni(NO_HOSTS, { env: { CNI_COMMAND: 'VERSION' }, stdin: '' });
    assert.equal(JSON.parse(e.stdout).cniVersion, '1.1.0');
  });

  it('errors are documents with the spec codes, exit code 1', async () => {
    const cases: Array<[Record<string, string>, string, number, string]> = [
      [{ ...env, CNI_COMMAND: 'ADD' }, '{not json', 6, 'decode'],
      [{ ...env, CNI_COMMAND: 'ADD' }, JSON.stringify({ ...BASE, cniVersion: '0.2.0' }), 1, '0.2.0'],
      [{ ...env, CNI_COMMAND: 'ADD' }, JSON.stringify({ ...BASE, ipam: { type: 'host-local', subnet: 'x' } }), 7, 'ipam.subnet'],
      [{ ...env, CNI_COMMAND: 'FROB' }, JSON.stringify(BASE), 4, 'CNI_COMMAND'],
      [{ ...env, CNI_COMMAND: 'ADD', CNI_ARGS: 'broken' }, JSON.stringify(BASE), 4, 'CNI_ARGS'],
    ];
    for (const [e, stdin, code, word] of cases) {
      const r = await handleCni(NO_HOSTS, { env: e, stdin });
      assert.equal(r.exitCode, 1);
      const doc = JSON.parse(r.stdout) as { cniVersion: string; code: number; msg: string };
      assert.equal(doc.code, code, doc.msg);
      assert.ok(doc.msg.includes(word), doc.msg);
      assert.equal(typeof doc.cniVersion, 'string');
    }
  });

  it('a missing or malformed CNI_CONTAINERID, CNI_IFNAME or CNI_NETNS is code 4', async () => {
    const opened: CniHosts = { open: () => Promise.resolve({ refresh: () => undefined } as never) };
    for (const drop of ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS']) {
      const e: Record<string, string> = { ...env, CNI_COMMAND: 'ADD' };
      delete e[drop];
      const r = await handleCni(opened, { env: e, stdin: JSON.stringify(BASE) });
      const doc = JSON.parse(r.stdout) as { code: number; msg: string };
      assert.equal(doc.code, 4, doc.msg);
      assert.ok(doc.msg.includes(drop), doc.msg);
    }
    for (const [k, v] of [['CNI_CONTAINERID', 'a b'], ['CNI_IFNAME', 'a/b'], ['CNI_NETNS', 'relative']]) {
      const r = await handleCni(opened, { env: { ...env, CNI_COMMAND: 'ADD', [k as string]: v as string }, stdin: JSON.stringify(BASE) });
      const doc = JSON.parse(r.stdout) as { code: number; msg: string };
      assert.equal(doc.code, 4, doc.msg);
      assert.ok(doc.msg.includes(k as string), doc.msg);
    }
  });

  it('a caller that is not root may only name a netns of its own (code 4)', async () => {
    const opened: CniHosts = { open: () => Promise.resolve({ refresh: () => undefined } as never) };
    const r = await handleCni(opened, { env: { ...env, CNI_COMMAND: 'ADD', CNI_NETNS: '/proc/self/ns/net' }, stdin: JSON.stringify(BASE) }, { uid: process.getuid?.() === 4242 ? 4243 : 4242, pid: 1 });
    const doc = JSON.parse(r.stdout) as { code: number; msg: string };
    assert.equal(doc.code, 4, doc.msg);
    assert.ok(doc.msg.includes('/proc/self/ns/net'), doc.msg);
  });
});
