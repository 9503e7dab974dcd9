import assert from 'node:assert/strict';
import { golden } from '../fixtures/firewall/golden.js';
import {
  baseRuleset, addNetworkElements, removeNetworkElements, publishElements, unpublishElements, removeAllRuleset,
  requiredSysctls, pickFirewallBackend, nsPathOf, NFT_MISSING, BASE_VERSION,
} from '../../src/firewall/index.js';
import { parsePortSpec, formatPortSpec, validatePortMapping, normalizeMappings } from '../../src/validate/ports.js';
import { tablesOf } from '../fixtures/firewall/nft.js';
import { InvalidInputError, EnvironmentError } from '../../src/model/errors.js';
import type { PortMapping } from '../../src/model/types.js';


const net = { bridge: 'ctbr-demo', subnet: '172.18.0.0/16', subnet6: 'fd00:18::/64' } as const;
const internalNet = { bridge: 'ctbr-int', subnet: '172.20.0.0/24', internal: true } as const;
const ep = { ip: '172.18.0.2', ip6: 'fd00:18::2' } as const;
const specs = ['8080:80', '127.0.0.1:5353:53/udp', '9000-9002:10000-10002/tcp', '[fd00::1]:8443:443', '0.0.0.0:6000:6000/udp'];

describe('firewall/rules: golden JSON', () => {
  it('base ruleset (ip + ip6, and ip only)', () => {
    golden('base.json', baseRuleset());
    golden('base-ipv4.json', baseRuleset({ ipv6: false }));
    assert.match(baseRuleset(), new RegExp(`ctnet-fast v${BASE_VERSION}: `));
  });
  it('base ruleset never flushes a table or deletes elements (re-running it keeps state)', () => {
    const cmds = (JSON.parse(baseRuleset()) as { nftables: Array<Record<string, Record<string, unknown>>> }).nftables;
    for (const c of cmds) {
      const [verb] = Object.keys(c);
      assert.ok(verb === 'add' || verb === 'flush', `unexpected verb ${String(verb)}`);
      if (verb === 'flush') assert.deepEqual(Object.keys(c.flush ?? {}), ['chain']);
    }
  });
  it('a dual-stack network, an internal network, and their removal', () => {
    golden('network-add.json', addNetworkElements(net));
    golden('network-internal-add.json', addNetworkElements(internalNet));
    golden('network-remove.json', removeNetworkElements(net));
    golden('network-no-masquerade-add.json', addNetworkElements({ bridge: 'ctbr-nm', subnet: '10.9.0.0/16', masquerade: false }, { ipv6: false }));
  });
  it('a container with published ports (range, host IP, udp, IPv6) and their removal', () => {
    const maps = specs.map(parsePortSpec);
    golden('publish.json', publishElements(ep, maps));
    golden('unpublish.json', unpublishElements(ep, maps));
    golden('publish-ipv4-only.json', publishElements({ ip: '172.18.0.3' }, [parsePortSpec('8081:80')]));
    golden('remove-all.json', removeAllRuleset());
  });
  it('element batches are compact JSON with exactly the expected elements', () => {
    const j = publishElements({ ip: '172.18.0.3' }, [parsePortSpec('7000-7999:7000-7999/udp')], { ipv6: false });
    const doc = JSON.parse(j) as { nftables: Array<{ add: { element: { name: string; elem: unknown[] } } }> };
    assert.equal(doc.nftables.length, 2);
    for (const c of doc.nftables) assert.equal(c.add.element.elem.length, 1000);
    assert.ok(!j.includes(' '), 'no whitespace');
    // unpublish: add then delete the same elements, one transaction
    const u = JSON.parse(unpublishElements({ ip: '172.18.0.3' }, [parsePortSpec('7000:7000/udp')], { ipv6: false })) as { nftables: Array<Record<string, unknown>> };
    assert.deepEqual(u.nftables.map((c) => Object.keys(c)[0]), ['add', 'add', 'delete', 'delete']);
  });
  it('no hostIp publishes on both families only when the endpoint has both', () => {
    const only4 = publishElements({ ip: '172.18.0.3' }, [parsePortSpec('80:80')]);
    assert.ok(!only4.includes('"ip6"'));
    const both = publishElements(ep, [parsePortSpec('80:80')]);
    assert.ok(both.includes('"family":"ip6"') && both.includes('"family":"ip"'));
    const v6any = publishElements(ep, [parsePortSpec('[::]:80:80')]);
    assert.ok(!v6any.includes('"family":"ip"') && v6any.includes('pub_any_addr'));
  });
  it('requiredSysctls names the keys the topology must set in the host netns', () => {
    assert.deepEqual(requiredSysctls(net).map((s) => `${s.key}=${s.value}`),
      ['net/ipv4/ip_forward=1', 'net/ipv4/conf/ctbr-demo/route_localnet=1', 'net/ipv6/conf/all/forwarding=1']);
    assert.deepEqual(requiredSysctls(internalNet).map((s) => s.key), ['net/ipv4/conf/ctbr-int/route_localnet']);
  });
});

describe('validate/ports: parsePortSpec and validation', () => {
  it('parses Docker-style specs', () => {
    assert.deepEqual(parsePortSpec('8080:80'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    assert.deepEqual(parsePortSpec('127.0.0.1:5353:53/udp'), { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' });
    assert.deepEqual(parsePortSpec('[::1]:8080:80'), { hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    assert.deepEqual(parsePortSpec('9000-9002:10000-10002/tcp'),
      { hostPort: 9000, hostPortEnd: 9002, containerPort: 10000, containerPortEnd: 10002, protocol: 'tcp' });
    for (const s of specs) assert.deepEqual(parsePortSpec(formatPortSpec(parsePortSpec(s))), parsePortSpec(s));
    assert.equal(formatPortSpec(parsePortSpec('[fd00::1]:1-2:3-4/udp')), '[fd00::1]:1-2:3-4/udp');
  });
  const bad: Array<[string, RegExp]> = [
    ['0:80', /"0:80".*host port 0 is out of range/],
    ['70000:80', /"70000:80".*out of range/],
    ['8080:0', /"8080:0".*container port 0/],
    ['8080:80/sctp', /"8080:80\/sctp".*protocol "sctp"/],
    ['8000-8010:80-81', /"8000-8010:80-81".*11 port\(s\).*2/],
    ['8000-8010:80', /"8000-8010:80".*must match/],
    ['9000-8000:9000-8000', /"9000-8000:9000-8000".*ends before it starts/],
    ['300.1.1.1:80:80', /"300\.1\.1\.1:80:80".*not an IPv4/],
    ['::1:80:80', /"::1:80:80"/],
    ['[1.2.3.4]:80:80', /not an IPv6/],
    ['80', /"80".*host port is required/],
    ['127.0.0.1::80', /"127\.0\.0\.1::80".*random host ports/],
    ['abc:80', /"abc:80".*not a port number/],
    ['', /empty/],
  ];
  for (const [spec, re] of bad) {
    it(`refuses "${spec}"`, () => {
      assert.throws(() => parsePortSpec(spec), (e: unknown) => e instanceof InvalidInputError && re.test(e.message));
    });
  }
  it('validates objects too, naming the spec', () => {
    const cases: Array<[PortMapping, RegExp]> = [
      [{ hostPort: 0, containerPort: 80, protocol: 'tcp' }, /"0:80\/tcp".*hostPort 0/],
      [{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }, /"70000:80\/tcp"/],
      [{ hostPort: 80, containerPort: 80, protocol: 'icmp' as 'tcp' }, /protocol "icmp"/],
      [{ hostPort: 80, hostPortEnd: 79, containerPort: 80, containerPortEnd: 79, protocol: 'tcp' }, /ends before it starts/],
      [{ hostPort: 80, hostPortEnd: 81, containerPort: 80, protocol: 'tcp' }, /"80-81:80\/tcp".*must match/],
      [{ hostIp: 'localhost', hostPort: 80, containerPort: 80, protocol: 'tcp' }, /"localhost:80:80\/tcp".*not an IPv4 or IPv6/],
      [{ hostPort: 1.5, containerPort: 80, protocol: 'tcp' }, /hostPort 1.5/],
    ];
    for (const [m, re] of cases) {
      assert.throws(() => validatePortMapping(m), (e: unknown) => e instanceof InvalidInputError && re.test(e.message), re.source);
      assert.throws(() => publishElements(ep, [m]), InvalidInputError);
      assert.throws(() => normalizeMappings([m]), InvalidInputError);
    }
  });
  it('refuses a port published twice in one batch, and mappings the endpoint cannot take', () => {
    assert.throws(() => publishElements(ep, [parsePortSpec('8080:80'), parsePortSpec('8079-8081:1-3')]), /8080\/tcp is published twice/);
    assert.throws(() => publishElements({ ip: '172.18.0.2' }, [parsePortSpec('[fd00::1]:80:80')]), /no IPv6 address/);
    assert.throws(() => publishElements({ ip: 'nope' }, [parsePortSpec('80:80')]), /invalid endpoint address "nope"/);
    assert.throws(() => publishElements(ep, [parsePortSpec('[::1]:80:80')]), /"\[::1\]:80:80\/tcp".*not possible.*127\.0\.0\.1/);
    // same port, different host addresses / protocols: fine
    publishElements(ep, [parsePortSpec('8080:80'), parsePortSpec('8080:80/udp'), parsePortSpec('127.0.0.1:8080:80')]);
  });
  it('refuses bad networks', () => {
    assert.throws(() => addNetworkElements({ bridge: 'br"0', subnet: '10.0.0.0/8' }), /invalid bridge name/);
    assert.throws(() => addNetworkElements({ bridge: 'a-very-long-bridge', subnet: '10.0.0.0/8' }), /invalid bridge name/);
    assert.throws(() => addNetworkElements({ bridge: 'br0', subnet: 'fd00::/64' }), /IPv4/);
    assert.throws(() => addNetworkElements({ bridge: 'br0', subnet: '10.0.0.0/8', subnet6: '10.1.0.0/16' }), /IPv6/);
    assert.throws(() => addNetworkElements({ bridge: 'br0', subnet: '10.0.0.0/8', subnet6: 'fd00::/64' }, { ipv6: false }), /without IPv6/);
    // host bits are cleared (the subnet as a prefix element)
    assert.match(addNetworkElements({ bridge: 'br0', subnet: '10.1.2.3/16' }), /"addr":"10\.1\.0\.0","len":16/);
  });
});

describe('firewall/index: backend choice', () => {
  const native = { name: 'native' } as const;
  const iproute2 = { name: 'iproute2' } as const;
  const ok = () => ({ ok: true });
  const no = () => ({ ok: false, reason: 'libnftables.so.1: cannot open shared object file' });
  it('auto prefers libnftables in the native backend, then nft, then fails clearly', () => {
    assert.equal(pickFirewallBackend('auto', { backend: native, nftAvailable: ok, hasNftCommand: () => true }), 'libnftables');
    assert.equal(pickFirewallBackend('auto', { backend: native, nftAvailable: no, hasNftCommand: () => true }), 'nft');
    assert.equal(pickFirewallBackend('auto', { backend: iproute2, nftAvailable: ok, hasNftCommand: () => true }), 'nft');
    assert.throws(() => pickFirewallBackend('auto', { backend: iproute2, hasNftCommand: () => false }),
      (e: unknown) => e instanceof EnvironmentError && e.message === NFT_MISSING);
  });
  it('explicit choices are checked', () => {
    assert.equal(pickFirewallBackend('none', {}), 'none');
    assert.throws(() => pickFirewallBackend('libnftables', { backend: native, nftAvailable: no }), /cannot open shared object/);
    assert.throws(() => pickFirewallBackend('libnftables', { backend: iproute2, nftAvailable: ok }), /native backend/);
    assert.throws(() => pickFirewallBackend('nft', { hasNftCommand: () => false }), EnvironmentError);
    assert.throws(() => pickFirewallBackend('iptables' as 'nft', {}), InvalidInputError);
  });
  it('maps NsRefs to paths for the process backend and reads table lists', () => {
    assert.equal(nsPathOf({ self: true }), undefined);
    assert.equal(nsPathOf({ path: '/run/netns/x' }), '/run/netns/x');
    assert.throws(() => nsPathOf({ slot: 0 }), InvalidInputError);
    assert.deepEqual(tablesOf('{"nftables":[{"metainfo":{}},{"table":{"family":"ip","name":"ctnet","handle":1}}]}'),
      [{ family: 'ip', name: 'ctnet' }]);
  });
});
