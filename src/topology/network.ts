/**
 * topology/network.ts — Network: one bridge network as the library hands it out (attach,
 * endpoints, remove), and the kernel side of a network: created or checked as one plan,
 * torn down best-effort.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Life of an attach" and "Firewall model"). A
 * network's firewall elements ride in its plan when the firewall driver allows it
 * (Firewall.contribute); topology never names a firewall backend.
 *
 * "Already gone" is not a failure when a network is torn down, by step and code:
 *   rtnl ENODEV   its bridge was deleted already
 *   nft ENOENT    our table is gone, so are the network's elements (the firewall is told)
 *
 * Races between processes (issue 10 item 5) are decided by the store, atomically: the claims
 * (network-claims.ts) say who is creating or removing a network. A create that finds the
 * network being created waits for its creator instead of building it twice; a rollback
 * deletes only the bridge its own plan made (by ifindex); `remove` marks the network first,
 * so a new attach fails cleanly, then waits for the attaches in flight and detaches them.
 */
import type { Link, StepResult } from '../model/plan.js';
import { AggregateCtnetError, CtnetError, CODE, codeOf } from '../model/errors.js';
import type { AttachOptions, EndpointInfo, NetworkInfo, NetworkSpec } from '../model/types.js';
import { firstFailure, rtnlStep, type Labelled } from '../backend/result.js';
import { addNetworkElements, isMissingTable, removeNetworkElements } from '../firewall/index.js';
import type { NetworkRecord } from '../state/index.js';
import { hostLinkOp, notFound, teardownFailures, type GoneRule, type HostContext } from './context.js';
import { attachBridge } from './attach.js';
import { detachRecord } from './detach.js';
import { flushAfterDetach } from './after-detach.js';
import type { Endpoint } from './endpoint.js';
import { checkHostOverlap, claim, claimed, releaseClaim, waitForAttaches, waitUntilUnclaimed } from './network-claims.js';
import { networkSteps, networkSysctls, removeNetworkSteps, type NetworkView } from './plans.js';
import { flushReady } from './ready.js';
import { endpointInfo, networkInfo, networkView } from './records.js';

const NETWORK_GONE: GoneRule = { rtnl: ['ENODEV'], nft: ['ENOENT'] };

export class Network {
  readonly #ctx: HostContext;
  readonly #rec: NetworkRecord;
  readonly #net: NetworkView;

  /** @internal */
  constructor(ctx: HostContext, rec: NetworkRecord) {
    this.#ctx = ctx;
    this.#rec = rec;
    this.#net = networkView(rec);
  }

  /** What the network is now (e.g. its endpoint count). Reads the state: one query. */
  get info(): NetworkInfo {
    return networkInfo(this.#ctx.store.getNetwork(this.#rec.name) ?? this.#rec);
  }
  get name(): string { return this.#rec.name; }

  /**
   * Attach a container netns: one plan (netns, veth with the peer born inside it and the host
   * end on the bridge, lo/eth0 up, address, routes, published ports). Rolls back on failure.
   */
  async attach(opts: AttachOptions): Promise<Endpoint> {
    const ctx = this.#ctx;
    const wrap = (e: unknown): unknown => (e instanceof CtnetError ? e.withContext(`attach ${opts.netns} to network ${this.#rec.name}`) : e);
    const knownBridge = ctx.bridgeIndex.get(this.#rec.name);
    try {
      return await attachBridge(ctx, this.#net, opts);
    } catch (e) {
      // A long-lived Host (the agent) whose firewall tables or bridge were removed behind its
      // back: the failed attach left nothing (rolled back); put back what this network needs
      // (the base ruleset with every element the state knows; the bridge, its gateway and
      // elements) and try once more, as a fresh process would.
      if (!await this.#damaged(e, knownBridge)) throw wrap(e);
      try {
        // a bridge not there YET (another process is creating this network): wait for its
        // creator, never build it beside it (its create would then fail EEXIST)
        await waitUntilUnclaimed(ctx, 'creating', this.#rec.name);
        await ctx.fw.ensureBase();
        // Rebuild under the 'creating' claim, taken only while the network is still stored
        // and not being removed: a `network rm` racing this waits for the claim before it
        // tears down (remove()), so a bridge rebuilt here never outlives its network.
        const name = this.#rec.name;
        const mine = ctx.store.transaction(() => {
          const now = ctx.store.getNetwork(name);
          if (now === undefined || now.id !== this.#rec.id || claimed(ctx, 'removing', name) || claimed(ctx, 'creating', name)) return false;
          claim(ctx, 'creating', now);
          return true;
        });
        if (!mine) throw e;
        try {
          ctx.bridgeIndex.set(name, await ensureNetworkKernel(ctx, this.#net, false));
        } finally {
          ctx.store.transaction(() => releaseClaim(ctx, 'creating', name));
        }
        return await attachBridge(ctx, this.#net, opts);
      } catch (e2) {
        throw wrap(e2);
      }
    }
  }

  /**
   * Whether an attach failed because our tables or this network's bridge are gone, or the
   * bridge was re-created with another ifindex than the one we knew (checked, not guessed).
   */
  async #damaged(e: unknown, knownBridge: number | undefined): Promise<boolean> {
    if (isMissingTable(e)) return true;
    const code = codeOf(e);
    if (code !== 'ENODEV' && code !== 'EINVAL') return false;
    const ctx = this.#ctx;
    const link = await hostLinkOp<Link>(ctx, { op: 'linkGet', link: this.#net.bridge }).catch(() => undefined);
    if (link !== undefined && link.kind === 'bridge' && (knownBridge === undefined || link.index === knownBridge)) return false;
    ctx.bridgeIndex.delete(this.#rec.name);
    return link === undefined || link.kind === 'bridge';
  }

  /** Attach several netns one after the other (one process, one start-up). Stops at the first failure. */
  async attachMany(list: readonly AttachOptions[], onProgress?: (done: number, total: number) => void): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    for (const o of list) {
      out.push(await this.attach(o));
      onProgress?.(out.length, list.length);
    }
    return out;
  }

  async endpoints(): Promise<EndpointInfo[]> {
    return this.#ctx.store.listEndpoints({ network: this.#rec.name }).map((r) => endpointInfo(r, this.#rec));
  }

  /**
   * Remove the network: refused while endpoints exist unless `force` (which detaches them
   * first). The network is marked "removing" in the store first: from then on an attach to
   * it fails (EBUSY); the attaches already in flight are waited for, then detached.
   */
  async remove(opts: { force?: boolean } = {}): Promise<void> {
    const ctx = this.#ctx;
    const name = this.#rec.name;
    ctx.store.transaction(() => {
      const now = ctx.store.getNetwork(name);
      if (now === undefined || now.id !== this.#rec.id) throw notFound(`network "${name}"`);
      const eps = ctx.store.listEndpoints({ network: name });
      if (eps.length > 0 && opts.force !== true) {
        throw new CtnetError(`remove network ${name}: it still has ${eps.length} endpoint(s) (e.g. ${eps[0]?.netns}); detach them or use force`, CODE.busy);
      }
      claim(ctx, 'removing', now);
    });
    try {
      await waitForAttaches(ctx, name);
      // an attach rebuilding this network's bridge (attach()'s repair) finishes first
      await waitUntilUnclaimed(ctx, 'creating', name);
      const errors: Error[] = [];
      for (const ep of ctx.store.listEndpoints({ network: name })) await detachRecord(ctx, ep).catch((e: Error) => errors.push(e));
      await flushAfterDetach(ctx); // their guard elements and flows go with the network, not after
      if (errors.length > 0) throw new AggregateCtnetError(`remove network ${name}`, errors);
      await teardownNetworkKernel(ctx, this.#net);
      ctx.store.transaction(() => {
        ctx.store.deleteNetwork(name);
        releaseClaim(ctx, 'removing', name);
      });
    } catch (e) {
      // the network stays (partly detached): attaches may use it again, rm may be retried
      releaseClaim(ctx, 'removing', name);
      throw e;
    }
    ctx.bridgeIndex.delete(name);
    // the last network gone: leave nothing of ours in the firewall either
    if (ctx.store.listNetworks().length === 0 && ctx.fw.active) await ctx.fw.removeAll();
  }
}

/**
 * Create a network, or check an identical one exists (then make sure its kernel state is
 * there). Only a network that does not exist yet is checked against the host's addresses
 * and routes. Idempotent under races: the store picks one creator; the others wait for it
 * and return the same network without creating anything.
 */
export async function createNetwork(ctx: HostContext, spec: NetworkSpec): Promise<Network> {
  for (let attempt = 1; ; attempt++) {
    if (ctx.store.getNetwork(spec?.name) === undefined) await checkHostOverlap(ctx, spec);
    const { network: rec, created } = ctx.store.transaction(() => {
      const r = ctx.store.putNetwork(spec, { existOk: true });
      if (claimed(ctx, 'removing', r.network.name)) {
        throw new CtnetError(`network "${r.network.name}" is being removed; create it again once \`network rm\` has finished`, CODE.busy);
      }
      if (r.created) claim(ctx, 'creating', r.network);
      return r;
    });
    const net = networkView(rec);
    if (!created) {
      // another call is creating it right now: its kernel work is its own; wait for it
      await waitUntilUnclaimed(ctx, 'creating', rec.name);
      if (ctx.store.getNetwork(rec.name)?.id !== rec.id) {
        if (attempt < 3) continue; // its creator failed and rolled back: try again ourselves
        throw new CtnetError(`create network ${rec.name}: it was removed while being created; try again`, CODE.busy);
      }
    }
    try {
      ctx.bridgeIndex.set(net.name, await ensureNetworkKernel(ctx, net, created));
    } catch (e) {
      if (created) {
        // attaches of other processes may already use the record (they found it and the bridge):
        // then the network stays for them, and the caller still learns why its kernel work failed
        try {
          ctx.store.transaction(() => { ctx.store.deleteNetwork(net.name); releaseClaim(ctx, 'creating', net.name); });
        } catch (d) {
          releaseClaim(ctx, 'creating', net.name);
          ctx.warn(`create network ${net.name}: not rolled back: ${(d as Error).message}`);
        }
      } else if (codeOf(e) === 'EEXIST' && attempt < 3) {
        continue; // another process re-created the missing bridge at the same instant: look again
      }
      throw e instanceof CtnetError ? e.withContext(`create network ${spec.name}`) : e;
    }
    if (created) releaseClaim(ctx, 'creating', net.name);
    return new Network(ctx, rec);
  }
}

/**
 * Kernel side of a network, as one plan: the bridge with its gateway (unless it exists),
 * the sysctls, the firewall's elements; returns the bridge's ifindex. When this plan created
 * the bridge and then fails, it deletes that bridge (by its ifindex: never one someone else
 * made under the same name) and the firewall elements, and throws.
 */
export async function ensureNetworkKernel(ctx: HostContext, net: NetworkView, created: boolean): Promise<number> {
  const link = created ? undefined : await hostLinkOp<Link>(ctx, { op: 'linkGet', link: net.bridge });
  const steps: Labelled[] = [];
  if (link === undefined) steps.push(...networkSteps(ctx.hostNs, net, ctx.store.ifnameTag));
  // the new bridge's ifindex comes back right after its creation, in the same plan
  if (link === undefined) steps.push(rtnlStep(ctx.hostNs, [{ op: 'linkGet', link: net.bridge }], `look up bridge ${net.bridge}`));
  const lookup = steps.length - 1;
  steps.push(...networkSysctls(ctx.hostNs, net));
  const json = addNetworkElements(net, ctx.fw.ruleOpts);
  const fw = ctx.fw.active ? ctx.fw.contribute(json, `add network ${net.name} to the firewall`) : undefined;
  if (fw !== undefined) await ctx.fw.ensureBase();
  steps.push(...fw?.steps ?? []);
  let results: readonly StepResult[] = [];
  try {
    results = await ctx.backend.run({ steps: steps.map((s) => s.step) });
    const err = firstFailure(steps, results);
    if (err !== undefined) throw err.withContext(`network ${net.name}`);
    await fw?.applyRest();
  } catch (e) {
    ctx.fw.noticeFailure(e);
    if (link === undefined) await undoNetworkKernel(ctx, net, results, lookup).catch((u: Error) => ctx.warn(`rollback of network ${net.name}: ${u.message}`));
    throw e;
  }
  if (link !== undefined) return link.index;
  return madeBridge(results, lookup) ?? (() => { throw new CtnetError(`bridge ${net.bridge} vanished right after creation`, 'ENODEV'); })();
}

/** The ifindex of the bridge a network plan created (its lookup step's answer), if it did. */
function madeBridge(results: readonly StepResult[], lookup: number): number | undefined {
  const r = results[lookup];
  const got = r?.ok === true ? r.ops?.[0] : undefined;
  return got?.ok === true ? (got.value as Link).index : undefined;
}

/** Undo a failed network plan: only the bridge it created (by ifindex), and the firewall's elements. */
async function undoNetworkKernel(ctx: HostContext, net: NetworkView, results: readonly StepResult[], lookup: number): Promise<void> {
  const index = madeBridge(results, lookup);
  const steps: Labelled[] = index !== undefined ? [rtnlStep(ctx.hostNs, [{ op: 'linkDel', link: index }], `delete bridge ${net.bridge} (ifindex ${index})`)] : [];
  const fw = ctx.fw.active ? ctx.fw.contribute(removeNetworkElements(net, ctx.fw.ruleOpts), `remove network ${net.name} from the firewall`) : undefined;
  steps.push(...fw?.steps ?? []);
  const r = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
  const errors = teardownFailures(steps, r, NETWORK_GONE, (e) => ctx.fw.noticeFailure(e));
  await fw?.applyRest().catch((e: Error) => { if (!isMissingTable(e)) errors.push(e); });
  if (errors.length > 0) throw new AggregateCtnetError(`undo network ${net.name}`, errors);
}

/** Delete a network's bridge and firewall elements; every failure reported together. */
export async function teardownNetworkKernel(ctx: HostContext, net: NetworkView): Promise<void> {
  const errors: Error[] = [];
  const notice = (e: Error): void => ctx.fw.noticeFailure(e);
  const json = removeNetworkElements(net, ctx.fw.ruleOpts);
  const fw = ctx.fw.active ? ctx.fw.contribute(json, `remove network ${net.name} from the firewall`) : undefined;
  const steps = [...removeNetworkSteps(ctx.hostNs, net), ...fw?.steps ?? []];
  const results = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
  errors.push(...teardownFailures(steps, results, NETWORK_GONE, notice));
  await fw?.applyRest().catch((e: Error) => { if (isMissingTable(e)) notice(e); else errors.push(e); });
  if (errors.length > 0) throw new AggregateCtnetError(`remove network ${net.name}`, errors);
}
