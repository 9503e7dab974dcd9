/**
 * topology/heal.ts — gc: make each ready endpoint's kernel objects, and each network's
 * bridge addresses, match the state again after someone changed them behind our back:
 *  - the veth pair gone (`ip link del HOSTVETH`, or eth0 deleted inside the netns) while the
 *    container's netns lives: the pair is re-created into that netns (opened by path, as an
 *    attach into a given netns does: plans.ts attachSteps with createNetns false), with the
 *    same MAC and addresses, under the same host name if it is free — a deleted veth's name
 *    lingers a moment — else under a new one recorded in the row (Store.renewHostIfname);
 *  - inside the netns: the interface down, its address, its default route or extra routes
 *    gone: set up / added back;
 *  - a bridge without its gateway address(es): added back.
 * The firewall elements of a re-created veth (its guard, its ports) follow from the state
 * in repair.ts repairFirewall, which gc runs afterwards.
 *
 * Cost: ONE plan lists links, addresses and routes of every ready endpoint's netns (and the
 * host's addresses); ONE plan makes every repair (a second only when a host name was taken
 * meanwhile). gc is not the hot path; the attach path never comes here.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "State model": the state is the truth; "Kernel
 * facts": a veth can be born with its peer inside the container netns).
 */
import { existsSync } from 'node:fs';
import type { Addr, Family, Link, Route, RtnlOp, Step, StepResult } from '../model/plan.js';
import { endpointAlias } from '../model/names.js';
import { planFailures, rtnlStep, toNetlinkError, type Labelled } from '../backend/result.js';
import type { EndpointRecord, NetworkRecord } from '../state/index.js';
import type { HostContext } from './context.js';
import { atSlot, attachSteps, bridgeAddrOps, containerAddrOp, rangeOf, routeVia, type EndpointPlanInput, type NetworkView } from './plans.js';
import { networkView } from './records.js';

/** gc's report, filled in place. */
export interface GcLog { readonly actions: string[]; readonly errors: string[] }

/** Namespaces listed, or repairs made, per plan (each holds a netns open until its plan ends). */
const LIST_CHUNK = 256;

interface Inside { readonly links: readonly Link[]; readonly addrs: readonly Addr[]; readonly routes: readonly Route[] }

type PlanRoutes = EndpointPlanInput['routes'];

/** One repair: what it does (the action line) and its steps, built as a plan of their own. */
interface Repair {
  readonly what: string;
  readonly steps: readonly Labelled[];
  /** a veth re-creation: its endpoint and input, to retry under a new name on EEXIST */
  readonly veth?: { readonly ep: EndpointRecord; readonly net: NetworkView; readonly bridge: number; readonly input: EndpointPlanInput };
}

/** The value of op `j` of an rtnl step's result, if that op succeeded. */
function opValue<T>(r: StepResult | undefined, j: number): T | undefined {
  const o = r?.ok === true ? r.ops?.[j] : undefined;
  return o?.ok === true ? o.value as T : undefined;
}

/**
 * One plan (per LIST_CHUNK namespaces): the host's addresses, then for each netns its
 * links, addresses and routes (main table). A netns that cannot be opened is left out.
 */
async function readKernel(ctx: HostContext, paths: readonly string[]): Promise<{ inside: Map<string, Inside>; hostAddrs?: readonly Addr[] }> {
  const inside = new Map<string, Inside>();
  let hostAddrs: readonly Addr[] | undefined;
  for (let i = 0; i === 0 || i < paths.length; i += LIST_CHUNK) {
    const chunk = paths.slice(i, i + LIST_CHUNK);
    const steps: Step[] = chunk.flatMap((path, k): Step[] => [
      { kind: 'netnsOpen', path },
      { kind: 'rtnl', ns: { slot: 2 * k }, ops: [{ op: 'linkList' }, { op: 'addrList' }, { op: 'routeList' }] },
    ]);
    if (i === 0) steps.push({ kind: 'rtnl', ns: ctx.hostNs, ops: [{ op: 'addrList' }] });
    const r = await ctx.backend.run({ steps, stopOnError: false });
    chunk.forEach((path, k) => {
      const s = r[2 * k + 1];
      const links = opValue<Link[]>(s, 0), addrs = opValue<Addr[]>(s, 1), routes = opValue<Route[]>(s, 2);
      if (links !== undefined && addrs !== undefined && routes !== undefined) inside.set(path, { links, addrs, routes });
    });
    if (i === 0) hostAddrs = opValue<Addr[]>(r[steps.length - 1], 0);
  }
  return { inside, ...(hostAddrs !== undefined ? { hostAddrs } : {}) };
}

const isDefault = (f: Family) => (r: Route): boolean => r.family === f && r.dstLen === 0 && r.type === 1;

/** What the attach stored for gc (attach.ts intentData): extra routes, no default route. */
function intent(ep: EndpointRecord): { routes: PlanRoutes; defaultRoute: boolean } {
  const d = ep.data as { routes?: unknown; defaultRoute?: unknown } | null | undefined;
  return { routes: Array.isArray(d?.routes) ? d.routes as PlanRoutes : [], defaultRoute: d?.defaultRoute !== false };
}

/** The bridge's missing gateway address(es), one repair each. */
function gatewayRepairs(ctx: HostContext, n: NetworkRecord, br: Link, addrs: readonly Addr[]): Repair[] {
  const v = networkView(n);
  const has = (ip: string): boolean => addrs.some((a) => a.index === br.index && a.local === ip);
  const out: Repair[] = [];
  const add = (op: RtnlOp & { op: 'addrAdd' }): void => {
    const what = `re-add the gateway address ${op.local}/${op.prefixLen} to bridge ${n.bridge} of network ${n.name}`;
    out.push({ what, steps: [rtnlStep(ctx.hostNs, [op], what)] });
  };
  for (const op of bridgeAddrOps(v, br.index)) if (!has(op.local)) add(op);
  return out;
}

/** The interface is there: what of it is missing (down, addresses, routes), as one rtnl step in its netns. */
function inPlaceRepair(ep: EndpointRecord, v: NetworkView, c: Link, ins: Inside, wantsDefault: boolean, routes: PlanRoutes): Repair | undefined {
  const ops: RtnlOp[] = [];
  const labels: string[] = [];
  const has = (ip: string): boolean => ins.addrs.some((a) => a.index === c.index && a.local === ip);
  if (!c.up) { ops.push({ op: 'linkSet', link: c.index, up: true }); labels.push(`set ${ep.ifname} up`); }
  for (const ip of [ep.ip, ep.ip6]) {
    if (ip === undefined) continue;
    const op = containerAddrOp(v, c.index, ip);
    if (!has(ip)) { ops.push(op); labels.push(`add ${ip}/${op.prefixLen}`); }
    const gw = rangeOf(v, ip)?.gateway;
    if (wantsDefault && gw !== undefined && !ins.routes.some(isDefault(op.family))) {
      ops.push({ op: 'routeAdd', family: op.family, gateway: gw, link: c.index });
      labels.push(`add the default ${op.family === 6 ? 'IPv6 ' : ''}route via ${gw}`);
    }
  }
  for (const r of routes) {
    if (ins.routes.some((x) => x.family === r.family && x.dst === r.dst && x.dstLen === r.dstLen)) continue;
    const via = routeVia(v, ep, r);
    ops.push({ op: 'routeAdd', family: r.family, dst: r.dst, dstLen: r.dstLen, link: c.index, ...(via !== undefined ? { gateway: via } : {}) });
    labels.push(`add the route ${r.dst}/${r.dstLen}${via !== undefined ? ` via ${via}` : ''}`);
  }
  if (ops.length === 0) return undefined;
  const what = `repair ${ep.ifname} of endpoint ${ep.id} in ${ep.netns}: ${labels.join(', ')}`;
  return {
    what,
    steps: [{ step: { kind: 'netnsOpen', path: ep.netns }, label: `open netns ${ep.netns}` }, rtnlStep({ slot: 0 }, ops, what, labels.map((l) => `${l} to ${ep.ifname} in ${ep.netns}`))],
  };
}

function vethRepair(ctx: HostContext, ep: EndpointRecord, net: NetworkView, bridge: number, input: EndpointPlanInput, note = ''): Repair {
  return {
    what: `re-create veth ${input.hostIfname} for endpoint ${ep.id} in ${ep.netns}${note}`,
    steps: attachSteps(ctx.hostNs, net, bridge, input),
    veth: { ep, net, bridge, input },
  };
}

/**
 * gc: compare every ready bridge endpoint (its netns still the one attached) and every
 * network's bridge with the kernel, and repair what differs (see the module comment).
 * `links`: the host's links as gc listed them after re-creating missing bridges;
 * `strangers`: endpoints whose netns is now someone else's (gc forgot them; a dry run not).
 */
export async function healEndpoints(ctx: HostContext, links: readonly Link[], dry: boolean, log: GcLog, strangers: ReadonlySet<string> = new Set()): Promise<void> {
  const nets = new Map(ctx.store.listNetworks().map((n) => [n.name, n]));
  if (nets.size === 0) return;
  const all = ctx.store.listEndpoints();
  const eps = all.filter((e) => e.state === 'ready' && e.mode === 'bridge' && e.network !== undefined && nets.has(e.network)
    && e.hostIfname !== undefined && (e.ip ?? e.ip6) !== undefined && e.mac !== undefined && existsSync(e.netns) && !strangers.has(e.id));
  const { inside, hostAddrs } = await readKernel(ctx, [...new Set(eps.map((e) => e.netns))]);
  const byName = new Map(links.map((l) => [l.name, l]));
  const repairs: Repair[] = [];
  for (const n of nets.values()) {
    const br = byName.get(n.bridge);
    if (br !== undefined && hostAddrs !== undefined) repairs.push(...gatewayRepairs(ctx, n, br, hostAddrs));
  }
  // the first bridge endpoint of a netns has its default route (attach.ts: unless recorded otherwise)
  const first = new Map<string, string>();
  for (const e of all) if (e.mode === 'bridge' && !first.has(e.netns)) first.set(e.netns, e.id);
  for (const ep of eps) {
    const n = nets.get(ep.network ?? '');
    const ins = inside.get(ep.netns);
    if (n === undefined || ins === undefined) continue;
    const v = networkView(n);
    const { routes, defaultRoute } = intent(ep);
    const wantsDefault = defaultRoute && first.get(ep.netns) === ep.id;
    const c = ins.links.find((l) => l.name === ep.ifname);
    if (c !== undefined) {
      const r = inPlaceRepair(ep, v, c, ins, wantsDefault, routes);
      if (r !== undefined) repairs.push(r);
      continue;
    }
    const host = byName.get(ep.hostIfname ?? '');
    if (host !== undefined && host.alias === endpointAlias(ep.id)) {
      log.errors.push(`endpoint ${ep.id}: its host veth ${host.name} is there but ${ep.ifname} is missing in ${ep.netns} (renamed or moved?): left alone`);
      continue;
    }
    const br = byName.get(n.bridge);
    if (br === undefined) continue; // its bridge is missing (a dry run, or its re-creation failed)
    let name = ep.hostIfname ?? '';
    let note = '';
    if (host !== undefined) {
      // the old name is taken (a deleted veth's name lingers a moment, or a stranger took it)
      note = dry ? ` under a new name (${name} is taken)` : ` (a new name: ${name} is taken)`;
      const renewed = dry ? undefined : ctx.store.renewHostIfname(ep.id);
      if (!dry && renewed === undefined) continue; // detached meanwhile
      name = renewed ?? name;
    }
    const input: EndpointPlanInput = {
      id: ep.id, netnsPath: ep.netns, createNetns: false, ifname: ep.ifname, hostIfname: name, ...(ep.ip !== undefined ? { ip: ep.ip } : {}),
      ...(ep.ip6 !== undefined ? { ip6: ep.ip6 } : {}), mac: ep.mac ?? '', routes, ...((ep.data as { hairpin?: unknown } | null)?.hairpin === false ? { hairpin: false } : {}),
      defaultRoute: wantsDefault && !ins.routes.some(isDefault(4)),
    };
    repairs.push(vethRepair(ctx, ep, v, br.index, input, note));
  }
  for (const r of repairs) log.actions.push(r.what);
  if (dry) return;
  // one plan per LIST_CHUNK repairs (each may hold a netns open until its plan ends)
  for (let i = 0; i < repairs.length; i += LIST_CHUNK) {
    const retry = await runRepairs(ctx, repairs.slice(i, i + LIST_CHUNK), log);
    if (retry.length > 0) await runRepairs(ctx, retry, log, false);
  }
}

/**
 * Every repair in ONE plan (each tried whatever the others did); the first failure of each
 * goes to the log. A veth whose name was taken meanwhile (EEXIST) comes back, renamed, for
 * one more try (`retry`).
 */
async function runRepairs(ctx: HostContext, repairs: readonly Repair[], log: GcLog, retry = true): Promise<Repair[]> {
  const steps: Labelled[] = [];
  const spans = repairs.map((r) => {
    const from = steps.length;
    steps.push(...atSlot(r.steps, from));
    return { r, from, to: steps.length };
  });
  const results = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
  const again: Repair[] = [];
  const failed = new Set<Repair>();
  for (const f of planFailures(results)) {
    const span = spans.find((s) => f.step >= s.from && f.step < s.to);
    if (span === undefined || failed.has(span.r)) continue;
    failed.add(span.r);
    const v = span.r.veth;
    if (retry && v !== undefined && f.step === span.from + 1 && f.error.code === 'EEXIST') {
      const name = ctx.store.renewHostIfname(v.ep.id);
      if (name !== undefined) {
        const r = vethRepair(ctx, v.ep, v.net, v.bridge, { ...v.input, hostIfname: name }, ` (a new name: ${v.input.hostIfname} was taken)`);
        log.actions.push(r.what);
        again.push(r);
        continue;
      }
    }
    const s = steps[f.step];
    const label = (f.op !== undefined ? s?.opLabels?.[f.op] : undefined) ?? s?.label;
    log.errors.push(`${span.r.what}: ${toNetlinkError(f.error, label).message}`);
  }
  return again;
}
