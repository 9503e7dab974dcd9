/**
 * cli/format.ts — human renderings of the library's result types (NetworkInfo,
 * EndpointInfo, PortMapping, GcReport). JSON output prints those objects as they are.
 *
 * Layer: CLI front door. Pure functions.
 */
import type { EndpointInfo, NetworkInfo, PortMapping } from '../model/types.js';
import { formatFields } from './output.js';
import type { Output } from './output.js';

export function portText(m: PortMapping): string {
  const range = (a: number, b: number | undefined): string => (b !== undefined && b !== a ? `${a}-${b}` : `${a}`);
  const hostIp = m.hostIp === undefined ? '' : m.hostIp.includes(':') ? `[${m.hostIp}]:` : `${m.hostIp}:`;
  return `${hostIp}${range(m.hostPort, m.hostPortEnd)}->${range(m.containerPort, m.containerPortEnd)}/${m.protocol}`;
}

export function portsText(ports: readonly PortMapping[]): string {
  return ports.length === 0 ? '-' : ports.map(portText).join(',');
}

function flags(n: NetworkInfo): string {
  const f: string[] = [];
  if (n.internal) f.push('internal');
  else if (!n.masquerade) f.push('no-masquerade');
  if (n.subnet6 !== undefined) f.push('ipv6');
  return f.length === 0 ? '-' : f.join(',');
}

export function networksTable(out: Output, nets: readonly NetworkInfo[]): string {
  return out.table(
    ['NAME', 'SUBNET', 'GATEWAY', 'BRIDGE', 'MTU', 'ENDPOINTS', 'FLAGS'],
    nets.map((n) => [
      n.name, [n.subnet, n.subnet6].filter((x) => x !== undefined).join(' '), [n.gateway, n.gateway6].filter((x) => x !== undefined).join(' '),
      n.bridge, String(n.mtu), String(n.endpoints), flags(n),
    ]),
  );
}

export function networkFields(n: NetworkInfo): string {
  const rows: Array<[string, string]> = [
    ['Name', n.name],
  ];
  if (n.subnet !== undefined) rows.push(['Subnet', n.subnet], ['Gateway', n.gateway ?? '']);
  if (n.subnet6 !== undefined) rows.push(['Subnet6', n.subnet6]);
  if (n.gateway6 !== undefined) rows.push(['Gateway6', n.gateway6]);
  rows.push(
    ['Bridge', `${n.bridge} (${n.bridgeMac})`], ['MTU', String(n.mtu)],
    ['Internal', n.internal ? 'yes' : 'no'], ['Masquerade', n.masquerade ? 'yes' : 'no'],
    ['Endpoints', String(n.endpoints)], ['Created', n.createdAt],
  );
  return formatFields(rows);
}

export function netnsLabel(e: EndpointInfo): string {
  return e.netnsName ?? e.netns;
}

export function endpointsTable(out: Output, eps: readonly EndpointInfo[], withNetwork = true): string {
  const headers = ['NETNS', ...(withNetwork ? ['NETWORK'] : []), 'MODE', 'IFNAME', 'ADDRESS', 'MAC', 'HOST IF', 'PORTS'];
  return out.table(headers, eps.map((e) => [
    netnsLabel(e), ...(withNetwork ? [e.network] : []), e.mode, e.ifname,
    e.address === '' ? '-' : e.address + (e.address6 !== undefined ? ` ${e.address6}` : ''),
    e.mac === '' ? '-' : e.mac, e.hostIfname === '' ? '-' : e.hostIfname, portsText(e.ports),
  ]));
}
