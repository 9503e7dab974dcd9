/**
 * firewall/native-elements.ts — set and map elements in the kernel's own encoding, for the
 * native backend to send over nfnetlink (model/plan.ts NftElemOp, native/nft_elems.h)
 * instead of handing libnftables the JSON batch: libnftables fetches its cache of the
 * ruleset before it touches an element (~0.35 ms a batch here), the messages alone take
 * microseconds (docs/ARCHITECTURE.md, "Firewall model" and "Kernel facts").
 *
 * Layer: firewall (pure functions). elements.ts builds every batch once, as JSON and, for
 * the sets and maps whose types are encoded here, as bytes from the same validated values;
 * the libnftables driver sends both in one step and the addon uses the bytes, every other
 * driver the JSON. A batch with any element not encoded here (a network's prefixes, which
 * are intervals) has no native form and goes as JSON alone.
 *
 * Encoding (nft's concatenations: each component zero-padded to a multiple of 4 bytes):
 *   ifname 16 · ether_addr 6+2 · ipv4_addr 4 · ipv6_addr 16 · inet_proto 1+3 · inet_service 2+2 (big endian)
 *   guard4  ifname . ether_addr . ipv4_addr                      = 28 bytes
 *   guard6  ifname . ether_addr . ipv6_addr                      = 40 bytes
 *   pub_any_addr / pub_any_port   inet_proto . inet_service     =  8 bytes → addr (4|16) / port (2)
 *   pub_ip_addr / pub_ip_port     addr . inet_proto . inet_service = 12|24 bytes → addr / port
 * A map's data is not padded (its length is the type's own: 4, 16, or 2 for inet_service).
 */
import type { NftElemOp } from '../model/plan.js';
import { parseIp } from '../util/ip.js';

/** A JSON element batch and, when it has one, its native form (the same elements). */
export interface ElementBatch {
  readonly json: string;
  readonly native?: readonly NftElemOp[];
}

const IFNAMSIZ = 16;
const PROTO: Readonly<Record<string, number>> = { tcp: 6, udp: 17, sctp: 132 };

/** One component of a concatenation (or a map's data): its bytes, unpadded. */
export type Part = Uint8Array;

/** An interface name (validated by the caller: 1..15 bytes, no NUL), zero-filled to IFNAMSIZ. */
export function ifnamePart(name: string): Part {
  const out = new Uint8Array(IFNAMSIZ);
  out.set(Buffer.from(name, 'utf8').subarray(0, IFNAMSIZ - 1));
  return out;
}

/** A MAC "aa:bb:cc:dd:ee:ff" (validated by the caller). */
export function macPart(mac: string): Part {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** An IPv4 or IPv6 address (validated by the caller), network byte order. */
export function ipPart(ip: string): Part {
  const { family, value } = parseIp(ip);
  const out = new Uint8Array(family === 4 ? 4 : 16);
  let v = value;
  for (let i = out.length - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/** tcp|udp|sctp as the IP protocol number. */
export function protoPart(proto: string): Part {
  const n = PROTO[proto];
  if (n === undefined) throw new Error(`no protocol number for ${proto}`);
  return Uint8Array.of(n);
}

/** A port, big endian. */
export function portPart(port: number): Part {
  return Uint8Array.of((port >> 8) & 0xff, port & 0xff);
}

/** A concatenation key: the parts, each zero-padded to a multiple of 4 bytes. */
export function concat(...parts: readonly Part[]): Uint8Array {
  const len = parts.reduce((n, p) => n + ((p.length + 3) & ~3), 0);
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += (p.length + 3) & ~3; }
  return out;
}
