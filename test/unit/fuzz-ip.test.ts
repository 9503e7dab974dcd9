/**
 * test/unit/fuzz-ip.test.ts — property-based fuzzing of src/util/ip.ts: parsers refuse any
 * bad input with InvalidInputError only; parse/format round trips; containment and overlap
 * agree with plain bigint arithmetic; formatting agrees with the WHATWG URL serializer (an
 * independent RFC 5952-style IPv6 formatter). Seed in the suite title (fuzz-support.ts).
 */
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import {
  broadcast, contains, familyOf, formatIp, isIp, lastAddress, mask, networkText, overlaps, parseCidr, parseIp, size, type Family,
} from '../../src/util/ip.js';
import { check, hostile, seeded, validOrInvalid } from './fuzz-support.js';

const RUNS = 300;
const value = (f: Family): fc.Arbitrary<bigint> => fc.bigInt({ min: 0n, max: (1n << BigInt(f === 4 ? 32 : 128)) - 1n });
const family = fc.constantFrom<Family>(4, 6);
const cidrParts = family.chain((f) => fc.tuple(fc.constant(f), value(f), fc.integer({ min: 0, max: f === 4 ? 32 : 128 })));

/** The WHATWG URL parser's canonical form of an IP literal (IPv6 without brackets). */
function canonical(ip: string): string {
  const host = new URL(`http://${ip.includes(':') ? `[${ip}]` : ip}/`).hostname;
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

describe(seeded('fuzz: util/ip.ts'), () => {
  it('parseIp / parseCidr / familyOf / isIp on hostile input: a value or InvalidInputError, strict literals only', () => {
    const text = fc.oneof(hostile, fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.tuple(fc.ipV6(), fc.string({ maxLength: 5 })).map(([a, z]) => `${a}%${z}`));
    check(text, RUNS * 2, (v) => {
      validOrInvalid(() => parseIp(v), (r) => (r.family === 4 ? isIPv4(v as string) : isIPv6(v as string)) && !(v as string).includes('%')
        && r.value >= 0n && r.value < 1n << BigInt(r.family === 4 ? 32 : 128));
      validOrInvalid(() => parseCidr(v), (c) => c.network === (c.ip & mask(c.family, c.prefixLen)) && !(v as string).includes('%'));
      validOrInvalid(() => parseCidr(`${String(typeof v === 'string' ? v : '')}/24`, 'subnet', { requireNetwork: true }), (c) => c.network === c.ip);
      const f = familyOf(v);
      assert.ok(f === undefined || (typeof v === 'string' && !v.includes('%') && (f === 4 ? isIPv4(v) : isIPv6(v))));
      assert.equal(isIp(v), f !== undefined);
    });
  });

  it('parse ∘ format is the identity on values, and format agrees with the URL serializer', () => {
    check(family.chain((f) => fc.tuple(fc.constant(f), value(f))), RUNS * 2, ([f, v]) => {
      const text = formatIp(v, f);
      assert.equal(text, canonical(text));
      const back = parseIp(text);
      assert.equal(back.family, f);
      assert.equal(back.value, v);
    });
  });

  it('format ∘ parse gives the canonical text of any literal node:net accepts', () => {
    check(fc.oneof(fc.ipV4(), fc.ipV6()), RUNS * 2, (ip) => {
      const p = parseIp(ip);
      assert.equal(formatIp(p.value, p.family), canonical(ip));
    });
  });

  it('containment, overlap, size, last address and broadcast agree with bigint arithmetic', () => {
    check(fc.tuple(cidrParts, cidrParts), RUNS * 2, ([[fa, va, la], [fb, vb, lb]]) => {
      const a = parseCidr(`${formatIp(va, fa)}/${la}`);
      const b = parseCidr(`${formatIp(vb, fb)}/${lb}`);
      const bitsA = BigInt(fa === 4 ? 32 : 128);
      assert.equal(a.ip, va);
      assert.equal(size(a), 1n << (bitsA - BigInt(la)));
      assert.equal(a.network, (va >> (bitsA - BigInt(la))) << (bitsA - BigInt(la)));
      assert.equal(lastAddress(a), a.network + size(a) - 1n);
      assert.ok(contains(a, va) && contains(a, a.network) && contains(a, lastAddress(a)));
      assert.ok(!contains(a, lastAddress(a) + 1n) && !contains(a, a.network - 1n));
      assert.equal(parseCidr(networkText(a), 'subnet', { requireNetwork: true }).network, a.network);
      const expected = fa === fb && (contains(a, b.network) || contains(b, a.network));
      assert.equal(overlaps(a, b), expected);
      assert.equal(overlaps(b, a), expected);
      if (fa === fb) assert.equal(contains(a, vb), (vb & mask(fa, la)) === a.network);
      const bc = broadcast(a);
      assert.equal(bc, fa === 4 && la < 31 ? lastAddress(a) : undefined);
    });
  });

  it('mask refuses lengths out of range with InvalidInputError only', () => {
    check(fc.tuple(family, fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double())), RUNS, ([f, l]) => {
      validOrInvalid(() => mask(f, l), (m) => m >= 0n);
    });
  });
});
