/**
 * backend/iproute2/decode.ts — map `ip -j` JSON into the contract's Link / Addr / Route shapes,
 * with the same field meanings as the native decoder (numbers where the kernel has numbers).
 *
 * Layer: backend (iproute2) (pure: no I/O).
 *
 * iproute2 prints names where the kernel has numbers; we undo that:
 *  - link flags: the "flags" array → ifi_flags. iproute2 hides IFF_RUNNING and prints
 *    "NO-CARRIER" for UP-but-not-RUNNING, so RUNNING = UP && !NO-CARRIER ("M-DOWN" is not a flag).
 *  - master / same-netns veth peer: printed as names → ifindex through the link list.
 *  - address flags: printed as booleans; IFA_F_PERMANENT is printed inverted ("dynamic").
 *  - routes are listed with `-N -d` so type/protocol/scope/table come as numbers.
 */
import type { Addr, Family, Link, Route } from '../../model/plan.js';

/** net/if.h IFF_* */
export const IFF = {
  UP: 0x1, BROADCAST: 0x2, DEBUG: 0x4, LOOPBACK: 0x8, POINTOPOINT: 0x10, NOTRAILERS: 0x20,
  RUNNING: 0x40, NOARP: 0x80, PROMISC: 0x100, ALLMULTI: 0x200, MASTER: 0x400, SLAVE: 0x800,
  MULTICAST: 0x1000, PORTSEL: 0x2000, AUTOMEDIA: 0x4000, DYNAMIC: 0x8000, LOWER_UP: 0x10000,
  DORMANT: 0x20000, ECHO: 0x40000,
} as const;

/** linux/if_addr.h IFA_F_* by iproute2's printed name */
export const IFA_F: Readonly<Record<string, number>> = {
  secondary: 0x01, temporary: 0x01, nodad: 0x02, optimistic: 0x04, dadfailed: 0x08, home: 0x10,
  deprecated: 0x20, tentative: 0x40, permanent: 0x80, mngtmpaddr: 0x100, noprefixroute: 0x200,
  autojoin: 0x400, 'stable-privacy': 0x800,
};

/** RTNH_F_* / RTM_F_* by iproute2's printed name */
export const RT_FLAGS: Readonly<Record<string, number>> = {
  dead: 0x1, pervasive: 0x2, onlink: 0x4, offload: 0x8, linkdown: 0x10, unresolved: 0x20, trap: 0x40,
  notify: 0x100, rt_offload: 0x4000, rt_trap: 0x8000, rt_offload_failed: 0x20000000,
};

/** rt_scope names iproute2 prints (without -N) → numbers */
const SCOPES: Readonly<Record<string, number>> = { global: 0, universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };
const PROTOCOLS: Readonly<Record<string, number>> = {
  unspec: 0, redirect: 1, kernel: 2, boot: 3, static: 4, gated: 8, ra: 9, mrt: 10, zebra: 11, bird: 12,
  dnrouted: 13, xorp: 14, ntk: 15, dhcp: 16, keepalived: 18, babel: 42, bgp: 186, isis: 187, ospf: 188, rip: 189, eigrp: 192,
};
const TYPES: Readonly<Record<string, number>> = {
  unspec: 0, unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7,
  prohibit: 8, throw: 9, nat: 10, xresolve: 11,
};
const TABLES: Readonly<Record<string, number>> = { unspec: 0, default: 253, main: 254, local: 255 };

type Json = Record<string, unknown>;

function num(v: unknown, names: Readonly<Record<string, number>>, dflt: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return Number(v);
    const n = names[v];
    if (n !== undefined) return n;
  }
  return dflt;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** ifi_flags from iproute2's flag names. */
export function linkFlagsFromNames(names: readonly string[]): number {
  let flags = 0;
  for (const n of names) {
    const bit = (IFF as Readonly<Record<string, number>>)[n];
    if (bit !== undefined) flags |= bit;
  }
  if ((flags & IFF.UP) !== 0 && !names.includes('NO-CARRIER')) flags |= IFF.RUNNING;
  return flags;
}

/** "if123" is how iproute2 prints an ifindex it cannot name. */
function indexOfName(name: string, byName: ReadonlyMap<string, number>): number | undefined {
  const known = byName.get(name);
  if (known !== undefined) return known;
  const m = /^if(\d+)$/.exec(name);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** Name → ifindex map of a `ip -j link show` array. */
export function nameIndex(raw: readonly unknown[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of raw) {
    const o = r as Json;
    if (typeof o.ifname === 'string' && typeof o.ifindex === 'number') m.set(o.ifname, o.ifindex);
  }
  return m;
}

/** One element of `ip -d -j link show` → Link. `byName` resolves master / peer names. */
export function decodeLink(raw: unknown, byName: ReadonlyMap<string, number>): Link {
  const o = raw as Json;
  const flagNames = Array.isArray(o.flags) ? o.flags.filter((f): f is string => typeof f === 'string') : [];
  const flags = linkFlagsFromNames(flagNames);
  const info = o.linkinfo as Json | undefined;
  const kind = str(info?.info_kind);
  const mac = str(o.address);
  const masterName = str(o.master);
  const master = masterName !== undefined ? indexOfName(masterName, byName) : undefined;
  const alias = str(o.ifalias);
  let link: number | undefined;
  if (typeof o.link_index === 'number') link = o.link_index;
  else if (typeof o.link === 'string') link = indexOfName(o.link, byName);
  else if (o.link === null) link = 0;
  const linkNetnsId = typeof o.link_netnsid === 'number' ? o.link_netnsid : undefined;
  const txqlen = typeof o.txqlen === 'number' ? o.txqlen : undefined;
  return {
    index: Number(o.ifindex),
    name: String(o.ifname),
    ...(kind !== undefined ? { kind } : {}),
    mtu: Number(o.mtu),
    ...(mac !== undefined ? { mac } : {}),
    up: (flags & IFF.UP) !== 0,
    operState: str(o.operstate) ?? 'UNKNOWN',
    flags,
    ...(master !== undefined ? { master } : {}),
    ...(alias !== undefined ? { alias } : {}),
    ...(link !== undefined ? { link } : {}),
    ...(linkNetnsId !== undefined ? { linkNetnsId } : {}),
    ...(txqlen !== undefined ? { txqlen } : {}),
  };
}

export function decodeLinks(raw: readonly unknown[], byName: ReadonlyMap<string, number> = nameIndex(raw)): Link[] {
  return raw.map((r) => decodeLink(r, byName));
}

/**
 * `ip -j [-N] addr show` (links with addr_info) → flat Addr list (inet and inet6 only), in
 * the kernel's dump order: every IPv4 address (by link), then every IPv6 address — iproute2
 * groups them by link instead.
 */
export function decodeAddrs(raw: readonly unknown[]): Addr[] {
  const out: Addr[] = [];
  for (const l of raw) {
    const link = l as Json;
    const infos = Array.isArray(link.addr_info) ? link.addr_info : [];
    for (const a of infos as Json[]) {
      const family: Family | undefined = a.family === 'inet' ? 4 : a.family === 'inet6' ? 6 : undefined;
      if (family === undefined || typeof a.local !== 'string') continue;
      let flags = a.dynamic === true ? 0 : IFA_F.permanent ?? 0x80;
      for (const [name, bit] of Object.entries(IFA_F)) if (name !== 'permanent' && a[name] === true) flags |= bit;
      const label = str(a.label);
      const broadcast = str(a.broadcast);
      out.push({
        index: Number(link.ifindex),
        family,
        local: a.local,
        prefixLen: Number(a.prefixlen),
        scope: num(a.scope, SCOPES, 0),
        flags,
        ...(label !== undefined ? { label } : {}),
        ...(broadcast !== undefined ? { broadcast } : {}),
      });
    }
  }
  return [...out.filter((a) => a.family === 4), ...out.filter((a) => a.family === 6)];
}

/**
 * `ip -j -N -d [-4|-6] route show [table T]` → Route list. `byName` resolves "dev" names to
 * oif. iproute2 does not print the table it was asked to filter on: `table` fills it in.
 */
export function decodeRoutes(raw: readonly unknown[], family: Family, byName: ReadonlyMap<string, number>, table = 254): Route[] {
  const out: Route[] = [];
  for (const r of raw as Json[]) {
    const d = str(r.dst) ?? 'default';
    let dst: string | undefined;
    let dstLen = 0;
    if (d !== 'default') {
      const slash = d.indexOf('/');
      dst = slash < 0 ? d : d.slice(0, slash);
      dstLen = slash < 0 ? (family === 4 ? 32 : 128) : Number(d.slice(slash + 1));
    }
    const gateway = str(r.gateway);
    const devName = str(r.dev);
    const oif = devName !== undefined ? indexOfName(devName, byName) : undefined;
    const prefsrc = str(r.prefsrc);
    let flags = 0;
    if (Array.isArray(r.flags)) for (const f of r.flags) if (typeof f === 'string') flags |= RT_FLAGS[f] ?? 0;
    out.push({
      family,
      ...(dst !== undefined ? { dst } : {}),
      dstLen,
      ...(gateway !== undefined ? { gateway } : {}),
      ...(oif !== undefined ? { oif } : {}),
      table: num(r.table, TABLES, table),
      ...(typeof r.metric === 'number' ? { metric: r.metric } : {}),
      protocol: num(r.protocol, PROTOCOLS, 3),
      scope: num(r.scope, SCOPES, 0),
      type: num(r.type, TYPES, 1),
      ...(prefsrc !== undefined ? { prefsrc } : {}),
      flags,
    });
  }
  return out;
}
