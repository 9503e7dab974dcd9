/**
 * topology/attach.ts — attach a container netns: bridge mode as ONE plan (one crossing into
 * the kernel backend), rolled back from its step results when it fails; and the host and
 * none modes.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Life of an attach"). The order is the crash-safety
 * contract: the intent (a "pending" endpoint with its address and ports) is in the state
 * before any kernel work; ready marks follow off the hot path (ready.ts).
 *
 * Refused before anything is recorded: the host's own netns as a container (by identity:
 * the nsfs device and inode, whatever path names it), and a network being removed (its
 * claim is read in the transaction that records the intent, network-claims.ts). The
 * endpoint's anti-spoofing element (firewall/elements.ts guardElements) rides in the plan.
 */
import { existsSync, statSync } from 'node:fs';
import type { StepResult } from '../model/plan.js';
import { AggregateCtnetError, CODE, CtnetError, InvalidInputError } from '../model/errors.js';
import type { AttachOptions, EndpointInfo } from '../model/types.js';
import { checkIfname, checkMac } from '../validate/kernel.js';
import { normalizeMappings } from '../validate/ports.js';
import { allFailures, firstFailure, planFailures, rtnlStep, type Labelled } from '../backend/result.js';
import { selfOwner } from '../util/proc.js';
import { resolveNetns } from '../netns/index.js';
import { attachBatch, type GuardEndpoint } from '../firewall/index.js';
import type { EndpointRecord } from '../state/index.js';
import { bridgeIndexOf, notFound, type HostContext } from './context.js';
import { claimed } from './network-claims.js';
import { Endpoint } from './endpoint.js';
import { attachSteps, deleteHostVethSteps, type EndpointPlanInput, type NetworkView } from './plans.js';
import { allocateAfterLingering } from './linger.js';
import { markReadySoon } from './ready.js';
import { identityData, identityOf } from './netns-identity.js';
import { refreshHostAddrs, reportConntrack, untranslatedFlowSteps, withoutConntrack } from './conntrack.js';
import { endpointInfo, nextIfname, parseRoutes } from './records.js';

/** Index of the veth-creating step in an attach plan (plans.ts attachSteps: netns, veth, inside, firewall). */
const VETH_STEP = 1;

/** Bridge mode: netns, veth (peer born inside, host end up on the bridge), lo/eth0 up, addresses, routes, ports. */
export async function attachBridge(ctx: HostContext, net: NetworkView, opts: AttachOptions): Promise<Endpoint> {
  if (typeof opts?.netns !== 'string') throw new InvalidInputError('attach: netns is required (a name under /run/netns or an nsfs path)');
  const ns = resolveNetns(opts.netns);
  const exists = existsSync(ns.path);
  if (!exists && ns.name === undefined) {
    throw new CtnetError(`netns path ${ns.path} does not exist (a path is never created; give a name to have one created)`, 'ENOENT');
  }
  const create = !exists;
  if (exists) refuseHostNetns(ctx, ns.path);
  // A netns already on other networks: the next ethN, and its default route stays the first
  // network's. (A netns we are about to create has none: skip the query on the hot path.)
  const others = exists ? ctx.store.listEndpoints({ netns: ns.path }).filter((e) => e.mode === 'bridge') : [];
  const ifname = opts.ifname ?? nextIfname(others.map((e) => e.ifname));
  checkIfname(ifname, 'container interface name');
  const mac = opts.mac !== undefined ? checkMac(opts.mac, 'container MAC') : undefined;
  const ports = normalizeMappings(opts.publish ?? []);
  const routes = parseRoutes(opts.routes);
  // a network removed (network rm, or another process) is not found, not a missing bridge
  if (ctx.store.getNetwork(net.name) === undefined) throw notFound(`network "${net.name}"`);
  const bridgeIndex = await bridgeIndexOf(ctx, net);
  // the endpoint's anti-spoofing element (and its published ports) ride in the plan
  const withRules = ctx.fw.active;
  if (withRules) await ctx.fw.ensureBase();

  // the first network of a netns gives the default route, if its bridge has a gateway (AttachOptions.defaultRoute)
  const defaultRoute = opts.defaultRoute ?? (others.length === 0 && net.gatewayOnBridge !== false);
  ctx.trace?.('validated');
  // addresses of detached containers whose netns lives on stay leased (linger.ts)
  const rec = await allocateAfterLingering(ctx, () => ctx.store.transaction(() => {
    if (claimed(ctx, 'removing', net.name)) {
      throw new CtnetError(`network "${net.name}" is being removed (network rm); nothing was attached`, CODE.busy);
    }
    if (ctx.store.getNetwork(net.name) === undefined) throw notFound(`network "${net.name}"`);
    return ctx.store.beginAttach({
      network: net.name, netns: ns.path, ...(ns.name !== undefined ? { netnsName: ns.name } : {}), ownsNetns: create,
      ifname, ...(opts.ip !== undefined ? { ip: opts.ip } : {}), ...(opts.ip6 !== undefined ? { ip6: opts.ip6 } : {}),
      ...(mac !== undefined ? { mac } : {}), ...(opts.containerId !== undefined ? { containerId: opts.containerId } : {}), ports, data: { ...selfOwner(), ...intentData(routes, defaultRoute), ...(opts.hairpin === false ? { hairpin: false } : {}) },
    });
  }));
  ctx.trace?.('recorded');
  const input: EndpointPlanInput = {
    id: rec.id, netnsPath: ns.path, createNetns: create, ifname, hostIfname: rec.hostIfname ?? '',
    ...(rec.ip !== undefined ? { ip: rec.ip } : {}), ...(rec.ip6 !== undefined ? { ip6: rec.ip6 } : {}), mac: rec.mac ?? '', routes,
    defaultRoute, ...(opts.hairpin === false ? { hairpin: false } : {}),
  };
  // the guard and the published ports: steps in the same plan, or applied right after it (firewall driver's choice)
  const fw = withRules ? ctx.fw.contribute(attachBatch(guardEndpoint(input), rec.ports, ctx.fw.ruleOpts), `guard ${input.hostIfname} and publish ports of ${ns.path}`) : undefined;
  // a host port published before to another container: its untranslated flows go (conntrack.ts)
  if (withRules && rec.ports.length > 0) void refreshHostAddrs(ctx, false);
  const ct = withRules ? untranslatedFlowSteps(ctx, rec.ports) : [];
  const steps = [...attachSteps(ctx.hostNs, net, bridgeIndex, input, fw?.steps), ...ct];
  // a pre-created netns (Host.prewarm) is adopted instead of creating one
  const adopted = create ? ctx.prewarmed.take() : undefined;
  if (adopted !== undefined && steps[0]?.step.kind === 'netnsCreate') {
    steps[0] = { step: { kind: 'netnsCreate', path: ns.path, from: adopted }, label: `create netns ${ns.path} (pre-created)` };
  }
  let results: readonly StepResult[] = [];
  let err: Error | undefined;
  try {
    ctx.trace?.('planned');
    results = await ctx.backend.run({ steps: steps.map((s) => s.step) });
    ctx.trace?.('ran');
    err = firstFailure(...withoutConntrack(steps, results));
    if (err === undefined) await fw?.applyRest();
    if (err === undefined) reportConntrack(ctx, steps, results);
  } catch (e) {
    err = e as Error;
  }
  if (err !== undefined) {
    if (adopted !== undefined) ctx.prewarmed.giveBack(adopted); // not used up
    await rollbackAttach(ctx, rec, create, results).catch((e: Error) => ctx.warn(`rollback of ${ns.path}: ${e.message}`));
    // The veth could not be created: its master may have been deleted (or re-created with
    // another ifindex) behind our back, so the next attach looks the bridge up again.
    if (planFailures(results)[0]?.step === VETH_STEP) ctx.bridgeIndex.delete(net.name);
    ctx.fw.noticeFailure(err);
    throw err;
  }
  // the netns's identity, as the plan's first step answered it (netns-identity.ts)
  markReadySoon(ctx, rec.id, identityOf(results[0]));
  return new Endpoint(ctx, { ...rec, state: 'ready' });
}

/**
 * What gc needs to rebuild the inside of the netns later (heal.ts): the extra routes, and
 * whether the default route is this endpoint's (the first network of a netns has it).
 * Stored with the intent; the ready mark merges its own keys in (state/endpoints.ts).
 */
function intentData(routes: EndpointPlanInput['routes'], defaultRoute: boolean): { routes?: EndpointPlanInput['routes']; defaultRoute?: false } {
  return { ...(routes.length > 0 ? { routes } : {}), ...(defaultRoute ? {} : { defaultRoute: false as const }) };
}

/** What the guard reads of an attach (its host veth, MAC and addresses). */
function guardEndpoint(input: EndpointPlanInput): GuardEndpoint {
  return { hostIfname: input.hostIfname, mac: input.mac, ip: input.ip ?? '', ...(input.ip6 !== undefined ? { ip6: input.ip6 } : {}) };
}

/** The nsfs identity (device, inode) of a netns path. */
function nsIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Refuse the host's own netns (or this process's) as a container, by identity: attaching it
 * would add eth0 and a default route to the host itself (issue 10 item 10).
 */
export function refuseHostNetns(ctx: HostContext, path: string): void {
  const given = nsIdentity(path);
  if (given === undefined) return;
  const host = ctx.hostNsPath !== undefined ? nsIdentity(ctx.hostNsPath) : undefined;
  const own = nsIdentity('/proc/thread-self/ns/net') ?? nsIdentity('/proc/self/ns/net');
  if (given === host || given === own) {
    const which = given === host || ctx.hostNsPath === undefined ? 'the host netns' : "this process's own netns";
    throw new InvalidInputError(`attach ${path}: it is ${which} (same nsfs inode), not a container; a container needs a netns of its own`);
  }
}

/** Undo what a failed attach did, from its step results; then forget it in the state. */
async function rollbackAttach(ctx: HostContext, rec: EndpointRecord, created: boolean, results: readonly StepResult[]): Promise<void> {
  const nsOk = results[0]?.ok === true;
  const vethOk = results[VETH_STEP]?.ok === true;
  const steps: Labelled[] = [];
  if (created && nsOk) steps.push({ step: { kind: 'netnsDelete', path: rec.netns, ...identityOf(results[0]) }, label: `delete netns ${rec.netns}` });
  else if (vethOk && rec.hostIfname !== undefined) steps.push(...deleteHostVethSteps(ctx.hostNs, rec.hostIfname));
  try {
    if (steps.length > 0) {
      const r = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
      const errors = allFailures(steps, r);
      if (errors.length > 0) throw new AggregateCtnetError('rollback', errors);
    }
  } finally {
    ctx.store.finishDetach(rec.id);
  }
}

/** Mode "host": the container shares the host's netns; nothing to build, only recorded. Twice: the same endpoint. */
export function attachHost(ctx: HostContext, netns?: string): EndpointInfo {
  const r = netns !== undefined ? resolveNetns(netns) : undefined;
  const path = r?.path ?? ctx.hostNsPath ?? `/proc/${process.pid}/ns/net`;
  if (netns !== undefined && !existsSync(path)) {
    throw new CtnetError(`attach ${netns} (mode host): netns ${path} not found (host mode never creates one)`, CODE.notFound);
  }
  return ctx.store.transaction(() => {
    const same = ctx.store.listEndpoints({ netns: path }).find((e) => e.mode === 'host');
    if (same !== undefined) return endpointInfo(same, undefined);
    const rec = ctx.store.beginAttach({ mode: 'host', netns: path, ...(r?.name !== undefined ? { netnsName: r.name } : {}), data: selfOwner() });
    ctx.store.markReady(rec.id);
    return endpointInfo(rec, undefined);
  });
}

/**
 * Mode "none": the container's own netns (created if missing) with only lo up. Twice: the
 * same endpoint; a netns already on a bridge network is refused (it would not have only lo).
 */
export async function attachNone(ctx: HostContext, netns: string): Promise<EndpointInfo> {
  const r = resolveNetns(netns);
  const create = r.name !== undefined && !existsSync(r.path);
  if (!create) refuseHostNetns(ctx, r.path);
  const found = ctx.store.transaction(() => {
    const on = ctx.store.listEndpoints({ netns: r.path });
    const same = on.find((e) => e.mode === 'none');
    if (same !== undefined) return { same };
    const bridged = on.filter((e) => e.mode === 'bridge');
    if (bridged.length > 0) {
      throw new CtnetError(`attach ${netns} (mode none): it is attached to network ${bridged.map((e) => e.network ?? '').join(', ')}; ` +
        'a none-mode netns has only lo (detach it first)', CODE.busy);
    }
    return { rec: ctx.store.beginAttach({ mode: 'none', netns: r.path, ...(r.name !== undefined ? { netnsName: r.name } : {}), ownsNetns: create, data: selfOwner() }) };
  });
  if (found.same !== undefined) return endpointInfo(found.same, undefined);
  const rec = found.rec;
  const steps: Labelled[] = [
    create ? { step: { kind: 'netnsCreate', path: r.path }, label: `create netns ${r.path}` } : { step: { kind: 'netnsOpen', path: r.path }, label: `open netns ${r.path}` },
    rtnlStep({ slot: 0 }, [{ op: 'linkSet', link: 'lo', up: true }], `set lo up in ${r.path}`),
  ];
  const results = await ctx.backend.run({ steps: steps.map((s) => s.step) });
  const err = firstFailure(steps, results);
  if (err !== undefined) {
    if (create && results[0]?.ok === true) await ctx.backend.run({ steps: [{ kind: 'netnsDelete', path: r.path, ...identityOf(results[0]) }] }).catch(() => undefined);
    ctx.store.finishDetach(rec.id);
    throw err.withContext(`attach ${netns} (mode none)`);
  }
  ctx.store.markReady(rec.id, { data: identityData(identityOf(results[0])) });
  return endpointInfo(rec, undefined);
}
