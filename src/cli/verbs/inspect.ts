/**
 * cli/verbs/inspect.ts — `inspect [NETNS]`: the tutorial's inspect-net-stack.sh for one
 * netns: devices (with addresses), routes, neighbours, and our nftables tables.
 *
 * Layer: CLI front door; a diagnostic, not a hot path. Devices, addresses and routes come
 * from one rtnetlink dump plan through the addon when it loads (no process), else from
 * `ip -j`; neighbours from `ip -j neigh` and our tables from `nft -j` (run inside the netns
 * with `ip -n NAME` / `nsenter --net=PATH`). Argument arrays only.
 */
import { spawnSync } from 'node:child_process';
import type { Context } from '../context.js';
import { requireNetnsFile, resolveNetns, type ResolvedNetns } from '../ns.js';
import { checkPrivilege } from '../privilege.js';
import { EnvironmentError, CtnetError, CODE } from '../../model/errors.js';
import { formatFields } from '../output.js';
import type { Addr, Link, NsRef, Route, Step } from '../../model/plan.js';

export interface InspectDevice {
  readonly index: number;
  readonly name: string;
  readonly kind?: string;
  readonly state: string;
  readonly up: boolean;
  readonly mtu: number;
  readonly mac?: string;
  readonly master?: string;
  readonly peer?: string;
  readonly alias?: string;
  readonly addresses: readonly string[];
}
export interface InspectRoute {
  readonly family: 4 | 6;
  readonly dst: string;
  readonly via?: string;
  readonly dev?: string;
  readonly protocol?: string;
  readonly scope?: string;
  readonly src?: string;
  readonly metric?: number;
}
export interface InspectNeighbour {
  readonly dst: string;
  readonly dev: string;
  readonly lladdr?: string;
  readonly state: readonly string[];
}
export interface InspectReport {
  /** "host" (this process's netns), or the nsfs path inspected */
  readonly netns: string;
  /** Where devices/addresses/routes came from: the addon's rtnetlink dump, or `ip -j`. */
  readonly source: 'rtnl' | 'ip';
  readonly netnsName?: string;
  readonly devices: readonly InspectDevice[];
  readonly routes: readonly InspectRoute[];
  readonly neighbours: readonly InspectNeighbour[];
  /** Our nftables tables (`table ip ctnet`, `table ip6 ctnet`) as `nft -j` objects; null when nft is not installed. */
  readonly nftables: { readonly tables: ReadonlyArray<{ family: string; name: string }>; readonly text: string; readonly json: readonly unknown[] } | null;
}

type Run = (file: string, args: readonly string[]) => { ok: boolean; stdout: string; stderr: string; missing: boolean };

function runner(ref: ResolvedNetns | undefined): Run {
  return (file, args) => {
    let cmd = file;
    let argv = [...args];
    if (ref !== undefined) {
      if (file === 'ip' && ref.name !== undefined) argv = ['-n', ref.name, ...args];
      else { cmd = 'nsenter'; argv = [`--net=${ref.path}`, '--', file, ...args]; }
    }
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    const missing = (r.error as { code?: string } | undefined)?.code === 'ENOENT' || (cmd === 'nsenter' && r.status === 127);
    return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').trim(), missing };
  };
}

function json(run: Run, args: readonly string[]): unknown[] {
  const r = run('ip', ['-j', ...args]);
  if (r.missing) throw new EnvironmentError('inspect: ip is not installed: apt-get install iproute2', CODE.noTool);
  if (!r.ok) throw new CtnetError(`inspect: ip ${args.join(' ')}: ${r.stderr.split('\n')[0] ?? ''}`, CODE.failure);
  if (r.stdout.trim() === '') return [];
  const v: unknown = JSON.parse(r.stdout);
  return Array.isArray(v) ? v : [];
}

type Rec = Record<string, unknown>;
const s = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const n = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** Turn `ip -j` outputs into the report (exported for unit tests). */
export function buildReport(raw: { links: unknown[]; addrs: unknown[]; routes4: unknown[]; routes6: unknown[]; neigh: unknown[] }): Pick<InspectReport, 'devices' | 'routes' | 'neighbours'> {
  const addrsByIndex = new Map<number, string[]>();
  for (const a of raw.addrs as Rec[]) {
    const idx = n(a.ifindex) ?? -1;
    const list = addrsByIndex.get(idx) ?? [];
    for (const ai of (Array.isArray(a.addr_info) ? a.addr_info : []) as Rec[]) {
      const local = s(ai.local);
      if (local !== undefined) list.push(`${local}/${n(ai.prefixlen) ?? ''}`);
    }
    addrsByIndex.set(idx, list);
  }
  const devices = (raw.links as Rec[]).map((l): InspectDevice => {
    const flags = Array.isArray(l.flags) ? l.flags as string[] : [];
    const linkinfo = (l.linkinfo ?? {}) as Rec;
    const d: { -readonly [K in keyof InspectDevice]: InspectDevice[K] } = {
      index: n(l.ifindex) ?? 0, name: s(l.ifname) ?? '?', state: s(l.operstate) ?? 'UNKNOWN', up: flags.includes('UP'),
      mtu: n(l.mtu) ?? 0, addresses: addrsByIndex.get(n(l.ifindex) ?? -1) ?? [],
    };
    const kind = s(linkinfo.info_kind);
    if (kind !== undefined) d.kind = kind;
    const mac = s(l.address);
    if (mac !== undefined && s(l.link_type) !== 'loopback' && s(l.link_type) !== 'none') d.mac = mac;
    const master = s(l.master);
    if (master !== undefined) d.master = master;
    const peer = s(l.link);
    if (peer !== undefined) d.peer = peer;
    else if (n(l.link_index) !== undefined) d.peer = `if${n(l.link_index)}${l.link_netnsid !== undefined ? ` (netnsid ${String(l.link_netnsid)})` : ''}`;
    const alias = s(l.ifalias);
    if (alias !== undefined) d.alias = alias;
    return d;
  });
  const route = (family: 4 | 6) => (r: Rec): InspectRoute => {
    const o: { -readonly [K in keyof InspectRoute]: InspectRoute[K] } = { family, dst: s(r.dst) ?? 'default' };
    const via = s(r.gateway);
    if (via !== undefined) o.via = via;
    const dev = s(r.dev);
    if (dev !== undefined) o.dev = dev;
    const protocol = s(r.protocol);
    if (protocol !== undefined) o.protocol = protocol;
    const scope = s(r.scope);
    if (scope !== undefined) o.scope = scope;
    const src = s(r.prefsrc);
    if (src !== undefined) o.src = src;
    const metric = n(r.metric);
    if (metric !== undefined) o.metric = metric;
    return o;
  };
  const routes = [...(raw.routes4 as Rec[]).map(route(4)), ...(raw.routes6 as Rec[]).map(route(6))];
  return { devices, routes, neighbours: neighboursFrom(raw.neigh) };
}

/** `ip -j neigh` output as the report's neighbours (the addon has no neighbour dump: both views use it). */
function neighboursFrom(neigh: unknown[]): InspectNeighbour[] {
  return (neigh as Rec[]).map((x): InspectNeighbour => {
    const o: { -readonly [K in keyof InspectNeighbour]: InspectNeighbour[K] } = {
      dst: s(x.dst) ?? '?', dev: s(x.dev) ?? '?', state: Array.isArray(x.state) ? x.state as string[] : [],
    };
    const ll = s(x.lladdr);
    if (ll !== undefined) o.lladdr = ll;
    return o;
  });
}

const RTPROT: Readonly<Record<number, string>> = { 1: 'redirect', 2: 'kernel', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird', 16: 'dhcp', 42: 'babel', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp' };
const RTSCOPE: Readonly<Record<number, string>> = { 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

/** Devices, addresses and routes from the addon's dumps, shaped like the `ip -j` view (exported for unit tests). */
export function fromRtnl(links: readonly Link[], addrs: readonly Addr[], routes: readonly Route[]): Pick<InspectReport, 'devices' | 'routes'> {
  const names = new Map(links.map((l) => [l.index, l.name]));
  const devices = [...links].sort((a, b) => a.index - b.index).map((l): InspectDevice => {
    const d: { -readonly [K in keyof InspectDevice]: InspectDevice[K] } = {
      index: l.index, name: l.name, state: l.operState, up: l.up, mtu: l.mtu,
      addresses: addrs.filter((a) => a.index === l.index).map((a) => `${a.local}/${a.prefixLen}`),
    };
    if (l.kind !== undefined) d.kind = l.kind;
    if (l.mac !== undefined && !/^(00:){5}00$/.test(l.mac)) d.mac = l.mac;
    if (l.master !== undefined && l.master !== 0) d.master = names.get(l.master) ?? `if${l.master}`;
    if (l.link !== undefined && l.link !== 0 && l.link !== l.index) {
      d.peer = l.linkNetnsId !== undefined ? `if${l.link} (netnsid ${l.linkNetnsId})` : names.get(l.link) ?? `if${l.link}`;
    }
    if (l.alias !== undefined && l.alias !== '') d.alias = l.alias;
    return d;
  });
  const shown = routes.filter((r) => r.table === 254 && r.type === 1);
  return {
    devices,
    routes: shown.map((r): InspectRoute => {
      const o: { -readonly [K in keyof InspectRoute]: InspectRoute[K] } = {
        family: r.family, dst: r.dst === undefined || r.dstLen === 0 ? 'default' : `${r.dst}${r.dstLen === (r.family === 4 ? 32 : 128) ? '' : `/${r.dstLen}`}`,
      };
      if (r.gateway !== undefined) o.via = r.gateway;
      if (r.oif !== undefined) o.dev = names.get(r.oif) ?? `if${r.oif}`;
      const proto = RTPROT[r.protocol];
      if (proto !== undefined) o.protocol = proto;
      const scope = RTSCOPE[r.scope];
      if (scope !== undefined) o.scope = scope;
      if (r.prefsrc !== undefined) o.src = r.prefsrc;
      if (r.metric !== undefined && r.metric !== 0) o.metric = r.metric;
      return o;
    }),
  };
}

/** One plan through the addon (no process): links, addresses, IPv4 and IPv6 routes of the netns. */
async function rtnlView(ref: ResolvedNetns | undefined, ctx: Context): Promise<Pick<InspectReport, 'devices' | 'routes'> | undefined> {
  const pref = ctx.global.backend ?? ctx.env.CTNET_BACKEND ?? 'auto';
  if (pref === 'iproute2') return undefined;
  const { NativeBackend } = await import('../../backend/native.js');
  const { backend, load } = NativeBackend.tryCreate();
  if (backend === undefined) {
    ctx.out.debug(`inspect: addon not loaded (${load.error ?? load.tried.join(', ')}); reading the kernel with ip -j`);
    return undefined;
  }
  try {
    const ns: NsRef = ref === undefined ? { self: true } : { slot: 0 };
    const steps: Step[] = [
      ...(ref === undefined ? [] : [{ kind: 'netnsOpen', path: ref.path } as const]),
      { kind: 'rtnl', ns, ops: [{ op: 'linkList' }, { op: 'addrList' }, { op: 'routeList', family: 4 }, { op: 'routeList', family: 6 }] },
    ];
    const results = await backend.run({ steps });
    const last = results[results.length - 1];
    if (last === undefined || !last.ok || last.ops === undefined) {
      ctx.out.debug('inspect: rtnetlink dump failed; reading the kernel with ip -j');
      return undefined;
    }
    const val = (i: number): unknown => { const o = last.ops?.[i]; return o?.ok === true ? o.value : undefined; };
    const links = val(0) as Link[] | undefined;
    const addrs = val(1) as Addr[] | undefined;
    if (links === undefined || addrs === undefined) return undefined;
    return fromRtnl(links, addrs, [...((val(2) as Route[] | undefined) ?? []), ...((val(3) as Route[] | undefined) ?? [])]);
  } finally {
    await backend.close();
  }
}

/**
 * Our tables: their text (what people read, and part of the JSON document) and, only when
 * the JSON document is printed, their `nft -j` objects (a second nft process per table).
 */
function ourTables(run: Run, withObjects: boolean): InspectReport['nftables'] {
  const list = run('nft', ['-j', 'list', 'tables']);
  if (list.missing) return null;
  if (!list.ok) return { tables: [], text: `(nft list tables failed: ${list.stderr.split('\n')[0] ?? ''})`, json: [] };
  const tables: Array<{ family: string; name: string }> = [];
  try {
    for (const item of ((JSON.parse(list.stdout) as Rec).nftables ?? []) as Rec[]) {
      const t = item.table as Rec | undefined;
      if (t !== undefined && s(t.name) === 'ctnet') tables.push({ family: s(t.family) ?? '?', name: 'ctnet' });
    }
  } catch { /* no tables */ }
  let text = '';
  const objects: unknown[] = [];
  for (const t of tables) {
    const txt = run('nft', ['list', 'table', t.family, t.name]);
    text += txt.ok ? txt.stdout : `(nft list table ${t.family} ${t.name}: ${txt.stderr})\n`;
    if (!withObjects) continue;
    const j = run('nft', ['-j', 'list', 'table', t.family, t.name]);
    if (j.ok) {
      try { objects.push(...(((JSON.parse(j.stdout) as Rec).nftables ?? []) as unknown[]).filter((o) => !('metainfo' in (o as Rec)))); } catch { /* skip */ }
    }
  }
  return { tables, text, json: objects };
}

export async function inspect(ctx: Context): Promise<number> {
  const arg = ctx.positionals[0] ?? ctx.global.hostNetns;
  const ref = arg === undefined ? undefined : resolveNetns(arg, 'inspect');
  if (ref !== undefined) {
    requireNetnsFile(ref, 'inspect');
    checkPrivilege('inspect');
  }
  const run = runner(ref);
  const native = await rtnlView(ref, ctx);
  const neigh = json(run, ['neigh', 'show']);
  const view = native !== undefined ? { ...native, neighbours: neighboursFrom(neigh) } : buildReport({
    links: json(run, ['-d', 'link', 'show']),
    addrs: json(run, ['addr', 'show']),
    routes4: json(run, ['-4', 'route', 'show']),
    routes6: json(run, ['-6', 'route', 'show']),
    neigh,
  });
  const report: InspectReport = {
    netns: ref?.path ?? 'host', ...(ref?.name !== undefined ? { netnsName: ref.name } : {}),
    source: native !== undefined ? 'rtnl' : 'ip',
    devices: view.devices, routes: view.routes, neighbours: view.neighbours, nftables: ourTables(run, ctx.out.json),
  };
  ctx.out.result(report, () => renderInspect(ctx, report));
  return 0;
}

export function renderInspect(ctx: Pick<Context, 'out'>, r: InspectReport): string {
  const out = ctx.out;
  const where = r.netns === 'host' ? 'host netns (this process)' : `netns ${r.netnsName ?? r.netns}${r.netnsName !== undefined ? ` (${r.netns})` : ''}`;
  const parts = [
    formatFields([['Netns', where], ['Source', r.source === 'rtnl' ? 'rtnetlink dump (addon); neighbours and nft via ip/nft' : 'ip -j, nft -j']]),
    out.bold('# Network devices'),
    out.table(['IDX', 'NAME', 'KIND', 'STATE', 'MTU', 'MAC', 'MASTER', 'PEER', 'ADDRESSES'], r.devices.map((d) => [
      String(d.index), d.name, d.kind ?? '-', d.state, String(d.mtu), d.mac ?? '-', d.master ?? '-', d.peer ?? '-',
      d.addresses.length === 0 ? '-' : d.addresses.join(' '),
    ])),
    out.bold('# Routes'),
    r.routes.length === 0 ? '(none)\n' : out.table(['DST', 'VIA', 'DEV', 'PROTO', 'SCOPE', 'SRC'], r.routes.map((x) => [
      x.dst, x.via ?? '-', x.dev ?? '-', x.protocol ?? '-', x.scope ?? '-', x.src ?? '-',
    ])),
    out.bold('# Neighbours'),
    r.neighbours.length === 0 ? '(none)\n' : out.table(['DST', 'DEV', 'LLADDR', 'STATE'], r.neighbours.map((x) => [
      x.dst, x.dev, x.lladdr ?? '-', x.state.join(',') || '-',
    ])),
    out.bold('# nftables (ctnet-fast tables)'),
    r.nftables === null ? '(nft is not installed: apt-get install nftables)\n'
      : r.nftables.tables.length === 0 ? '(no ctnet tables in this netns)\n' : r.nftables.text,
  ];
  return parts.join('\n');
}
