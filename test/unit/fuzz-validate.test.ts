/**
 * test/unit/fuzz-validate.test.ts — property-based fuzzing of every validator in
 * src/validate (kernel.ts, netns.ts, subnet.ts, ports.ts): for any input it returns a value
 * that is valid by an independent rule written here, or throws InvalidInputError; never
 * another error type. Seed in the suite title; replay with FC_SEED=… (see fuzz-support.ts).
 */
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import {
  checkAddrCidr, checkAlias, checkIfname, checkIp, checkLinkRef, checkMac, checkMtu, checkRouteDst, checkSysctlKey, checkUint, shown,
} from '../../src/validate/kernel.js';
import { checkNetnsName, netnsPath, resolveNetns, toNsRef, runNetnsName } from '../../src/validate/netns.js';
import { checkNetworkSubnet, overlapsHost, specialRangeOf } from '../../src/validate/subnet.js';
import { formatPortSpec, normalizeMappings, parsePortSpec, validatePortMapping } from '../../src/validate/ports.js';
import { isIp, mask, type Cidr } from '../../src/util/ip.js';
import type { PortMapping } from '../../src/model/types.js';
import { InvalidInputError } from '../../src/model/errors.js';
import { anything, check, hostile, nearMiss, seeded, validOrInvalid } from './fuzz-support.js';

const RUNS = 250;

/** The kernel's dev_valid_name(), plus our '%' rule, written independently of kernel.ts. */
function kernelName(n: unknown): boolean | string {
  if (typeof n !== 'string') return 'not a string';
  const b = Buffer.from(n, 'utf8');
  if (b.length < 1 || b.length > 15) return 'length';
  if (n === '.' || n === '..') return 'dots';
  for (const x of b) if (x === 0 || x === 0x2f || x === 0x3a || x === 0x25 || x === 0x20 || (x >= 9 && x <= 13) || x === 0xa0) return `byte ${x}`;
  return !/\s/u.test(n) || 'whitespace';
}

function cidrOk(c: Cidr): boolean {
  const bits = c.family === 4 ? 32 : 128;
  return c.prefixLen >= 0 && c.prefixLen <= bits && c.ip >= 0n && c.ip < 1n << BigInt(bits) && c.network === (c.ip & mask(c.family, c.prefixLen));
}

const ifnameLike = fc.oneof(nearMiss, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }), fc.stringMatching(/^[a-z][a-z0-9_.%-]{0,15}$/));

describe(seeded('fuzz: validate/kernel.ts'), () => {
  it('checkIfname / checkLinkRef: a name the kernel keeps as given, an ifindex, or InvalidInputError', () => {
    check(fc.oneof(ifnameLike, hostile), RUNS, (v) => {
      validOrInvalid(() => checkIfname(v), (r) => r === v && kernelName(r));
      validOrInvalid(() => checkLinkRef(v), (r) => (typeof r === 'number' ? Number.isInteger(r) && r > 0 && r <= 0x7fffffff : kernelName(r)));
    });
    check(fc.oneof(fc.integer(), fc.double()), RUNS, (v) => {
      validOrInvalid(() => checkLinkRef(v), (r) => r === v && Number.isInteger(r) && (r as number) > 0);
    });
  });

  it('checkMac / checkMtu / checkUint / checkAlias', () => {
    const macLike = fc.oneof(hostile, fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
      .map((o) => o.map((x) => x.toString(16).padStart(2, '0')).join(':')), fc.stringMatching(/^[0-9a-fA-F:]{17}$/));
    check(macLike, RUNS, (v) => {
      validOrInvalid(() => checkMac(v), (r) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(r) && r === String(v).toLowerCase()
        && r !== '00:00:00:00:00:00' && (parseInt(r.slice(0, 2), 16) & 1) === 0);
    });
    check(fc.oneof(hostile, fc.integer({ min: -10, max: 70000 })), RUNS, (v) => {
      validOrInvalid(() => checkMtu(v), (r) => r === v && Number.isInteger(r) && r >= 68 && r <= 65535);
      validOrInvalid(() => checkUint(v, 'table', 1, 0xffffffff), (r) => r === v && Number.isInteger(r) && r >= 1 && r <= 0xffffffff);
    });
    check(fc.oneof(hostile, fc.string({ unit: 'binary', maxLength: 300 })), RUNS, (v) => {
      validOrInvalid(() => checkAlias(v), (r) => r === v && Buffer.byteLength(r) <= 255 && !/[\0\n]/.test(r));
    });
  });

  it('checkIp / checkAddrCidr / checkRouteDst: a strict literal (no zone id) or InvalidInputError', () => {
    const ipLike = fc.oneof(hostile, fc.ipV4(), fc.ipV6(), fc.ipV4Extended(),
      fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: -1, max: 130 })).map(([a, l]) => `${a}/${l}`));
    check(ipLike, RUNS * 2, (v) => {
      validOrInvalid(() => checkIp(v, 'gateway'), (f) => (f === 4 ? isIPv4(v as string) : isIPv6(v as string)) && !(v as string).includes('%'));
      validOrInvalid(() => checkAddrCidr(v), (c) => cidrOk(c) && !(v as string).includes('%'));
      validOrInvalid(() => checkRouteDst(v), (c) => c === 'default' || (cidrOk(c) && c.network === c.ip));
    });
  });

  it('checkSysctlKey: slash form without empty, "." or ".." parts, or InvalidInputError', () => {
    const keyLike = fc.oneof(hostile, fc.array(fc.oneof(fc.constantFrom('net', 'ipv4', '.', '..', '', 'conf', 'eth0.1'), nearMiss), { maxLength: 5 })
      .chain((parts) => fc.constantFrom('/', '.').map((sep) => parts.join(sep))));
    check(keyLike, RUNS, (v) => {
      validOrInvalid(() => checkSysctlKey(v), (r) => !r.startsWith('/') && !r.includes('\0') && r.split('/').every((s) => s !== '' && s !== '.' && s !== '..'));
    });
  });

  it('shown() never throws, whatever it is given', () => {
    check(anything, RUNS, (v) => { assert.equal(typeof shown(v), 'string'); });
  });
});

describe(seeded('fuzz: validate/netns.ts'), () => {
  it('checkNetnsName / netnsPath / resolveNetns / toNsRef', () => {
    const nsLike = fc.oneof(hostile, fc.string({ unit: 'grapheme', maxLength: 20 }),
      nearMiss.map((s) => `/run/netns/${s}`), nearMiss.map((s) => `pid:${s}`), fc.nat().map((n) => `pid:${n}`));
    const nameOk = (r: string): boolean => {
      const b = Buffer.byteLength(r);
      return b >= 1 && b <= 255 && !r.includes('/') && r !== '.' && !r.includes('..') && !/[\u0000-\u001f\u007f]/u.test(r);
    };
    check(nsLike, RUNS * 2, (v) => {
      validOrInvalid(() => checkNetnsName(v), (r) => r === v && nameOk(r));
      validOrInvalid(() => netnsPath(v as string), (r) => r === `/run/netns/${String(v)}` && nameOk(String(v)));
      validOrInvalid(() => resolveNetns(v), (r) => r.path.startsWith('/') && !r.path.includes('\0') && !r.path.split('/').includes('..')
        && (r.name === undefined || (nameOk(r.name) && r.path === `/run/netns/${r.name}`)));
      validOrInvalid(() => toNsRef(v as string), (r) => typeof r === 'object' && r !== null);
      if (typeof v === 'string') {
        const n = runNetnsName(v);
        assert.ok(n === undefined || (v === `/run/netns/${n}` && !n.includes('/')));
      }
    });
  });
});

describe(seeded('fuzz: validate/subnet.ts'), () => {
  const subnetLike = fc.oneof(hostile,
    fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, l]) => `${a}/${l}`),
    fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, l]) => `${a}/${l}`),
    fc.tuple(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.integer({ min: 0, max: 32 }))
      .map(([v, l]) => `${[24n, 16n, 8n, 0n].map((s) => String(((v & mask(4, l)) >> s) & 0xffn)).join('.')}/${l}`));
  it('checkNetworkSubnet: a clean network outside every special range, or InvalidInputError', () => {
    check(subnetLike, RUNS * 2, (v) => {
      for (const fam of [4, 6] as const) {
        validOrInvalid(() => checkNetworkSubnet(v, fam), (c) => c.family === fam && cidrOk(c) && c.network === c.ip && specialRangeOf(c) === undefined);
      }
    });
  });
  it('overlapsHost: undefined or an EOVERLAP error naming the subnet; bad host entries never break it', () => {
    const addr = fc.record({ local: fc.oneof(fc.ipV4(), fc.ipV6(), nearMiss), prefixLen: fc.integer({ min: 0, max: 128 }), index: fc.nat(20) });
    const route = fc.record({ dst: fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), nearMiss), { nil: undefined }), dstLen: fc.integer({ min: -1, max: 129 }),
      oif: fc.nat(20), table: fc.constantFrom(254, 255, 100), type: fc.constantFrom(1, 2, 6) });
    check(fc.tuple(subnetLike, fc.array(addr, { maxLength: 4 }), fc.array(route, { maxLength: 4 }), fc.boolean()), RUNS, ([s, a, r, ignoreRoutes]) => {
      validOrInvalid(() => overlapsHost(s as string, a, r, { ignoreRoutes, ownLinks: [3] }),
        (o) => o === undefined || (o.error.code === 'EOVERLAP' && o.error.message.includes('subnet ') && (o.kind === 'address' || !ignoreRoutes)));
    });
  });
});

describe(seeded('fuzz: validate/ports.ts'), () => {
  it('regressions found by this fuzzer: null-prototype values and zone ids are InvalidInputError', () => {
    for (const bad of [() => parsePortSpec(Object.create(null) as string), () => normalizeMappings([Object.create(null) as PortMapping]),
      () => normalizeMappings([{ hostPort: 80, containerPort: 80, protocol: Object.create(null) as 'tcp' }]),
      () => parsePortSpec('[fe80::1%eth0]:8080:80'),
      () => validatePortMapping({ hostIp: 'fe80::1%eth0', hostPort: 80, containerPort: 80, protocol: 'tcp' })]) {
      assert.throws(bad, InvalidInputError);
    }
  });
  const port = fc.integer({ min: 0, max: 70000 });
  const specLike = fc.oneof(hostile,
    fc.tuple(fc.option(fc.oneof(fc.ipV4(), fc.ipV6().map((a) => `[${a}]`), nearMiss), { nil: undefined }), port, fc.option(port, { nil: undefined }),
      port, fc.option(port, { nil: undefined }), fc.constantFrom('', '/tcp', '/udp', '/sctp', '/'))
      .map(([ip, h, he, c, ce, p]) => `${ip !== undefined ? `${ip}:` : ''}${h}${he !== undefined ? `-${he}` : ''}:${c}${ce !== undefined ? `-${ce}` : ''}${p}`));
  const mappingOk = (m: PortMapping): boolean => {
    validatePortMapping(m);
    assert.ok(m.hostIp === undefined || isIp(m.hostIp), `host address ${String(m.hostIp)} is not a strict IP literal`);
    const again = parsePortSpec(formatPortSpec(m));
    const defined = Object.fromEntries(Object.entries(m).filter(([, x]) => x !== undefined));
    assert.deepEqual(again, defined, `round trip of ${formatPortSpec(m)}`);
    return true;
  };
  it('parsePortSpec: a mapping that validates and survives format → parse, or InvalidInputError', () => {
    check(specLike, RUNS * 2, (v) => {
      validOrInvalid(() => parsePortSpec(v as string), mappingOk);
      validOrInvalid(() => normalizeMappings([v as string]), (ms) => ms.length === 1 && mappingOk(ms[0] as PortMapping));
    });
  });
  it('validatePortMapping / normalizeMappings on hand-made objects', () => {
    const obj = fc.record({
      hostIp: fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), hostile), { nil: undefined }), hostPort: fc.oneof(port, hostile),
      hostPortEnd: fc.option(port, { nil: undefined }), containerPort: fc.oneof(port, hostile),
      containerPortEnd: fc.option(port, { nil: undefined }), protocol: fc.oneof(fc.constantFrom('tcp', 'udp'), hostile),
    }, { requiredKeys: ['hostPort', 'containerPort', 'protocol'] });
    check(fc.oneof(obj, anything), RUNS * 2, (v) => {
      validOrInvalid(() => normalizeMappings([v as PortMapping]), (ms) => mappingOk(ms[0] as PortMapping));
    });
  });
});
