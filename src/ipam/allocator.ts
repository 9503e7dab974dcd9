/**
 * ipam/allocator.ts — which address a container gets: next free, static requests, release.
 *
 * Layer: ipam (pure policy). It decides; it does not store. The durable lease table, the
 * free list and the cursor live in state/ (SQLite), which hands this module a small
 * `LeaseBackend` bound to one network + family and calls it inside its own write
 * transaction — so state/ depends on this module's algorithm, and this module performs
 * no I/O itself (every backend call is one SQL statement over there).
 *
 * Algorithm (cost independent of how many addresses are leased):
 *  - A per-network *cursor* is a position on the pool's circle (see pool.ts). Positions
 *    below the cursor have been handed out at least once; positions at or above it never
 *    have (except by static request).
 *  - While the cursor has not reached the end of the circle, the next address is the one
 *    at the cursor: one `tryLease` (an INSERT … ON CONFLICT DO NOTHING on the primary key)
 *    both probes and takes it. A statically leased address ahead of the cursor is skipped;
 *    each is skipped at most once in the cursor's life, so this is amortized O(1).
 *  - An address released *below* the cursor joins a FIFO free list; one released at or
 *    above the cursor needs nothing (the cursor will reach it).
 *  - Once the cursor has wrapped (reached the end), addresses come from the free list,
 *    oldest release first — so a just-released address is the last to be reused (like
 *    host-local's round robin, without its scan). Empty free list ⇒ exhausted.
 */
import { CtnetError, InvalidInputError, CODE } from '../model/errors.js';
import { contains, formatIp, parseIp } from '../util/ip.js';
import { addressAt, positionOf, reservedReason, type Pool } from './pool.js';

/** Storage for one network + family, bound by the caller (state/) to its transaction. */
export interface LeaseBackend {
  /** Lease `ip` (canonical text) to the caller's endpoint; false if it is already leased. */
  tryLease(ip: string): boolean;
  /** Who holds `ip` (an endpoint id, or "" for a lease without endpoint), for messages. */
  holderOf(ip: string): string | undefined;
  /** Remove and return the oldest address of the free list, or undefined when empty. */
  takeOldestFree(): string | undefined;
  /** Append a released address to the free list. */
  addFree(ip: string): void;
  /** Drop `ip` from the free list if it is there (a static request took it). */
  removeFree(ip: string): void;
}

export interface Allocation {
  /** canonical address text */
  readonly ip: string;
  /** the cursor after this allocation: persist it if it changed */
  readonly cursor: bigint;
}

/** Allocate the next free address of `pool` (see the module comment for the order). */
export function allocateNext(pool: Pool, cursor: bigint, b: LeaseBackend): Allocation {
  let c = cursor;
  while (c < pool.span) {
    const a = addressAt(pool, c);
    c++;
    if (pool.gateways.has(a)) continue; // a range's gateway: the last position of its circle
    const ip = formatIp(a, pool.family);
    if (b.tryLease(ip)) return { ip, cursor: c };
    // taken by a static request ahead of the cursor: skip it, once
  }
  for (;;) {
    const ip = b.takeOldestFree();
    if (ip === undefined) break;
    if (b.tryLease(ip)) return { ip, cursor: c };
    // a free-list entry that is leased would be a broken invariant; drop it and go on
  }
  throw new CtnetError(
    `network "${pool.network}" has no free IPv${pool.family} address: all ${pool.capacity} ` +
    `usable addresses of ${rangesText(pool)} are leased`, CODE.exhausted);
}

/** The pool's subnet, or its ranges ("10.1.0.0/24 (10.1.0.10-10.1.0.20), 10.2.0.0/24"). */
function rangesText(pool: Pool): string {
  return pool.ranges.map((r) => r.whole ? r.subnet : `${r.subnet} (${formatIp(r.lo, pool.family)}-${formatIp(r.hi, pool.family)})`).join(', ');
}

/**
 * Lease a specific address. Errors name the address and the network: outside the
 * subnet, reserved (network/gateway/broadcast), or already leased (naming the holder).
 */
export function claimStatic(pool: Pool, cursor: bigint, requested: string, b: LeaseBackend): Allocation {
  const what = `address "${requested}" requested on network "${pool.network}"`;
  const p = parseIp(requested, `IPv${pool.family} ${what}`);
  if (p.family !== pool.family) {
    throw new InvalidInputError(`invalid ${what}: not an IPv${pool.family} address (subnet ${pool.subnet})`);
  }
  const ip = formatIp(p.value, p.family);
  if (!pool.ranges.some((r) => contains(r.cidr, p.value))) {
    const subnets = [...new Set(pool.ranges.map((r) => r.subnet))];
    throw new InvalidInputError(`invalid ${what}: ${ip} is outside the subnet${subnets.length > 1 ? 's' : ''} ${subnets.join(', ')}`);
  }
  const reserved = reservedReason(pool, p.value);
  if (reserved !== undefined) {
    const sub = pool.ranges.find((r) => contains(r.cidr, p.value));
    throw new InvalidInputError(`invalid ${what}: ${ip} is ${reserved}${reserved.startsWith('outside') ? '' : ` of ${sub?.subnet ?? pool.subnet}`}`);
  }
  if (!b.tryLease(ip)) {
    const holder = b.holderOf(ip);
    throw new CtnetError(
      `address ${ip} is already in use on network "${pool.network}"${holder ? ` (by endpoint ${holder})` : ''}`,
      CODE.addrInUse);
  }
  if (positionOf(pool, p.value) < cursor) {
    b.removeFree(ip);
  }
  return { ip, cursor };
}

/**
 * Note that `ip` (already removed from the lease table by the caller) is free again.
 * Below the cursor it joins the free list; at or above, the cursor will reach it.
 */
export function noteReleased(pool: Pool, cursor: bigint, ip: string, b: LeaseBackend): void {
  const p = parseIp(ip);
  if (p.family !== pool.family || pool.gateways.has(p.value)) return;
  const pos = positionOf(pool, p.value);
  if (pos >= 0n && pos < cursor) {
    b.addFree(formatIp(p.value, p.family));
  }
}
