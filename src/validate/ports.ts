/**
 * validate/ports.ts — Docker-style port publishing specs: parse, validate, format, expand.
 *
 * Layer: validate (pure functions, no I/O, no kernel knowledge beyond port numbers).
 * It must not build nftables JSON (rules.ts does) nor decide which host port is free
 * (the topology does).
 *
 * Spec grammar (as `docker run -p`), all parts but the ports optional:
 *   [hostIP:]hostPort[-hostEnd]:containerPort[-containerEnd][/tcp|/udp]
 *   IPv6 host addresses in brackets: "[::1]:8080:80".
 * A range maps port by port: 8000-8002:9000-9002 is 8000→9000, 8001→9001, 8002→9002,
 * so both ranges must have the same length. A random host port ("80", "127.0.0.1::80")
 * is not supported: the caller must choose the host port.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidInputError } from '../model/errors.js';
import type { PortMapping, Protocol } from '../model/types.js';

export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'] as const;

const PORT_RE = /^[0-9]{1,5}$/;

function fail(spec: string, why: string): never {
  throw new InvalidInputError(`invalid port mapping "${spec}": ${why}`);
}

function parsePort(spec: string, text: string, what: string): number {
  if (!PORT_RE.test(text)) fail(spec, `${what} "${text}" is not a port number (1-65535)`);
  const n = Number(text);
  if (n < 1 || n > 65535) fail(spec, `${what} ${n} is out of range (1-65535)`);
  return n;
}

function parseRange(spec: string, text: string, what: string): [number, number | undefined] {
  const dash = text.indexOf('-');
  if (dash < 0) return [parsePort(spec, text, what), undefined];
  return [parsePort(spec, text.slice(0, dash), what), parsePort(spec, text.slice(dash + 1), `${what} range end`)];
}

/**
 * Parse "[hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]" into a PortMapping
 * (protocol defaults to tcp). Throws InvalidInputError quoting the spec.
 */
export function parsePortSpec(spec: string): PortMapping {
  if (typeof spec !== 'string' || spec.length === 0) fail(String(spec), 'empty');
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp') fail(spec, `protocol "${p}" is not tcp or udp`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') fail(spec, 'expected [IPv6]:hostPort:containerPort');
    hostIp = rest.slice(1, close);
    if (!isIPv6(hostIp)) fail(spec, `host address "${hostIp}" is not an IPv6 address`);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  if (parts.length === 3 && hostIp === undefined) {
    hostIp = parts.shift();
    if (hostIp === undefined || !isIPv4(hostIp)) {
      fail(spec, `host address "${hostIp ?? ''}" is not an IPv4 address (write IPv6 addresses in brackets: [::1]:8080:80)`);
    }
  }
  if (parts.length !== 2) {
    fail(spec, parts.length === 1
      ? 'a host port is required: [hostIP:]hostPort:containerPort[/tcp|udp]'
      : 'expected [hostIP:]hostPort:containerPort[/tcp|udp] (IPv6 host addresses in brackets)');
  }
  const [hostText = '', ctrText = ''] = parts;
  if (hostText === '') fail(spec, 'a host port is required (random host ports are not supported)');
  const [hostPort, hostPortEnd] = parseRange(spec, hostText, 'host port');
  const [containerPort, containerPortEnd] = parseRange(spec, ctrText, 'container port');
  const m: PortMapping = {
    ...(hostIp !== undefined ? { hostIp } : {}),
    hostPort,
    ...(hostPortEnd !== undefined ? { hostPortEnd } : {}),
    containerPort,
    ...(containerPortEnd !== undefined ? { containerPortEnd } : {}),
    protocol,
  };
  validatePortMapping(m, spec);
  return m;
}

/** The spec text of a mapping, the inverse of parsePortSpec (used in error messages). */
export function formatPortSpec(m: PortMapping): string {
  const ip = m.hostIp === undefined ? '' : (m.hostIp.includes(':') ? `[${m.hostIp}]:` : `${m.hostIp}:`);
  const h = m.hostPortEnd === undefined ? `${m.hostPort}` : `${m.hostPort}-${m.hostPortEnd}`;
  const c = m.containerPortEnd === undefined ? `${m.containerPort}` : `${m.containerPort}-${m.containerPortEnd}`;
  return `${ip}${h}:${c}/${m.protocol}`;
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * Check a mapping given as an object (or parsed from `spec`): ports 1-65535, ranges
 * ordered and of equal length, tcp|udp, a host address that is an IP literal.
 */
export function validatePortMapping(m: PortMapping, spec?: string): void {
  const name = spec ?? safeSpec(m);
  if (m === null || typeof m !== 'object') fail(name, 'not an object');
  if (m.protocol !== 'tcp' && m.protocol !== 'udp') fail(name, `protocol "${String(m.protocol)}" is not tcp or udp`);
  for (const [k, v] of [['hostPort', m.hostPort], ['containerPort', m.containerPort]] as const) {
    if (!isPort(v)) fail(name, `${k} ${String(v)} is out of range (1-65535)`);
  }
  for (const [k, v] of [['hostPortEnd', m.hostPortEnd], ['containerPortEnd', m.containerPortEnd]] as const) {
    if (v !== undefined && !isPort(v)) fail(name, `${k} ${String(v)} is out of range (1-65535)`);
  }
  const hostEnd = m.hostPortEnd ?? m.hostPort;
  const ctrEnd = m.containerPortEnd ?? m.containerPort;
  if (hostEnd < m.hostPort) fail(name, `host port range ${m.hostPort}-${hostEnd} ends before it starts`);
  if (ctrEnd < m.containerPort) fail(name, `container port range ${m.containerPort}-${ctrEnd} ends before it starts`);
  if (hostEnd - m.hostPort !== ctrEnd - m.containerPort) {
    fail(name, `host range has ${hostEnd - m.hostPort + 1} port(s) but container range has ${ctrEnd - m.containerPort + 1}: they must match`);
  }
  if (m.hostIp !== undefined && !isIPv4(m.hostIp) && !isIPv6(m.hostIp)) {
    fail(name, `host address "${String(m.hostIp)}" is not an IPv4 or IPv6 address`);
  }
}

function safeSpec(m: PortMapping): string {
  try {
    return formatPortSpec(m);
  } catch {
    return String(m);
  }
}

/** Number of ports a mapping publishes (1 for a single port). */
export function portCount(m: PortMapping): number {
  return (m.hostPortEnd ?? m.hostPort) - m.hostPort + 1;
}

/** Accept specs or objects; validate; return objects (what the topology stores). */
export function normalizeMappings(items: ReadonlyArray<string | PortMapping>): PortMapping[] {
  return items.map((x) => {
    if (typeof x === 'string') return parsePortSpec(x);
    validatePortMapping(x);
    return x;
  });
}
