/**
 * util/ip.ts — IP address and CIDR arithmetic, IPv4 and IPv6, as bigints.
 *
 * Layer: util (no I/O, no kernel knowledge; docs/ARCHITECTURE.md "Layers"). Used by validate/,
 * ipam/ (allocation), firewall/ (rule elements) and topology/. Every parser here refuses bad
 * input (non-strings, zone ids, bad text) with InvalidInputError and never another error type
 * (test/unit/fuzz-ip.test.ts checks it with random input).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidInputError } from '../model/errors.js';

export type Family = 4 | 6;

export interface Cidr {
  readonly family: Family;
  /** the address as written (host bits may be set, e.g. "172.18.0.2/16") */
  readonly ip: bigint;
  readonly prefixLen: number;
  /** network address (host bits cleared) */
  readonly network: bigint;
}

const BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };

export function bits(family: Family): number {
  return BITS[family];
}

/** The zone id of a scoped IPv6 literal ("fe80::1%eth0" → "eth0"), undefined without one. */
function zoneOf(text: string): string | undefined {
  const at = text.indexOf('%');
  return at < 0 ? undefined : text.slice(at + 1);
}

/**
 * The family of an IP literal, undefined when `ip` is not one. Strict: a non-string or a
 * scoped literal with a zone id ("fe80::1%eth0") is not an address here.
 */
export function familyOf(ip: unknown): Family | undefined {
  if (typeof ip !== 'string' || ip.includes('%')) return undefined;
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip)) return 6;
  return undefined;
}

/** True for an IP literal (of `family` when given), never for a zone id. Use instead of node:net isIP*. */
export function isIp(ip: unknown, family?: Family): ip is string {
  const f = familyOf(ip);
  return f !== undefined && (family === undefined || f === family);
}

/**
 * Parse an IP literal to a bigint. Throws InvalidInputError naming `what` and the value for
 * anything else: a non-string, a zone id (refused, never dropped: "fe80::1%eth0" names an
 * interface we would not honour), or text that is not an address. Never another error type.
 */
export function parseIp(ip: unknown, what = 'address'): { family: Family; value: bigint } {
  if (typeof ip !== 'string') throw new InvalidInputError(`invalid ${what}: expected an IP address as a string, got ${typeof ip}`);
  const zone = zoneOf(ip);
  if (zone !== undefined) {
    throw new InvalidInputError(`invalid ${what} "${ip}": zone ids ("%${zone}") are not supported; give the address without it`);
  }
  if (isIPv4(ip)) {
    let v = 0n;
    for (const part of ip.split('.')) v = (v << 8n) | BigInt(Number(part));
    return { family: 4, value: v };
  }
  if (isIPv6(ip)) {
    const v = parseIpv6(ip);
    if (v !== undefined) return { family: 6, value: v };
  }
  throw new InvalidInputError(`invalid ${what} "${ip}": not an IPv4 or IPv6 address`);
}

/** The value of an IPv6 literal node:net accepted (no zone id); undefined if it does not add up. */
function parseIpv6(ip: string): bigint | undefined {
  let text = ip;
  // embedded IPv4 tail (::ffff:1.2.3.4)
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    if (!isIPv4(v4[1])) return undefined;
    const tail = parseIp(v4[1]).value;
    text = `${text.slice(0, -v4[1].length)}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`;
  }
  const double = text.includes('::');
  const [head = '', tail = ''] = text.split('::') as [string, string?];
  const h = head === '' ? [] : head.split(':');
  const t = double ? (tail === '' ? [] : tail.split(':')) : [];
  const fill = 8 - h.length - t.length;
  if (fill < 0 || (!double && fill !== 0)) return undefined;
  const groups = double ? [...h, ...Array<string>(fill).fill('0'), ...t] : h;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

export function formatIp(value: bigint, family: Family): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // compress the longest run of zero groups (RFC 5952)
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

/** The netmask of a prefix length as a bigint; InvalidInputError for a length outside 0..bits. */
export function mask(family: Family, prefixLen: number): bigint {
  const b = BITS[family];
  if (b === undefined || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > b) {
    throw new InvalidInputError(`invalid prefix length ${String(prefixLen)} for IPv${String(family)}`);
  }
  return ((1n << BigInt(b)) - 1n) ^ ((1n << BigInt(b - prefixLen)) - 1n);
}

/**
 * Parse "ADDR/LEN"; `requireNetwork` refuses host bits set (a subnet, not an interface address).
 * Throws InvalidInputError naming `what` and the text for any other input (a non-string, a
 * zone id, a bad address or length), never another error type.
 */
export function parseCidr(text: unknown, what = 'subnet', opts: { requireNetwork?: boolean; family?: Family } = {}): Cidr {
  if (typeof text !== 'string') throw new InvalidInputError(`invalid ${what}: expected ADDRESS/PREFIX as a string, got ${typeof text}`);
  const slash = text.indexOf('/');
  if (slash < 0) throw new InvalidInputError(`invalid ${what} "${text}": expected ADDRESS/PREFIX, e.g. 172.18.0.0/16`);
  const addr = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  const zone = zoneOf(addr);
  if (zone !== undefined) throw new InvalidInputError(`invalid ${what} "${text}": zone ids ("%${zone}") are not allowed in a CIDR`);
  const family = familyOf(addr);
  if (family === undefined) throw new InvalidInputError(`invalid ${what} "${text}": "${addr}" is not an IPv4 or IPv6 address`);
  const { value } = parseIp(addr, what);
  if (opts.family !== undefined && family !== opts.family) {
    throw new InvalidInputError(`invalid ${what} "${text}": expected an IPv${opts.family} CIDR`);
  }
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > BITS[family]) {
    throw new InvalidInputError(`invalid ${what} "${text}": prefix length must be 0..${BITS[family]}`);
  }
  const prefixLen = Number(lenText);
  const network = value & mask(family, prefixLen);
  if (opts.requireNetwork === true && network !== value) {
    throw new InvalidInputError(`invalid ${what} "${text}": host bits set (did you mean ${formatIp(network, family)}/${prefixLen}?)`);
  }
  return { family, ip: value, prefixLen, network };
}

export function formatCidr(c: { family: Family; prefixLen: number }, value: bigint): string {
  return `${formatIp(value, c.family)}/${c.prefixLen}`;
}

export function networkText(c: Cidr): string {
  return formatCidr(c, c.network);
}

/** Number of addresses in the prefix. */
export function size(c: Cidr): bigint {
  return 1n << BigInt(BITS[c.family] - c.prefixLen);
}

export function lastAddress(c: Cidr): bigint {
  return c.network + size(c) - 1n;
}

export function contains(c: Cidr, value: bigint): boolean {
  return value >= c.network && value <= lastAddress(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.network <= lastAddress(b) && b.network <= lastAddress(a);
}

/** Broadcast address of an IPv4 prefix (undefined for IPv6, /31 and /32). */
export function broadcast(c: Cidr): bigint | undefined {
  if (c.family !== 4 || c.prefixLen >= 31) return undefined;
  return lastAddress(c);
}
