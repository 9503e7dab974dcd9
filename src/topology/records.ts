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
import { normalizeMapping } from '../validate/ports.js';
import type { FirewallEndpoint } from '../firewall/index.js';
import type { EndpointRecord, NetworkRecord } from '../state/index.js';
import type { EndpointPlanInput, NetworkView } from './plans.js';

/** The view plans read, from a stored network (prefix lengths and broadcast derived once). */
export function networkView(n: NetworkRecord): NetworkView {
  const c = parseCidr(n.subnet);
  const b = broadcastOf(c);
  const c6 = n.subnet6 !== undefined ? parseCidr(n.subnet6) : undefined;
  return {
    name: n.name, subnet: n.subnet, prefixLen: c.prefixLen, gateway: n.gateway,
    ...(b !== undefined ? { broadcast: formatIp(b, 4) } : {}),
    ...(n.subnet6 !== undefined && c6 !== undefined && n.gateway6 !== undefined
      ? { subnet6: n.subnet6, prefixLen6: c6.prefixLen, gateway6: n.gateway6 } : {}),
    bridge: n.bridge, bridgeMac: n.bridgeMac, mtu: n.mtu, internal: n.internal, masquerade: n.masquerade,
    ...(n.blockHost === true ? { blockHost: true, allowHostPorts: n.allowHostPorts ?? [] } : {}),
  };
}

/** What the firewall reads of a stored endpoint. */
export function firewallEndpoint(rec: Pick<EndpointRecord, 'ip' | 'ip6'>): FirewallEndpoint {
  return { ip: rec.ip ?? '0.0.0.0', ...(rec.ip6 !== undefined ? { ip6: rec.ip6 } : {}) };
}

/** A stored network as callers see it (without the spec it was created from). */
export function networkInfo(n: NetworkRecord): NetworkInfo {
  const { spec: _spec, ...info } = n;
  return info;
}

/** A stored endpoint as callers see it; `net` (its network) gives the prefix lengths and gateways. */
export function endpointInfo(rec: EndpointRecord, net: NetworkRecord | undefined): EndpointInfo {
  const prefix = net !== undefined ? parseCidr(net.subnet).prefixLen : 0;
  const prefix6 = net?.subnet6 !== undefined ? parseCidr(net.subnet6).prefixLen : 0;
  return {
    id: rec.id, network: rec.network ?? '', mode: rec.mode, netns: rec.netns,
    ...(rec.netnsName !== undefined ? { netnsName: rec.netnsName } : {}),
    ownsNetns: rec.ownsNetns, ifname: rec.ifname, hostIfname: rec.hostIfname ?? '',
    address: rec.ip !== undefined ? `${rec.ip}/${prefix}` : '', ip: rec.ip ?? '', gateway: net?.gateway ?? '',
    ...(rec.ip6 !== undefined ? { address6: `${rec.ip6}/${prefix6}`, ip6: rec.ip6 } : {}),
    ...(net?.gateway6 !== undefined && rec.ip6 !== undefined ? { gateway6: net.gateway6 } : {}),
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
    return { dst: formatIp(c.network, c.family), dstLen: c.prefixLen, family: c.family, ...(r.via !== undefined ? { via: r.via } : {}) };
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
