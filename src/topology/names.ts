/**
 * topology/names.ts — the names and tags ctnet-fast gives what it creates, and validation
 * of the names users give it.
 *
 * Layer: topology (pure functions; no I/O).
 *
 * Ownership, so gc never touches what it did not make: a bridge carries the tag
 * "ctnet:br:NETWORK" in IFLA_IFALIAS, a host veth end "ctnet:ep:ID"; gc recognises a host
 * end by its name too: "ctv" + the store's random tag + a sequence number.
 * Host veth names come from a never-reused sequence: a deleted veth's name lingers in the
 * kernel for ~30 ms (DESIGN.md §3), so a name must not be reused right away.
 */
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../errors.js';

export const ALIAS_PREFIX = 'ctnet:';
export const bridgeAlias = (network: string): string => `${ALIAS_PREFIX}br:${network}`;
export const endpointAlias = (id: string): string => `${ALIAS_PREFIX}ep:${id}`;

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function validateNetworkName(name: string): void {
  if (!NETWORK_NAME.test(name)) {
    throw new InvalidInputError(`invalid network name "${name}": use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit`);
  }
}

/** Linux interface names: 1..15 bytes, no '/', ':' or whitespace, not "." or "..". */
export function validateIfname(name: string, what = 'interface name'): void {
  if (name.length === 0 || Buffer.byteLength(name) > 15) {
    throw new InvalidInputError(`invalid ${what} "${name}": must be 1-15 characters (Linux IFNAMSIZ)`);
  }
  if (/[/:\s]/.test(name) || name === '.' || name === '..') {
    throw new InvalidInputError(`invalid ${what} "${name}": must not contain '/', ':' or whitespace`);
  }
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function validateMac(mac: string, what = 'MAC address'): string {
  const m = mac.toLowerCase();
  if (!MAC.test(m)) throw new InvalidInputError(`invalid ${what} "${mac}": expected six hex pairs like 02:42:ac:12:00:02`);
  if ((parseInt(m.slice(0, 2), 16) & 1) === 1) throw new InvalidInputError(`invalid ${what} "${mac}": a multicast address cannot be an interface address`);
  return m;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Default bridge name for a network: "ctbr-" + 8 hex of its name's hash (≤ 15 chars). */
export function defaultBridgeName(network: string): string {
  return `ctbr-${hash(network).slice(0, 8)}`;
}

/** Stable, locally administered bridge MAC derived from the network name. */
export function bridgeMac(network: string): string {
  const h = hash(`bridge:${network}`);
  return `02:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}:${h.slice(6, 8)}:${h.slice(8, 10)}`;
}

/** Host-side veth name from a sequence number: "ctv" + base36 (fits 15 chars for 2^64). */
export function hostVethName(seq: number): string {
  return `ctv${seq.toString(36)}`;
}

/** Container MAC derived from its IPv4 address, Docker style: 02:42:a.b.c.d in hex. */
export function macFromIpv4(ip: string): string {
  return `02:42:${ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}`;
}
