/**
 * validate/subnet.ts — may a bridge network use this subnet? Special ranges, and overlap with
 * the host's own addresses and routes.
 *
 * Layer: validate (pure: no I/O; docs/ARCHITECTURE.md "Layers", "Errors"). The topology layer
 * reads the host's addresses and routes and passes them in; nothing here asks the kernel.
 *
 * - checkNetworkSubnet(): the ranges no network may ever overlap (loopback, multicast,
 *   link-local, "this network", reserved, IPv4-mapped…): a bridge there would answer for
 *   addresses that are not ours to give (a /0 overlaps all of them). InvalidInputError.
 * - overlapsHost(): a subnet that holds one of the host's addresses would put a second owner of
 *   that address on the bridge (two ARP replies on the LAN), one that overlaps a host route
 *   would steal its traffic. Addresses are always refused; routes can be overridden
 *   (`--ignore-host-routes`, as Docker's). The default route and routes and addresses on our
 *   own bridges are not the host's. Error code EOVERLAP.
 */
import { CODE, CtnetError, InvalidInputError } from '../model/errors.js';
import { contains, networkText, overlaps, parseCidr, parseIp, type Cidr, type Family } from '../util/ip.js';
import type { Addr, Route } from '../model/plan.js';

interface Special { readonly cidr: Cidr; readonly why: string }

function special(list: ReadonlyArray<readonly [string, string]>): readonly Special[] {
  return list.map(([c, why]) => ({ cidr: parseCidr(c, 'special range', { requireNetwork: true }), why }));
}

/** Named first, so the error names the narrowest range (255.255.255.255 before 240.0.0.0/4). */
const SPECIAL_V4 = special([
  ['0.0.0.0/8', '"this network"; 0.0.0.0 means any address'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'the limited broadcast address'],
  ['240.0.0.0/4', 'reserved'],
]);

const SPECIAL_V6 = special([
  ['::/128', 'the unspecified address'],
  ['::1/128', 'loopback'],
  ['::ffff:0:0/96', 'IPv4-mapped addresses'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
]);

/** ::/8 is reserved (unspecified, loopback, IPv4-mapped/compatible) except these global prefixes (NAT64). */
const RESERVED_V6 = special([['::/8', 'reserved (IPv4-compatible, mapped, loopback)']])[0] as Special;
const RESERVED_V6_GLOBAL = special([['64:ff9b::/96', 'NAT64'], ['64:ff9b:1::/48', 'local NAT64']]);

function inside(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.prefixLen >= outer.prefixLen && contains(outer, inner.network);
}

/** The special range `c` overlaps, if any. */
export function specialRangeOf(c: Cidr): Special | undefined {
  const list = c.family === 4 ? SPECIAL_V4 : SPECIAL_V6;
  const hit = list.find((s) => overlaps(c, s.cidr));
  if (hit !== undefined) return hit;
  if (c.family === 6 && overlaps(c, RESERVED_V6.cidr) && !RESERVED_V6_GLOBAL.some((g) => inside(c, g.cidr))) return RESERVED_V6;
  return undefined;
}

/**
 * A network's subnet ("172.18.0.0/16", host bits clear, of `family`), refused with
 * InvalidInputError naming it when it is not a CIDR or overlaps a special range. Returns it parsed.
 */
export function checkNetworkSubnet(cidr: unknown, family: Family, what = family === 4 ? 'subnet' : 'subnet6'): Cidr {
  const c = parseCidr(cidr, what, { requireNetwork: true, family });
  const s = specialRangeOf(c);
  if (s !== undefined) {
    const all = c.prefixLen === 0 ? ' (a /0 is every address)' : '';
    throw new InvalidInputError(`invalid ${what} "${networkText(c)}": it overlaps ${networkText(s.cidr)}, ${s.why}${all}; a network may not use it`);
  }
  return c;
}

/** A host address as the addon's addrList gives it (index and label only name it in the error). */
export type HostAddr = Pick<Addr, 'local' | 'prefixLen'> & { readonly index?: number; readonly label?: string | undefined };
/** A host route as the addon's routeList gives it. */
export type HostRoute = Pick<Route, 'dstLen'> & Partial<Pick<Route, 'dst' | 'gateway' | 'oif' | 'table' | 'type'>>;

export interface OverlapOptions {
  /** Do not check routes (`--ignore-host-routes`); addresses are always checked. */
  readonly ignoreRoutes?: boolean;
  /** ifindexes of our own bridges: their addresses and routes are not the host's. */
  readonly ownLinks?: Iterable<number>;
  /** An interface name for an ifindex, to name it in the error. */
  readonly linkName?: (index: number) => string | undefined;
}

export interface HostOverlap {
  readonly kind: 'address' | 'route';
  /** the host address ("192.168.50.10/24") or route destination ("192.168.0.0/16") */
  readonly host: string;
  /** CtnetError with code EOVERLAP, naming the subnet, what it overlaps and (for routes) the override */
  readonly error: CtnetError;
}

const RTN_UNICAST = 1;
const RT_TABLE_LOCAL = 255;
/** The flag (CLI) and option (library) that skip the route check. */
export const IGNORE_HOST_ROUTES_FLAG = '--ignore-host-routes';
export const IGNORE_HOST_ROUTES_OPTION = 'ignoreHostRoutes';

/**
 * The first of the host's addresses that `cidr` contains, or else (unless `ignoreRoutes`) the
 * first host route `cidr` overlaps; undefined when it is clear. Skipped: the default route,
 * routes that are not unicast (local/broadcast entries repeat the addresses) or in the local
 * table, and addresses and routes on `ownLinks`. Entries that do not parse are skipped (they
 * come from the kernel, not the user). `cidr` is parsed with InvalidInputError on bad input.
 */
export function overlapsHost(
  cidr: string | Cidr, hostAddrs: readonly HostAddr[], hostRoutes: readonly HostRoute[], opts: OverlapOptions = {},
): HostOverlap | undefined {
  const c = isCidr(cidr) ? cidr : parseCidr(cidr, 'subnet', { requireNetwork: true });
  const own = new Set(opts.ownLinks ?? []);
  const dev = (index: number | undefined): string => {
    if (index === undefined) return '';
    return ` on ${opts.linkName?.(index) ?? `ifindex ${index}`}`;
  };
  const subject = `subnet ${networkText(c)}`;
  for (const a of hostAddrs) {
    if (a.index !== undefined && own.has(a.index)) continue;
    const ip = tryParseIp(a.local);
    if (ip === undefined || ip.family !== c.family || !contains(c, ip.value)) continue;
    const host = `${a.local}/${a.prefixLen}`;
    const on = a.label !== undefined ? ` on ${a.label}` : dev(a.index);
    return { kind: 'address', host, error: new CtnetError(`${subject} contains the host's own address ${host}${on}: the bridge would claim it too; choose another subnet`, CODE.overlap) };
  }
  if (opts.ignoreRoutes === true) return undefined;
  for (const r of hostRoutes) {
    if (r.dst === undefined || r.dstLen === 0) continue;
    if ((r.type !== undefined && r.type !== RTN_UNICAST) || r.table === RT_TABLE_LOCAL) continue;
    if (r.oif !== undefined && own.has(r.oif)) continue;
    const rc = tryParseCidr(`${r.dst}/${r.dstLen}`);
    if (rc === undefined || !overlaps(c, rc)) continue;
    const host = networkText(rc);
    const via = r.gateway !== undefined ? ` via ${r.gateway}` : '';
    return {
      kind: 'route', host,
      error: new CtnetError(`${subject} overlaps the host route ${host}${via}${dev(r.oif)}; choose another subnet, or pass ${IGNORE_HOST_ROUTES_FLAG} (${IGNORE_HOST_ROUTES_OPTION}: true) to use it anyway`, CODE.overlap),
    };
  }
  return undefined;
}

function isCidr(c: unknown): c is Cidr {
  const x = c as Partial<Cidr> | null;
  return typeof x === 'object' && x !== null && (x.family === 4 || x.family === 6) && typeof x.ip === 'bigint'
    && typeof x.network === 'bigint' && Number.isInteger(x.prefixLen);
}

function tryParseIp(ip: string): { family: Family; value: bigint } | undefined {
  try { return parseIp(ip); } catch { return undefined; }
}

function tryParseCidr(text: string): Cidr | undefined {
  try { return parseCidr(text, 'host route'); } catch { return undefined; }
}
