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
 */
import type { Link } from '../model/plan.js';
import { AggregateCtnetError, CtnetError } from '../model/errors.js';
import type { AttachOptions, EndpointInfo, NetworkInfo } from '../model/types.js';
import { rtnlStep, runSteps, type Labelled } from '../backend/result.js';
import { addNetworkElements, isMissingTable, removeNetworkElements } from '../firewall/index.js';
import type { NetworkRecord } from '../state/index.js';
import { hostLinkOp, teardownFailures, type GoneRule, type HostContext } from './context.js';
import { attachBridge } from './attach.js';
import { detachRecord } from './detach.js';
import type { Endpoint } from './endpoint.js';
import { networkSteps, networkSysctls, removeNetworkSteps, type NetworkView } from './plans.js';
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
    try {
      return await attachBridge(this.#ctx, this.#net, opts);
    } catch (e) {
      throw e instanceof CtnetError ? e.withContext(`attach ${opts.netns} to network ${this.#rec.name}`) : e;
    }
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

  /** Remove the network: refused while endpoints exist unless `force` (which detaches them first). */
  async remove(opts: { force?: boolean } = {}): Promise<void> {
    const ctx = this.#ctx;
    const name = this.#rec.name;
    const eps = ctx.store.listEndpoints({ network: name });
    if (eps.length > 0) {
      if (opts.force !== true) {
        throw new CtnetError(`remove network ${name}: it still has ${eps.length} endpoint(s) (e.g. ${eps[0]?.netns}); detach them or use force`, 'EBUSY');
      }
      const errors: Error[] = [];
      for (const ep of eps) await detachRecord(ctx, ep).catch((e: Error) => errors.push(e));
      if (errors.length > 0) throw new AggregateCtnetError(`remove network ${name}`, errors);
    }
    await teardownNetworkKernel(ctx, this.#net);
    ctx.store.deleteNetwork(name);
    ctx.bridgeIndex.delete(name);
    // the last network gone: leave nothing of ours in the firewall either
    if (ctx.store.listNetworks().length === 0 && ctx.fw.active) await ctx.fw.removeAll();
  }
}

/**
 * Kernel side of a network, as one plan: the bridge with its gateway (unless it exists),
 * the sysctls, the firewall's elements; returns the bridge's ifindex.
 */
export async function ensureNetworkKernel(ctx: HostContext, net: NetworkView, created: boolean): Promise<number> {
  const link = created ? undefined : await hostLinkOp<Link>(ctx, { op: 'linkGet', link: net.bridge });
  const steps: Labelled[] = [];
  if (link === undefined) steps.push(...networkSteps(ctx.hostNs, net));
  steps.push(...networkSysctls(ctx.hostNs, net));
  const json = addNetworkElements(net, ctx.fw.ruleOpts);
  const fw = ctx.fw.active ? ctx.fw.contribute(json, `add network ${net.name} to the firewall`) : undefined;
  if (fw !== undefined) await ctx.fw.ensureBase();
  steps.push(...fw?.steps ?? []);
  // the new bridge's ifindex comes back in the same plan
  if (link === undefined) steps.push(rtnlStep(ctx.hostNs, [{ op: 'linkGet', link: net.bridge }], `look up bridge ${net.bridge}`));
  let results;
  try {
    results = await runSteps(ctx.backend, steps, `network ${net.name}`);
    await fw?.applyRest();
  } catch (e) {
    ctx.fw.noticeFailure(e);
    throw e;
  }
  if (link !== undefined) return link.index;
  const last = results[results.length - 1];
  const got = last?.ok === true ? last.ops?.[0] : undefined;
  if (got?.ok !== true) throw new CtnetError(`bridge ${net.bridge} vanished right after creation`, 'ENODEV');
  return (got.value as Link).index;
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
