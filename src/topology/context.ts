/**
 * topology/context.ts — what every topology module shares about one opened host: the kernel
 * backend, the host netns, the state, the firewall, and the little the host learns and
 * defers (bridge ifindexes, background veth deletions, ready marks, prewarmed namespaces).
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Layers" and "Life of an attach"). Also the two
 * lookups in the host netns that attach, network and gc share, and the rules that say which
 * teardown failures mean "already gone" — recognised by code and step, never by text.
 */
import type { Backend, Link, NetnsIdentity, NsRef, RtnlOp, StepResult } from '../model/plan.js';
import { CtnetError, CODE, codeOf } from '../model/errors.js';
import { allFailures, planFailures, type Labelled } from '../backend/result.js';
import type { Firewall } from '../firewall/index.js';
import type { AttachPhase } from '../model/types.js';
import type { Store } from '../state/index.js';
import type { Prewarmed } from './prewarm.js';
import type { NetworkView } from './plans.js';

export interface HostContext {
  readonly backend: Backend;
  readonly hostNs: NsRef;
  readonly hostNsPath: string | undefined;
  readonly store: Store;
  readonly fw: Firewall;
  readonly warn: (m: string) => void;
  /** bridge ifindex per network, learnt when the network is ensured */
  readonly bridgeIndex: Map<string, number>;
  /** slow host-veth deletions running in the background (awaited by close) */
  readonly background: Set<Promise<void>>;
  /** attached endpoints not yet marked ready in the state (ready.ts) */
  readonly ready: ReadyMark[];
  /** namespaces created ahead by Host.prewarm, waiting to be adopted by an attach */
  readonly prewarmed: Prewarmed;
  /** the store's data_version when refresh() last looked (see Host.refresh) */
  dataVersion: number;
  /** HostOptions.trace: the attach's phase boundaries, for the bench */
  readonly trace?: ((phase: AttachPhase) => void) | undefined;
}

/** An attached endpoint waiting for its ready mark: its id, and its netns's identity as its plan answered it. */
export interface ReadyMark { readonly id: string; readonly netns: NetnsIdentity }

export function notFound(what: string): CtnetError {
  return new CtnetError(`${what} not found`, CODE.notFound);
}

/** One rtnl op in the host netns: its value, or undefined if it failed (e.g. ENODEV). */
export async function hostLinkOp<T>(ctx: HostContext, op: RtnlOp): Promise<T | undefined> {
  const [r] = await ctx.backend.run({ steps: [{ kind: 'rtnl', ns: ctx.hostNs, ops: [op] }] });
  const res = r?.ok === true ? r.ops?.[0] : undefined;
  return res?.ok === true ? res.value as T : undefined;
}

/** The bridge's ifindex: learnt once per network, looked up again after it was forgotten. */
export async function bridgeIndexOf(ctx: HostContext, net: NetworkView): Promise<number> {
  const known = ctx.bridgeIndex.get(net.name);
  if (known !== undefined) return known;
  const link = await hostLinkOp<Link>(ctx, { op: 'linkGet', link: net.bridge });
  if (link === undefined) {
    throw new CtnetError(`bridge ${net.bridge} of network ${net.name} is missing from the host netns; run \`ctnet-fast gc\` or re-create the network`, 'ENODEV');
  }
  ctx.bridgeIndex.set(net.name, link.index);
  return link.index;
}

/**
 * Which failure of a best-effort teardown means "already gone", by step kind → codes:
 * e.g. `{ netnsDelete: ['ENOENT'] }` (the netns file was removed already).
 */
export type GoneRule = Partial<Readonly<Record<StepResult['kind'], readonly string[]>>>;

/**
 * Every failure of a best-effort plan except those `gone` says mean "already gone" (each of
 * those is handed to `onGone`, e.g. for the firewall to notice its tables vanished).
 */
export function teardownFailures(steps: readonly Labelled[], results: readonly StepResult[], gone: GoneRule,
  onGone: (e: Error) => void = () => undefined): Error[] {
  const errors = allFailures(steps, results);
  // planFailures and allFailures walk the results in the same order: one error per failure
  return planFailures(results).flatMap((f, i) => {
    const e = errors[i];
    if (e === undefined) return [];
    const kind = steps[f.step]?.step.kind;
    const codes = kind !== undefined ? gone[kind] : undefined;
    if (codes?.includes(codeOf(e) ?? '') !== true) return [e];
    onGone(e);
    return [];
  });
}
