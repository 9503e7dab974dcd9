/**
 * test/helpers/break-oracle.ts — the full comparison of a state directory with the kernel,
 * for the suites that try to break ctnet-fast (test/priv/break-*.test.ts; issue 10).
 *
 * The store is read through its own read-only SQLite connection (never the Store under
 * test); the kernel through `ip -j` and `nft -j` processes (argument arrays, no shell):
 *  - every network row: its bridge exists, is a bridge, is up, carries "ctnet:br:NAME" and
 *    the gateway address; the firewall knows it (bridges, intra, masq, hairpin, internal);
 *  - every 'ready' bridge endpoint: its netns file, its host veth (up, tagged, on its
 *    network's bridge), its interface inside the netns (up, its MAC, its address, the
 *    default route via the gateway), the DNAT map elements of its published ports and its
 *    anti-spoofing element "HOSTVETH . MAC . IP" (table bridge ctnet, when the product has it);
 *  - nothing extra: no link tagged "ctnet:" or named like this store's host veths without a
 *    row, no /run/netns entry with the test's prefix without a row, no map or set element
 *    that no row explains, no duplicate address, no row left pending or detaching;
 *  - the store's own invariants (state.ts `storeProblems`).
 * `problems()` returns [] when state and kernel agree; `settledProblems()` retries for a
 * while, since the kernel reaps a detached container's veth asynchronously (~30 ms, more
 * on a loaded VM). Layers and terms: docs/ARCHITECTURE.md ("State model", "Firewall model").
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { storeProblems } from './state.js';
import { SET } from '../../src/firewall/ruleset.js';

/** The anti-spoofing sets of `table bridge ctnet`, when this version of the product has them. */
const GUARD = SET as Record<string, string | undefined>;

const run = promisify(execFile);

export interface OracleOptions {
  readonly stateDir: string;
  /** host netns name under /run/netns (default: the test's own netns) */
  readonly hostNs?: string;
  /** /run/netns entries starting with this are ours: each must be some endpoint's netns */
  readonly netnsPrefix?: string;
  /** /run/netns names the test made itself (outside world, foreign netns, host netns) */
  readonly ignoreNetns?: readonly string[];
  /** rows in 'pending'/'detaching' are problems (after gc, or when nothing was killed); default true */
  readonly settled?: boolean;
}

export interface NetRow { name: string; subnet: string | null; subnet6: string | null; gateway: string | null; gateway6: string | null; bridge: string; internal: number; masquerade: number }
export interface EpRow { id: string; network: string | null; mode: string; netns: string; netns_name: string | null; owns_netns: number; ifname: string; host_ifname: string | null; ip: string | null; ip6: string | null; mac: string | null; state: string }
export interface PortRow { host_ip: string; proto: string; host_port: number; endpoint_id: string; container_port: number }
export interface StoreView { readonly networks: NetRow[]; readonly endpoints: EpRow[]; readonly ports: PortRow[]; readonly ifnameTag?: string; readonly file?: string }

/** The store's rows (an empty view when the state dir has no database yet). */
export function readStore(stateDir: string): StoreView {
  const file = path.join(stateDir, 'state.db');
  if (!existsSync(file)) return { networks: [], endpoints: [], ports: [] };
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    const tag = db.prepare("SELECT value FROM meta WHERE key = 'ifname_tag'").get() as { value: string } | undefined;
    return {
      networks: db.prepare('SELECT * FROM networks').all() as NetRow[],
      endpoints: db.prepare('SELECT * FROM endpoints').all() as EpRow[],
      ports: db.prepare('SELECT * FROM ports').all() as PortRow[],
      ...(tag !== undefined ? { ifnameTag: tag.value } : {}),
      file,
    };
  } finally {
    db.close();
  }
}

async function out(file: string, args: readonly string[]): Promise<string | undefined> {
  try {
    return (await run(file, [...args], { encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
  } catch {
    return undefined;
  }
}

function ipArgv(args: readonly string[], ns?: string): [string, string[]] {
  if (ns === undefined) return ['ip', ['-j', ...args]];
  if (ns.startsWith('/')) return ['nsenter', [`--net=${ns}`, '--', 'ip', '-j', ...args]];
  return ['ip', ['-n', ns, '-j', ...args]];
}

/** `ip -j ARGS` in ns (a name, an nsfs path or undefined), parsed; undefined when ip fails. */
async function ipj<T>(args: readonly string[], ns?: string): Promise<T[] | undefined> {
  const [f, a] = ipArgv(args, ns);
  const o = await out(f, a);
  if (o === undefined) return undefined;
  return o.trim() === '' ? [] : JSON.parse(o) as T[];
}

interface KLink {
  ifname: string; flags: string[]; address?: string; master?: string; ifalias?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}
interface KRoute { dst: string; gateway?: string; dev?: string }

type Elem = unknown;
interface NftTable { present: boolean; sets: Map<string, string[]> }

function unwrap(e: Elem): Elem {
  const o = e as { elem?: { val?: Elem } };
  return o !== null && typeof o === 'object' && !Array.isArray(o) && o.elem !== undefined ? o.elem.val : e;
}

function elemKey(e: Elem): string {
  const u = unwrap(e);
  if (Array.isArray(u)) return `${elemKey(u[0])} : ${elemKey(u[1])}`;
  if (u !== null && typeof u === 'object') {
    const o = u as { concat?: Elem[]; prefix?: { addr: string; len: number } };
    if (o.concat !== undefined) return o.concat.map(elemKey).join(' . ');
    if (o.prefix !== undefined) return `${o.prefix.addr}/${o.prefix.len}`;
  }
  return String(u);
}

/** Our table of one family: set/map name → element keys ("tcp . 18080 : 10.1.0.2"). */
export async function readNft(family: 'ip' | 'ip6' | 'bridge', hostNs?: string): Promise<NftTable> {
  const argv = ['-j', 'list', 'table', family, 'ctnet'];
  const o = hostNs === undefined ? await out('nft', argv) : await out('ip', ['netns', 'exec', hostNs, 'nft', ...argv]);
  const sets = new Map<string, string[]>();
  if (o === undefined) return { present: false, sets };
  for (const obj of (JSON.parse(o) as { nftables: Array<Record<string, unknown>> }).nftables) {
    const s = (obj.set ?? obj.map) as { name: string; elem?: Elem[] } | undefined;
    if (s !== undefined) sets.set(s.name, (s.elem ?? []).map(elemKey));
  }
  return { present: true, sets };
}

/** A bridge's ownership alias: "ctnet:br:STORETAG:NETWORK", or the older "ctnet:br:NETWORK". */
function bridgeTag(alias: string | undefined): { store?: string; network: string } | undefined {
  const m = /^ctnet:br:(?:([a-z0-9]+):)?([^:]+)$/.exec(alias ?? '');
  if (m === null || m[2] === undefined) return undefined;
  return m[1] !== undefined ? { store: m[1], network: m[2] } : { network: m[2] };
}

function prefixOf(cidr: string | null): string | undefined {
  if (cidr === null) return undefined;
  return cidr; // stored normalised (network address / length)
}

function prefixLen(cidr: string | null): number | undefined {
  return cidr === null ? undefined : Number(cidr.split('/')[1]);
}

/** Limited-parallel map (the VM has 2 cores; hundreds of `ip` processes at once would thrash). */
async function pmap<T, R>(items: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const res: R[] = new Array<R>(items.length);
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) { const k = i++; res[k] = await fn(items[k] as T); }
  }));
  return res;
}

function nsArg(ep: EpRow): string {
  return ep.netns.startsWith('/run/netns/') && !ep.netns.slice(11).includes('/') ? ep.netns.slice(11) : ep.netns;
}

async function endpointProblems(ep: EpRow, net: NetRow | undefined, host: Map<string, KLink>): Promise<string[]> {
  const p: string[] = [];
  const who = `endpoint ${ep.id} (${ep.netns_name ?? ep.netns})`;
  if (!existsSync(ep.netns)) return [`${who}: netns file ${ep.netns} is missing`];
  if (ep.mode !== 'bridge') return p;
  if (net === undefined) return [`${who}: its network ${ep.network} has no row`];
  const h = ep.host_ifname === null ? undefined : host.get(ep.host_ifname);
  if (h === undefined) p.push(`${who}: host veth ${ep.host_ifname} is missing`);
  else {
    if (!h.flags.includes('UP')) p.push(`${who}: host veth ${h.ifname} is down`);
    if (h.master !== net.bridge) p.push(`${who}: host veth ${h.ifname} is on ${h.master ?? 'no bridge'}, not on ${net.bridge}`);
    if (h.ifalias !== `ctnet:ep:${ep.id}`) p.push(`${who}: host veth ${h.ifname} has alias ${h.ifalias ?? '(none)'}`);
  }
  const ns = nsArg(ep);
  const links = await ipj<KLink>(['-d', 'addr', 'show'], ns);
  const c = links?.find((l) => l.ifname === ep.ifname);
  if (c === undefined) return [...p, `${who}: ${ep.ifname} is missing inside the netns`];
  if (!c.flags.includes('UP')) p.push(`${who}: ${ep.ifname} is down`);
  if (ep.mac !== null && c.address !== ep.mac) p.push(`${who}: ${ep.ifname} has MAC ${c.address}, state says ${ep.mac}`);
  const have = (c.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  if (ep.ip !== null && !have.includes(`${ep.ip}/${prefixLen(net.subnet)}`)) p.push(`${who}: ${ep.ifname} lacks ${ep.ip}/${prefixLen(net.subnet)} (has ${have.join(',') || 'nothing'})`);
  if (ep.ip6 !== null && !have.includes(`${ep.ip6}/${prefixLen(net.subnet6)}`)) p.push(`${who}: ${ep.ifname} lacks ${ep.ip6}`);
  if (ep.ip !== null && net.gateway !== null && ep.owns_netns === 1) {
    const r = (await ipj<KRoute>(['-4', 'route', 'show', 'default'], ns)) ?? [];
    if (!r.some((x) => x.gateway === net.gateway && x.dev === ep.ifname)) p.push(`${who}: no default route via ${net.gateway} dev ${ep.ifname}`);
  }
  return p;
}

function expectedNetworkElems(n: NetRow, fam: 'ip' | 'ip6'): Array<[string, string]> {
  const br = n.bridge;
  const subnet = fam === 'ip' ? prefixOf(n.subnet) : prefixOf(n.subnet6);
  const e: Array<[string, string]> = [['bridges', br], ['intra', `${br} . ${br}`]];
  if (n.internal === 1) e.push(['internal', br]);
  if (subnet !== undefined && n.internal !== 1) e.push(['hairpin', `${br} . ${subnet}`]);
  if (subnet !== undefined && n.internal !== 1 && n.masquerade === 1) e.push(['masq', subnet]);
  return e;
}

function expectedPortElems(pr: PortRow, ep: EpRow): Array<['ip' | 'ip6', string, string]> {
  const v6 = pr.host_ip.includes(':');
  const fam = v6 ? 'ip6' : 'ip';
  const cip = v6 ? ep.ip6 : ep.ip;
  const any = pr.host_ip === '0.0.0.0' || pr.host_ip === '::' || pr.host_ip === '';
  const key = any ? `${pr.proto} . ${pr.host_port}` : `${pr.host_ip} . ${pr.proto} . ${pr.host_port}`;
  const kind = any ? 'any' : 'ip';
  const out: Array<['ip' | 'ip6', string, string]> = [
    [fam, `pub_${kind}_addr`, `${key} : ${cip ?? '?'}`],
    [fam, `pub_${kind}_port`, `${key} : ${pr.container_port}`],
  ];
  if (pr.host_ip === '0.0.0.0' && ep.ip6 !== null) {
    out.push(['ip6', 'pub_any_addr', `${key} : ${ep.ip6}`], ['ip6', 'pub_any_port', `${key} : ${pr.container_port}`]);
  }
  return out;
}

/** Every disagreement between the store in opts.stateDir and the kernel; [] when they agree. */
export async function problems(opts: OracleOptions): Promise<string[]> {
  const st = readStore(opts.stateDir);
  const p: string[] = [];
  if (st.file !== undefined) p.push(...storeProblems(st.file));
  const settled = opts.settled !== false;
  const nets = new Map(st.networks.map((n) => [n.name, n]));
  const hostLinks = (await ipj<KLink>(['-d', 'addr', 'show'], opts.hostNs)) ?? [];
  const host = new Map(hostLinks.map((l) => [l.ifname, l]));
  // networks: bridge, tag, gateway
  for (const n of st.networks) {
    const b = host.get(n.bridge);
    if (b === undefined) { p.push(`network ${n.name}: bridge ${n.bridge} is missing`); continue; }
    if (b.linkinfo?.info_kind !== 'bridge') p.push(`network ${n.name}: ${n.bridge} is a ${b.linkinfo?.info_kind ?? 'plain link'}, not a bridge`);
    if (!b.flags.includes('UP')) p.push(`network ${n.name}: bridge ${n.bridge} is down`);
    const tag = bridgeTag(b.ifalias);
    if (tag === undefined || tag.network !== n.name || (tag.store !== undefined && tag.store !== st.ifnameTag)) p.push(`network ${n.name}: bridge ${n.bridge} has alias ${b.ifalias ?? '(none)'}`);
    const have = (b.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
    if (n.gateway !== null && !have.includes(`${n.gateway}/${prefixLen(n.subnet)}`)) p.push(`network ${n.name}: bridge ${n.bridge} lacks the gateway ${n.gateway}/${prefixLen(n.subnet)} (has ${have.join(',') || 'nothing'})`);
    if (n.gateway6 !== null && !have.includes(`${n.gateway6}/${prefixLen(n.subnet6)}`)) p.push(`network ${n.name}: bridge ${n.bridge} lacks the gateway ${n.gateway6}`);
  }
  // endpoints
  const ready = st.endpoints.filter((e) => e.state === 'ready');
  if (settled) for (const e of st.endpoints) if (e.state !== 'ready') p.push(`endpoint ${e.id} (${e.netns_name ?? e.netns}) is left '${e.state}'`);
  for (const r of await pmap(ready, 6, (e) => endpointProblems(e, e.network === null ? undefined : nets.get(e.network), host))) p.push(...r);
  // duplicates among endpoints of one network
  const seen = new Map<string, string>();
  for (const e of st.endpoints) {
    for (const a of [e.ip, e.ip6, e.mac]) {
      if (a === null || e.network === null) continue;
      const k = `${e.network}|${a}`;
      const other = seen.get(k);
      if (other !== undefined) p.push(`duplicate ${a} on network ${e.network}: endpoints ${other} and ${e.id}`);
      seen.set(k, e.id);
    }
  }
  // links of ours without a row
  const byHostIf = new Map(st.endpoints.filter((e) => e.host_ifname !== null).map((e) => [e.host_ifname as string, e]));
  const byBridge = new Map(st.networks.map((n) => [n.bridge, n]));
  for (const l of hostLinks) {
    const alias = l.ifalias ?? '';
    const br = bridgeTag(alias);
    const ep = /^ctnet:ep:(.*)$/.exec(alias);
    if (br !== undefined && byBridge.get(l.ifname)?.name !== br.network) p.push(`leaked bridge ${l.ifname} (${alias}): no network row`);
    else if (ep !== null && byHostIf.get(l.ifname)?.id !== ep[1]) p.push(`leaked veth ${l.ifname} (${alias}): no endpoint row`);
    else if (br === undefined && ep === null && alias.startsWith('ctnet:')) p.push(`leaked link ${l.ifname} (${alias})`);
    else if (st.ifnameTag !== undefined && l.ifname.startsWith(`ctv${st.ifnameTag}`) && !byHostIf.has(l.ifname)) p.push(`leaked veth ${l.ifname}: named like this store's but no endpoint row`);
    else if (l.master !== undefined && byBridge.has(l.master) && !byHostIf.has(l.ifname)) p.push(`link ${l.ifname} on bridge ${l.master} has no endpoint row`);
  }
  // /run/netns entries of ours without a row
  if (opts.netnsPrefix !== undefined) {
    const known = new Set(st.endpoints.map((e) => e.netns));
    const ignore = new Set(opts.ignoreNetns ?? []);
    let names: string[] = [];
    try { names = readdirSync('/run/netns'); } catch { names = []; }
    for (const n of names) {
      if (n.startsWith(opts.netnsPrefix) && !ignore.has(n) && !known.has(`/run/netns/${n}`)) p.push(`leaked netns /run/netns/${n}: no endpoint row`);
    }
  }
  p.push(...await firewallProblems(st, opts.hostNs));
  return p;
}

async function firewallProblems(st: StoreView, hostNs?: string): Promise<string[]> {
  const p: string[] = [];
  const tables = { ip: await readNft('ip', hostNs), ip6: await readNft('ip6', hostNs) };
  const eps = new Map(st.endpoints.map((e) => [e.id, e]));
  const expected = { ip: new Map<string, Set<string>>(), ip6: new Map<string, Set<string>>() };
  const want = (fam: 'ip' | 'ip6', set: string, key: string): void => {
    let s = expected[fam].get(set);
    if (s === undefined) { s = new Set(); expected[fam].set(set, s); }
    s.add(key);
  };
  for (const n of st.networks) {
    for (const fam of ['ip', 'ip6'] as const) {
      if (fam === 'ip6' && n.subnet6 === null && !tables.ip6.present) continue;
      for (const [set, key] of expectedNetworkElems(n, fam)) want(fam, set, key);
    }
  }
  // elements of a row in flight ('pending'/'detaching') may or may not be there yet
  const allow = new Set<string>();
  for (const pr of st.ports) {
    const ep = eps.get(pr.endpoint_id);
    if (ep === undefined) continue;
    for (const [fam, set, key] of expectedPortElems(pr, ep)) {
      if (ep.state === 'ready') want(fam, set, key);
      else allow.add(`${fam}|${set}|${key}`);
    }
  }
  // anti-spoofing: "HOSTVETH . MAC . IP" per ready bridge endpoint (table bridge ctnet)
  if (GUARD.guard4 !== undefined) {
    const t = await readNft('bridge', hostNs);
    const exp = new Map<string, Set<string>>();
    for (const ep of st.endpoints) {
      if (ep.mode !== 'bridge' || ep.host_ifname === null || ep.mac === null) continue;
      for (const [set, addr] of [[GUARD.guard4, ep.ip], [GUARD.guard6, ep.ip6]] as const) {
        if (set === undefined || addr === null) continue;
        if (ep.state !== 'ready') { allow.add(`bridge|${set}|${ep.host_ifname} . ${ep.mac} . ${addr}`); continue; }
        if (!exp.has(set)) exp.set(set, new Set());
        exp.get(set)?.add(`${ep.host_ifname} . ${ep.mac} . ${addr}`);
      }
    }
    p.push(...diffSets('bridge', t, exp, allow));
  }
  for (const fam of ['ip', 'ip6'] as const) p.push(...diffSets(fam, tables[fam], expected[fam], allow));
  return p;
}

/** Expected elements missing from our table of one family, and elements no row explains. */
function diffSets(fam: string, t: NftTable, exp: Map<string, Set<string>>, allow: ReadonlySet<string>): string[] {
  const p: string[] = [];
  if (!t.present) {
    if (exp.size > 0) p.push(`nft table ${fam} ctnet is missing (${[...exp.values()].reduce((a, s) => a + s.size, 0)} elements expected)`);
    return p;
  }
  for (const [set, keys] of exp) {
    const have = new Set(t.sets.get(set) ?? []);
    if (!t.sets.has(set)) { p.push(`nft ${fam} ctnet: set/map ${set} is missing`); continue; }
    for (const k of keys) if (!have.has(k)) p.push(`nft ${fam} ctnet ${set}: element "${k}" is missing`);
  }
  for (const [set, have] of t.sets) {
    const keys = exp.get(set) ?? new Set<string>();
    for (const k of have) if (!keys.has(k) && !allow.has(`${fam}|${set}|${k}`)) p.push(`nft ${fam} ctnet ${set}: element "${k}" has no row (leaked)`);
  }
  return p;
}

/** problems(), retried until none or `waitMs` passed (the kernel reaps veths asynchronously). */
export async function settledProblems(opts: OracleOptions, waitMs = 4000): Promise<string[]> {
  const end = Date.now() + waitMs;
  for (;;) {
    const p = await problems(opts);
    if (p.length === 0 || Date.now() > end) return p;
    await new Promise((r) => setTimeout(r, 150));
  }
}
