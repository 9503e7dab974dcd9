/**
 * topology/records.ts — mappers between the state's records and what topology hands out or
 * needs: the NetworkView plans read, NetworkInfo/EndpointInfo callers get, the endpoint the
 * firewall reads, and the parsing of an attach's routes.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "State model"). Pure functions: no I/O, no SQL.
 */
import { InvalidInputError } from '../model/errors.js';
import type { AttachOptions, EndpointInfo, NetworkInfo, PortMapping } from '../model/types.js';
import { parseCidr, broadcast as broadcastOf, formatIp, parseIp } from '../util/ip.js';
import { makePool, makeRangePool } from '../ipam/index.js';
import { normalizeMapping } from '../validate/ports.js';
import type { FirewallEndpoint } from '../firewall/index.js';
import type { EndpointRecord, NetworkRecord } from '../state/index.js';
import { rangeOf, type EndpointPlanInput, type NetworkView, type ViewRange } from './plans.js';

/** The view plans read, from a stored network (every range's prefix, gateway and broadcast derived once). */
export function networkView(n: NetworkRecord): NetworkView {
  const cached = VIEWS.get(n);
  if (cached !== undefined) return cached;
  const nets: ViewRange[] = [];
  for (const f of [4, 6] as const) {
    const mine = (n.ranges ?? []).filter((r) => parseCidr(r.subnet).family === f);
    const subnet = f === 4 ? n.subnet : n.subnet6;
    const gateway = f === 4 ? n.gateway : n.gateway6;
    const pool = mine.length > 0 ? makeRangePool(n.name, mine, f) : subnet !== undefined ? makePool(n.name, subnet, gateway, f) : undefined;
    for (const r of pool?.ranges ?? []) {
      const b = broadcastOf(r.cidr);
      nets.push({
        family: f, subnet: r.subnet, prefixLen: r.cidr.prefixLen, gateway: formatIp(r.gateway, f), lo: r.lo, hi: r.hi, cidr: r.cidr,
        ...(b !== undefined ? { broadcast: formatIp(b, 4) } : {}),
      });
    }
  }
  const first4 = nets.find((r) => r.family === 4);
  const first6 = nets.find((r) => r.family === 6);
  const view: NetworkView = {
    name: n.name, nets,
    ...(first4 !== undefined ? { subnet: first4.subnet, prefixLen: first4.prefixLen, gateway: first4.gateway } : {}),
    ...(first4?.broadcast !== undefined ? { broadcast: first4.broadcast } : {}),
    ...(first6 !== undefined ? { subnet6: first6.subnet, prefixLen6: first6.prefixLen, gateway6: first6.gateway } : {}),
    ...(n.ranges !== undefined ? { ranges: n.ranges } : {}),
    bridge: n.bridge, bridgeMac: n.bridgeMac, mtu: n.mtu, internal: n.internal, masquerade: n.masquerade,
    ...(n.gatewayOnBridge === false ? { gatewayOnBridge: false as const } : {}),
    ...(n.promisc === true ? { promisc: true as const } : {}),
    ...(n.blockHost === true ? { blockHost: true, allowHostPorts: n.allowHostPorts ?? [] } : {}),
  };
  VIEWS.set(n, view);
  return view;
}

/** Views already made, per stored record (a record is immutable; endpointInfo asks often). */
const VIEWS = new WeakMap<NetworkRecord, NetworkView>();

/** What the firewall reads of a stored endpoint. */
export function firewallEndpoint(rec: Pick<EndpointRecord, 'ip' | 'ip6'>): FirewallEndpoint {
  return { ip: rec.ip ?? '', ...(rec.ip6 !== undefined ? { ip6: rec.ip6 } : {}) };
}

/** A stored network as callers see it (without the spec it was created from). */
export function networkInfo(n: NetworkRecord): NetworkInfo {
  const { spec: _spec, ...info } = n;
  return info;
}

/** A stored endpoint as callers see it; `net` (its network) gives the prefix lengths and gateways. */
export function endpointInfo(rec: EndpointRecord, net: NetworkRecord | undefined): EndpointInfo {
  const v = net !== undefined ? networkView(net) : undefined;
  const r4 = v !== undefined && rec.ip !== undefined ? rangeOf(v, rec.ip) : undefined;
  const r6 = v !== undefined && rec.ip6 !== undefined ? rangeOf(v, rec.ip6) : undefined;
  const prefix = r4?.prefixLen ?? 0;
  const prefix6 = r6?.prefixLen ?? 0;
  return {
    id: rec.id, network: rec.network ?? '', mode: rec.mode, netns: rec.netns,
    ...(rec.netnsName !== undefined ? { netnsName: rec.netnsName } : {}),
    ownsNetns: rec.ownsNetns, ifname: rec.ifname, hostIfname: rec.hostIfname ?? '',
    address: rec.ip !== undefined ? `${rec.ip}/${prefix}` : '', ip: rec.ip ?? '', gateway: r4?.gateway ?? net?.gateway ?? '',
    ...(rec.ip6 !== undefined ? { address6: `${rec.ip6}/${prefix6}`, ip6: rec.ip6 } : {}),
    ...(r6 !== undefined ? { gateway6: r6.gateway } : {}),
    mac: rec.mac ?? '', ports: rec.ports, createdAt: rec.createdAt,
    ...(rec.containerId !== undefined ? { containerId: rec.containerId } : {}),
  };
}

/** Parse the extra routes of an attach. */
export function parseRoutes(routes: AttachOptions['routes']): EndpointPlanInput['routes'] {
  return (routes ?? []).map((r) => {
    const c = parseCidr(r.dst, 'route destination', { requireNetwork: true });
    if (r.via !== undefined && parseIp(r.via, 'route gateway').family !== c.family) {
      throw new InvalidInputError(`invalid route ${r.dst} via ${r.via}: gateway family differs from the destination's`);
    }
    return {
      dst: formatIp(c.network, c.family), dstLen: c.prefixLen, family: c.family,
      ...(r.via !== undefined ? { via: r.via } : r.viaGateway === true ? { viaGateway: true as const } : {}),
    };
  });
}

/** Identity of a published mapping (host address, protocol, host port range). */
export function portKey(m: PortMapping): string {
  const n = normalizeMapping(m);
  return `${n.hostIp ?? ''}|${n.protocol}|${n.hostPort}|${n.hostPortEnd ?? n.hostPort}`;
}

/** eth0, or the first ethN not taken by the netns's other endpoints. */
export function nextIfname(taken: readonly string[]): string {
  for (let i = 0; ; i++) if (!taken.includes(`eth${i}`)) return `eth${i}`;
}
