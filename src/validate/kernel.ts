/**
 * validate/kernel.ts — input checks every rtnl/netns primitive runs BEFORE any kernel work.
 *
 * Layer: validate (pure: no I/O; docs/ARCHITECTURE.md "Layers", "Errors"). Each check throws
 * InvalidInputError naming the object, so a caller never gets a half-made state from input we
 * could have refused up front. For ANY input (any type) a check returns a valid value or throws
 * InvalidInputError, never another error type (test/unit/fuzz-validate.test.ts).
 */
import { InvalidInputError } from '../model/errors.js';
import { familyOf, parseCidr, parseIp, type Cidr, type Family } from '../util/ip.js';
import type { LinkRef } from '../model/plan.js';

/** IFNAMSIZ is 16 including the NUL: at most 15 bytes. */
export const IFNAME_MAX = 15;
export const MTU_MIN = 68;
export const MTU_MAX = 65535;
/** IFALIASZ is 256 including the NUL. */
export const ALIAS_MAX = 255;

/**
 * Any value as text for an error message: never throws (String() does, for an object without
 * a prototype or with a throwing toString), and cut to `max` characters.
 */
export function shown(value: unknown, max = 64): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : typeof value === 'object' && value !== null ? JSON.stringify(value) ?? typeof value : String(value);
  } catch {
    text = `(${typeof value})`;
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The kernel's isspace() (lib/ctype.c) on a name's bytes: \t \n \v \f \r, space and 0xA0. */
function hasKernelSpace(name: string): boolean {
  for (const b of Buffer.from(name, 'utf8')) if (b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0) return true;
  return false;
}

/**
 * An interface name as the kernel's dev_valid_name() accepts it: 1..15 bytes, not "." or
 * "..", no '/', ':' or whitespace (the kernel's isspace() also counts the byte 0xA0, which
 * UTF-8 letters such as "à" contain). No '%' either: the kernel takes a name with '%' as a
 * template ("eth%d" becomes eth0, eth1…), so no interface is ever called that and the name we
 * asked for would not be the one created. `what` names the object in the error ("veth peer name").
 */
export function checkIfname(name: unknown, what = 'interface name'): string {
  if (typeof name !== 'string') throw new InvalidInputError(`invalid ${what}: expected a string, got ${typeof name}`);
  if (name.length === 0) throw new InvalidInputError(`invalid ${what} "": must not be empty`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > IFNAME_MAX) {
    throw new InvalidInputError(`invalid ${what} "${name}": ${bytes} bytes, at most ${IFNAME_MAX} allowed (IFNAMSIZ)`);
  }
  if (name === '.' || name === '..') throw new InvalidInputError(`invalid ${what} "${name}": "." and ".." are not allowed`);
  // eslint-disable-next-line no-control-regex
  if (/[/:\s\u0000]/u.test(name) || hasKernelSpace(name)) {
    throw new InvalidInputError(`invalid ${what} "${name}": must not contain '/', ':', NUL or whitespace`);
  }
  if (name.includes('%')) {
    throw new InvalidInputError(`invalid ${what} "${name}": must not contain '%' (the kernel would take it as a template like "eth%d" and pick another name)`);
  }
  return name;
}

/** A link named by ifindex (positive integer) or by a valid name. */
export function checkLinkRef(link: unknown, what = 'link'): LinkRef {
  if (typeof link === 'number') {
    if (!Number.isInteger(link) || link <= 0 || link > 0x7fffffff) {
      throw new InvalidInputError(`invalid ${what} index ${shown(link)}: expected a positive integer`);
    }
    return link;
  }
  return checkIfname(link, what);
}

export function checkMtu(mtu: unknown, what = 'MTU'): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < MTU_MIN || mtu > MTU_MAX) {
    throw new InvalidInputError(`invalid ${what} ${shown(mtu)}: expected an integer in ${MTU_MIN}..${MTU_MAX}`);
  }
  return mtu;
}

/** "aa:bb:cc:dd:ee:ff" (any case; returned lower-case). Refuses multicast and all-zero. */
export function checkMac(mac: unknown, what = 'MAC address'): string {
  if (typeof mac !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    throw new InvalidInputError(`invalid ${what} "${shown(mac)}": expected six hex pairs like 02:42:ac:12:00:02`);
  }
  const lower = mac.toLowerCase();
  if (lower === '00:00:00:00:00:00') throw new InvalidInputError(`invalid ${what} "${mac}": all-zero address`);
  if ((parseInt(lower.slice(0, 2), 16) & 1) === 1) {
    throw new InvalidInputError(`invalid ${what} "${mac}": a multicast address cannot name an interface`);
  }
  return lower;
}

export function checkAlias(alias: unknown, what = 'alias'): string {
  if (typeof alias !== 'string') throw new InvalidInputError(`invalid ${what}: expected a string`);
  const bytes = Buffer.byteLength(alias, 'utf8');
  if (bytes > ALIAS_MAX) throw new InvalidInputError(`invalid ${what} "${alias.slice(0, 20)}…": ${bytes} bytes, at most ${ALIAS_MAX}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000\n]/u.test(alias)) throw new InvalidInputError(`invalid ${what}: must not contain NUL or newline`);
  return alias;
}

/** An unsigned integer in [min, max]. */
export function checkUint(value: unknown, what: string, min = 0, max = 0xffffffff): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidInputError(`invalid ${what} ${shown(value)}: expected an integer in ${min}..${max}`);
  }
  return value;
}

/** An IP literal of the expected family (when given). Returns its family. */
export function checkIp(ip: unknown, what: string, family?: Family): Family {
  const f = parseIp(ip, what).family;
  if (family !== undefined && f !== family) {
    throw new InvalidInputError(`invalid ${what} "${ip}": an IPv${f} address where IPv${family} is expected`);
  }
  return f;
}

/** An interface address "ADDR/LEN" (host bits allowed). */
export function checkAddrCidr(text: unknown, what = 'address', family?: Family): Cidr {
  return parseCidr(text, what, family === undefined ? {} : { family });
}

/** A route destination "NET/LEN" (host bits must be clear, as the kernel requires) or "default". */
export function checkRouteDst(text: unknown, what = 'route destination', family?: Family): Cidr | 'default' {
  if (text === 'default') return 'default';
  if (typeof text !== 'string') throw new InvalidInputError(`invalid ${what}: expected NET/PREFIX or "default"`);
  // A bare address is a host route (/32 or /128), as `ip route add 10.0.0.1 …` means.
  const withLen = text.includes('/') ? text : `${text}/${familyOf(text) === 6 ? 128 : 32}`;
  return parseCidr(withLen, what, family === undefined ? { requireNetwork: true } : { requireNetwork: true, family });
}

/**
 * A sysctl key, returned in the contract's slash form: "net/ipv4/ip_forward" is kept as is
 * (so interface names with dots stay intact), "net.ipv4.ip_forward" becomes slashes.
 * Refuses "", a leading '/', NUL, and "." / ".." / empty components.
 */
export function checkSysctlKey(key: unknown): string {
  if (typeof key !== 'string') throw new InvalidInputError('invalid sysctl key: expected a string like net/ipv4/ip_forward');
  const slash = key.includes('/') ? key : key.replaceAll('.', '/');
  if (key === '' || key.startsWith('/') || key.includes('\0') || slash.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new InvalidInputError(`invalid sysctl key "${key}": expected e.g. net/ipv4/ip_forward`);
  }
  return slash;
}
