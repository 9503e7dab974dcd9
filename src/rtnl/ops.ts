/**
 * rtnl/ops.ts — validated builders for the contract's RtnlOps, in iproute2 vocabulary, and
 * the one-line descriptions ("create veth vethA→eth0 in netns0") errors are prefixed with.
 *
 * Layer: rtnl (pure: no I/O). Every builder validates its input and throws
 * InvalidInputError naming the object before anything reaches a backend; `checkOp` applies
 * the same checks to a hand-made op (the batch builder runs it on every op it is given).
 */
import { InvalidInputError } from '../model/errors.js';
import { runNetnsName } from '../validate/netns.js';
import { broadcast as broadcastOf, formatIp } from '../util/ip.js';
import type {
  AddrListOp, AddrOp, Family, LinkAddOp, LinkDelOp, LinkGetOp, LinkListOp, LinkRef, LinkSetOp, NsRef,
  RouteListOp, RouteOp, RtnlOp,
} from '../model/plan.js';
import {
  checkAddrCidr, checkAlias, checkIfname, checkIp, checkLinkRef, checkMac, checkMtu, checkRouteDst, checkUint,
} from '../validate/kernel.js';

/** Drop keys whose value is undefined (exactOptionalPropertyTypes-friendly object building). */
function compact<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

// ---- namespaces ---------------------------------------------------------------------------

export function checkNsRef(ns: unknown, what = 'netns'): NsRef {
  const o = ns as Record<string, unknown> | null;
  if (o !== null && typeof o === 'object') {
    if (o.self === true) return { self: true };
    if (typeof o.path === 'string') {
      if (!o.path.startsWith('/') || o.path.includes('\0')) {
        throw new InvalidInputError(`invalid ${what} path "${o.path}": expected an absolute path`);
      }
      return { path: o.path };
    }
    if (typeof o.slot === 'number' && Number.isInteger(o.slot) && o.slot >= 0) return { slot: o.slot };
    if (typeof o.fd === 'number' && Number.isInteger(o.fd) && o.fd >= 0) return { fd: o.fd };
  }
  throw new InvalidInputError(`invalid ${what}: expected {self:true}, {path}, {slot} or {fd}`);
}

/** How a netns is called in messages: "netns0" for /run/netns/netns0, "pid 42", or the path. */
export function nsLabel(ns: NsRef, slotPath?: (slot: number) => string | undefined): string {
  if ('self' in ns) return 'the current netns';
  if ('fd' in ns) return `netns fd ${ns.fd}`;
  const path = 'path' in ns ? ns.path : slotPath?.(ns.slot);
  if (path === undefined) return `the netns of step ${'slot' in ns ? ns.slot : '?'}`;
  const named = runNetnsName(path);
  if (named !== undefined) return named;
  const pid = /^\/proc\/(\d+)\/ns\/net$/.exec(path);
  if (pid?.[1] !== undefined) return `netns of pid ${pid[1]}`;
  return path;
}

// ---- links --------------------------------------------------------------------------------

export interface VethPeerSpec {
  readonly name: string;
  /** Where the peer is born (IFLA_NET_NS_FD inside VETH_INFO_PEER). Absent: beside the host end. */
  readonly ns?: NsRef | undefined;
  readonly index?: number | undefined;
  readonly mtu?: number | undefined;
  readonly mac?: string | undefined;
  readonly alias?: string | undefined;
  readonly noIpv6LinkLocal?: boolean | undefined;
}

export interface BridgeSpec {
  readonly forwardDelay?: number | undefined;
  readonly stp?: boolean | undefined;
  readonly mcastSnooping?: boolean | undefined;
  readonly vlanFiltering?: boolean | undefined;
}

/** Options common to every `ip link add`. */
export interface LinkCommonSpec {
  readonly index?: number | undefined;
  readonly mtu?: number | undefined;
  readonly mac?: string | undefined;
  readonly up?: boolean | undefined;
  readonly master?: LinkRef | undefined;
  readonly alias?: string | undefined;
  readonly txqlen?: number | undefined;
  readonly noIpv6LinkLocal?: boolean | undefined;
}

export interface LinkAddSpec extends LinkCommonSpec {
  readonly kind: 'veth' | 'bridge' | 'dummy';
  readonly name: string;
  readonly peer?: VethPeerSpec | undefined;
  readonly bridge?: BridgeSpec | undefined;
}

/** `ip link add NAME … type KIND …` as an op (validated). */
export function linkAdd(spec: LinkAddSpec): LinkAddOp {
  return checkOp({ op: 'linkAdd', ...compact<Omit<LinkAddOp, 'op'>>(spec as Omit<LinkAddOp, 'op'>) }) as LinkAddOp;
}

/** `ip link add NAME type veth peer name PEER [netns NS]` as an op (validated). */
export function vethAdd(name: string, peer: VethPeerSpec, opts: LinkCommonSpec = {}): LinkAddOp {
  return linkAdd({ ...opts, kind: 'veth', name, peer: compact<VethPeerSpec>(peer) });
}

/** `ip link add NAME type bridge [forward_delay …]` as an op (validated). */
export function bridgeAdd(name: string, opts: LinkCommonSpec & { readonly bridge?: BridgeSpec | undefined } = {}): LinkAddOp {
  return linkAdd({ ...opts, kind: 'bridge', name, ...(opts.bridge !== undefined ? { bridge: compact<BridgeSpec>(opts.bridge) } : {}) });
}

export interface LinkSetSpec {
  readonly up?: boolean | undefined;
  /** A bridge, or null / 0 for `nomaster`. */
  readonly master?: LinkRef | null | undefined;
  /** `netns NS`: a move costs ~12 ms in the kernel — prefer creating the link in place. */
  readonly ns?: NsRef | undefined;
  readonly mtu?: number | undefined;
  readonly name?: string | undefined;
  readonly mac?: string | undefined;
  readonly alias?: string | undefined;
}

/** `ip link set dev LINK …` as an op (validated). */
export function linkSet(link: LinkRef, changes: LinkSetSpec): LinkSetOp {
  const { master, ...rest } = changes;
  return checkOp({
    op: 'linkSet', link,
    ...compact<Omit<LinkSetOp, 'op' | 'link' | 'master'>>(rest),
    ...(master === null ? { master: 0 } : master !== undefined ? { master } : {}),
  }) as LinkSetOp;
}

/** `ip link del dev LINK` */
export function linkDel(link: LinkRef): LinkDelOp { return checkOp({ op: 'linkDel', link }) as LinkDelOp; }
/** `ip -j link show dev LINK` */
export function linkGet(link: LinkRef): LinkGetOp { return checkOp({ op: 'linkGet', link }) as LinkGetOp; }
/** `ip -j link show` */
export function linkList(): LinkListOp { return { op: 'linkList' }; }

// ---- addresses ----------------------------------------------------------------------------

export interface AddrSpec {
  /** IPv4 only: `broadcast B`, or true for the subnet's last address (`broadcast +`). */
  readonly broadcast?: string | true | undefined;
}

function addrOp(kind: 'addrAdd' | 'addrDel', link: LinkRef, cidr: string, spec: AddrSpec): AddrOp {
  const c = checkAddrCidr(cidr, `address for ${typeof link === 'string' ? link : `ifindex ${link}`}`);
  let broadcast: string | undefined;
  if (spec.broadcast !== undefined) {
    if (c.family !== 4) throw new InvalidInputError(`invalid broadcast for IPv6 address ${cidr}: IPv6 has no broadcast`);
    if (spec.broadcast === true) {
      const last = broadcastOf(c);
      broadcast = last === undefined ? undefined : formatIp(last, 4);
    } else {
      broadcast = spec.broadcast;
    }
  }
  return checkOp(compact<AddrOp>({
    op: kind, link, family: c.family, local: formatIp(c.ip, c.family), prefixLen: c.prefixLen, broadcast,
    // IPv6 is always added nodad: usable at once, no seconds of DAD (docs/ARCHITECTURE.md, Kernel facts).
    nodad: kind === 'addrAdd' && c.family === 6 ? true : undefined,
  })) as AddrOp;
}

/** `ip addr add ADDR/LEN [broadcast B] [nodad] dev LINK` (IPv6: always nodad) */
export function addrAdd(link: LinkRef, cidr: string, spec: AddrSpec = {}): AddrOp { return addrOp('addrAdd', link, cidr, spec); }
/** `ip addr del ADDR/LEN dev LINK` */
export function addrDel(link: LinkRef, cidr: string): AddrOp { return addrOp('addrDel', link, cidr, {}); }
/** `ip -j [-4|-6] addr show [dev LINK]` */
export function addrList(opts: { readonly link?: LinkRef | undefined; readonly family?: Family | undefined } = {}): AddrListOp {
  return checkOp(compact<AddrListOp>({ op: 'addrList', link: opts.link, family: opts.family })) as AddrListOp;
}

// ---- routes -------------------------------------------------------------------------------

export interface RouteSpec {
  /** "NET/LEN", a bare address (host route), or "default" (also when absent). */
  readonly dst?: string | undefined;
  /** Gateway: `via GW`. */
  readonly via?: string | undefined;
  /** Output device: `dev LINK`. */
  readonly dev?: LinkRef | undefined;
  readonly metric?: number | undefined;
  /** Routing table number; absent: main (254). */
  readonly table?: number | undefined;
  /** `onlink`: the gateway is on the link even if no address says so. */
  readonly onlink?: boolean | undefined;
  /** Preferred source address: `src S`. */
  readonly src?: string | undefined;
  /** Needed only when nothing else tells (a default route with only a dev). Default 4. */
  readonly family?: Family | undefined;
}

function routeOp(kind: 'routeAdd' | 'routeDel', spec: RouteSpec): RouteOp {
  const hint = spec.family
    ?? (spec.via !== undefined && checkIp(spec.via, 'gateway') === 6 ? 6 : undefined)
    ?? (spec.src !== undefined && checkIp(spec.src, 'route source') === 6 ? 6 : undefined);
  const dst = checkRouteDst(spec.dst ?? 'default', 'route destination', spec.family);
  const family: Family = dst === 'default' ? (hint ?? 4) : dst.family;
  const dstText = dst === 'default' ? 'default' : `${formatIp(dst.network, family)}/${dst.prefixLen}`;
  if (spec.via !== undefined) checkIp(spec.via, `gateway of route ${dstText}`, family);
  if (spec.src !== undefined) checkIp(spec.src, `source of route ${dstText}`, family);
  if (spec.via === undefined && spec.dev === undefined) {
    throw new InvalidInputError(`invalid route ${dstText}: needs a gateway (via) or a device (dev)`);
  }
  if (spec.onlink === true && spec.via === undefined) {
    throw new InvalidInputError(`invalid route ${dstText}: onlink needs a gateway (via)`);
  }
  return checkOp(compact<RouteOp>({
    op: kind, family,
    dst: dst === 'default' || dst.prefixLen === 0 ? undefined : formatIp(dst.network, family),
    dstLen: dst === 'default' || dst.prefixLen === 0 ? undefined : dst.prefixLen,
    gateway: spec.via, link: spec.dev, metric: spec.metric, table: spec.table,
    onlink: spec.onlink === true ? true : undefined, src: spec.src,
  })) as RouteOp;
}

/** `ip route add DST|default [via GW] [dev LINK] [metric M] [table T] [onlink] [src S]` */
export function routeAdd(spec: RouteSpec): RouteOp { return routeOp('routeAdd', spec); }
/** `ip route del DST|default [via GW] [dev LINK] [metric M] [table T]` */
export function routeDel(spec: RouteSpec): RouteOp { return routeOp('routeDel', spec); }
/** `ip -j [-4|-6] route show table T` (absent: main; no family: both) */
export function routeList(opts: { readonly family?: Family | undefined; readonly table?: number | undefined } = {}): RouteListOp {
  return checkOp(compact<RouteListOp>({ op: 'routeList', family: opts.family, table: opts.table })) as RouteListOp;
}

// ---- checking any op ----------------------------------------------------------------------

function checkFamily(f: unknown, what: string): Family {
  if (f !== 4 && f !== 6) throw new InvalidInputError(`invalid ${what} family ${String(f)}: expected 4 or 6`);
  return f;
}

function checkBool(v: unknown, what: string): void {
  if (v !== undefined && typeof v !== 'boolean') throw new InvalidInputError(`invalid ${what}: expected true or false`);
}

/** Validate any RtnlOp (hand-made or built here); returns it unchanged or throws InvalidInputError. */
export function checkOp(op: RtnlOp): RtnlOp {
  switch (op.op) {
    case 'linkAdd': {
      if (op.kind !== 'veth' && op.kind !== 'bridge' && op.kind !== 'dummy') {
        throw new InvalidInputError(`invalid link kind "${String(op.kind)}" for ${String(op.name)}: expected veth, bridge or dummy`);
      }
      const name = checkIfname(op.name, `${op.kind} name`);
      if (op.index !== undefined) checkUint(op.index, `ifindex of ${name}`, 0, 0x7fffffff);
      if (op.mtu !== undefined) checkMtu(op.mtu, `MTU of ${name}`);
      if (op.mac !== undefined) checkMac(op.mac, `MAC address of ${name}`);
      if (op.master !== undefined) checkLinkRef(op.master, `master of ${name}`);
      if (op.alias !== undefined) checkAlias(op.alias, `alias of ${name}`);
      if (op.txqlen !== undefined) checkUint(op.txqlen, `txqlen of ${name}`);
      checkBool(op.up, `up flag of ${name}`);
      checkBool(op.noIpv6LinkLocal, `noIpv6LinkLocal of ${name}`);
      if (op.peer !== undefined) {
        if (op.kind !== 'veth') throw new InvalidInputError(`invalid ${op.kind} ${name}: only a veth has a peer`);
        const p = op.peer;
        const peer = checkIfname(p.name, `veth peer name (of ${name})`);
        if (p.ns === undefined && peer === name) {
          throw new InvalidInputError(`invalid veth ${name}→${peer}: both ends would have the same name in one netns`);
        }
        if (p.ns !== undefined) checkNsRef(p.ns, `netns of veth peer ${peer}`);
        if (p.index !== undefined) checkUint(p.index, `ifindex of ${peer}`, 0, 0x7fffffff);
        if (p.mtu !== undefined) checkMtu(p.mtu, `MTU of ${peer}`);
        if (p.mac !== undefined) checkMac(p.mac, `MAC address of ${peer}`);
        if (p.alias !== undefined) checkAlias(p.alias, `alias of ${peer}`);
      } else if (op.kind === 'veth') {
        throw new InvalidInputError(`invalid veth ${name}: a veth needs a peer name`);
      }
      if (op.bridge !== undefined) {
        if (op.kind !== 'bridge') throw new InvalidInputError(`invalid ${op.kind} ${name}: bridge options on a ${op.kind}`);
        if (op.bridge.forwardDelay !== undefined) checkUint(op.bridge.forwardDelay, `forward delay of ${name}`);
      }
      return op;
    }
    case 'linkSet': {
      const l = checkLinkRef(op.link);
      if (op.master !== undefined && op.master !== 0) checkLinkRef(op.master, `master of ${l}`);
      if (op.ns !== undefined) checkNsRef(op.ns, `target netns of ${l}`);
      if (op.mtu !== undefined) checkMtu(op.mtu, `MTU of ${l}`);
      if (op.name !== undefined) checkIfname(op.name, `new name of ${l}`);
      if (op.mac !== undefined) checkMac(op.mac, `MAC address of ${l}`);
      if (op.alias !== undefined) checkAlias(op.alias, `alias of ${l}`);
      checkBool(op.up, `up flag of ${l}`);
      return op;
    }
    case 'linkDel':
    case 'linkGet':
      checkLinkRef(op.link);
      return op;
    case 'linkList':
      return op;
    case 'addrAdd':
    case 'addrDel': {
      const l = checkLinkRef(op.link);
      const f = checkFamily(op.family, `address of ${l}`);
      checkIp(op.local, `address of ${l}`, f);
      checkUint(op.prefixLen, `prefix length of ${op.local} on ${l}`, 0, f === 4 ? 32 : 128);
      if (op.broadcast !== undefined) checkIp(op.broadcast, `broadcast of ${op.local} on ${l}`, 4);
      return op;
    }
    case 'addrList':
      if (op.link !== undefined) checkLinkRef(op.link);
      if (op.family !== undefined) checkFamily(op.family, 'address list');
      return op;
    case 'routeAdd':
    case 'routeDel': {
      const f = checkFamily(op.family, 'route');
      if (op.dst !== undefined) {
        checkRouteDst(`${op.dst}/${op.dstLen ?? (f === 4 ? 32 : 128)}`, 'route destination', f);
      } else if (op.dstLen !== undefined && op.dstLen !== 0) {
        throw new InvalidInputError(`invalid route: a prefix length ${op.dstLen} without a destination`);
      }
      if (op.gateway !== undefined) checkIp(op.gateway, 'route gateway', f);
      if (op.src !== undefined) checkIp(op.src, 'route source', f);
      if (op.link !== undefined) checkLinkRef(op.link, 'route device');
      if (op.metric !== undefined) checkUint(op.metric, 'route metric');
      if (op.table !== undefined) checkUint(op.table, 'route table', 1);
      return op;
    }
    case 'routeList':
      if (op.family !== undefined) checkFamily(op.family, 'route list');
      if (op.table !== undefined) checkUint(op.table, 'route table', 1);
      return op;
    default:
      throw new InvalidInputError(`invalid rtnl op ${JSON.stringify((op as { op?: unknown }).op)}`);
  }
}

// ---- descriptions -------------------------------------------------------------------------

function ref(l: LinkRef): string {
  return typeof l === 'number' ? `ifindex ${l}` : l;
}

/**
 * What an op does, for error context: "create veth vethA→eth0 in netns0",
 * "add address 10.0.0.2/24 to eth0 in netns0". `where` is the op's netns label (omitted for
 * the current netns), `label` names other netns refs (peer / move target).
 */
export function describeOp(op: RtnlOp, where: NsRef, label: (ns: NsRef) => string = (ns) => nsLabel(ns)): string {
  const inWhere = 'self' in where ? '' : ` in ${label(where)}`;
  switch (op.op) {
    case 'linkAdd':
      if (op.kind === 'veth' && op.peer !== undefined) {
        const peerIn = op.peer.ns !== undefined ? ` in ${label(op.peer.ns)}` : inWhere;
        return `create veth ${op.name}→${op.peer.name}${peerIn}${op.peer.ns !== undefined && inWhere !== '' ? ` (host end${inWhere})` : ''}`;
      }
      return `create ${op.kind} ${op.name}${inWhere}`;
    case 'linkSet': {
      const parts: string[] = [];
      if (op.up !== undefined) parts.push(op.up ? 'up' : 'down');
      if (op.master !== undefined) parts.push(op.master === 0 ? 'nomaster' : `master ${ref(op.master)}`);
      if (op.ns !== undefined) parts.push(`netns ${label(op.ns)}`);
      if (op.mtu !== undefined) parts.push(`mtu ${op.mtu}`);
      if (op.name !== undefined) parts.push(`name ${op.name}`);
      if (op.mac !== undefined) parts.push(`address ${op.mac}`);
      if (op.alias !== undefined) parts.push('alias');
      return `set link ${ref(op.link)}${parts.length > 0 ? ` ${parts.join(' ')}` : ''}${inWhere}`;
    }
    case 'linkDel': return `delete link ${ref(op.link)}${inWhere}`;
    case 'linkGet': return `get link ${ref(op.link)}${inWhere}`;
    case 'linkList': return `list links${inWhere}`;
    case 'addrAdd': return `add address ${op.local}/${op.prefixLen} to ${ref(op.link)}${inWhere}`;
    case 'addrDel': return `delete address ${op.local}/${op.prefixLen} from ${ref(op.link)}${inWhere}`;
    case 'addrList': return `list addresses${op.link !== undefined ? ` of ${ref(op.link)}` : ''}${inWhere}`;
    case 'routeAdd':
    case 'routeDel': {
      const dst = op.dst === undefined ? 'default' : `${op.dst}/${op.dstLen ?? (op.family === 4 ? 32 : 128)}`;
      const via = op.gateway !== undefined ? ` via ${op.gateway}` : '';
      const dev = op.link !== undefined ? ` dev ${ref(op.link)}` : '';
      const table = op.table !== undefined ? ` table ${op.table}` : '';
      return `${op.op === 'routeAdd' ? 'add' : 'delete'} route ${dst}${via}${dev}${table}${inWhere}`;
    }
    case 'routeList': return `list routes${op.table !== undefined ? ` of table ${op.table}` : ''}${inWhere}`;
  }
}
