/**
 * topology/conntrack.ts — stale flows (issue 10 item 15): the conntrack entries an
 * unpublish, a detach or a re-publish leaves behind, as `conntrackDelete` steps appended to
 * that operation's own plan (one crossing), and what their results mean.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Kernel facts": changing a DNAT map does not move
 * existing flows — conntrack keeps the old translation until the entry times out, so a UDP
 * flow keeps reaching the old container). Which entries:
 *   unpublish   the flows DNAT'd by the removed mappings: protocol, host port(s), host IP
 *               when the mapping has one, reply source = the container's address
 *   detach      every flow of the container's addresses, both ways — NOT in the detach's
 *               plan: a ctnetlink dump walks the kernel's whole conntrack hash table (~2–3 ms
 *               here even when it is empty), which would make detach ten times slower. It
 *               runs shortly after the detach returns, coalesced with the other detaches of
 *               that window into one plan (after-detach.ts), while the address is still
 *               leased (a detached address lingers until its netns is gone, linger.ts, and
 *               its release waits for this cleanup), so no new container gets the address
 *               before its old flows are deleted. The detaches of a 50 ms window share one
 *               walk. A process killed in between leaves those entries to their timeout. When the
 *               host netns tracks no flow at all (nf_conntrack_count 0) there is no walk.
 *   publish     the flows to that host port that were NOT translated (sent while nothing was
 *               published there: reply source = original destination = a host address), so
 *               the next packet is DNAT'd to the new container. A mapping with a host IP
 *               names that address; one on every address uses the host's addresses, read off
 *               the hot path and cached (a new address is seen within HOST_ADDRS_TTL_MS).
 * A failed conntrack step never fails the operation: the flows then end by their timeout;
 * each kind of failure (e.g. conntrack missing: no nf_conntrack_netlink, no `conntrack`
 * tool) is logged once per host.
 */
import type { Addr, ConntrackFilter, StepResult } from '../model/plan.js';
import type { PortMapping } from '../model/types.js';
import { isIp } from '../util/ip.js';
import type { Labelled } from '../backend/result.js';
import { hostLinkOp, type HostContext } from './context.js';

/** How long the host's addresses (for wildcard re-publish cleanup) are trusted (ms). */
const HOST_ADDRS_TTL_MS = 5000;

interface HostAddrs { at: number; list: readonly string[]; refreshing?: Promise<void> }
const hostAddrs = new WeakMap<HostContext, HostAddrs>();
const warned = new WeakMap<HostContext, Set<string>>();

function step(ctx: HostContext, filter: ConntrackFilter, label: string): Labelled {
  return { step: { kind: 'conntrackDelete', ns: ctx.hostNs, filter }, label };
}

/** Every flow of a container's addresses (detach). */
export function addressFlowSteps(ctx: HostContext, ep: { readonly ip?: string; readonly ip6?: string }): Labelled[] {
  return [ep.ip, ep.ip6].filter((a): a is string => a !== undefined && a !== '')
    .map((addr) => step(ctx, { match: 'addr', addr }, `delete the conntrack entries of ${addr}`));
}

/** The families a mapping reaches and the host IP filter of each (undefined: every address). */
function targets(m: PortMapping, ep: { readonly ip?: string; readonly ip6?: string }): Array<{ replySrc: string; dst?: string }> {
  const out: Array<{ replySrc: string; dst?: string }> = [];
  for (const [fam, cip] of [[4, ep.ip], [6, ep.ip6]] as const) {
    if (cip === undefined || cip === '' || !isIp(cip, fam)) continue;
    const h = m.hostIp;
    if (h === undefined || h === (fam === 4 ? '0.0.0.0' : '::')) out.push({ replySrc: cip });
    else if (isIp(h, fam)) out.push({ replySrc: cip, dst: h });
  }
  return out;
}

function mappingFilter(m: PortMapping, replySrc: string, dst?: string): ConntrackFilter {
  const end = m.hostPortEnd !== undefined && m.hostPortEnd !== m.hostPort ? { portEnd: m.hostPortEnd } : {};
  return { match: 'mapping', proto: m.protocol, port: m.hostPort, ...end, ...(dst !== undefined ? { dst } : {}), replySrc };
}

/** The flows DNAT'd to the container `ep` by `mappings` (unpublish). */
export function mappingFlowSteps(ctx: HostContext, ep: { readonly ip?: string; readonly ip6?: string }, mappings: readonly PortMapping[]): Labelled[] {
  return mappings.flatMap((m) => targets(m, ep).map((t) =>
    step(ctx, mappingFilter(m, t.replySrc, t.dst), `delete the conntrack entries of ${m.protocol} port ${m.hostPort} to ${t.replySrc}`)));
}

/**
 * The flows to the host ports of `mappings` that were not translated (publish): reply source
 * = original destination = the mapping's host IP, or each known host address.
 */
export function untranslatedFlowSteps(ctx: HostContext, mappings: readonly PortMapping[]): Labelled[] {
  const known = hostAddrs.get(ctx)?.list ?? [];
  return mappings.flatMap((m) => {
    const h = m.hostIp;
    const wild = h === undefined || h === '0.0.0.0' || h === '::';
    const addrs = wild ? known.filter((a) => h === undefined || isIp(a, h === '::' ? 6 : 4)) : [h];
    return addrs.map((a) => step(ctx, mappingFilter(m, a, a), `delete untranslated conntrack entries of ${m.protocol} ${a} port ${m.hostPort}`));
  });
}

/**
 * Refresh the cached host addresses when older than HOST_ADDRS_TTL_MS: awaited when `wait`
 * (or when none are known yet and `wait` is 'first'), otherwise in the background.
 */
export async function refreshHostAddrs(ctx: HostContext, wait: boolean | 'first'): Promise<void> {
  const cur = hostAddrs.get(ctx);
  if ((cur !== undefined && Date.now() - cur.at < HOST_ADDRS_TTL_MS) || !ctx.store.isOpen) return;
  let p = cur?.refreshing;
  if (p === undefined) {
    p = (async () => {
      const addrs = await hostLinkOp<Addr[]>(ctx, { op: 'addrList' }).catch(() => undefined);
      hostAddrs.set(ctx, { at: Date.now(), list: (addrs ?? []).filter((a) => a.scope !== 253).map((a) => a.local) });
    })();
    hostAddrs.set(ctx, { at: cur?.at ?? 0, list: cur?.list ?? [], refreshing: p });
    ctx.background.add(p);
    void p.finally(() => ctx.background.delete(p as Promise<void>));
  }
  if (wait === true || (wait === 'first' && cur === undefined)) await p;
}

/** Whether a step is a conntrack cleanup (its failures never fail an operation). */
export function isConntrackStep(s: Labelled): boolean {
  return s.step.kind === 'conntrackDelete';
}

/** Log each kind of conntrack cleanup failure once per host (see the module comment). */
export function reportConntrack(ctx: HostContext, steps: readonly Labelled[], results: readonly StepResult[]): void {
  steps.forEach((s, i) => {
    const r = results[i];
    if (!isConntrackStep(s) || r === undefined || r.ok || !('error' in r)) return;
    const seen = warned.get(ctx) ?? new Set<string>();
    warned.set(ctx, seen);
    if (seen.has(r.error.code)) return;
    seen.add(r.error.code);
    ctx.warn(`${s.label}: ${r.error.code}${r.error.message !== undefined ? ` (${r.error.message})` : ''}; stale flows end by their conntrack timeout instead (is nf_conntrack_netlink or the conntrack tool missing?)`);
  });
}

/** The steps and results of a plan without its conntrack cleanup (to judge the operation by). */
export function withoutConntrack(steps: readonly Labelled[], results: readonly StepResult[]): [Labelled[], StepResult[]] {
  const keep = steps.map((s, i) => (isConntrackStep(s) ? -1 : i)).filter((i) => i >= 0);
  return [keep.map((i) => steps[i] as Labelled), keep.flatMap((i) => (results[i] !== undefined ? [results[i] as StepResult] : []))];
}
