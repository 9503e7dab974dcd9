import assert from 'node:assert/strict';
import { parseIp, formatIp, parseCidr, overlaps, contains, broadcast, networkText, size, familyOf, isIp, mask } from '../../src/util/ip.js';
import { InvalidInputError } from '../../src/model/errors.js';
import { invalid } from './fuzz-support.js';

describe('util/ip', () => {
  it('parses and formats IPv4 and IPv6 round trip', () => {
    for (const ip of ['0.0.0.0', '172.18.0.1', '255.255.255.255']) assert.equal(formatIp(parseIp(ip).value, 4), ip);
    for (const ip of ['::', '::1', 'fd00:18::1', '2001:db8:0:1:1:1:1:1', 'fe80::1:2']) assert.equal(formatIp(parseIp(ip).value, 6), ip);
    assert.equal(formatIp(parseIp('::ffff:1.2.3.4').value, 6), '::ffff:102:304');
    assert.equal(parseIp('fd00::1').family, 6);
  });
  it('parses CIDRs and refuses bad ones with a message naming the input', () => {
    const c = parseCidr('172.18.0.0/16');
    assert.equal(c.prefixLen, 16);
    assert.equal(networkText(c), '172.18.0.0/16');
    assert.equal(size(c), 65536n);
    assert.equal(formatIp(broadcast(c)!, 4), '172.18.255.255');
    assert.throws(() => parseCidr('172.18.0.1/16', 'subnet', { requireNetwork: true }), /host bits set.*172\.18\.0\.0\/16/);
    assert.throws(() => parseCidr('172.18.0.0/33'), InvalidInputError);
    assert.throws(() => parseCidr('172.18.0.0'), /expected ADDRESS\/PREFIX/);
    assert.throws(() => parseCidr('300.1.1.1/8'), /"300\.1\.1\.1\/8"/);
    assert.throws(() => parseCidr('fd00::/64', 'subnet', { family: 4 }), /IPv4/);
  });
  it('detects overlap and containment', () => {
    assert.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.1.0.0/16')));
    assert.ok(!overlaps(parseCidr('10.0.0.0/16'), parseCidr('10.1.0.0/16')));
    assert.ok(!overlaps(parseCidr('10.0.0.0/8'), parseCidr('fd00::/8')));
    assert.ok(contains(parseCidr('10.0.0.0/24'), parseIp('10.0.0.255').value));
    assert.ok(!contains(parseCidr('10.0.0.0/24'), parseIp('10.0.1.0').value));
  });
});

describe('util/ip: refuses what it cannot honour (issue 10 item 13)', () => {
  it('a zone id is refused with the value named, never dropped nor a RangeError', () => {
    invalid(() => parseCidr('fd00::%eth0/64', 'subnet6', { requireNetwork: true, family: 6 }), 'subnet6', 'fd00::%eth0/64', 'zone');
    invalid(() => parseIp('fe80::1%eth0', 'gateway6'), 'gateway6', 'fe80::1%eth0', 'zone');
    invalid(() => parseIp('fe80::1%1'), 'fe80::1%1');
    invalid(() => parseCidr('fe80::1%eth0/64'), 'zone');
    assert.equal(familyOf('fe80::1%eth0'), undefined);
    assert.equal(isIp('fe80::1%eth0'), false);
    assert.equal(isIp('fe80::1', 6), true);
    assert.equal(isIp('fe80::1', 4), false);
  });
  it('non-strings are refused naming the field', () => {
    invalid(() => parseCidr(5, 'subnet'), 'subnet', 'string', 'number');
    invalid(() => parseCidr(undefined, 'subnet6'), 'subnet6', 'undefined');
    invalid(() => parseIp({}, 'gateway'), 'gateway', 'object');
    invalid(() => parseIp(null, 'gateway'), 'gateway');
    assert.equal(familyOf(5), undefined);
  });
  it('mask refuses a prefix length out of range with InvalidInputError', () => {
    assert.equal(mask(4, 24), 0xffffff00n);
    assert.equal(mask(6, 0), 0n);
    invalid(() => mask(4, 33), '33');
    invalid(() => mask(4, -1), '-1');
    invalid(() => mask(6, 1.5), '1.5');
  });
});
