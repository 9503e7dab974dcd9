import assert from 'node:assert/strict';
import {
  validatePool, makePool, makeRangePool, defaultGateway, addressAt, positionOf, reservedReason, macFromIp,
} from '../../src/ipam/index.js';
import { formatIp, parseIp } from '../../src/util/ip.js';
import { InvalidInputError } from '../../src/model/errors.js';

const v = (ip: string) => parseIp(ip).value;

describe('ipam/pool', () => {
  it('refuses /31 and /32 (and IPv6 /127, /128) with a message naming the subnet', () => {
    assert.throws(() => validatePool('10.0.0.0/31'), (e: Error) => e instanceof InvalidInputError && /"10\.0\.0\.0\/31".*too small/.test(e.message));
    assert.throws(() => validatePool('10.0.0.1/32'), /"10\.0\.0\.1\/32".*too small/);
    assert.throws(() => validatePool('fd00::/127'), /too small/);
    assert.throws(() => validatePool('fd00::/128'), /too small/);
    assert.equal(validatePool('10.0.0.0/30').prefixLen, 30);
    assert.equal(validatePool('fd00::/126').prefixLen, 126);
    assert.throws(() => validatePool('10.0.0.1/24'), /host bits set/);
    assert.throws(() => makePool('demo', 'fd00::/64', undefined, 4), /subnet of network "demo".*IPv4/);
  });

  it('reserves network, gateway and broadcast; IPv6 has no broadcast', () => {
    const p = makePool('demo', '10.0.0.0/29');
    assert.equal(formatIp(p.gateway, 4), '10.0.0.1');
    assert.equal(reservedReason(p, v('10.0.0.0')), 'the network address');
    assert.equal(reservedReason(p, v('10.0.0.1')), 'the gateway');
    assert.equal(reservedReason(p, v('10.0.0.7')), 'the broadcast address');
    assert.equal(reservedReason(p, v('10.0.0.6')), undefined);
    assert.equal(p.capacity, 5n);
    const p6 = makePool('demo', 'fd00::/126', undefined, 6);
    assert.equal(p6.capacity, 2n); // ::2, ::3 (::0 is the subnet-router anycast, ::1 the gateway)
    assert.equal(reservedReason(p6, v('fd00::3')), undefined);
    assert.equal(defaultGateway('172.18.0.0/16'), '172.18.0.1');
  });

  it('refuses a gateway outside the subnet or on a reserved address', () => {
    assert.throws(() => makePool('demo', '10.0.0.0/24', '10.0.1.1'), /gateway "10\.0\.1\.1" of network "demo".*outside subnet 10\.0\.0\.0\/24/);
    assert.throws(() => makePool('demo', '10.0.0.0/24', '10.0.0.0'), /network address/);
    assert.throws(() => makePool('demo', '10.0.0.0/24', '10.0.0.255'), /broadcast address/);
    assert.throws(() => makePool('demo', '10.0.0.0/24', 'fd00::1'), /not an IPv4 address/);
  });

  it('orders candidates from the address after the gateway, wrapping, gateway last', () => {
    const p = makePool('demo', '10.0.0.0/29', '10.0.0.4');
    const order = [];
    for (let i = 0n; i < p.span; i++) order.push(formatIp(addressAt(p, i), 4));
    assert.deepEqual(order, ['10.0.0.5', '10.0.0.6', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    for (let i = 0n; i < p.span; i++) assert.equal(positionOf(p, addressAt(p, i)), i);
    const last = makePool('demo', '10.0.0.0/29', '10.0.0.6');
    assert.equal(formatIp(addressAt(last, 0n), 4), '10.0.0.1');
    assert.equal(positionOf(last, last.gateway), last.span - 1n);
  });

  it('derives a stable locally administered MAC from an IPv4 address', () => {
    assert.equal(macFromIp('172.18.0.2'), '02:42:ac:12:00:02');
    assert.equal(macFromIp('10.255.1.16'), '02:42:0a:ff:01:10');
    // an IPv6-only network: "02:43:" + the address's last four bytes (never an IPv4 one's 02:42:)
    assert.equal(macFromIp('fd00::a:1:2'), '02:43:00:01:00:02');
    assert.throws(() => macFromIp('nope'), /"nope"/);
  });

  it('several ranges: one circle end to end, each range from its rangeStart (gateway outside) or after its gateway', () => {
    const p = makeRangePool('demo', [
      { subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.12', key: 'ranges[0]' },
      { subnet: '10.2.0.0/29', gateway: '10.2.0.6', key: 'ranges[1]' },
    ]);
    const order = [];
    for (let i = 0n; i < p.span; i++) order.push(formatIp(addressAt(p, i), 4));
    assert.deepEqual(order, ['10.1.0.10', '10.1.0.11', '10.1.0.12', '10.2.0.1', '10.2.0.2', '10.2.0.3', '10.2.0.4', '10.2.0.5', '10.2.0.6']);
    for (let i = 0n; i < p.span; i++) assert.equal(positionOf(p, addressAt(p, i)), i);
    assert.equal(p.capacity, 8n); // 3 + 6 positions, minus 10.2.0.6 (its gateway); 10.1.0.1 lies outside its range
    assert.equal(positionOf(p, v('10.1.0.9')), -1n);
    assert.equal(reservedReason(p, v('10.1.0.1')), 'the gateway');
    assert.equal(reservedReason(p, v('10.2.0.6')), 'the gateway');
    assert.match(String(reservedReason(p, v('10.1.0.200'))), /outside the address ranges 10\.1\.0\.10-10\.1\.0\.12, 10\.2\.0\.1-10\.2\.0\.6/);
    assert.equal(reservedReason(p, v('10.2.0.7')), 'the broadcast address');
  });

  it('refuses bad ranges with the key named: outside its subnet, start after end, overlapping, gateway outside, mixed families', () => {
    const bad = (ranges: Parameters<typeof makeRangePool>[1], re: RegExp): void => {
      assert.throws(() => makeRangePool('demo', ranges), (e: Error) => e instanceof InvalidInputError && re.test(e.message));
    };
    bad([{ subnet: '10.1.0.0/24', rangeStart: '10.1.1.5', key: 'ranges[0]' }], /ranges\[0\]\.rangeStart "10\.1\.1\.5" of network "demo": it is outside subnet 10\.1\.0\.0\/24/);
    bad([{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.255', key: 'ranges[0]' }], /ranges\[0\]\.rangeEnd .*broadcast address/);
    bad([{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.20', rangeEnd: '10.1.0.10', key: 'ranges[2]' }], /ranges\[2\]\.rangeStart "10\.1\.0\.20".*after ranges\[2\]\.rangeEnd 10\.1\.0\.10/);
    bad([{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.50', key: 'ranges[0]' }, { subnet: '10.1.0.0/24', rangeStart: '10.1.0.40', key: 'ranges[1]' }],
      /ranges\[1\] of network "demo": 10\.1\.0\.40-10\.1\.0\.254 overlaps ranges\[0\] \(10\.1\.0\.1-10\.1\.0\.50\)/);
    bad([{ subnet: '10.1.0.0/24', gateway: '10.9.0.1', key: 'ranges[0]' }], /ranges\[0\]\.gateway "10\.9\.0\.1" of network "demo": it is outside subnet 10\.1\.0\.0\/24/);
    bad([{ subnet: '10.1.0.0/24', key: 'ranges[0]' }, { subnet: 'fd00::/64', key: 'ranges[1]' }], /ranges\[1\]\.subnet of network "demo"/);
    bad([{ subnet: '10.1.0.0/33', key: 'ranges[0]' }], /ranges\[0\]\.subnet of network "demo"/);
  });
});
