/**
 * test/unit/subnet-validate.test.ts — validate/subnet.ts: the special ranges no network may
 * overlap, and overlap with the host's own addresses and routes (issue 10 item 2).
 */
import assert from 'node:assert/strict';
import { CODE, InvalidInputError } from '../../src/model/errors.js';
import { checkNetworkSubnet, overlapsHost, specialRangeOf, type HostAddr, type HostRoute } from '../../src/validate/subnet.js';
import { networkText, parseCidr } from '../../src/util/ip.js';
import { invalid } from './fuzz-support.js';

describe('validate/subnet: special ranges are always refused', () => {
  it('IPv4: 0.0.0.0/8, 0.0.0.0/0, 127/8, 224/4, 240/4, 255.255.255.255, 169.254/16 and any subnet overlapping them', () => {
    const cases: Array<[string, string]> = [
      ['0.0.0.0/8', '0.0.0.0/8'], ['0.0.0.0/0', '0.0.0.0/8'], ['0.1.0.0/16', '0.0.0.0/8'], ['0.0.0.0/1', '0.0.0.0/8'],
      ['127.0.0.0/8', '127.0.0.0/8'], ['127.5.0.0/16', '127.0.0.0/8'], ['126.0.0.0/7', '127.0.0.0/8'],
      ['224.0.0.0/4', '224.0.0.0/4'], ['239.1.0.0/16', '224.0.0.0/4'], ['192.0.0.0/2', '224.0.0.0/4'],
      ['240.0.0.0/4', '240.0.0.0/4'], ['250.0.0.0/8', '240.0.0.0/4'],
      ['255.255.255.255/32', '255.255.255.255/32'], ['255.255.255.0/24', '255.255.255.255/32'],
      ['169.254.0.0/16', '169.254.0.0/16'], ['169.254.169.0/24', '169.254.0.0/16'], ['169.0.0.0/8', '169.254.0.0/16'],
      ['128.0.0.0/1', '169.254.0.0/16'],
    ];
    for (const [subnet, range] of cases) invalid(() => checkNetworkSubnet(subnet, 4), `"${subnet}"`, range);
    invalid(() => checkNetworkSubnet('0.0.0.0/0', 4), 'a /0 is every address');
  });

  it('IPv6: ::/128, ::1/128, ::/0, ::/8 (but not its NAT64 prefixes), fe80::/10, ff00::/8, ::ffff:0:0/96', () => {
    const cases: Array<[string, string]> = [
      ['::/128', '::/128'], ['::1/128', '::1/128'], ['::/0', '::/128'], ['::/8', '::/128'],
      ['::ffff:0:0/96', '::ffff:0:0/96'], ['::ffff:10.0.0.0/104', '::ffff:0:0/96'], ['::/64', '::/128'],
      ['::2/127', '::/8'], ['1::/16', '::/8'], ['64:ff9b::/64', '::/8'], ['::/1', '::/128'],
      ['fe80::/10', 'fe80::/10'], ['fe80::/64', 'fe80::/10'], ['febf:1::/32', 'fe80::/10'], ['fe00::/7', 'fe80::/10'],
      ['ff00::/8', 'ff00::/8'], ['ff02::/16', 'ff00::/8'], ['8000::/1', 'fe80::/10'],
    ];
    for (const [subnet, range] of cases) invalid(() => checkNetworkSubnet(subnet, 6), `"${networkText(parseCidr(subnet))}"`, range);
  });

  it('ordinary subnets pass, returned parsed', () => {
    for (const s of ['172.18.0.0/16', '10.0.0.0/8', '192.168.50.0/24', '100.64.0.0/10', '1.0.0.0/8', '223.255.255.0/24', '169.253.0.0/16', '126.0.0.0/8', '128.0.0.0/3']) {
      assert.equal(networkText(checkNetworkSubnet(s, 4)), s);
    }
    for (const s of ['fd00::/64', 'fd00:18::/48', '2001:db8::/32', '64:ff9b::/96', '64:ff9b:1::/48', '100::/8', 'fe00::/9', 'fec0::/10', 'feff::/16']) {
      assert.equal(networkText(checkNetworkSubnet(s, 6)), s);
    }
  });

  it('refuses bad CIDRs, host bits, the wrong family and non-strings with InvalidInputError', () => {
    invalid(() => checkNetworkSubnet('172.18.0.1/16', 4), 'host bits');
    invalid(() => checkNetworkSubnet('fd00::/64', 4), 'IPv4');
    invalid(() => checkNetworkSubnet('172.18.0.0/16', 6), 'subnet6', 'IPv6');
    invalid(() => checkNetworkSubnet(5, 4), 'subnet', 'number');
    invalid(() => checkNetworkSubnet('fd00::%eth0/64', 6), 'zone');
    assert.throws(() => checkNetworkSubnet('127.0.0.0/8', 4), (e: unknown) => e instanceof InvalidInputError && e.code === CODE.invalidInput);
  });

  it('specialRangeOf agrees with checkNetworkSubnet', () => {
    assert.equal(specialRangeOf(parseCidr('10.0.0.0/8')), undefined);
    assert.equal(specialRangeOf(parseCidr('10.0.0.0/0'))?.cidr.prefixLen, 8);
  });
});

describe('validate/subnet: overlap with the host', () => {
  const addrs: HostAddr[] = [
    { local: '127.0.0.1', prefixLen: 8, index: 1, label: 'lo' },
    { local: '192.168.50.10', prefixLen: 24, index: 2, label: 'eth0' },
    { local: '2001:db8:50::10', prefixLen: 64, index: 2 },
    { local: '172.30.0.1', prefixLen: 16, index: 9 }, // our own bridge
  ];
  const routes: HostRoute[] = [
    { dstLen: 0, gateway: '192.168.50.1', oif: 2, table: 254, type: 1 }, // default
    { dst: '0.0.0.0', dstLen: 0, gateway: '192.168.50.1', oif: 2, table: 254, type: 1 }, // default written out
    { dst: '192.168.50.0', dstLen: 24, oif: 2, table: 254, type: 1 },
    { dst: '10.20.0.0', dstLen: 16, gateway: '192.168.50.254', oif: 2, table: 254, type: 1 },
    { dst: '172.30.0.0', dstLen: 16, oif: 9, table: 254, type: 1 }, // our own bridge's route
    { dst: '192.168.50.10', dstLen: 32, oif: 2, table: 255, type: 2 }, // local table
    { dst: '10.99.0.0', dstLen: 16, table: 254, type: 6 }, // blackhole: not a path anywhere
    { dst: '2001:db8:50::', dstLen: 64, oif: 2, table: 254, type: 1 },
  ];
  const linkName = (i: number): string | undefined => ({ 1: 'lo', 2: 'eth0', 9: 'ctbr-1' } as Record<number, string>)[i];
  const opts = { ownLinks: [9], linkName };

  it('a subnet holding a host address is refused even with ignoreRoutes, naming both', () => {
    for (const ignoreRoutes of [false, true]) {
      const o = overlapsHost('192.168.50.0/24', addrs, routes, { ...opts, ignoreRoutes });
      assert.equal(o?.kind, 'address');
      assert.equal(o?.host, '192.168.50.10/24');
      assert.equal(o?.error.code, CODE.overlap);
      assert.match(o?.error.message ?? '', /subnet 192\.168\.50\.0\/24 contains the host's own address 192\.168\.50\.10\/24 on eth0/);
    }
    const o6 = overlapsHost('2001:db8:50::/48', addrs, routes, opts);
    assert.equal(o6?.kind, 'address');
    assert.match(o6?.error.message ?? '', /2001:db8:50::10\/64 on eth0/);
  });

  it('a subnet overlapping a host route is refused unless ignoreRoutes, naming the route and the flag', () => {
    const o = overlapsHost('10.20.5.0/24', addrs, routes, opts);
    assert.equal(o?.kind, 'route');
    assert.equal(o?.host, '10.20.0.0/16');
    assert.equal(o?.error.code, CODE.overlap);
    assert.match(o?.error.message ?? '', /subnet 10\.20\.5\.0\/24 overlaps the host route 10\.20\.0\.0\/16 via 192\.168\.50\.254 on eth0/);
    assert.match(o?.error.message ?? '', /--ignore-host-routes/);
    assert.equal(overlapsHost('10.20.5.0/24', addrs, routes, { ...opts, ignoreRoutes: true }), undefined);
    // the on-link route of the host's own LAN, without holding the address itself
    assert.equal(overlapsHost('192.168.50.128/25', addrs, routes, opts)?.host, '192.168.50.0/24');
    // a supernet overlaps too
    assert.equal(overlapsHost('10.0.0.0/8', addrs, routes, opts)?.host, '10.20.0.0/16');
  });

  it('ignores the default route, our own bridges, local-table and non-unicast routes, other families', () => {
    assert.equal(overlapsHost('172.18.0.0/16', addrs, routes, opts), undefined);
    assert.equal(overlapsHost('172.30.0.0/16', addrs, routes, opts), undefined, 'our own bridge');
    assert.notEqual(overlapsHost('172.30.0.0/16', addrs, routes, { linkName }), undefined, 'without ownLinks it is the host\'s');
    assert.equal(overlapsHost('10.99.0.0/16', addrs, routes, opts), undefined, 'blackhole');
    assert.equal(overlapsHost('fd00::/64', addrs, routes, opts), undefined);
    assert.equal(overlapsHost(parseCidr('172.18.0.0/16'), [], [], {}), undefined);
  });

  it('skips host entries it cannot parse (they come from the kernel), refuses a bad subnet', () => {
    assert.equal(overlapsHost('172.18.0.0/16', [{ local: 'garbage', prefixLen: 8 }], [{ dst: 'x', dstLen: 8 }]), undefined);
    assert.throws(() => overlapsHost('nope', addrs, routes), InvalidInputError);
  });
});
