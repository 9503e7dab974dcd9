/**
 * firewall/native-elements.ts — the anti-spoofing elements of an endpoint in the kernel's
 * own encoding, for the native backend to send over nfnetlink (model/plan.ts NftElemOp,
 * native/nft_elems.h) instead of handing libnftables the JSON batch: libnftables fetches
 * its cache of the ruleset before it touches an element (~0.5 ms an add, ~3 ms an
 * add+delete here), the messages alone take microseconds (docs/ARCHITECTURE.md, "Firewall
 * model" and "Kernel facts").
 *
 * Layer: firewall (pure functions). Every batch built here says exactly what the JSON
 * batch of elements.ts beside it says (same validation, `guardParts`); the libnftables
 * driver sends both in one step and the addon uses this form, every other driver the JSON.
 * Only the guard sets are encoded: published ports (maps of concatenations with ranges)
 * stay JSON, and a batch that mixes both is sent as JSON alone (one transaction).
 *
 * Key layout (nft's concatenations: each component zero-padded to 4 bytes):
 *   guard4  ifname (16) . ether_addr (6+2) . ipv4_addr (4)   = 28 bytes
 *   guard6  ifname (16) . ether_addr (6+2) . ipv6_addr (16)  = 40 bytes
 */
import type { NftElemOp } from '../model/plan.js';
import type { PortMapping } from '../model/types.js';
import { parseIp } from '../util/ip.js';
import { attachElements, guardParts, removeGuardElements, type GuardEndpoint } from './elements.js';
import { SET, TABLE, type RulesetOptions } from './ruleset.js';

/** A JSON element batch and, when it has one, its native form (the same elements). */
export interface ElementBatch {
  readonly json: string;
  readonly native?: readonly NftElemOp[];
}

const IFNAMSIZ = 16;

function ifnameBytes(name: string, out: Uint8Array, at: number): void {
  // validated by guardParts: 1..15 bytes, no NUL
  out.set(Buffer.from(name, 'utf8'), at);
}

function macBytes(mac: string, out: Uint8Array, at: number): void {
  const parts = mac.split(':');
  for (let i = 0; i < 6; i++) out[at + i] = parseInt(parts[i] ?? '', 16);
}

function ipBytes(ip: string, out: Uint8Array, at: number): void {
  const { family, value } = parseIp(ip);
  const n = family === 4 ? 4 : 16;
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    out[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** The guard4 or guard6 key of one endpoint. */
function guardKey(hostIfname: string, mac: string, ip: string, family: 4 | 6): Uint8Array {
  const key = new Uint8Array(IFNAMSIZ + 8 + (family === 4 ? 4 : 16));
  ifnameBytes(hostIfname, key, 0);
  macBytes(mac, key, IFNAMSIZ);
  ipBytes(ip, key, IFNAMSIZ + 8);
  return key;
}

/** The native form of an endpoint's guard elements (add, or exact idempotent delete). */
export function guardOps(ep: GuardEndpoint, opts: RulesetOptions, del: boolean): NftElemOp[] {
  const g = guardParts(ep, opts);
  const ops: NftElemOp[] = [];
  const one = (set: string, ip: string, family: 4 | 6): NftElemOp =>
    ({ family: 'bridge', table: TABLE, set, keys: [guardKey(g.hostIfname, g.mac, ip, family)], ...(del ? { del: true } : {}) });
  if (g.ip4 !== undefined) ops.push(one(SET.guard4, g.ip4, 4));
  if (g.ip6 !== undefined) ops.push(one(SET.guard6, g.ip6, 6));
  return ops;
}

/** What an attach adds (elements.ts attachElements), with the native form when it has no ports. */
export function attachBatch(ep: GuardEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions = {}): ElementBatch {
  const json = attachElements(ep, mappings, opts);
  return mappings.length > 0 ? { json } : { json, native: guardOps(ep, opts, false) };
}

/** What a detach removes of the guard (elements.ts removeGuardElements), with its native form. */
export function removeGuardBatch(ep: GuardEndpoint, opts: RulesetOptions = {}): ElementBatch {
  return { json: removeGuardElements(ep, opts), native: guardOps(ep, opts, true) };
}
