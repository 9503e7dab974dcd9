/**
 * cni/config.ts — the CNI network configuration and environment, parsed into what the
 * commands need: the reference `bridge` plugin's keys, host-local / static IPAM (served from
 * our own store) or a delegated IPAM type, runtimeConfig (portMappings, ips, mac), CNI_ARGS.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "Layers" and "CNI"). Pure: no I/O. Keys are read as Go's
 * encoding/json reads them: an exact match first, else the first key equal ignoring case
 * (containerd's CRI sends portMappings as HostPort/ContainerPort/Protocol/HostIP). Unknown
 * keys are ignored (SPEC.md). A bad value is a CniError code 7 naming the key's path.
 */
import type { PortMapping } from '../model/types.js';
import { familyOf, formatIp, parseCidr, parseIp, type Family } from '../util/ip.js';
import { CniError, ERR } from './errors.js';
import { makeRangePool } from '../ipam/index.js';

export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;

type Obj = Readonly<Record<string, unknown>>;

/** The value of `key` in `o` as Go's encoding/json finds it: exact, else case-insensitive. */
export function field(o: unknown, key: string): unknown {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const r = o as Obj;
  if (Object.hasOwn(r, key)) return r[key];
  const low = key.toLowerCase();
  for (const k of Object.keys(r)) if (k.toLowerCase() === low) return r[k];
  return undefined;
}

const bad = (path: string, why: string): CniError => new CniError(ERR.invalidConfig, `invalid network config: ${path}: ${why}`);

function str(o: unknown, key: string, path: string): string | undefined {
  const v = field(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(path, `expected a string, got ${JSON.stringify(v)}`);
  return v;
}
function bool(o: unknown, key: string, path: string): boolean {
  const v = field(o, key);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw bad(path, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}
function obj(o: unknown, key: string, path: string): Obj | undefined {
  const v = field(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(path, 'expected an object');
  return v as Obj;
}
function list(o: unknown, key: string, path: string): readonly unknown[] {
  const v = field(o, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(path, 'expected a list');
  return v;
}
function ipText(v: string, path: string, family?: Family): string {
  const f = familyOf(v);
  if (f === undefined || (family !== undefined && f !== family)) throw bad(path, `"${v}" is not an IPv${family ?? '4 or IPv6'} address`);
  const p = parseIp(v);
  return formatIp(p.value, p.family);
}

/** One address range of a family (host-local `ranges` entry, or `subnet`/`rangeStart`/…). */
export interface CniRange {
  readonly subnet: string;
  readonly family: Family;
  readonly gateway?: string;
  readonly rangeStart?: string;
  readonly rangeEnd?: string;
}
export interface CniRoute { readonly dst: string; readonly gw?: string }
export interface CniDns { readonly nameservers?: string[]; readonly domain?: string; readonly search?: string[]; readonly options?: string[] }

/** IPAM served from our store (host-local, static), or a plugin of CNI_PATH. */
export type CniIpam =
  | { readonly kind: 'native'; readonly type: 'host-local' | 'static'; readonly v4?: readonly CniRange[]; readonly v6?: readonly CniRange[]; readonly routes: readonly CniRoute[]; readonly dns?: CniDns; readonly addresses: readonly string[]; readonly resolvConf?: string }
  | { readonly kind: 'delegate'; readonly type: string };

export interface CniConfig {
  readonly cniVersion: string;
  readonly name: string;
  readonly bridge?: string;
  readonly isGateway: boolean;
  readonly isDefaultGateway: boolean;
  readonly ipMasq: boolean;
  readonly mtu?: number;
  readonly hairpinMode: boolean;
  readonly promiscMode: boolean;
  readonly ipam: CniIpam;
  readonly dns?: CniDns;
  /** requests: runtimeConfig / args.cni / top-level `mac` */
  readonly mac?: string;
  readonly ips: readonly string[];
  readonly portMappings: readonly PortMapping[];
  readonly prevResult?: Obj;
  readonly stateDir?: string;
  readonly validAttachments?: ReadonlyArray<{ readonly containerID: string; readonly ifname: string }>;
}

/** The document on stdin: JSON text → object (code 6 when it is not JSON, 7 without a name). */
export function decodeConfig(stdin: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(ERR.decode, `cannot decode the network config on stdin: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new CniError(ERR.decode, 'the network config on stdin is not a JSON object');
  return v as Obj;
}

/** cniVersion of the config: one we speak (code 1 otherwise). */
export function configVersion(raw: Obj): string {
  const v = field(raw, 'cniVersion');
  if (typeof v !== 'string' || v === '') throw bad('cniVersion', 'missing (expected one of ' + SUPPORTED_VERSIONS.join(', ') + ')');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new CniError(ERR.incompatibleVersion, `incompatible CNI version ${v}: this plugin supports ${SUPPORTED_VERSIONS.join(', ')}`, { details: `config cniVersion ${v}` });
  }
  return v;
}

function parseDns(o: unknown, path: string): CniDns | undefined {
  if (o === undefined || o === null) return undefined;
  if (typeof o !== 'object' || Array.isArray(o)) throw bad(path, 'expected an object');
  const strs = (k: string): string[] | undefined => {
    const l = list(o, k, `${path}.${k}`);
    if (l.length === 0) return undefined;
    return l.map((x, i) => { if (typeof x !== 'string') throw bad(`${path}.${k}[${i}]`, 'expected a string'); return x; });
  };
  const d: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] } = {};
  const ns = strs('nameservers'); if (ns) d.nameservers = ns;
  const dom = str(o, 'domain', `${path}.domain`); if (dom !== undefined && dom !== '') d.domain = dom;
  const s = strs('search'); if (s) d.search = s;
  const op = strs('options'); if (op) d.options = op;
  return Object.keys(d).length > 0 ? d : undefined;
}

function parseRange(r: unknown, path: string): CniRange {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw bad(path, 'expected an object with a subnet');
  const subnet = str(r, 'subnet', `${path}.subnet`);
  if (subnet === undefined) throw bad(`${path}.subnet`, 'missing');
  let c;
  try { c = parseCidr(subnet, 'subnet'); } catch { throw bad(`${path}.subnet`, `"${subnet}" is not a CIDR subnet`); }
  const family = c.family;
  const text = `${formatIp(c.network, family)}/${c.prefixLen}`;
  const out: { subnet: string; family: Family; gateway?: string; rangeStart?: string; rangeEnd?: string } = { subnet: text, family };
  for (const k of ['gateway', 'rangeStart', 'rangeEnd'] as const) {
    const v = str(r, k, `${path}.${k}`);
    if (v !== undefined && v !== '') out[k] = ipText(v, `${path}.${k}`, family);
  }
  return out;
}

function parseRoutes(ipam: unknown): CniRoute[] {
  return list(ipam, 'routes', 'ipam.routes').map((r, i) => {
    const dst = str(r, 'dst', `ipam.routes[${i}].dst`);
    if (dst === undefined) throw bad(`ipam.routes[${i}].dst`, 'missing');
    let c;
    try { c = parseCidr(dst, 'route'); } catch { throw bad(`ipam.routes[${i}].dst`, `"${dst}" is not a CIDR`); }
    const gw = str(r, 'gw', `ipam.routes[${i}].gw`);
    return { dst: `${formatIp(c.network, c.family)}/${c.prefixLen}`, ...(gw !== undefined && gw !== '' ? { gw: ipText(gw, `ipam.routes[${i}].gw`, c.family) } : {}) };
  });
}

/**
 * Ranges grouped by family: one range set per family (one address per family, as host-local
 * with one set per family), each set's ranges in order, possibly in different subnets with
 * their own gateways. Checked here as the library will (ipam makeRangePool), so a bad range
 * is code 7 naming its key in the config (`ipam.ranges[0][1].rangeStart`).
 */
function groupRanges(name: string, sets: ReadonlyArray<{ path: string; ranges: CniRange[] }>): { v4?: CniRange[]; v6?: CniRange[] } {
  const out: { v4?: CniRange[]; v6?: CniRange[] } = {};
  for (const s of sets) {
    const f = s.ranges[0]?.family;
    if (f === undefined) throw bad(s.path, 'an empty range set');
    for (const [i, r] of s.ranges.entries()) {
      if (r.family !== f) throw bad(`${s.path}[${i}]`, 'a range set mixes IPv4 and IPv6');
    }
    const key = f === 4 ? 'v4' : 'v6';
    if (out[key] !== undefined) throw bad(s.path, `a second IPv${f} range set (one address per family is supported)`);
    const many = s.ranges.length > 1 || s.path.startsWith('ipam.ranges');
    try {
      makeRangePool(name, s.ranges.map((r, i) => ({ ...r, key: many ? `${s.path}[${i}]` : s.path })), f);
    } catch (e) {
      throw new CniError(ERR.invalidConfig, `invalid network config: ${(e as Error).message}`);
    }
    out[key] = s.ranges;
  }
  return out;
}

function parseIpam(raw: Obj, reqIps: readonly string[], name: string): CniIpam {
  const ipam = obj(raw, 'ipam', 'ipam');
  if (ipam === undefined) throw bad('ipam', 'missing (the bridge needs an IPAM section)');
  const type = str(ipam, 'type', 'ipam.type');
  if (type === undefined || type === '') throw bad('ipam.type', 'missing');
  if (type !== 'host-local' && type !== 'static') {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(type)) throw bad('ipam.type', `"${type}" is not a plugin name`);
    return { kind: 'delegate', type };
  }
  const routes = parseRoutes(ipam);
  const dns = parseDns(field(ipam, 'dns'), 'ipam.dns');
  if (type === 'static') {
    const addrs = list(ipam, 'addresses', 'ipam.addresses');
    const sets: Array<{ path: string; ranges: CniRange[] }> = [];
    const addresses: string[] = [];
    for (const [i, a] of addrs.entries()) {
      const p = `ipam.addresses[${i}]`;
      const text = str(a, 'address', `${p}.address`);
      if (text === undefined) throw bad(`${p}.address`, 'missing');
      let c;
      try { c = parseCidr(text, 'address'); } catch { throw bad(`${p}.address`, `"${text}" is not an address in CIDR form (10.10.0.5/24)`); }
      const gw = str(a, 'gateway', `${p}.gateway`);
      sets.push({ path: p, ranges: [{ subnet: networkOf(text), family: c.family, ...(gw ? { gateway: ipText(gw, `${p}.gateway`, c.family) } : {}) }] });
      const ip = parseIp(text.split('/')[0]);
      addresses.push(formatIp(ip.value, ip.family));
    }
    // static: the subnet comes from the addresses; CNI_ARGS IP= / runtimeConfig ips may give them instead
    for (const [i, ip] of reqIps.entries()) {
      if (addrs.length > 0) break;
      if (!ip.includes('/')) throw bad(`ips[${i}]`, `"${ip}": the static IPAM needs an address in CIDR form`);
      sets.push({ path: `ips[${i}]`, ranges: [{ subnet: networkOf(ip), family: familyOf(ip.split('/')[0]) as Family }] });
    }
    if (sets.length === 0) throw bad('ipam.addresses', 'missing (the static IPAM needs at least one address)');
    return { kind: 'native', type, ...groupRanges(name, sets), routes, ...(dns ? { dns } : {}), addresses };
  }
  const sets: Array<{ path: string; ranges: CniRange[] }> = [];
  const rangesRaw = list(ipam, 'ranges', 'ipam.ranges');
  for (const [i, set] of rangesRaw.entries()) {
    const p = `ipam.ranges[${i}]`;
    if (!Array.isArray(set)) throw bad(p, 'expected a list of ranges (a range set)');
    sets.push({ path: p, ranges: set.map((r, j) => parseRange(r, `${p}[${j}]`)) });
  }
  if (field(ipam, 'subnet') !== undefined && field(ipam, 'subnet') !== null) { // null: absent, as Go reads it
    if (sets.length > 0) throw bad('ipam.subnet', 'give either subnet or ranges, not both');
    sets.push({ path: 'ipam', ranges: [parseRange(ipam, 'ipam')] });
  }
  if (sets.length === 0) throw bad('ipam.ranges', 'missing (host-local needs subnet or ranges)');
  const resolvConf = str(ipam, 'resolvConf', 'ipam.resolvConf');
  if (resolvConf !== undefined && resolvConf !== '' && !resolvConf.startsWith('/')) throw bad('ipam.resolvConf', `"${resolvConf}" is not an absolute path`);
  return { kind: 'native', type, ...groupRanges(name, sets), routes, ...(dns ? { dns } : {}), addresses: [], ...(resolvConf ? { resolvConf } : {}) };
}

/** The network of an address in CIDR form ("10.1.0.5/24" → "10.1.0.0/24"). */
export function networkOf(cidr: string): string {
  const c = parseCidr(cidr, 'address');
  return `${formatIp(c.network, c.family)}/${c.prefixLen}`;
}

function parsePortMappings(rc: Obj | undefined): PortMapping[] {
  return list(rc, 'portMappings', 'runtimeConfig.portMappings').map((m, i) => {
    const p = `runtimeConfig.portMappings[${i}]`;
    const num = (k: string): number => {
      const v = field(m, k);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw bad(`${p}.${k}`, `expected a port 1-65535, got ${JSON.stringify(v)}`);
      return v;
    };
    const proto = (str(m, 'protocol', `${p}.protocol`) ?? 'tcp').toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') throw bad(`${p}.protocol`, `"${proto}" is not supported (tcp or udp)`);
    const hostIp = str(m, 'hostIP', `${p}.hostIP`);
    return {
      hostPort: num('hostPort'), containerPort: num('containerPort'), protocol: proto,
      ...(hostIp !== undefined && hostIp !== '' ? { hostIp: ipText(hostIp, `${p}.hostIP`) } : {}),
    };
  });
}

/** CNI_ARGS "K=V;K2=V2" → map (later keys win). */
export function parseCniArgs(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (text ?? '').split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(ERR.invalidEnv, `invalid CNI_ARGS: "${part}" is not KEY=VALUE`);
    out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** Parse a whole config (after decodeConfig). `cniArgs` gives IP= and MAC= requests. */
export function parseConfig(raw: Obj, cniArgs: ReadonlyMap<string, string> = new Map()): CniConfig {
  const cniVersion = configVersion(raw);
  const name = str(raw, 'name', 'name');
  if (name === undefined || name === '') throw bad('name', 'missing');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw bad('name', `"${name}": use 1-64 letters, digits, "_", "." or "-"`);
  const rc = obj(raw, 'runtimeConfig', 'runtimeConfig');
  const argsCni = obj(obj(raw, 'args', 'args'), 'cni', 'args.cni');
  const ipsOf = (o: Obj | undefined, path: string): string[] => list(o, 'ips', path).map((x, i) => {
    if (typeof x !== 'string') throw bad(`${path}[${i}]`, 'expected an address');
    return x;
  });
  const fromArgs = cniArgs.get('IP')?.split(',').filter((s) => s !== '') ?? [];
  const ips = [...ipsOf(rc, 'runtimeConfig.ips'), ...ipsOf(argsCni, 'args.cni.ips'), ...fromArgs];
  for (const [i, ip] of ips.entries()) {
    const a = ip.split('/')[0] ?? '';
    if (familyOf(a) === undefined) throw bad(`ips[${i}]`, `"${ip}" is not an address`);
  }
  const mac = str(rc, 'mac', 'runtimeConfig.mac') ?? str(argsCni, 'mac', 'args.cni.mac') ?? cniArgs.get('MAC') ?? str(raw, 'mac', 'mac');
  if (mac !== undefined && !/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(mac)) throw bad('mac', `"${mac}" is not a MAC address`);
  const mtuV = field(raw, 'mtu');
  if (mtuV !== undefined && mtuV !== null && mtuV !== 0 && (typeof mtuV !== 'number' || !Number.isInteger(mtuV) || mtuV < 68 || mtuV > 65535)) throw bad('mtu', `expected 68-65535, got ${JSON.stringify(mtuV)}`);
  const bridge = str(raw, 'bridge', 'bridge');
  if (bridge !== undefined && !/^[^\s/:]{1,15}$/.test(bridge)) throw bad('bridge', `"${bridge}" is not an interface name (1-15 characters, no "/", ":" or space)`);
  const stateDir = str(raw, 'ctnetStateDir', 'ctnetStateDir');
  if (stateDir !== undefined && !stateDir.startsWith('/')) throw bad('ctnetStateDir', `"${stateDir}" is not an absolute path`);
  const prev = field(raw, 'prevResult');
  if (prev !== undefined && prev !== null && (typeof prev !== 'object' || Array.isArray(prev))) throw bad('prevResult', 'expected an object');
  const isDefaultGateway = bool(raw, 'isDefaultGateway', 'isDefaultGateway');
  const valid = field(raw, 'cni.dev/valid-attachments');
  const validAttachments = valid === undefined ? undefined : list(raw, 'cni.dev/valid-attachments', 'cni.dev/valid-attachments').map((a, i) => {
    const p = `cni.dev/valid-attachments[${i}]`;
    const containerID = str(a, 'containerID', `${p}.containerID`);
    const ifname = str(a, 'ifname', `${p}.ifname`);
    if (containerID === undefined || ifname === undefined) throw bad(p, 'expected {"containerID": …, "ifname": …}');
    return { containerID, ifname };
  });
  const dns = parseDns(field(raw, 'dns'), 'dns');
  return {
    cniVersion, name, ...(bridge !== undefined && bridge !== '' ? { bridge } : {}),
    isGateway: bool(raw, 'isGateway', 'isGateway') || isDefaultGateway, isDefaultGateway,
    ipMasq: bool(raw, 'ipMasq', 'ipMasq'), ...(typeof mtuV === 'number' && mtuV !== 0 ? { mtu: mtuV } : {}),
    // hairpinMode absent: on (the library's default; the reference's is off), false: off
    hairpinMode: field(raw, 'hairpinMode') === undefined || field(raw, 'hairpinMode') === null || bool(raw, 'hairpinMode', 'hairpinMode'),
    promiscMode: bool(raw, 'promiscMode', 'promiscMode'),
    ipam: parseIpam(raw, ips, name), ...(dns ? { dns } : {}), ...(mac !== undefined ? { mac: mac.toLowerCase() } : {}),
    ips, portMappings: parsePortMappings(rc),
    ...(prev !== undefined && prev !== null ? { prevResult: prev as Obj } : {}),
    ...(stateDir !== undefined ? { stateDir } : {}), ...(validAttachments !== undefined ? { validAttachments } : {}),
  };
}
