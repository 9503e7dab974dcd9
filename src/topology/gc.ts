/**
 * topology/gc.ts — reconcile the state with the kernel: finish or undo attaches whose
 * process died half-way, forget endpoints whose netns is gone, delete prewarmed namespaces
 * of ended processes, links and bridges tagged as ours that no state knows, and re-create
 * missing bridges of known networks.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "State model"). Never touches a link that is not
 * ours: host veth ends by this store's name tag, bridges by their alias tag.
 */
import { existsSync } from 'node:fs';
import type { Addr, Link } from '../model/plan.js';
import { EnvironmentError } from '../model/errors.js';
import type { GcReport } from '../model/types.js';
import { ALIAS_PREFIX } from '../model/names.js';
import { processAlive } from '../util/proc.js';
import type { EndpointRecord } from '../state/index.js';
import { hostLinkOp, type HostContext } from './context.js';
import { detachRecord } from './detach.js';
import { applyPorts } from './endpoint.js';
import { ensureNetworkKernel } from './network.js';
import { deleteHostVethSteps, detachSteps } from './plans.js';
import { flushReady } from './ready.js';
import { networkView } from './records.js';

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
async function attachComplete(ctx: HostContext, ep: EndpointRecord, hostLinks: ReadonlySet<string>): Promise<boolean> {
  if (ep.mode !== 'bridge') return existsSync(ep.netns);
  if (!existsSync(ep.netns) || ep.hostIfname === undefined || !hostLinks.has(ep.hostIfname) || ep.ip === undefined) return false;
  const r = await ctx.backend.run({ steps: [{ kind: 'netnsOpen', path: ep.netns }, { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkGet', link: ep.ifname }, { op: 'addrList', family: 4 }] }] });
  const ops = r[1]?.ok === true ? r[1].ops : undefined;
  const link = ops?.[0]?.ok === true ? ops[0].value as Link : undefined;
  const addrs = ops?.[1]?.ok === true ? ops[1].value as readonly Addr[] : [];
  return link?.up === true && addrs.some((a) => a.index === link.index && a.local === ep.ip);
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
  const before = new Set((await linkNames()).map((l) => l.name));
  const eps = ctx.store.listEndpoints();
  const total = eps.length;
  let done = 0;
  for (const ep of eps) {
    const owner = (ep.data as { pid?: unknown } | undefined)?.pid;
    if (ep.state === 'pending' && processAlive(owner)) {
      // its owner is alive: attaching it right now, or done and not yet marked
    } else if (ep.state === 'pending' && await attachComplete(ctx, ep, before)) {
      await act(`finish attach of ${ep.netns} (endpoint ${ep.id}): its owner ended after the kernel work`, async () => {
        // the published ports were the plan's last step: make sure they are there
        await applyPorts(ctx, ep, ep.ports, 'publish').catch(() => undefined);
        ctx.store.markReady(ep.id);
      });
    } else if (ep.state !== 'ready') {
      await act(`${ep.state === 'pending' ? 'undo half-done attach' : 'finish detach'} of ${ep.netns} (endpoint ${ep.id})`, async () => {
        // netns and host veth in one plan, each tried whatever the other did
        const steps = [
          ...detachSteps({ netnsPath: ep.netns, ownsNetns: ep.ownsNetns }),
          ...(ep.hostIfname !== undefined ? deleteHostVethSteps(ctx.hostNs, ep.hostIfname) : []),
        ];
        if (steps.length > 0) await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
        await applyPorts(ctx, ep, ep.ports, 'unpublish').catch(() => undefined);
        ctx.store.finishDetach(ep.id);
      });
    } else if (ep.mode !== 'host' && !existsSync(ep.netns)) {
      await act(`forget endpoint ${ep.id}: its netns ${ep.netns} is gone`, async () => {
        await detachRecord(ctx, ep).catch(() => undefined);
      });
    }
    opts.onProgress?.(++done, total);
  }
  // prewarmed namespaces (Host.prewarm) of processes that are gone
  for (const path of ctx.prewarmed.orphans()) {
    await act(`delete unused pre-created netns ${path} (its process ended)`, () =>
      ctx.backend.run({ steps: [{ kind: 'netnsDelete', path }] }));
  }
  // networks whose bridge vanished; bridges and veths tagged as ours that no state knows
  const links = await linkNames();
  const knownIfnames = new Set(ctx.store.listEndpoints().map((e) => e.hostIfname));
  const ours = `ctv${ctx.store.ifnameTag}`;
  const nets = ctx.store.listNetworks();
  const netNames = new Set(nets.map((n) => n.name));
  for (const n of nets) {
    if (!links.some((l) => l.name === n.bridge)) {
      await act(`re-create bridge ${n.bridge} of network ${n.name}`, async () => {
        ctx.bridgeIndex.set(n.name, await ensureNetworkKernel(ctx, networkView(n), true));
      });
    }
  }
  for (const l of links) {
    // host veth ends are ours by name (this store's tag), bridges by their alias tag
    if (l.kind === 'veth' && l.name.startsWith(ours) && !knownIfnames.has(l.name)) {
      await act(`delete orphan veth ${l.name} (no endpoint uses it)`, () => ctx.backend.run({ steps: deleteHostVethSteps(ctx.hostNs, l.name).map((s) => s.step) }));
      continue;
    }
    const alias = l.alias ?? '';
    if (!alias.startsWith(ALIAS_PREFIX)) continue;
    const [, kind, id] = /^ctnet:(br):(.*)$/.exec(alias) ?? [];
    if (kind === 'br' && id !== undefined && !netNames.has(id)) {
      await act(`delete orphan bridge ${l.name} (network ${id} unknown)`, () => ctx.backend.run({ steps: [{ kind: 'rtnl', ns: ctx.hostNs, ops: [{ op: 'linkDel', link: l.name }] }] }));
    }
  }
  if (dry) return { actions, errors };
  if (errors.length > 0 && actions.length === 0) throw new EnvironmentError(errors.join('; '));
  return { actions, errors };
}
