import assert from 'node:assert/strict';
import { invalid } from './fuzz-support.js';
import { ops, checkIfname, checkMac, checkMtu, describeOp, nsLabel, checkOp } from '../../src/rtnl/index.js';
import type { RtnlOp } from '../../src/model/plan.js';


describe('rtnl validation (before any kernel work)', () => {
  it('interface names: 1..15 bytes, no / : whitespace, not . or ..', () => {
    assert.equal(checkIfname('eth0'), 'eth0');
    assert.equal(checkIfname('a'.repeat(15)), 'a'.repeat(15));
    invalid(() => checkIfname(''), 'must not be empty');
    invalid(() => checkIfname('a'.repeat(16)), 'a'.repeat(16), 'at most 15');
    invalid(() => checkIfname('ééééééééé'), 'bytes'); // 18 bytes in UTF-8
    for (const bad of ['a/b', 'a:b', 'a b', 'a\tb', '.', '..']) invalid(() => checkIfname(bad), `"${bad}"`);
  });

  it('MTU 68..65535, MAC six hex pairs, unicast, non-zero', () => {
    assert.equal(checkMtu(68), 68);
    assert.equal(checkMtu(65535), 65535);
    invalid(() => checkMtu(67), '67', '68..65535');
    invalid(() => checkMtu(65536), '65536');
    invalid(() => checkMtu(1500.5), '1500.5');
    assert.equal(checkMac('02:AB:cd:00:00:01'), '02:ab:cd:00:00:01');
    invalid(() => checkMac('02:ab:cd:00:00'), 'MAC');
    invalid(() => checkMac('01:00:5e:00:00:01'), 'multicast');
    invalid(() => checkMac('00:00:00:00:00:00'), 'all-zero');
  });

  it('veth builders name the object in the error', () => {
    invalid(() => ops.vethAdd('ctr-aaaaaaaaaaaaaaa', { name: 'eth0' }), 'veth name', 'ctr-aaaaaaaaaaaaaaa');
    invalid(() => ops.vethAdd('ctr-v', { name: 'e/th0' }), 'veth peer name', 'e/th0', 'ctr-v');
    invalid(() => ops.vethAdd('ctr-v', { name: 'ctr-v' }), 'same name');
    invalid(() => ops.vethAdd('ctr-v', { name: 'eth0', mtu: 10 }), 'MTU of eth0');
    invalid(() => ops.vethAdd('ctr-v', { name: 'eth0' }, { master: 'bad name' }), 'master of ctr-v');
    invalid(() => ops.vethAdd('ctr-v', { name: 'eth0', ns: { path: 'relative' } }), 'netns of veth peer eth0');
    const op = ops.vethAdd('ctr-v', { name: 'eth0', ns: { path: '/run/netns/x' } }, { up: true, mtu: 1400 });
    assert.deepEqual(op, { op: 'linkAdd', kind: 'veth', name: 'ctr-v', up: true, mtu: 1400, peer: { name: 'eth0', ns: { path: '/run/netns/x' } } });
  });

  it('addresses: CIDR parsed, family from the address, IPv6 always nodad, broadcast only IPv4', () => {
    assert.deepEqual(ops.addrAdd('eth0', '172.18.0.2/16'), { op: 'addrAdd', link: 'eth0', family: 4, local: '172.18.0.2', prefixLen: 16 });
    assert.deepEqual(ops.addrAdd('eth0', 'FD00:0::2/64'), { op: 'addrAdd', link: 'eth0', family: 6, local: 'fd00::2', prefixLen: 64, nodad: true });
    assert.deepEqual(ops.addrAdd('eth0', '10.0.0.5/24', { broadcast: true }).broadcast, '10.0.0.255');
    assert.deepEqual(ops.addrDel('eth0', 'fd00::2/64'), { op: 'addrDel', link: 'eth0', family: 6, local: 'fd00::2', prefixLen: 64 });
    invalid(() => ops.addrAdd('eth0', '10.0.0.5'), '10.0.0.5', 'eth0');
    invalid(() => ops.addrAdd('eth0', '10.0.0.5/33'), 'prefix length');
    invalid(() => ops.addrAdd('eth0', '10.0.0.300/24'), '10.0.0.300');
    invalid(() => ops.addrAdd('eth0', 'fd00::2/64', { broadcast: true }), 'IPv6 has no broadcast');
    invalid(() => ops.addrAdd('a'.repeat(16), '10.0.0.1/24'), 'a'.repeat(16));
  });

  it('routes: default, via, dev, family mismatches refused, host bits refused', () => {
    assert.deepEqual(ops.routeAdd({ via: '10.0.0.1' }), { op: 'routeAdd', family: 4, gateway: '10.0.0.1' });
    assert.deepEqual(ops.routeAdd({ dst: 'default', via: 'fd00::1' }), { op: 'routeAdd', family: 6, gateway: 'fd00::1' });
    assert.deepEqual(ops.routeAdd({ dst: '10.1.0.0/16', dev: 'eth0', metric: 5, table: 100 }),
      { op: 'routeAdd', family: 4, dst: '10.1.0.0', dstLen: 16, link: 'eth0', metric: 5, table: 100 });
    assert.deepEqual(ops.routeAdd({ dst: '10.1.2.3', dev: 'eth0' }), { op: 'routeAdd', family: 4, dst: '10.1.2.3', dstLen: 32, link: 'eth0' });
    assert.deepEqual(ops.routeAdd({ dev: 'eth0', family: 6 }), { op: 'routeAdd', family: 6, link: 'eth0' });
    invalid(() => ops.routeAdd({ dst: '10.1.0.0/16', via: 'fd00::1' }), 'gateway', 'fd00::1', 'IPv4');
    invalid(() => ops.routeAdd({ dst: '10.1.0.1/16', dev: 'eth0' }), 'host bits', '10.1.0.0/16');
    invalid(() => ops.routeAdd({ dst: '10.1.0.0/16' }), 'needs a gateway');
    invalid(() => ops.routeAdd({ dev: 'eth0', onlink: true }), 'onlink needs a gateway');
    invalid(() => ops.routeAdd({ dev: 'eth0', table: 0 }), 'route table');
    invalid(() => ops.routeAdd({ dst: 'nonsense', dev: 'eth0' }), 'nonsense');
  });

  it('link set: nomaster as null or 0, move target checked', () => {
    assert.deepEqual(ops.linkSet('eth0', { master: null, up: false }), { op: 'linkSet', link: 'eth0', up: false, master: 0 });
    invalid(() => ops.linkSet('eth0', { name: 'x'.repeat(16) }), 'new name of eth0');
    invalid(() => ops.linkSet(0, { up: true }), 'index 0');
  });

  it('checkOp refuses hand-made ops with bad fields', () => {
    invalid(() => checkOp({ op: 'addrAdd', link: 'eth0', family: 4, local: 'fd00::1', prefixLen: 64 } as RtnlOp), 'fd00::1', 'IPv4');
    invalid(() => checkOp({ op: 'linkAdd', kind: 'vxlan', name: 'x' } as unknown as RtnlOp), 'vxlan');
    invalid(() => checkOp({ op: 'linkAdd', kind: 'veth', name: 'x' }), 'needs a peer');
    invalid(() => checkOp({ op: 'frob' } as unknown as RtnlOp), 'frob');
  });

  it('describes ops with the objects named', () => {
    const veth = ops.vethAdd('vethA', { name: 'eth0', ns: { path: '/run/netns/netns0' } });
    assert.equal(describeOp(veth, { self: true }), 'create veth vethA→eth0 in netns0');
    assert.equal(describeOp(ops.addrAdd('eth0', '10.0.0.2/24'), { path: '/run/netns/netns0' }), 'add address 10.0.0.2/24 to eth0 in netns0');
    assert.equal(describeOp(ops.routeAdd({ via: '10.0.0.1' }), { self: true }), 'add route default via 10.0.0.1');
    assert.equal(nsLabel({ path: '/proc/42/ns/net' }), 'netns of pid 42');
    assert.equal(nsLabel({ path: '/var/run/other' }), '/var/run/other');
  });
});

describe('validate/kernel: item 13 of issue 10', () => {
  it("'%' in an interface name is refused (the kernel takes it as a template: eth%d → eth0)", () => {
    invalid(() => checkIfname('eth%d', 'container interface name'), 'container interface name', 'eth%d', '%');
    invalid(() => checkIfname('%'), '%');
    invalid(() => ops.vethAdd('ctv%d', { name: 'eth0' }), 'veth name', 'ctv%d');
  });
  it('the kernel counts byte 0xA0 as whitespace: "à" (c3 a0) is refused, "é" (c3 a9) is not', () => {
    invalid(() => checkIfname('eth\u00e0'), 'whitespace');
    assert.equal(checkIfname('eth\u00e9'), 'eth\u00e9');
  });
  it('zone ids are refused in every address field, not dropped', () => {
    invalid(() => ops.addrAdd('eth0', 'fe80::2%eth0/64'), 'fe80::2%eth0/64', 'zone');
    invalid(() => ops.routeAdd({ via: 'fe80::1%eth0' }), 'fe80::1%eth0', 'zone');
    invalid(() => ops.routeAdd({ dst: 'fd00::1%eth0', dev: 'eth0' }), 'zone');
    invalid(() => ops.routeAdd({ dst: 'fd00::%eth0/64', dev: 'eth0' }), 'fd00::%eth0/64', 'zone');
  });
  it('non-strings and odd objects are refused with InvalidInputError, never a TypeError', () => {
    const odd = [5, null, undefined, {}, [], Object.create(null), Symbol('x'), 10n, { toString() { throw new Error('boom'); } }];
    for (const v of odd) {
      invalid(() => checkIfname(v));
      invalid(() => checkMac(v));
      invalid(() => checkMtu(v));
      invalid(() => ops.addrAdd('eth0', v as string));
      invalid(() => ops.routeAdd({ via: v as string }));
    }
  });
});
