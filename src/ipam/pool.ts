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
 */
import {
  broadcast, formatIp, lastAddress, parseCidr, parseIp, type Cidr, type Family,
} from '../util/ip.js';
import { InvalidInputError } from '../model/errors.js';

/** A subnet prepared for allocation. Immutable; cheap to build (a few bigint ops). */
export interface Pool {
  readonly family: Family;
  readonly cidr: Cidr;
  /** canonical CIDR text, e.g. "172.18.0.0/16" */
  readonly subnet: string;
  /** the network this pool belongs to (for error messages) */
  readonly network: string;
  readonly gateway: bigint;
  /** first and last usable host address (inclusive) */
  readonly lo: bigint;
  readonly hi: bigint;
  /** hi - lo + 1: number of positions in the allocation circle (the gateway included) */
  readonly span: bigint;
  /** first candidate: the address right after the gateway (wrapping to lo) */
  readonly start: bigint;
  /** addresses containers can get: span - 1 (the gateway is not one) */
  readonly capacity: bigint;
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

/**
 * Build the pool of network `network` over `subnet` with gateway `gateway`
 * (default: network + 1). Throws InvalidInputError for a bad subnet or a gateway
 * outside the subnet / on a reserved address.
 */
export function makePool(network: string, subnet: string, gateway?: string, family?: Family): Pool {
  const what = `subnet${family === 6 ? '6' : ''} of network "${network}"`;
  const cidr = validatePool(subnet, what, family);
  const lo = cidr.network + 1n;
  const bcast = broadcast(cidr);
  const hi = bcast === undefined ? lastAddress(cidr) : bcast - 1n;
  const span = hi - lo + 1n;
  const subnetText = `${formatIp(cidr.network, cidr.family)}/${cidr.prefixLen}`;
  let gw = lo;
  if (gateway !== undefined) {
    const g = parseIp(gateway, `gateway of network "${network}"`);
    if (g.family !== cidr.family) {
      throw new InvalidInputError(`invalid gateway "${gateway}" of network "${network}": not an IPv${cidr.family} address like its subnet ${subnetText}`);
    }
    if (g.value < lo || g.value > hi) {
      const why = g.value === cidr.network ? 'it is the network address of'
        : g.value === bcast ? 'it is the broadcast address of' : 'it is outside';
      throw new InvalidInputError(`invalid gateway "${gateway}" of network "${network}": ${why} subnet ${subnetText}`);
    }
    gw = g.value;
  }
  const start = gw === hi ? lo : gw + 1n;
  return { family: cidr.family, cidr, subnet: subnetText, network, gateway: gw, lo, hi, span, start, capacity: span - 1n };
}

/** Address at circle position `p` (0 <= p < span). */
export function addressAt(pool: Pool, p: bigint): bigint {
  return pool.lo + ((pool.start - pool.lo + p) % pool.span);
}

/** Circle position of a usable address `a` (lo <= a <= hi). */
export function positionOf(pool: Pool, a: bigint): bigint {
  return (a - pool.start + pool.span) % pool.span;
}

/** Why `a` cannot be handed out, or undefined if it is a usable container address. */
export function reservedReason(pool: Pool, a: bigint): string | undefined {
  if (a === pool.cidr.network) return 'the network address';
  if (a === pool.gateway) return 'the gateway';
  if (a === broadcast(pool.cidr)) return 'the broadcast address';
  return undefined;
}

/**
 * The default container MAC for an IPv4 address: "02:42:" + the four octets in hex
 * (locally administered, unicast, stable for a given address — Docker's scheme).
 */
export function macFromIp(ip: string): string {
  const p = parseIp(ip, 'address');
  if (p.family !== 4) throw new InvalidInputError(`cannot derive a MAC from "${ip}": not an IPv4 address`);
  const hex: string[] = [];
  for (const s of [24n, 16n, 8n, 0n]) hex.push(((p.value >> s) & 0xffn).toString(16).padStart(2, '0'));
  return `02:42:${hex.join(':')}`;
}
