/**
 * topology/after-detach.ts — what a detach leaves to just after it returns: its anti-spoofing
 * element and the conntrack entries of its addresses, removed for every detach of a 50 ms
 * window in ONE plan, off the caller's path.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Life of an attach" (detach) and "Kernel facts").
 * Why not in the detach's own plan:
 *   - conntrack: a ctnetlink dump walks the kernel's whole conntrack hash table (262144
 *     buckets here, ~3 ms even with one entry); the addon gives consecutive conntrackDelete
 *     steps one dump, so a window of detaches pays one walk (conntrack.ts has the filters).
 *   - the guard element: a set-element transaction right after a netns unmount costs the
 *     detach 0.3–0.6 ms (it is ~50 us on its own: it waits on the kernel's teardown of the
 *     previous netns), and it protects nothing any more — the detach's plan has already taken
 *     the host veth down and off the bridge, so no frame enters the bridge through it. Host
 *     veth names are unique per endpoint, so a late removal never meets another endpoint's.
 * Order guarantees: the addresses stay leased until this has run (linger.ts releases lingering
 * addresses only after `flushAfterDetach`), so no new container gets an address before its old
 * flows are gone; a publish takes the queued address cleanups into its own plan
 * (takeAddressFlows); `close()` runs the window at once and waits. A process killed in between
 * leaves its guard elements to gc and its flows to their conntrack timeout. Failures are
 * logged, never the detach's: a missing table is noticed by the firewall (restored with what
 * the state knows, which no longer includes this endpoint).
 */
import { firstFailure, type Labelled } from '../backend/result.js';
import { isMissingTable, joinBatches, removeGuardBatch, type ElementBatch, type GuardEndpoint } from '../firewall/index.js';
import type { HostContext } from './context.js';
import { addressFlowSteps, reportConntrack } from './conntrack.js';

/** The window (ms): the detaches in it share one plan. */
const AFTER_DETACH_MS = 50;

interface Pending { flows: Labelled[]; guards: GuardEndpoint[]; start: () => void }
const pending = new WeakMap<HostContext, Pending>();
const running = new WeakMap<HostContext, Promise<void>>();

/** Queue a detached endpoint's guard element and address flows for the window's plan. */
export function scheduleAfterDetach(ctx: HostContext, ep: { readonly ip?: string; readonly ip6?: string }, guard?: GuardEndpoint): void {
  const flows = addressFlowSteps(ctx, ep);
  if (flows.length === 0 && guard === undefined) return;
  const queued = pending.get(ctx);
  if (queued !== undefined) {
    queued.flows.push(...flows);
    if (guard !== undefined) queued.guards.push(guard);
    return;
  }
  let start = (): void => undefined;
  const begun = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, AFTER_DETACH_MS);
    start = () => { clearTimeout(timer); resolve(); };
  });
  pending.set(ctx, { flows, guards: guard !== undefined ? [guard] : [], start });
  const p = begun.then(() => runWindow(ctx));
  ctx.background.add(p);
  running.set(ctx, p);
  void p.finally(() => {
    ctx.background.delete(p);
    if (running.get(ctx) === p) running.delete(ctx);
  });
}

async function runWindow(ctx: HostContext): Promise<void> {
  const w = pending.get(ctx);
  pending.delete(ctx);
  if (w === undefined || !ctx.store.isOpen) return;
  if (w.guards.length > 0) await removeGuards(ctx, w.guards);
  if (w.flows.length === 0) return;
  // No tracked flow at all in the host netns (nf_conntrack_count is per netns): nothing to
  // delete, and no table walk. Unknown (no conntrack module): try the cleanup anyway.
  const count = await ctx.backend.run({ steps: [{ kind: 'sysctl', ns: ctx.hostNs, key: 'net/netfilter/nf_conntrack_count' }] }).catch(() => undefined);
  const c = count?.[0];
  if (c?.ok === true && c.value?.trim() === '0') return;
  const results = await ctx.backend.run({ steps: w.flows.map((b) => b.step), stopOnError: false }).catch(() => undefined);
  if (results !== undefined) reportConntrack(ctx, w.flows, results);
}

/** The guard elements of the window's detaches, as one transaction. */
async function removeGuards(ctx: HostContext, guards: readonly GuardEndpoint[]): Promise<void> {
  if (!ctx.fw.active) return;
  let batch: ElementBatch;
  try {
    const parts = guards.map((g) => removeGuardBatch(g, ctx.fw.ruleOpts));
    batch = { json: joinBatches(parts.map((b) => b.json)), native: parts.flatMap((b) => b.native ?? []) };
  } catch (e) {
    ctx.warn(`after detach: ${(e as Error).message}`);
    return;
  }
  const label = `remove the anti-spoofing elements of ${guards.map((g) => g.hostIfname).join(', ')}`;
  try {
    const fw = ctx.fw.contribute(batch, label);
    if (fw.steps.length > 0) {
      const err = firstFailure(fw.steps, await ctx.backend.run({ steps: fw.steps.map((s) => s.step) }));
      if (err !== undefined) throw err;
    }
    await fw.applyRest();
  } catch (e) {
    if (isMissingTable(e)) { ctx.fw.noticeFailure(e); return; }
    ctx.warn(`after detach: ${(e as Error).message} (gc removes them)`);
  }
}

/**
 * Run the queued window now and wait for it (and for one already under way): before
 * lingering addresses are released (linger.ts) and when the host closes.
 */
export async function flushAfterDetach(ctx: HostContext): Promise<void> {
  pending.get(ctx)?.start();
  await running.get(ctx);
}

/**
 * The address cleanups still queued by detaches (and forget them): a publish puts them in its
 * own plan, before its own conntrack steps, so a host port handed to another container right
 * after a detach never meets the old container's flows; one already running is waited for.
 */
export async function takeAddressFlows(ctx: HostContext): Promise<Labelled[]> {
  const queued = pending.get(ctx);
  let taken: Labelled[] = [];
  if (queued !== undefined) {
    taken = queued.flows;
    queued.flows = [];
  }
  await running.get(ctx); // a cleanup already under way finishes first
  return taken;
}
