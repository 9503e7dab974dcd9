/**
 * ipam/pool.ts — the geometry of an address pool: which addresses of a subnet may be
 * handed out, in which order, and which are reserved.
 *
 * Layer: ipam (pure policy). No I/O, no SQL, no kernel knowledge. All arithmetic goes
 * through util/ip.ts (bigints), for IPv4 and IPv6 alike.
 *
 * Order. The usable host range is [lo, hi] (IPv4: network+1 .. broadcast-1; IPv6:
 * network+1 .. last, the subnet-router anycast address being reserved). Candidates are
 * visited in a circle that starts right after the gateway: with the default gateway
 * (network+1) the first container gets network+2, then +3 … up to `hi`, then wraps to
 * `lo` and stops just before the gateway. We number that circle with *positions*
 * 0 .. span-1; the gateway always sits at position span-1, so the allocator's cursor
 * (a position) only ever moves forward.
 *
 * Several ranges (CNI host-local `ranges`, each with its own subnet, gateway and
 * rangeStart/rangeEnd): each range has such a circle over [rangeStart, rangeEnd] (starting
 * at rangeStart when its gateway lies outside it), and the pool's circle is theirs end to
 * end, in the order given: the first range is used up before the next is touched, and a
 * single range numbers its positions exactly as before. Ranges of one family never share
 * an address (refused when the pool is made).
 */
import {
  broadcast, contains, formatIp, lastAddress, networkText, parseCidr, parseIp, type Cidr, type Family,
} from '../util/ip.js';
import { InvalidInputError } from '../model/errors.js';

/** One range of a pool: a subnet, the part of it handed out ([lo, hi]) and its gateway. */
export interface PoolRange {
  readonly cidr: Cidr;
  /** canonical CIDR text, e.g. "172.18.0.0/16" */
  readonly subnet: string;
  readonly gateway: bigint;
  /** first and last address handed out (inclusive): rangeStart/rangeEnd, else the subnet's hosts */
  readonly lo: bigint;
  readonly hi: bigint;
  /** hi - lo + 1: this range's positions on the circle */
  readonly span: bigint;
  /** first candidate: right after the gateway when it is inside [lo, hi] (wrapping), else lo */
  readonly start: bigint;
  /** position of this range's first candidate on the pool's circle (the spans before it) */
  readonly offset: bigint;
  /** the whole subnet (no rangeStart/rangeEnd) */
  readonly whole: boolean;
}

/**
 * A family's address ranges prepared for allocation (one, or several as CNI `ranges`).
 * Immutable; cheap to build (a few bigint ops a range). The circle is the ranges' circles
 * end to end, so the cursor fills the first range, then the next. The top-level
 * cidr/subnet/gateway/lo/hi/start are the first range's.
 */
export interface Pool {
  readonly family: Family;
  readonly cidr: Cidr;
  readonly subnet: string;
  /** the network this pool belongs to (for error messages) */
  readonly network: string;
  readonly gateway: bigint;
  readonly lo: bigint;
  readonly hi: bigint;
  readonly start: bigint;
  readonly ranges: readonly PoolRange[];
  /** every range's gateway: never handed out */
  readonly gateways: ReadonlySet<bigint>;
  /** number of positions of the whole circle (the ranges' spans) */
  readonly span: bigint;
  /** addresses containers can get: the positions that are not a gateway */
  readonly capacity: bigint;
}

/** One range as given (a CNI host-local `ranges` entry): `key` names it in errors ("ranges[1]"). */
export interface RangeInput {
  readonly subnet: string;
  readonly gateway?: string | undefined;
  readonly rangeStart?: string | undefined;
  readonly rangeEnd?: string | undefined;
  readonly key?: string;
}

const MAX_PREFIX: Readonly<Record<Family, number>> = { 4: 30, 6: 126 };

/**
 * Check that `cidr` can be an address pool: a network address (no host bits) with room
 * for a gateway and at least one container. IPv4 /31 and /32 (and IPv6 /127, /128) are
 * refused: no room for network address + gateway + broadcast + a container.
 * Returns the parsed CIDR. `what` names the input in the error ("subnet of network demo").
 */
export function validatePool(cidr: string, what = 'subnet', family?: Family): Cidr {
  const c = parseCidr(cidr, what, family === undefined ? { requireNetwork: true } : { requireNetwork: true, family });
  const max = MAX_PREFIX[c.family];
  if (c.prefixLen > max) {
    throw new InvalidInputError(
      `invalid ${what} "${cidr}": a /${c.prefixLen} is too small for a network ` +
      `(needs the network address, a gateway${c.family === 4 ? ', the broadcast address' : ''} and ` +
      `at least one container; use /${max} or shorter)`);
  }
  return c;
}

/** The default gateway of a subnet: its first host address (network + 1). */
export function defaultGateway(subnet: string): string {
  const c = validatePool(subnet);
  return formatIp(c.network + 1n, c.family);
}

/** First and last host address of a subnet (IPv4: without network and broadcast; IPv6: without the anycast ::0). */
function hostsOf(cidr: Cidr): { lo: bigint; hi: bigint; bcast: bigint | undefined } {
  const bcast = broadcast(cidr);
  return { lo: cidr.network + 1n, hi: bcast === undefined ? lastAddress(cidr) : bcast - 1n, bcast };
}

/** A host address of `cidr` given as `key` of `owner` (gateway, rangeStart, rangeEnd), checked. */
function hostAddress(text: string, cidr: Cidr, subnetText: string, key: string, owner: string): bigint {
  const g = parseIp(text, `${key} of ${owner}`);
  if (g.family !== cidr.family) {
    throw new InvalidInputError(`invalid ${key} "${text}" of ${owner}: not an IPv${cidr.family} address like its subnet ${subnetText}`);
  }
  const { lo, hi, bcast } = hostsOf(cidr);
  if (g.value < lo || g.value > hi) {
    const why = g.value === cidr.network ? 'it is the network address of'
      : g.value === bcast ? 'it is the broadcast address of' : 'it is outside';
    throw new InvalidInputError(`invalid ${key} "${text}" of ${owner}: ${why} subnet ${subnetText}`);
  }
  return g.value;
}

/**
 * Build the pool of network `network` over `subnet` with gateway `gateway`
 * (default: network + 1). Throws InvalidInputError for a bad subnet or a gateway
 * outside the subnet / on a reserved address.
 */
export function makePool(network: string, subnet: string, gateway?: string, family?: Family): Pool {
  return makeRangePool(network, [{ subnet, gateway }], family);
}

/**
 * Build the pool of a family's ranges, in order. Each error names the range's key
 * (`ranges[1].rangeStart`), the network and the cause: a subnet of the wrong family or too
 * small, a gateway/rangeStart/rangeEnd outside its subnet or on a reserved address,
 * rangeStart after rangeEnd, two ranges sharing addresses.
 */
export function makeRangePool(network: string, inputs: readonly RangeInput[], family?: Family): Pool {
  const owner = `network "${network}"`;
  const ranges: PoolRange[] = [];
  let offset = 0n;
  for (const r of inputs) {
    const sub = r.key !== undefined ? `${r.key}.subnet` : `subnet${family === 6 ? '6' : ''}`;
    const cidr = validatePool(r.subnet, `${sub} of ${owner}`, family ?? ranges[0]?.cidr.family);
    const subnetText = networkText(cidr);
    const k = (name: string): string => r.key !== undefined ? `${r.key}.${name}` : name;
    const hosts = hostsOf(cidr);
    const gw = r.gateway !== undefined ? hostAddress(r.gateway, cidr, subnetText, k('gateway'), owner) : hosts.lo;
    const lo = r.rangeStart !== undefined ? hostAddress(r.rangeStart, cidr, subnetText, k('rangeStart'), owner) : hosts.lo;
    const hi = r.rangeEnd !== undefined ? hostAddress(r.rangeEnd, cidr, subnetText, k('rangeEnd'), owner) : hosts.hi;
    if (lo > hi) {
      throw new InvalidInputError(`invalid ${k('rangeStart')} "${r.rangeStart ?? formatIp(lo, cidr.family)}" of ${owner}: after ${k('rangeEnd')} ${formatIp(hi, cidr.family)}`);
    }
    if (lo === hi && gw === lo) {
      throw new InvalidInputError(`invalid ${k('rangeStart')} of ${owner}: the range ${formatIp(lo, cidr.family)} holds only its gateway`);
    }
    for (const [i, o] of ranges.entries()) {
      if (o.cidr.family === cidr.family && lo <= o.hi && o.lo <= hi) {
        const other = inputs[i]?.key ?? 'the subnet';
        throw new InvalidInputError(`invalid ${r.key ?? 'range'} of ${owner}: ${formatIp(lo, cidr.family)}-${formatIp(hi, cidr.family)} overlaps ${other} (${formatIp(o.lo, cidr.family)}-${formatIp(o.hi, cidr.family)})`);
      }
    }
    const span = hi - lo + 1n;
    const start = gw >= lo && gw <= hi ? (gw === hi ? lo : gw + 1n) : lo;
    ranges.push({ cidr, subnet: subnetText, gateway: gw, lo, hi, span, start, offset, whole: lo === hosts.lo && hi === hosts.hi });
    offset += span;
  }
  const first = ranges[0];
  if (first === undefined) throw new InvalidInputError(`invalid ${owner}: no address range`);
  const gateways = new Set(ranges.map((r) => r.gateway));
  let capacity = offset;
  for (const g of gateways) if (ranges.some((r) => g >= r.lo && g <= r.hi)) capacity--;
  return {
    family: first.cidr.family, cidr: first.cidr, subnet: first.subnet, network, gateway: first.gateway,
    lo: first.lo, hi: first.hi, start: first.start, ranges, gateways, span: offset, capacity,
  };
}

/** The range of `pool` whose [lo, hi] holds address `a`, if any. */
export function rangeHolding(pool: Pool, a: bigint): PoolRange | undefined {
  for (const r of pool.ranges) if (a >= r.lo && a <= r.hi) return r;
  return undefined;
}

/** Address at circle position `p` (0 <= p < span). */
export function addressAt(pool: Pool, p: bigint): bigint {
  let r = pool.ranges[0] as PoolRange;
  for (const x of pool.ranges) { if (p < x.offset) break; r = x; }
  return r.lo + ((r.start - r.lo + p - r.offset) % r.span);
}

/** Circle position of an address `a` inside one of the ranges (-1 when it is in none). */
export function positionOf(pool: Pool, a: bigint): bigint {
  const r = rangeHolding(pool, a);
  return r === undefined ? -1n : r.offset + (a - r.start + r.span) % r.span;
}

/**
 * Why `a` cannot be handed out, or undefined if it is a usable container address. For an
 * address in none of the ranges: "outside …" naming the subnet or the range.
 */
export function reservedReason(pool: Pool, a: bigint): string | undefined {
  if (pool.gateways.has(a)) return 'the gateway';
  const sub = pool.ranges.find((r) => contains(r.cidr, a));
  if (sub !== undefined && a === sub.cidr.network) return 'the network address';
  if (sub !== undefined && a === broadcast(sub.cidr)) return 'the broadcast address';
  if (rangeHolding(pool, a) !== undefined) return undefined;
  if (sub === undefined) return undefined; // outside every subnet: the caller says so
  return `outside the address range${pool.ranges.length > 1 ? 's' : ''} ${pool.ranges.map((r) => `${formatIp(r.lo, pool.family)}-${formatIp(r.hi, pool.family)}`).join(', ')}`;
}

/**
 * The default container MAC for an address: "02:42:" + the four octets in hex (locally
 * administered, unicast, stable for a given address — Docker's scheme); for an IPv6 address
 * (an IPv6-only network) "02:43:" + its last four bytes.
 */
export function macFromIp(ip: string): string {
  const p = parseIp(ip, 'address');
  const hex: string[] = [p.family === 4 ? '42' : '43'];
  for (const s of [24n, 16n, 8n, 0n]) hex.push(((p.value >> s) & 0xffn).toString(16).padStart(2, '0'));
  return `02:${hex.join(':')}`;
}
