/**
 * rtnl/rtnl.ts — typed link/addr/route/sysctl primitives in iproute2 vocabulary, bound to a
 * Backend and a netns. Each public method's doc says the `ip …` command it equals.
 *
 * Layer: rtnl. Every call validates its input BEFORE any kernel work (InvalidInputError
 * naming the object); a kernel failure is a NetlinkError whose message names the objects:
 *   "create veth vethA→eth0 in netns0: EEXIST: RTNETLINK answers: File exists (RTM_NEWLINK)".
 * Each call is one plan = one crossing into the backend; to do several things in one
 * crossing (across netns too), use `batch()`.
 */
import type { Addr, Backend, Family, Link, LinkRef, NsRef, OpValue, Route, RtnlOp } from '../model/plan.js';
import { toNsRef } from '../validate/netns.js';
import { Batch } from './batch.js';
import * as ops from './ops.js';
import { checkLinkRef } from '../validate/kernel.js';

/** A veth peer; `ns` may be a netns name, path or pid:N as well as an NsRef. */
export type VethPeer = Omit<ops.VethPeerSpec, 'ns'> & { readonly ns?: NsRef | string | undefined };

/** Changes for `link.set`; `ns` may be a netns name/path as well as an NsRef. */
export type LinkChanges = Omit<ops.LinkSetSpec, 'ns'> & { readonly ns?: NsRef | string | undefined };

export class Rtnl {
  /** The netns every call of this handle works in. */
  readonly ns: NsRef;
  readonly link: LinkApi;
  readonly addr: AddrApi;
  readonly route: RouteApi;
  readonly sysctl: SysctlApi;

  /** `ns`: an NsRef, a netns name (/run/netns/NAME), an absolute nsfs path or pid:N. Default: this netns. */
  constructor(readonly backend: Backend, ns: NsRef | string = { self: true }) {
    this.ns = ops.checkNsRef(toNsRef(ns));
    this.link = new LinkApi(this);
    this.addr = new AddrApi(this);
    this.route = new RouteApi(this);
    this.sysctl = new SysctlApi(this);
  }

  /** The same backend, another netns. */
  at(ns: NsRef | string): Rtnl {
    return new Rtnl(this.backend, ns);
  }

  /** A plan builder on this backend: several steps, several netns, one crossing. */
  batch(opts: { readonly stopOnError?: boolean } = {}): Batch {
    return new Batch(this.backend, opts);
  }

  /**
   * Run validated ops in this netns in one step (one sendmsg for the native backend) and
   * return each op's value; the first failure is thrown with context.
   */
  async exec(list: readonly RtnlOp[]): Promise<OpValue[]> {
    const b = this.batch();
    const step = b.rtnl(this.ns, list);
    const res = await b.run();
    res.throwIfFailed();
    return list.map((_, i) => res.opValue(step, i));
  }

  /** @internal one op, its value */
  async one(op: RtnlOp): Promise<OpValue> {
    const [v] = await this.exec([op]);
    return v;
  }
}

class LinkApi {
  constructor(private readonly r: Rtnl) {}

  /** `ip link add NAME [index I] [address MAC] [mtu N] [master M] [up] type KIND …` */
  async add(spec: ops.LinkAddSpec): Promise<void> {
    await this.r.one(ops.linkAdd(spec));
  }

  /**
   * `ip link add NAME [opts] type veth peer name PEER [netns NS] [mtu N] [address MAC]`.
   * With `peer.ns` the peer is born inside that netns (no ~12 ms move). A peer cannot be
   * created UP (the kernel answers ENOTCONN): bring it up with `link.set` in its netns.
   */
  async addVeth(name: string, peer: VethPeer, opts: ops.LinkCommonSpec = {}): Promise<void> {
    const { ns, ...rest } = peer;
    await this.r.one(ops.vethAdd(name, { ...rest, ...(ns !== undefined ? { ns: toNsRef(ns) } : {}) }, opts));
  }

  /** `ip link add NAME [opts] type bridge [forward_delay FD] [stp_state S] [mcast_snooping M] [vlan_filtering V]` */
  async addBridge(name: string, opts: ops.LinkCommonSpec & { readonly bridge?: ops.BridgeSpec | undefined } = {}): Promise<void> {
    await this.r.one(ops.bridgeAdd(name, opts));
  }

  /** `ip link set dev LINK [up|down] [master M|nomaster] [netns NS] [mtu N] [name NEW] [address MAC] [alias A]` */
  async set(link: LinkRef, changes: LinkChanges): Promise<void> {
    const { ns, ...rest } = changes;
    await this.r.one(ops.linkSet(link, { ...rest, ...(ns !== undefined ? { ns: toNsRef(ns) } : {}) }));
  }

  /** `ip link del dev LINK` (a veth takes its peer with it; blocks ~30 ms in the kernel). */
  async del(link: LinkRef): Promise<void> {
    await this.r.one(ops.linkDel(link));
  }

  /** `ip -j -d link show dev LINK` — ENODEV NetlinkError when missing. */
  async get(link: LinkRef): Promise<Link> {
    return (await this.r.one(ops.linkGet(link))) as Link;
  }

  /** Like get, but undefined (not ENODEV) when the link does not exist. */
  async find(link: LinkRef): Promise<Link | undefined> {
    checkLinkRef(link);
    try {
      return await this.get(link);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENODEV') return undefined;
      throw e;
    }
  }

  /** `ip -j -d link show` */
  async list(): Promise<Link[]> {
    return [...((await this.r.one(ops.linkList())) as readonly Link[])];
  }
}

class AddrApi {
  constructor(private readonly r: Rtnl) {}

  /** `ip addr add ADDR/LEN [broadcast B] dev LINK` — IPv6 always with `nodad`. */
  async add(link: LinkRef, cidr: string, opts: ops.AddrSpec = {}): Promise<void> {
    await this.r.one(ops.addrAdd(link, cidr, opts));
  }

  /** `ip addr del ADDR/LEN dev LINK` */
  async del(link: LinkRef, cidr: string): Promise<void> {
    await this.r.one(ops.addrDel(link, cidr));
  }

  /** `ip -j [-4|-6] addr show [dev LINK]` */
  async list(opts: { readonly link?: LinkRef | undefined; readonly family?: Family | undefined } = {}): Promise<Addr[]> {
    return [...((await this.r.one(ops.addrList(opts))) as readonly Addr[])];
  }
}

class RouteApi {
  constructor(private readonly r: Rtnl) {}

  /** `ip route add DST|default [via GW] [dev LINK] [metric M] [table T] [onlink] [src S]` */
  async add(spec: ops.RouteSpec): Promise<void> {
    await this.r.one(ops.routeAdd(spec));
  }

  /** `ip route del DST|default [via GW] [dev LINK] [metric M] [table T]` */
  async del(spec: ops.RouteSpec): Promise<void> {
    await this.r.one(ops.routeDel(spec));
  }

  /** `ip -j [-4|-6] route show table T` — absent table: main (254); absent family: both. */
  async list(opts: { readonly family?: Family | undefined; readonly table?: number | undefined } = {}): Promise<Route[]> {
    return [...((await this.r.one(ops.routeList(opts))) as readonly Route[])];
  }
}

class SysctlApi {
  constructor(private readonly r: Rtnl) {}

  /** `sysctl -n KEY` in this netns (KEY like net/ipv4/ip_forward or net.ipv4.ip_forward). */
  async get(key: string): Promise<string> {
    const b = this.r.batch();
    const step = b.sysctl(this.r.ns, key);
    const res = await b.run();
    return (res.stepValue(step) ?? '').trim();
  }

  /** `sysctl -w KEY=VALUE` in this netns. */
  async set(key: string, value: string | number): Promise<void> {
    const b = this.r.batch();
    const step = b.sysctl(this.r.ns, key, String(value));
    const res = await b.run();
    res.stepValue(step);
  }
}

export type { LinkApi, AddrApi, RouteApi, SysctlApi };
