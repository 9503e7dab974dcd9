import assert from 'node:assert/strict';
import {
  validatePool, makePool, defaultGateway, addressAt, positionOf, reservedReason, macFromIp,
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
    assert.throws(() => macFromIp('fd00::1'), /"fd00::1".*not an IPv4/);
  });
});
