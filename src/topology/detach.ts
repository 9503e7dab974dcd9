/**
 * topology/detach.ts — undo an attach: remove its anti-spoofing element, unpublish, take the host end down and off the bridge,
 * drop the netns we created, delete the conntrack entries of its addresses (conntrack.ts:
 * a failure there is logged, never the detach's), forget the endpoint. All in ONE plan;
 * best-effort: every failure is reported together.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Life of an attach" and "Kernel facts": deleting a
 * veth blocks ~30 ms, unmounting a netns returns at once and the kernel reaps its veth —
 * but only once nothing holds the netns).
 *
 * Identity, not names (issue 10 item 11): a netns we created is unmounted only if it is
 * still the one we attached (its nsfs inode, recorded by the ready mark, ready.ts); a host
 * veth is deleted only if it carries our alias (ctnet:ep:ID), and then by its ifindex.
 *
 * A netns may outlive its unmount while some process holds it (issue 10 item 12): its
 * addresses stay leased ("lingering", state/endpoints.ts) until its host veth is seen gone
 * (repair.ts checkLingering: a little after the detach, at the next detach, and by gc).
 *
 * "Already gone" is not a failure (detach is idempotent), recognised by step and code:
 *   netnsDelete ENOENT   the netns file was removed already (by its owner, or a gc)
 *   nft ENOENT           our table is gone: nothing left to unpublish (the firewall is told)
 *   rtnl ENODEV          the host veth is gone already (the kernel reaped it with its
 *                        netns, or someone deleted it)
 */
import type { Link, StepResult } from '../model/plan.js';
import { AggregateCtnetError } from '../model/errors.js';
import { endpointAlias } from '../model/names.js';
import { allFailures, type Labelled } from '../backend/result.js';
import { isMissingTable, removeGuardElements, unpublishElements, type FirewallContribution } from '../firewall/index.js';
import type { EndpointRecord } from '../state/index.js';
import { hostLinkOp, netnsIdentity, recordedNetnsId, teardownFailures, type GoneRule, type HostContext } from './context.js';
import { deleteHostVethSteps, detachSteps } from './plans.js';
import { firewallEndpoint } from './records.js';
import { scheduleLingerCheck } from './linger.js';
import { addressFlowSteps, reportConntrack, withoutConntrack } from './conntrack.js';

const DETACH_GONE: GoneRule = { netnsDelete: ['ENOENT'], nft: ['ENOENT'], rtnl: ['ENODEV'] };
const VETH_GONE: GoneRule = { rtnl: ['ENODEV'] };

/**
 * Whether the netns at `rec.netns` is a stranger: we recorded the identity of the one we
 * attached and the file there now has another. (Unknown identity — an endpoint recorded by
 * an older version, or one not yet marked ready elsewhere — is taken to be ours.)
 */
export function netnsReplaced(rec: EndpointRecord): boolean {
  const recorded = recordedNetnsId(rec.data);
  const now = recorded !== undefined ? netnsIdentity(rec.netns) : undefined;
  return now !== undefined && now !== recorded;
}

/** Best-effort detach of a stored endpoint; every failure reported together. Idempotent. */
export async function detachRecord(ctx: HostContext, rec0: EndpointRecord): Promise<void> {
  // Attached by this process and not yet marked ready: its mark (with the netns identity) is
  // dropped, not written — the netns is the one we just made, nothing to compare.
  const queued = ctx.ready.findIndex((m) => (typeof m === 'string' ? m : m.id) === rec0.id);
  if (queued >= 0) ctx.ready.splice(queued, 1);
  const rec = ctx.store.beginDetach(rec0.id);
  if (rec === undefined) return; // already gone: detach is idempotent
  const errors: Error[] = [];
  const notice = (e: Error): void => ctx.fw.noticeFailure(e);
  const stranger = rec.ownsNetns && netnsReplaced(rec);
  if (stranger) ctx.warn(`detach ${rec.netns}: the netns there now is not the one attached (another inode): left alone`);
  const owns = rec.ownsNetns && !stranger;
  let linger = false;
  if (rec.mode === 'bridge') {
    const fw = ctx.fw.active ? detachFirewall(ctx, rec) : [];
    for (const f of fw) await f.applyRest().catch((e: Error) => { if (isMissingTable(e)) notice(e); else errors.push(e); });
    // Our netns is unmounted only if our host veth is still there: a netns number (inode) is
    // reused once freed, so a stranger made under the same name may have the same inode — but
    // then our veth died with ours. Host end down first, the unmount only if that worked
    // (stopOnError), the guard and unpublish after, then the conntrack entries of its
    // addresses (conntrack.ts); skipped by a failure, the rest runs on its own.
    const guarded = owns && rec.hostIfname !== undefined;
    const main = detachSteps({ netnsPath: rec.netns, ownsNetns: owns, host: ctx.hostNs, ...(rec.hostIfname !== undefined ? { hostIfname: rec.hostIfname } : {}) });
    const steps = [...main, ...fw.flatMap((f) => f.steps), ...addressFlowSteps(ctx, rec)];
    const judge = (st: readonly Labelled[], r: readonly StepResult[]): Error[] => {
      reportConntrack(ctx, st, r);
      return teardownFailures(...withoutConntrack(st, r), DETACH_GONE, notice);
    };
    if (steps.length > 0) {
      const results = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: guarded });
      const veth = guarded ? results[0] : undefined;
      if (veth !== undefined && !veth.ok) {
        if ('error' in veth && veth.error.code === 'ENODEV') ctx.warn(`detach ${rec.netns}: its host veth ${rec.hostIfname ?? ''} is gone, so the netns there may not be ours: left alone`);
        else errors.push(...judge(steps.slice(0, 1), results.slice(0, 1)));
        const rest = steps.slice(main.length);
        if (rest.length > 0) errors.push(...judge(rest, await ctx.backend.run({ steps: rest.map((s) => s.step), stopOnError: false })));
      } else {
        errors.push(...judge(steps, results));
      }
    }
    // our netns, unmounted: the kernel frees it (and its veth) unless a process holds it
    linger = owns && rec.hostIfname !== undefined;
    if (!owns && rec.hostIfname !== undefined) deleteVethInBackground(ctx, rec.netns, rec.id, rec.hostIfname);
  } else if (rec.mode === 'none' && owns) {
    const steps = detachSteps({ netnsPath: rec.netns, ownsNetns: true });
    errors.push(...allFailures(steps, await ctx.backend.run({ steps: steps.map((s) => s.step) })));
  }
  ctx.store.finishDetach(rec.id, { linger });
  scheduleLingerCheck(ctx);
  if (errors.length > 0) throw new AggregateCtnetError(`detach ${rec.netns}`, errors);
}

/**
 * The firewall's part of a detach: its anti-spoofing element (issue 10 item 14) and its
 * published ports, each its own batch (a table missing in one family must not keep the
 * other's elements in place).
 */
function detachFirewall(ctx: HostContext, rec: EndpointRecord): FirewallContribution[] {
  const out: FirewallContribution[] = [];
  if (rec.hostIfname !== undefined && rec.mac !== undefined && rec.ip !== undefined) {
    const guard = { hostIfname: rec.hostIfname, mac: rec.mac, ...firewallEndpoint(rec) };
    out.push(ctx.fw.contribute(removeGuardElements(guard, ctx.fw.ruleOpts), `remove the anti-spoofing element of ${rec.hostIfname}`));
  }
  if (rec.ports.length > 0) out.push(ctx.fw.contribute(unpublishElements(firewallEndpoint(rec), rec.ports, ctx.fw.ruleOpts), `unpublish ports of ${rec.netns}`));
  return out;
}

/**
 * Deleting a veth blocks ~30 ms in the kernel (device unregister): not on the caller's path.
 * Only a link carrying this endpoint's alias is deleted, by its ifindex: a stranger that took
 * the name after ours vanished is left alone.
 */
function deleteVethInBackground(ctx: HostContext, netns: string, id: string, hostIfname: string): void {
  const p: Promise<void> = (async () => {
    const link = await hostLinkOp<Link>(ctx, { op: 'linkGet', link: hostIfname });
    if (link === undefined) return; // gone already
    if (link.alias !== endpointAlias(id)) {
      ctx.warn(`detach ${netns}: ${hostIfname} is not our host veth any more (alias ${JSON.stringify(link.alias ?? '')}): left alone`);
      return;
    }
    const del = deleteHostVethSteps(ctx.hostNs, link.index);
    const r = await ctx.backend.run({ steps: del.map((s) => s.step) });
    for (const e of teardownFailures(del, r, VETH_GONE)) ctx.warn(`detach ${netns}: ${e.message}`);
  })().catch((e: Error) => ctx.warn(`detach ${netns}: ${e.message}`)).finally(() => ctx.background.delete(p));
  ctx.background.add(p);
}
