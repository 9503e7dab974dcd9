/**
 * topology/gc.ts — reconcile the state with the kernel: finish or undo attaches whose
 * process died half-way, forget endpoints whose netns is gone, delete prewarmed namespaces
 * of ended processes, links and bridges tagged as ours that no state knows, and re-create
 * missing bridges of known networks.
 *
 * Also repairs what was changed behind our back: each ready endpoint's veth pair, addresses
 * and routes and each bridge's gateway (heal.ts); our nftables tables and every element the
 * state knows, and the bridge ports of host veths (repair.ts); and releases the addresses
 * of detached containers whose netns is finally gone (linger.ts).
 *
 * Layer: topology (docs/ARCHITECTURE.md, "State model"). Never touches what is not ours, nor
 * what another store made (model/names.ts): a host veth only with this store's name tag AND
 * an endpoint alias, a bridge only with this store's tag in its alias; a netns only if it
 * is still the one attached (netns-identity.ts: the cookie and inode recorded at attach go
 * with every netnsDelete, and a netnsOpen of each endpoint's netns tells a stranger's). An owner is alive only if its
 * pid runs and is the same process (its start time, or else it started before the row).
 */
import { existsSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Addr, Link, NetnsIdentity } from '../model/plan.js';
import { EnvironmentError } from '../model/errors.js';
import type { GcReport } from '../model/types.js';
import { endpointAlias, parseBridgeAlias, parseEndpointAlias } from '../model/names.js';
import { ownerAlive, processStartedAt } from '../util/proc.js';
import type { EndpointRecord } from '../state/index.js';
import { hostLinkOp, type HostContext } from './context.js';
import { detachRecord } from './detach.js';
import { flushAfterDetach } from './after-detach.js';
import { applyPorts } from './endpoint.js';
import { healEndpoints } from './heal.js';
import { checkLingering } from './linger.js';
import { ensureNetworkKernel } from './network.js';
import { deleteHostVethSteps, detachSteps } from './plans.js';
import { flushReady, readyData } from './ready.js';
import { identityOf, recordedNetns, strangerNetns } from './netns-identity.js';
import { networkView } from './records.js';
import { repairBridgePorts, repairFirewall } from './repair.js';

export interface GcOptions {
  readonly dryRun?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Whether a pending attach whose owner died got through its kernel work: the netns, the host
 * veth, and inside the netns the interface up with the address (the container's batch —
 * links up, address, routes — goes to the kernel in one sendmsg, so the address means the
 * batch was applied).
 */
async function attachComplete(ctx: HostContext, ep: EndpointRecord, hostLinks: ReadonlySet<string>): Promise<NetnsIdentity | undefined> {
  if (ep.mode !== 'bridge') return existsSync(ep.netns) ? {} : undefined;
  if (!existsSync(ep.netns) || ep.hostIfname === undefined || !hostLinks.has(ep.hostIfname) || (ep.ip ?? ep.ip6) === undefined) return undefined;
  const r = await ctx.backend.run({ steps: [{ kind: 'netnsOpen', path: ep.netns }, { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkGet', link: ep.ifname }, { op: 'addrList', family: ep.ip !== undefined ? 4 : 6 }] }] });
  const ops = r[1]?.ok === true ? r[1].ops : undefined;
  const link = ops?.[0]?.ok === true ? ops[0].value as Link : undefined;
  const addrs = ops?.[1]?.ok === true ? ops[1].value as readonly Addr[] : [];
  // complete: its identity is the one the ready mark records (the netns our veth is in)
  return link?.up === true && addrs.some((a) => a.index === link.index && a.local === (ep.ip ?? ep.ip6)) ? identityOf(r[0]) : undefined;
}

/**
 * Is the process that began this pending attach still at it? Its pid must run and be the
 * same process: the start time recorded with it, or — rows recorded with a pid only — a
 * process that started before the row was written (1 s: the clock's grain at boot).
 */
function ownerRunning(ep: EndpointRecord): boolean {
  const d = ep.data as { pid?: unknown; start?: unknown } | undefined;
  if (!ownerAlive(d?.pid, d?.start)) return false;
  if (typeof d?.start === 'number') return true;
  const started = processStartedAt(d?.pid as number);
  return started === undefined || started <= Date.parse(ep.createdAt) + 1000;
}

export async function runGc(ctx: HostContext, opts: GcOptions): Promise<GcReport> {
  const actions: string[] = [];
  const errors: string[] = [];
  const dry = opts.dryRun === true;
  const act = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    actions.push(what);
    if (dry) return;
    try { await fn(); } catch (e) { errors.push(`${what}: ${(e as Error).message}`); }
  };
  flushReady(ctx); // our own finished attaches are not "pending"
  const linkNames = async (): Promise<Link[]> => (await hostLinkOp<Link[]>(ctx, { op: 'linkList' })) ?? [];
  const firstLinks = await linkNames();
  const before = new Set(firstLinks.map((l) => l.name));
  const hostLink = new Map(firstLinks.map((l) => [l.name, l]));
  const eps = ctx.store.listEndpoints();
  // ready endpoints whose netns file now holds a stranger's netns (its identity differs)
  const strangers = await strangerNetns(ctx, eps.filter((e) => e.state === 'ready' && e.mode !== 'host' && existsSync(e.netns)));
  const total = eps.length;
  let done = 0;
  for (const ep of eps) {
    const complete = ep.state === 'pending' && !ownerRunning(ep) ? await attachComplete(ctx, ep, before) : undefined;
    if (ep.state === 'pending' && ownerRunning(ep)) {
      // its owner is alive: attaching it right now, or done and not yet marked
    } else if (complete !== undefined) {
      await act(`finish attach of ${ep.netns} (endpoint ${ep.id}): its owner ended after the kernel work`, async () => {
        // the published ports were the plan's last step: make sure they are there
        await applyPorts(ctx, ep, ep.ports, 'publish').catch(() => undefined);
        ctx.store.markReady(ep.id, { data: readyData(complete) });
      });
    } else if (ep.state !== 'ready') {
      await act(`${ep.state === 'pending' ? 'undo half-done attach' : 'finish detach'} of ${ep.netns} (endpoint ${ep.id})`, async () => {
        // netns and host veth in one plan, each tried whatever the other did; each only if
        // ours: the netns still the one attached (its recorded identity, if the attach got
        // that far; ESTALE otherwise, left alone), the veth carrying this endpoint's alias
        // (or, killed between the veth's create and its alias, none yet)
        const veth = ep.hostIfname !== undefined ? hostLink.get(ep.hostIfname) : undefined;
        const steps = [
          ...detachSteps({ netnsPath: ep.netns, ownsNetns: ep.ownsNetns, netns: recordedNetns(ep.data) }),
          ...(veth !== undefined && (veth.alias === endpointAlias(ep.id) || (ep.state === 'pending' && (veth.alias ?? '') === '')) ? deleteHostVethSteps(ctx.hostNs, veth.index) : []),
        ];
        if (steps.length > 0) await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
        if (ep.ownsNetns) removeHalfDeletedNetns(ep.netns);
        await applyPorts(ctx, ep, ep.ports, 'unpublish').catch(() => undefined);
        ctx.store.finishDetach(ep.id);
      });
    } else if (ep.mode !== 'host' && (strangers.has(ep.id) || !existsSync(ep.netns))) {
      // detachRecord's netnsDelete carries the identity: a stranger's netns is left alone
      await act(`forget endpoint ${ep.id}: its netns ${ep.netns} is gone${strangers.has(ep.id) ? ' (another netns took its name)' : ''}`, async () => {
        await detachRecord(ctx, ep).catch(() => undefined);
        if (ep.ownsNetns) removeHalfDeletedNetns(ep.netns);
      });
    }
    opts.onProgress?.(++done, total);
  }
  // what those detaches left to just after (their guard elements, their flows): now, not later
  if (!dry) await flushAfterDetach(ctx);
  // prewarmed namespaces (Host.prewarm) of processes that are gone
  for (const path of ctx.prewarmed.orphans()) {
    await act(`delete unused pre-created netns ${path} (its process ended)`, () =>
      ctx.backend.run({ steps: [{ kind: 'netnsDelete', path }] }));
  }
  // addresses of detached containers whose netns is finally gone
  const lingering = await checkLingering(ctx, dry);
  for (const id of lingering.released) actions.push(`release the addresses of detached endpoint ${id} (its netns is gone)`);
  // networks whose bridge vanished; bridges and veths tagged as ours that no state knows
  const links = await linkNames();
  const knownIfnames = new Set([...ctx.store.listEndpoints().map((e) => e.hostIfname), ...ctx.store.lingering().map((l) => l.hostIfname)]);
  const ours = `ctv${ctx.store.ifnameTag}`;
  const nets = ctx.store.listNetworks();
  const netNames = new Set(nets.map((n) => n.name));
  let recreated = false;
  for (const n of nets) {
    if (!links.some((l) => l.name === n.bridge)) {
      recreated = true;
      await act(`re-create bridge ${n.bridge} of network ${n.name}`, async () => {
        ctx.bridgeIndex.set(n.name, await ensureNetworkKernel(ctx, networkView(n), true));
      });
    }
  }
  for (const l of links) {
    // a host veth end is ours by this store's name tag and an endpoint alias
    if (l.kind === 'veth' && l.name.startsWith(ours) && parseEndpointAlias(l.alias) !== undefined && !knownIfnames.has(l.name)) {
      await act(`delete orphan veth ${l.name} (no endpoint uses it)`, () => ctx.backend.run({ steps: deleteHostVethSteps(ctx.hostNs, l.index).map((s) => s.step) }));
      continue;
    }
    // a bridge is ours by this store's tag in its alias; an old-form alias (no tag) could be
    // any store's: never deleted
    const br = l.kind === 'bridge' ? parseBridgeAlias(l.alias) : undefined;
    if (br?.storeTag === ctx.store.ifnameTag && !netNames.has(br.network)) {
      await act(`delete orphan bridge ${l.name} (network ${br.network} unknown)`, () => ctx.backend.run({ steps: [{ kind: 'rtnl', ns: ctx.hostNs, ops: [{ op: 'linkDel', link: l.index }] }] }));
    }
  }
  // each endpoint's veth pair, addresses and routes, each bridge's gateway; then bridge
  // ports and the firewall (a re-created veth's guard and ports), as the state says they are
  const current = recreated && !dry ? await linkNames() : links;
  try {
    await healEndpoints(ctx, current, dry, { actions, errors }, strangers);
  } catch (e) {
    errors.push(`check the endpoints against the kernel: ${(e as Error).message}`);
  }
  await repairBridgePorts(ctx, current, act);
  try {
    await repairFirewall(ctx, act, dry);
  } catch (e) {
    errors.push(`check the firewall: ${(e as Error).message}`);
  }
  if (dry) return { actions, errors };
  if (errors.length > 0 && actions.length === 0) throw new EnvironmentError(errors.join('; '));
  return { actions, errors };
}

/**
 * A netns delete is an unmount and then an unlink: a process killed between the two leaves
 * an empty plain file where the netns was (no longer a mount: it sits on the same filesystem
 * as its directory). That file names no netns at all, so removing it can harm no one;
 * anything else (a mounted netns: ours or a stranger's) is left to netnsDelete's identity check.
 */
function removeHalfDeletedNetns(file: string): void {
  try {
    const st = lstatSync(file);
    if (st.isFile() && st.size === 0 && st.dev === statSync(path.dirname(file)).dev) unlinkSync(file);
  } catch { /* gone already, or not ours to judge */ }
}
