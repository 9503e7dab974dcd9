/**
 * topology/plans.ts — the kernel work of a network, an attach and a detach, as plans.
 *
 * Layer: topology. Pure functions from records to labelled plan steps: no I/O here, so the
 * exact kernel work of each operation is unit-tested (test/unit/topology-plans.test.ts).
 *
 * An attach is ONE plan (one crossing into native):
 *   [netnsCreate | netnsOpen]  container netns → slot 0
 *   rtnl @host:  RTM_NEWLINK veth HOST→IFNAME, peer born inside slot 0 (IFLA_NET_NS_FD),
 *                host end UP and mastered to the bridge in the same message
 *   rtnl @slot0: lo up, IFNAME up (the peer cannot be born UP: ENOTCONN), address, routes
 *   firewall:    the endpoint's anti-spoofing element and its published ports (set/map
 *                elements, one nft transaction), when the firewall driver rides in plans
 *                (firewall/driver.ts; otherwise it applies them after)
 * Moving a link between namespaces (~12 ms) and deleting a veth (~30 ms) never happen here.
 */
import type { NsRef, RtnlOp, Family, NetnsIdentity } from '../model/plan.js';
import type { Labelled } from '../backend/result.js';
import type { NetworkInfo } from '../model/types.js';
import { contains, lastAddress, parseCidr, parseIp, type Cidr } from '../util/ip.js';
import { rtnlStep } from '../backend/result.js';
import { bridgeAlias, endpointAlias } from '../model/names.js';
import { requiredSysctls } from '../firewall/ruleset.js';

/**
 * The one view of a network inside topology: its stored settings (NetworkInfo's fields)
 * plus the prefix lengths and broadcast they imply (records.ts `networkView` makes it).
 */
export interface NetworkView extends Pick<NetworkInfo,
  'name' | 'subnet' | 'subnet6' | 'gateway' | 'gateway6' | 'bridge' | 'bridgeMac' | 'mtu' | 'internal' | 'masquerade'
  | 'blockHost' | 'allowHostPorts' | 'ranges' | 'gatewayOnBridge' | 'promisc'> {
  /** the first IPv4 range's (absent on an IPv6-only network) */
  readonly prefixLen?: number;
  readonly broadcast?: string;
  readonly prefixLen6?: number;
  /**
   * every address range of both families, in order (records.ts networkView fills it); absent:
   * the subnet and subnet6 with their gateways, whole (a view built by hand)
   */
  readonly nets?: readonly ViewRange[];
}

/** One address range of a network as plans need it: its subnet's prefix, gateway, broadcast, and bounds. */
export interface ViewRange {
  readonly family: Family;
  readonly subnet: string;
  readonly cidr: Cidr;
  readonly prefixLen: number;
  readonly gateway: string;
  readonly broadcast?: string;
  /** the addresses handed out from it: [lo, hi] */
  readonly lo: bigint;
  readonly hi: bigint;
}

/** The view's ranges: `nets`, or its subnet/subnet6 with their gateways (whole). */
function netsOf(net: NetworkView): readonly ViewRange[] {
  if (net.nets !== undefined) return net.nets;
  const out: ViewRange[] = [];
  for (const [subnet, gateway, broadcast] of [[net.subnet, net.gateway, net.broadcast], [net.subnet6, net.gateway6, undefined]] as const) {
    if (subnet === undefined || gateway === undefined) continue;
    const c = parseCidr(subnet);
    out.push({ family: c.family, subnet, cidr: c, prefixLen: c.prefixLen, gateway, lo: c.network, hi: lastAddress(c), ...(broadcast !== undefined ? { broadcast } : {}) });
  }
  return out;
}

/** An extra route inside the container: via an address, via the gateway of the container's range, or on-link. */
export type PlanRoute = {
  readonly dst: string;
  readonly dstLen: number;
  readonly family: Family;
  readonly via?: string;
  readonly viaGateway?: true;
};

/** The gateway of a route (`via`, or with viaGateway the gateway of the range of the endpoint's address of its family). */
export function routeVia(net: NetworkView, ep: { readonly ip?: string | undefined; readonly ip6?: string | undefined }, r: PlanRoute): string | undefined {
  if (r.via !== undefined || r.viaGateway !== true) return r.via;
  const ip = r.family === 6 ? ep.ip6 : ep.ip;
  return ip !== undefined ? rangeOf(net, ip)?.gateway : undefined;
}

/** The range a container address came from (by its bounds, else by its subnet), if any. */
export function rangeOf(net: NetworkView, ip: string): ViewRange | undefined {
  const p = parseIp(ip);
  const nets = netsOf(net);
  return nets.find((r) => r.family === p.family && p.value >= r.lo && p.value <= r.hi)
    ?? nets.find((r) => r.family === p.family && contains(r.cidr, p.value));
}

/** The addresses the bridge carries: each range's gateway with its prefix, once; none without gatewayOnBridge. */
export function bridgeAddrOps(net: NetworkView, link: number | string): Array<RtnlOp & { op: 'addrAdd' }> {
  if (net.gatewayOnBridge === false) return [];
  const out: Array<RtnlOp & { op: 'addrAdd' }> = [];
  for (const r of netsOf(net)) {
    if (out.some((o) => o.local === r.gateway && o.prefixLen === r.prefixLen)) continue;
    out.push(r.family === 4
      ? { op: 'addrAdd', link, family: 4, local: r.gateway, prefixLen: r.prefixLen, ...(r.broadcast !== undefined ? { broadcast: r.broadcast } : {}) }
      : { op: 'addrAdd', link, family: 6, local: r.gateway, prefixLen: r.prefixLen, nodad: true });
  }
  return out;
}

/** The address op of a container address (`ip` of family `f`), with the prefix/broadcast of its range. */
export function containerAddrOp(net: NetworkView, link: number | string, ip: string): RtnlOp & { op: 'addrAdd' } {
  const r = rangeOf(net, ip);
  const f = r?.family ?? (ip.includes(':') ? 6 : 4);
  const prefixLen = r?.prefixLen ?? (f === 4 ? 32 : 128);
  return f === 4
    ? { op: 'addrAdd', link, family: 4, local: ip, prefixLen, ...(r?.broadcast !== undefined ? { broadcast: r.broadcast } : {}) }
    : { op: 'addrAdd', link, family: 6, local: ip, prefixLen, nodad: true };
}

export interface EndpointPlanInput {
  readonly id: string;
  readonly netnsPath: string;
  /** create the netns (we own it) or open an existing one */
  readonly createNetns: boolean;
  readonly ifname: string;
  readonly hostIfname: string;
  /** absent on an IPv6-only network */
  readonly ip?: string;
  readonly ip6?: string;
  readonly mac: string;
  /** add the default route(s) via the gateway of the address's range (false when the netns is already on another network) */
  readonly defaultRoute?: boolean;
  /** hairpin mode on the host port (default true) */
  readonly hairpin?: boolean;
  readonly routes: readonly PlanRoute[];
}

/**
 * The peer's ifindex inside a netns we just created: the kernel allocates ifindexes per netns,
 * lo takes 1, so the first device born there is 2 — which lets the in-netns ops skip a name
 * lookup. (Asking for it with the peer's ifi_index is ignored unless the host end asks for
 * an index too, so we rely on the allocation order instead.)
 */
export const FRESH_PEER_INDEX = 2;

/**
 * Create the bridge with its gateway address(es) (each range's, unless gatewayOnBridge is
 * false), up, quiet about IPv6 when IPv4-only;
 * tagged with the store's tag (`storeTag`: Store.ifnameTag) so gc knows whose it is.
 */
export function networkSteps(host: NsRef, net: NetworkView, storeTag: string): Labelled[] {
  const create: RtnlOp = {
    op: 'linkAdd', kind: 'bridge', name: net.bridge, mac: net.bridgeMac, mtu: net.mtu, up: true,
    alias: bridgeAlias(storeTag, net.name), noIpv6LinkLocal: net.subnet6 === undefined,
    // forward delay 0: ports forward at once (no STP on a container bridge)
    bridge: { forwardDelay: 0, stp: false },
  };
  const addrs: RtnlOp[] = [...bridgeAddrOps(net, net.bridge)];
  const labels = addrs.map((a) => 'local' in a ? `add ${a.local}/${a.prefixLen} to bridge ${net.bridge}` : '');
  if (net.promisc === true) { addrs.push({ op: 'linkSet', link: net.bridge, promisc: true }); labels.push(`put bridge ${net.bridge} in promiscuous mode`); }
  // Two steps, not one: the ops of one step are all sent, so an address op beside a create
  // that failed (EEXIST: an interface of someone else under that name) would name THEIR
  // interface. A failed create stops the plan before the addresses.
  const steps = [rtnlStep(host, [create], `create bridge ${net.bridge} for network ${net.name}`, [`create bridge ${net.bridge}`])];
  if (addrs.length > 0) steps.push(rtnlStep(host, addrs, `add the gateway address(es)${net.promisc === true ? ' and promiscuous mode' : ''} to bridge ${net.bridge}`, labels));
  return steps;
}

/** The sysctls the firewall's rules need for a network (firewall/rules.ts requiredSysctls), as steps in the host netns. */
export function networkSysctls(host: NsRef, net: NetworkView): Labelled[] {
  return requiredSysctls(net).map(({ key, value }) =>
    ({ step: { kind: 'sysctl', ns: host, key, value }, label: `set ${key.replaceAll('/', '.')}=${value}` }));
}

export function removeNetworkSteps(host: NsRef, net: NetworkView): Labelled[] {
  return [rtnlStep(host, [{ op: 'linkDel', link: net.bridge }], `delete bridge ${net.bridge}`)];
}

/**
 * One container's whole network as one plan. `firewall`: the firewall's steps for its
 * published ports (Firewall.contribute), run last, in the same crossing.
 */
export function attachSteps(host: NsRef, net: NetworkView, bridgeIndex: number | undefined, ep: EndpointPlanInput, firewall: readonly Labelled[] = []): Labelled[] {
  const container: NsRef = { slot: 0 };
  const peerLink = ep.createNetns ? FRESH_PEER_INDEX : ep.ifname;
  const quiet6 = ep.ip6 === undefined;
  // The host end: IPv6 link-local off (its addrconf work on "up" costs ~1 ms a port), tagged.
  // The kernel takes neither in a creating RTM_NEWLINK, so the backend sends them with the
  // "up" as a follow-up once the create is acknowledged (never blindly in the same batch: if
  // the create failed with EEXIST, a follow-up by name would change someone else's link).
  // The peer's addrgenmode goes into the container's batch below instead: no extra round trip.
  const hostOps: RtnlOp[] = [{
    op: 'linkAdd', kind: 'veth', name: ep.hostIfname, up: true, master: bridgeIndex ?? net.bridge, mtu: net.mtu,
    alias: endpointAlias(ep.id), noIpv6LinkLocal: quiet6,
    // a container reaching its own published port comes back through its own bridge port
    // (with br_netfilter the DNAT-ed packet is bridged back): hairpin mode, in the same follow-up
    ...(ep.hairpin === false ? {} : { hairpin: true }),
    peer: { name: ep.ifname, ns: container, mtu: net.mtu, mac: ep.mac },
  }];
  const hostLabels = [`create veth ${ep.hostIfname}→${ep.ifname} in ${ep.netnsPath} on bridge ${net.bridge}`];
  const steps: Labelled[] = [
    ep.createNetns
      ? { step: { kind: 'netnsCreate', path: ep.netnsPath }, label: `create netns ${ep.netnsPath}` }
      : { step: { kind: 'netnsOpen', path: ep.netnsPath }, label: `open netns ${ep.netnsPath}` },
    rtnlStep(host, hostOps, hostLabels[0] ?? '', hostLabels),
  ];
  const ops: RtnlOp[] = [{ op: 'linkSet', link: 'lo', up: true }];
  const labels = [`set lo up in ${ep.netnsPath}`];
  if (quiet6) {
    // IPv4-only: no link-local address on the container side, so no DAD/MLD/RS multicast
    // flooded to every port of the bridge. Its own op, before "up" (IFF_UP is applied first).
    ops.push({ op: 'linkSet', link: peerLink, noIpv6LinkLocal: true });
    labels.push(`set ${ep.ifname} addrgenmode none in ${ep.netnsPath}`);
  }
  ops.push({ op: 'linkSet', link: peerLink, up: true });
  labels.push(`set ${ep.ifname} up in ${ep.netnsPath}`);
  const gateways: Array<{ family: Family; gateway: string }> = [];
  for (const ip of [ep.ip, ep.ip6]) {
    if (ip === undefined) continue;
    const op = containerAddrOp(net, peerLink, ip);
    ops.push(op);
    labels.push(`add ${ip}/${op.prefixLen} to ${ep.ifname} in ${ep.netnsPath}`);
    const gw = rangeOf(net, ip)?.gateway;
    if (gw !== undefined) gateways.push({ family: op.family, gateway: gw });
  }
  // the default route via the gateway of the address's own range (on-link: its subnet)
  for (const g of ep.defaultRoute !== false ? gateways : []) {
    ops.push({ op: 'routeAdd', family: g.family, gateway: g.gateway, link: peerLink });
    labels.push(`add default ${g.family === 6 ? 'IPv6 ' : ''}route via ${g.gateway} in ${ep.netnsPath}`);
  }
  for (const r of ep.routes) {
    const via = routeVia(net, ep, r);
    ops.push({
      op: 'routeAdd', family: r.family, dst: r.dst, dstLen: r.dstLen, link: peerLink,
      ...(via !== undefined ? { gateway: via } : {}),
    });
    labels.push(`add route ${r.dst}/${r.dstLen}${via !== undefined ? ` via ${via}` : ''} in ${ep.netnsPath}`);
  }
  steps.push(rtnlStep(container, ops, `configure ${ep.ifname} in ${ep.netnsPath}`, labels));
  steps.push(...firewall);
  return steps;
}

/**
 * Undo an attach (also the rollback of a failed one). When we own the netns, unmounting it
 * is the whole job: the kernel reaps the netns and its veth asynchronously, so the caller
 * does not wait ~30 ms for the device unregister. Otherwise the host end must go (slow:
 * the caller decides whether to wait for it). `firewall`: the firewall's steps that
 * unpublish its ports (Firewall.contribute), run first.
 *
 * `hostIfname` (with an owned netns): the host end is also taken DOWN and OFF the bridge in
 * the same plan, before the unmount. If a process still holds the netns, the unmount does
 * not free it (docs/ARCHITECTURE.md, "Kernel facts"): its veth would stay on the bridge with
 * its address, and old flows would still be delivered to it. Down and masterless, it
 * reaches nothing; the kernel deletes it when the netns is finally freed.
 *
 * `netns`: the identity recorded at attach (topology/netns-identity.ts), passed to the
 * netnsDelete so that only that netns is unmounted.
 */
export function detachSteps(ep: { netnsPath: string; ownsNetns: boolean; host?: NsRef; hostIfname?: string; netns?: NetnsIdentity }, firewall: readonly Labelled[] = []): Labelled[] {
  const steps: Labelled[] = [...firewall];
  if (ep.ownsNetns && ep.host !== undefined && ep.hostIfname !== undefined) {
    steps.push(rtnlStep(ep.host, [{ op: 'linkSet', link: ep.hostIfname, up: false, master: 0 }], `take ${ep.hostIfname} down and off its bridge`));
  }
  // with the identity recorded at attach, only that netns (else ESTALE: a stranger's now)
  if (ep.ownsNetns) steps.push({ step: { kind: 'netnsDelete', path: ep.netnsPath, ...ep.netns }, label: `delete netns ${ep.netnsPath}` });
  return steps;
}

export function deleteHostVethSteps(host: NsRef, hostIfname: string | number): Labelled[] {
  return [rtnlStep(host, [{ op: 'linkDel', link: hostIfname }], `delete veth ${hostIfname}`)];
}

/**
 * gc: put a host veth (by ifindex) back on its bridge, up, in hairpin mode — as the attach
 * made it — after the bridge was re-created or the port was taken off. Hairpin is a bridge
 * port option, so it goes in a second message, once the link is a port.
 */
export function reattachPortSteps(host: NsRef, index: number, bridgeIndex: number, label: string): Labelled[] {
  return [rtnlStep(host, [
    { op: 'linkSet', link: index, master: bridgeIndex, up: true },
    { op: 'linkSet', link: index, hairpin: true },
  ], label)];
}

/** A namespace reference moved `base` slots on (a slot is a step index of the plan). */
function shiftNs(ns: NsRef, base: number): NsRef {
  return 'slot' in ns ? { slot: ns.slot + base } : ns;
}

/**
 * `steps`, built as a plan of their own (slot 0 = their first step), placed at step `base`
 * of a larger plan: every `{ slot: k }` becomes `{ slot: k + base }` (the steps' own ns, a
 * veth peer's ns, a link's move). Lets gc join the repairs of many endpoints into one plan.
 */
export function atSlot(steps: readonly Labelled[], base: number): Labelled[] {
  if (base === 0) return [...steps];
  return steps.map((l) => {
    const s = l.step;
    if (!('ns' in s)) return l;
    const ns = shiftNs(s.ns, base);
    if (s.kind !== 'rtnl') return { ...l, step: { ...s, ns } };
    const ops = s.ops.map((op): RtnlOp => {
      if (op.op === 'linkAdd' && op.peer?.ns !== undefined) return { ...op, peer: { ...op.peer, ns: shiftNs(op.peer.ns, base) } };
      if (op.op === 'linkSet' && op.ns !== undefined) return { ...op, ns: shiftNs(op.ns, base) };
      return op;
    });
    return { ...l, step: { ...s, ns, ops } };
  });
}
