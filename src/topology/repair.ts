/**
 * topology/repair.ts — make the kernel match the state again where someone changed it
 * behind our back: our nftables tables and elements (after `nft flush ruleset`, a firewall
 * reload, a kill -9 between a publish's state and its nft batch) and the bridge ports of
 * host veths (after a bridge was deleted and re-created). Used by gc, by the Firewall when
 * it finds our tables gone (setRestore), and by resident processes (watchFirewall).
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Firewall model" and "State model"). The state is
 * the truth; everything here is idempotent.
 */
import type { Link } from '../model/plan.js';
import { codeOf } from '../model/errors.js';
import { endpointAlias } from '../model/names.js';
import { addNetworkElements, asCreate, attachElements, joinBatches, removeGuardElements, removeNetworkElements, unpublishElements } from '../firewall/index.js';
import type { EndpointRecord, NetworkRecord } from '../state/index.js';
import type { HostContext } from './context.js';
import { claimed } from './network-claims.js';
import { reattachPortSteps } from './plans.js';
import { firewallEndpoint, networkView } from './records.js';

/** How often a watching process looks at our tables (ms). */
export const WATCH_INTERVAL_MS = 500;

const contexts = new WeakMap<object, HostContext>();

/**
 * Called once by Host's constructor: remembers the host's context (for watchFirewall) and
 * tells its firewall where to find every element to restore when our tables vanish.
 */
export function adoptContext(host: object, ctx: HostContext): void {
  contexts.set(host, ctx);
  let restored: readonly StateElements[] = [];
  ctx.fw.setRestore(() => {
    // read under the store's write lock: no network is half-removed in what we read
    restored = ctx.store.transaction(() => stateElements(ctx));
    return restored.map((e) => e.json);
  }, () => settleRestore(ctx, restored));
}

/**
 * After a restore: a network removed (or being removed) since the restore read the state
 * may have had its elements put back after its `network rm` took them out (issue 10 item
 * 5). Take those out again; rm's own removal, which follows its 'removing' mark, makes the
 * same change, so whichever runs last leaves them out.
 */
async function settleRestore(ctx: HostContext, restored: readonly StateElements[]): Promise<void> {
  const opts = ctx.fw.ruleOpts;
  for (const { what, network: n, endpoint: ep } of restored) {
    let undo: string | undefined;
    if (n !== undefined && (ctx.store.getNetwork(n.name)?.id !== n.id || claimed(ctx, 'removing', n.name))) {
      undo = removeNetworkElements(networkView(n), opts);
    } else if (ep?.hostIfname !== undefined && ep.mac !== undefined && [undefined, 'detaching'].includes(ctx.store.getEndpoint(ep.id)?.state)) {
      undo = joinBatches([removeGuardElements({ hostIfname: ep.hostIfname, mac: ep.mac, ...firewallEndpoint(ep) }, opts),
        ...ep.ports.length > 0 ? [unpublishElements(firewallEndpoint(ep), ep.ports, opts)] : []]);
    }
    if (undo !== undefined) await ctx.fw.apply(undo).catch((e: Error) => ctx.warn(`restore: take ${what} (removed meanwhile) out of the firewall: ${e.message}`));
  }
}

/** One batch of elements the state says must be in our tables, what it is for, and whose they are. */
interface StateElements {
  readonly what: string;
  readonly json: string;
  readonly network?: NetworkRecord;
  readonly endpoint?: EndpointRecord;
}

/**
 * Every network's elements, and every endpoint's guard and published ports, from the state.
 * A network being removed (network rm holds its 'removing' claim) is left out.
 */
export function stateElements(ctx: HostContext): StateElements[] {
  const opts = ctx.fw.ruleOpts;
  const nets = ctx.store.listNetworks().filter((n) => !claimed(ctx, 'removing', n.name));
  const out: StateElements[] = nets.map((n) => ({ what: `network ${n.name}`, json: addNetworkElements(networkView(n), opts), network: n }));
  for (const ep of ctx.store.listEndpoints()) {
    if (ep.mode !== 'bridge' || ep.state === 'detaching' || ep.hostIfname === undefined || (ep.ip ?? ep.ip6) === undefined || ep.mac === undefined) continue;
    const guard = { hostIfname: ep.hostIfname, mac: ep.mac, ...firewallEndpoint(ep) };
    out.push({ what: `${ep.netns} (its guard${ep.ports.length > 0 ? ' and published ports' : ''})`, json: attachElements(guard, ep.ports, opts), endpoint: ep });
  }
  return out;
}

/** Try each command of `json` as a `create`: true when at least one was missing (and is now there). */
async function createEach(ctx: HostContext, json: string): Promise<boolean> {
  let created = false;
  for (const cmd of (JSON.parse(json) as { nftables: unknown[] }).nftables) {
    try {
      await ctx.fw.apply(asCreate(JSON.stringify({ nftables: [cmd] })));
      created = true;
    } catch (e) {
      if (codeOf(e) !== 'EEXIST') throw e;
    }
  }
  return created;
}

type Act = (what: string, fn: () => Promise<unknown>) => Promise<void>;

/**
 * gc: our tables there (else restored whole: base + every element), then every element the
 * state knows: each batch is first tried as `create` (EEXIST: it was there; success: it was
 * missing, and now is not), then `add` to fill a partial one. Elements in our tables that
 * the state does not know are not looked for (the nft step returns no listing).
 */
export async function repairFirewall(ctx: HostContext, act: Act, dryRun: boolean): Promise<void> {
  if (!ctx.fw.active) return;
  if (!await ctx.fw.tablesPresent()) {
    if (ctx.store.listNetworks().length === 0) return; // nothing of ours belongs there
    await act('restore our firewall tables (they were removed): base rules, every network and published port', async () => {
      ctx.fw.forgetBase();
      await ctx.fw.ensureBase();
    });
    return;
  }
  if (dryRun) return; // telling missing elements from present ones means writing them
  for (const e of stateElements(ctx)) {
    // the whole batch as `create` first (all missing: one call); some there: command by command
    let missing: boolean;
    try {
      await ctx.fw.apply(asCreate(e.json));
      missing = true;
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') {
        await act(`restore the firewall elements of ${e.what}`, () => ctx.fw.apply(e.json));
        continue;
      }
      try {
        missing = await createEach(ctx, e.json);
        await ctx.fw.apply(e.json); // a command of several elements, some there: add fills the rest
      } catch {
        await act(`restore the firewall elements of ${e.what}`, () => ctx.fw.apply(e.json));
        continue;
      }
    }
    if (missing) await act(`restore the firewall elements of ${e.what} (some were missing)`, () => Promise.resolve());
  }
  await removeStrayGuards(ctx, act);
}

/**
 * gc: the anti-spoofing elements of endpoints the state no longer knows (a detach killed
 * between its teardown and its state change, an older version's detach) are removed. The
 * table is listed BEFORE the state is read: an attach records its endpoint before adding its
 * guard and a detach removes the guard before the endpoint, so an element listed and not in
 * the state read after it is really a stray. Only elements of this store's host veths.
 */
async function removeStrayGuards(ctx: HostContext, act: Act): Promise<void> {
  // only this store's host veths (their names carry its tag): another store's are its own
  const ours = `ctv${ctx.store.ifnameTag}`;
  const listed = (await ctx.fw.guardElements()).filter((g) => g.hostIfname.startsWith(ours));
  if (listed.length === 0) return;
  const key = (g: { hostIfname?: string; mac?: string }, ip: string | undefined): string => `${g.hostIfname ?? ''}|${(g.mac ?? '').toLowerCase()}|${ip ?? ''}`;
  const known = new Set<string>();
  for (const ep of ctx.store.listEndpoints()) {
    if (ep.state === 'detaching') continue;
    known.add(key(ep, ep.ip));
    if (ep.ip6 !== undefined) known.add(key(ep, ep.ip6));
  }
  for (const g of listed) {
    if (known.has(key(g, g.ip ?? g.ip6))) continue;
    await act(`remove the anti-spoofing element of ${g.hostIfname} (${g.mac}, ${g.ip ?? g.ip6 ?? ''}): no endpoint has it`, () =>
      ctx.fw.apply(removeGuardElements(g, ctx.fw.ruleOpts)));
  }
}

/**
 * gc: every ready bridge-mode endpoint's host veth (ours by alias) is up and a port of its
 * network's bridge — as the attach made it. A bridge deleted and re-created leaves its old
 * ports masterless; containers then reach nothing.
 */
export async function repairBridgePorts(ctx: HostContext, links: readonly Link[], act: Act): Promise<void> {
  const byName = new Map(links.map((l) => [l.name, l]));
  const bridges = new Map(ctx.store.listNetworks().map((n) => [n.name, byName.get(n.bridge)]));
  for (const ep of ctx.store.listEndpoints({ state: 'ready' })) {
    if (ep.mode !== 'bridge' || ep.hostIfname === undefined || ep.network === undefined) continue;
    const br = bridges.get(ep.network);
    const link = byName.get(ep.hostIfname);
    if (br === undefined || link === undefined || link.alias !== endpointAlias(ep.id)) continue;
    if (link.master === br.index && link.up) continue;
    await act(`put ${ep.hostIfname} of ${ep.netns} back on bridge ${br.name}`, async () => {
      const steps = reattachPortSteps(ctx.hostNs, link.index, br.index, `put ${ep.hostIfname} back on bridge ${br.name}`);
      const [r] = await ctx.backend.run({ steps: steps.map((s) => s.step) });
      if (r?.ok !== true) throw new Error(`${steps[0]?.label ?? ''}: ${r !== undefined && 'error' in r ? r.error.message ?? r.error.code : 'failed'}`);
    });
  }
}

/**
 * For a resident process (the daemon): every WATCH_INTERVAL_MS, look whether our tables are
 * still there (one libnftables list of a chain per family: ~0.1 ms) and, when someone
 * removed them, restore them whole from the state and call `onRestore`. A periodic check
 * stands in for nftables netlink events (NFNLGRP_NFTABLES), which need native work. Stops
 * when the host closes, or when the returned function is called; the timer never keeps
 * the process alive.
 */
export function watchFirewall(host: object, onRestore: (e?: Error) => void = () => undefined): () => void {
  const ctx = contexts.get(host);
  if (ctx === undefined) throw new TypeError('watchFirewall: not a Host');
  let busy = false;
  const timer = setInterval(() => {
    if (!ctx.store.isOpen) { clearInterval(timer); return; }
    if (busy) return;
    busy = true;
    let active = false;
    try { active = ctx.fw.active; } catch { /* no nftables: nothing to watch */ }
    (active ? ctx.fw.restoreIfVanished() : Promise.resolve(false))
      .then((restored) => { if (restored) onRestore(); }, (e: Error) => onRestore(e))
      .finally(() => { busy = false; });
  }, WATCH_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
