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
import { InvalidInputError } from '../model/errors.js';
import { formatIp, isIp, parseIp } from '../util/ip.js';
import { shown } from './kernel.js';
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
  if (typeof spec !== 'string' || spec.length === 0) fail(shown(spec), typeof spec === 'string' ? 'empty' : `expected a string, got ${typeof spec}`);
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
    if (!isIp(hostIp, 6)) fail(spec, `host address "${hostIp}" is not an IPv6 address`);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  if (parts.length === 3 && hostIp === undefined) {
    hostIp = parts.shift();
    if (hostIp === undefined || !isIp(hostIp, 4)) {
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

/** "[::1]" for an IPv6 address, the address itself otherwise. */
function bracketed(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

/**
 * The ONE formatter of a mapping: its spec text, the inverse of parsePortSpec (error
 * messages of every layer quote this).
 */
export function formatPortSpec(m: PortMapping): string {
  const ip = m.hostIp === undefined ? '' : `${bracketed(m.hostIp)}:`;
  const h = m.hostPortEnd === undefined ? `${m.hostPort}` : `${m.hostPort}-${m.hostPortEnd}`;
  const c = m.containerPortEnd === undefined ? `${m.containerPort}` : `${m.containerPort}-${m.containerPortEnd}`;
  return `${ip}${h}:${c}/${m.protocol}`;
}

/** One host port of a mapping: "[::1]:8080/tcp", "0.0.0.0:8080/tcp". */
export function formatHostPort(hostIp: string, port: number, protocol: string): string {
  return `${bracketed(hostIp)}:${port}/${protocol}`;
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
  if (m.protocol !== 'tcp' && m.protocol !== 'udp') fail(name, `protocol "${shown(m.protocol)}" is not tcp or udp`);
  for (const [k, v] of [['hostPort', m.hostPort], ['containerPort', m.containerPort]] as const) {
    if (!isPort(v)) fail(name, `${k} ${shown(v)} is not a port (1-65535)`);
  }
  for (const [k, v] of [['hostPortEnd', m.hostPortEnd], ['containerPortEnd', m.containerPortEnd]] as const) {
    if (v !== undefined && !isPort(v)) fail(name, `${k} ${shown(v)} is not a port (1-65535)`);
  }
  const hostEnd = m.hostPortEnd ?? m.hostPort;
  const ctrEnd = m.containerPortEnd ?? m.containerPort;
  if (hostEnd < m.hostPort) fail(name, `host port range ${m.hostPort}-${hostEnd} ends before it starts`);
  if (ctrEnd < m.containerPort) fail(name, `container port range ${m.containerPort}-${ctrEnd} ends before it starts`);
  if (hostEnd - m.hostPort !== ctrEnd - m.containerPort) {
    fail(name, `the host and container ranges differ in length (host range has ${hostEnd - m.hostPort + 1} port(s), container range has ${ctrEnd - m.containerPort + 1}): they must match`);
  }
  if (m.hostIp !== undefined && !isIp(m.hostIp)) {
    fail(name, `host address "${shown(m.hostIp)}" is not an IPv4 or IPv6 address (zone ids are not allowed)`);
  }
}

function safeSpec(m: PortMapping): string {
  try {
    return formatPortSpec(m);
  } catch {
    return shown(m);
  }
}

/** Number of ports a mapping publishes (1 for a single port). */
export function portCount(m: PortMapping): number {
  return (m.hostPortEnd ?? m.hostPort) - m.hostPort + 1;
}

/** The wildcard host address of each family: it overlaps every host address of its family. */
export const WILDCARD = { 4: '0.0.0.0', 6: '::' } as const;

/**
 * The ONE normaliser: validate a mapping (validatePortMapping's rules) and give it back in
 * canonical form, as the state keys it: hostIp canonical text (absent or "" → "0.0.0.0",
 * i.e. every IPv4 host address), range ends present only for real ranges.
 */
export function normalizeMapping(m: PortMapping): PortMapping {
  let given = m;
  if (m !== null && typeof m === 'object' && m.hostIp === '') {
    const { hostIp: _empty, ...rest } = m;
    given = rest;
  }
  validatePortMapping(given);
  const p = parseIp(given.hostIp ?? WILDCARD[4], 'host address');
  const out: { -readonly [K in keyof PortMapping]: PortMapping[K] } = {
    hostIp: formatIp(p.value, p.family), hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol,
  };
  const hostEnd = m.hostPortEnd ?? m.hostPort;
  if (hostEnd !== m.hostPort) { out.hostPortEnd = hostEnd; out.containerPortEnd = m.containerPortEnd ?? m.containerPort + hostEnd - m.hostPort; }
  return out;
}

/**
 * Specs parsed, objects validated (same rules), each given back as written (no canonical
 * form: an absent hostIp means "every address of each family the endpoint has" to the
 * firewall, where the state's canonical form says 0.0.0.0).
 */
export function normalizeMappings(items: ReadonlyArray<string | PortMapping>): PortMapping[] {
  if (!Array.isArray(items)) {
    throw new InvalidInputError(`invalid publish ${JSON.stringify(items)}: expected an array of port mappings (e.g. ['8080:80'])`);
  }
  return items.map((x) => {
    if (typeof x === 'string') return parsePortSpec(x);
    validatePortMapping(x);
    return x;
  });
}
