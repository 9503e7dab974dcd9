/**
 * state/ports.ts — published-port mappings as the store keeps them: validation,
 * expansion of ranges into one row per host port, and coalescing rows back into mappings.
 *
 * Layer: state (pure helpers; store.ts does the SQL). Parsing "8080:80/tcp" strings is the
 * front doors' / topology's job; this takes PortMapping objects.
 */
import { InvalidInputError } from '../model/errors.js';
import { formatIp, parseIp } from '../util/ip.js';
import type { PortMapping, Protocol } from '../model/types.js';

/** One published host port: the primary key is (hostIp, protocol, hostPort). */
export interface PortRow {
  readonly hostIp: string;
  readonly protocol: Protocol;
  readonly hostPort: number;
  readonly containerPort: number;
  /** first host port of the mapping this row came from (to give ranges back as given) */
  readonly rangeStart: number;
}

/** The wildcard host address of each family: it overlaps every host address of its family. */
export const WILDCARD = { 4: '0.0.0.0', 6: '::' } as const;

function checkPort(n: number | undefined, what: string, m: PortMapping): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new InvalidInputError(`invalid port mapping ${describeMapping(m)}: ${what} ${String(n)} is not a port (1-65535)`);
  }
  return n;
}

/**
 * Validate a mapping and give it back normalized: hostIp canonical (absent → "0.0.0.0",
 * i.e. every IPv4 host address), ends present only for real ranges.
 */
export function normalizeMapping(m: PortMapping): PortMapping {
  if (m.protocol !== 'tcp' && m.protocol !== 'udp') {
    throw new InvalidInputError(`invalid port mapping ${describeMapping(m)}: protocol must be tcp or udp`);
  }
  const hostPort = checkPort(m.hostPort, 'host port', m) ?? 0;
  const containerPort = checkPort(m.containerPort, 'container port', m) ?? 0;
  const hostEnd = checkPort(m.hostPortEnd, 'host port range end', m) ?? hostPort;
  const containerEnd = checkPort(m.containerPortEnd, 'container port range end', m) ?? containerPort;
  if (hostEnd < hostPort || containerEnd < containerPort) {
    throw new InvalidInputError(`invalid port mapping ${describeMapping(m)}: a range ends before it starts`);
  }
  if (hostEnd - hostPort !== containerEnd - containerPort) {
    throw new InvalidInputError(`invalid port mapping ${describeMapping(m)}: the host and container ranges differ in length`);
  }
  const ip = m.hostIp === undefined || m.hostIp === '' ? WILDCARD[4] : m.hostIp;
  const p = parseIp(ip, `host address of port mapping ${describeMapping(m)}`);
  const out: { -readonly [K in keyof PortMapping]: PortMapping[K] } = {
    hostIp: formatIp(p.value, p.family), hostPort, containerPort, protocol: m.protocol,
  };
  if (hostEnd !== hostPort) { out.hostPortEnd = hostEnd; out.containerPortEnd = containerEnd; }
  return out;
}

/** One row per host port of a normalized mapping. */
export function expandMapping(m: PortMapping): PortRow[] {
  const rows: PortRow[] = [];
  const end = m.hostPortEnd ?? m.hostPort;
  for (let i = 0; m.hostPort + i <= end; i++) {
    rows.push({ hostIp: m.hostIp ?? WILDCARD[4], protocol: m.protocol, hostPort: m.hostPort + i, containerPort: m.containerPort + i, rangeStart: m.hostPort });
  }
  return rows;
}

/** Rows (of one endpoint) back to mappings, ranges as they were published. */
export function coalesceRows(rows: readonly PortRow[]): PortMapping[] {
  const sorted = [...rows].sort((a, b) =>
    a.hostIp < b.hostIp ? -1 : a.hostIp > b.hostIp ? 1
      : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : a.hostPort - b.hostPort);
  const out: Array<{ hostIp: string; protocol: Protocol; hostPort: number; containerPort: number; last: number; lastC: number; rangeStart: number }> = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev.hostIp === r.hostIp && prev.protocol === r.protocol && prev.rangeStart === r.rangeStart &&
        r.hostPort === prev.last + 1 && r.containerPort === prev.lastC + 1) {
      prev.last = r.hostPort; prev.lastC = r.containerPort;
    } else {
      out.push({ hostIp: r.hostIp, protocol: r.protocol, hostPort: r.hostPort, containerPort: r.containerPort, last: r.hostPort, lastC: r.containerPort, rangeStart: r.rangeStart });
    }
  }
  return out.map((g) => g.last === g.hostPort
    ? { hostIp: g.hostIp, hostPort: g.hostPort, containerPort: g.containerPort, protocol: g.protocol }
    : { hostIp: g.hostIp, hostPort: g.hostPort, hostPortEnd: g.last, containerPort: g.containerPort, containerPortEnd: g.lastC, protocol: g.protocol });
}

/** "[::1]:8080/tcp", "0.0.0.0:8080/tcp" */
export function describeHostPort(hostIp: string, port: number, protocol: string): string {
  return `${hostIp.includes(':') ? `[${hostIp}]` : hostIp}:${port}/${protocol}`;
}

function describeMapping(m: PortMapping): string {
  const host = m.hostPortEnd !== undefined ? `${m.hostPort}-${m.hostPortEnd}` : String(m.hostPort);
  const cont = m.containerPortEnd !== undefined ? `${m.containerPort}-${m.containerPortEnd}` : String(m.containerPort);
  return `"${m.hostIp ? `${m.hostIp}:` : ''}${host}:${cont}/${String(m.protocol)}"`;
}
