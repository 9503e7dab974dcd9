/**
 * topology/detach.ts — undo an attach: unpublish, take the host end down and off the bridge,
 * drop the netns we created, forget the endpoint. All in ONE plan; its anti-spoofing element
 * and the conntrack entries of its addresses go just after it returns (after-detach.ts: the
 * detaches of a 50 ms window share one plan; a failure there is logged, never the detach's);
 * best-effort: every failure is reported together.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Life of an attach" and "Kernel facts": deleting a
 * veth blocks ~30 ms, unmounting a netns returns at once and the kernel reaps its veth —
 * but only once nothing holds the netns).
 *
 * Identity, not names (issue 10 item 11): a netns we created is unmounted only if it is
 * still the one we attached — its netnsDelete carries the cookie and inode the attach's plan
 * answered (netns-identity.ts); ESTALE means a stranger's netns took the name: a warning,
 * not an error, and our row is released. Rows without a cookie (older versions, the
 * iproute2 backend) keep a heuristic, see detachRecord. A host veth is deleted only if it
 * carries our alias (ctnet:ep:ID), and then by its ifindex.
 *
 * A netns may outlive its unmount while some process holds it (issue 10 item 12): its
 * addresses stay leased ("lingering", state/endpoints.ts) until its host veth is seen gone
 * (repair.ts checkLingering: a little after the detach, at the next detach, and by gc).
 *
 * "Already gone" is not a failure (detach is idempotent), recognised by step and code:
 *   netnsDelete ENOENT   the netns file was removed already (by its owner, or a gc)
 *   netnsDelete ESTALE   ours was removed and someone made another under the name (warned)
 *   nft ENOENT           our table is gone: nothing left to unpublish (the firewall is told)
 *   rtnl ENODEV          the host veth is gone already (the kernel reaped it with its
 *                        netns, or someone deleted it)
 */
import type { Link, StepResult } from '../model/plan.js';
import { AggregateCtnetError, codeOf } from '../model/errors.js';
import { endpointAlias } from '../model/names.js';
import type { Labelled } from '../backend/result.js';
import { isMissingTable, unpublishBatchOf, type FirewallContribution, type GuardEndpoint } from '../firewall/index.js';
import type { EndpointRecord } from '../state/index.js';
import { hostLinkOp, teardownFailures, type GoneRule, type HostContext } from './context.js';
import { describeIdentity, recordedNetns } from './netns-identity.js';
import { deleteHostVethSteps, detachSteps } from './plans.js';
import { firewallEndpoint } from './records.js';
import { scheduleLingerCheck } from './linger.js';
import { scheduleAfterDetach } from './after-detach.js';

/** ESTALE from netnsDelete: the file holds another netns than the one attached (a stranger's). */
const DETACH_GONE: GoneRule = { netnsDelete: ['ENOENT', 'ESTALE'], nft: ['ENOENT'], rtnl: ['ENODEV'] };
const VETH_GONE: GoneRule = { rtnl: ['ENODEV'] };

/** Best-effort detach of a stored endpoint; every failure reported together. Idempotent. */
export async function detachRecord(ctx: HostContext, rec0: EndpointRecord): Promise<void> {
  // Attached by this process and not yet marked ready: its mark is dropped, not written, and
  // the identity it carries (the attach plan's answer) is the one to check.
  const queued = ctx.ready.findIndex((m) => m.id === rec0.id);
  const mark = queued >= 0 ? ctx.ready.splice(queued, 1)[0] : undefined;
  const rec = ctx.store.beginDetach(rec0.id);
  if (rec === undefined) return; // already gone: detach is idempotent
  const id = mark?.netns ?? recordedNetns(rec.data);
  const errors: Error[] = [];
  const onGone = (e: Error): void => {
    if (codeOf(e) !== 'ESTALE') { ctx.fw.noticeFailure(e); return; }
    ctx.warn(`detach: the netns at ${rec.netns} is not the one attached (${describeIdentity(id)}; now: ${e.message}): left alone, endpoint ${rec.id} released`);
  };
  const owns = rec.ownsNetns;
  let linger = false;
  if (rec.mode === 'bridge') {
    const fw = ctx.fw.active && rec.ports.length > 0 ? [unpublish(ctx, rec)] : [];
    for (const f of fw) await f.applyRest().catch((e: Error) => { if (isMissingTable(e)) ctx.fw.noticeFailure(e); else errors.push(e); });
    // ONE plan: host end down and off the bridge, the unmount of our netns (with its
    // identity), and unpublish (its guard element and the conntrack entries of its addresses
    // follow, after-detach.ts). With a cookie the unmount is exact and runs
    // whatever the host end did (ENODEV: already gone). Without one (older rows, the
    // iproute2 backend) only the inode is known, which the kernel reuses at once: then our
    // netns is unmounted only if our host veth is still there (a stranger made under our
    // name may have our inode, but then our veth died with ours: the kernel frees a netns's
    // inode number after unregistering its devices), so the host end goes first and the
    // unmount only if that worked (stopOnError).
    const guarded = owns && id.cookie === undefined && rec.hostIfname !== undefined;
    const main = detachSteps({ netnsPath: rec.netns, ownsNetns: owns, host: ctx.hostNs, netns: id, ...(rec.hostIfname !== undefined ? { hostIfname: rec.hostIfname } : {}) });
    const steps = [...main, ...fw.flatMap((f) => f.steps)];
    const judge = (st: readonly Labelled[], r: readonly StepResult[]): Error[] => teardownFailures(st, r, DETACH_GONE, onGone);
    if (steps.length > 0) {
      const results = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: guarded });
      const failed = guarded ? results.findIndex((r) => !r.ok) : -1;
      if (failed >= 0 && failed < main.length) {
        // the steps after it were skipped: the rest (unpublish) runs on its own
        const veth = results[0];
        if (failed === 0 && veth !== undefined && !veth.ok && 'error' in veth && veth.error.code === 'ENODEV') {
          ctx.warn(`detach: the netns at ${rec.netns} may be a stranger's, not the one attached (its host veth ${rec.hostIfname ?? ''} is gone, and without a cookie only the inode is known, which the kernel reuses): left alone`);
        } else {
          errors.push(...judge(main.slice(0, failed + 1), results.slice(0, failed + 1)));
        }
        const rest = steps.slice(main.length);
        if (rest.length > 0) errors.push(...judge(rest, await ctx.backend.run({ steps: rest.map((s) => s.step), stopOnError: false })));
      } else {
        errors.push(...judge(steps, results));
      }
    }
    // our netns, unmounted (by us, or by someone else before: ESTALE): the kernel frees it,
    // and its veth, unless a process holds it; its addresses stay leased until then
    linger = owns && rec.hostIfname !== undefined;
    // its guard element and the conntrack entries of its addresses: just after (after-detach.ts)
    scheduleAfterDetach(ctx, rec, guardOf(rec));
    if (!owns && rec.hostIfname !== undefined) deleteVethInBackground(ctx, rec.netns, rec.id, rec.hostIfname);
  } else if (rec.mode === 'none' && owns) {
    const steps = detachSteps({ netnsPath: rec.netns, ownsNetns: true, netns: id });
    errors.push(...teardownFailures(steps, await ctx.backend.run({ steps: steps.map((s) => s.step) }), { netnsDelete: ['ESTALE'] }, onGone));
  }
  ctx.store.finishDetach(rec.id, { linger });
  scheduleLingerCheck(ctx);
  if (errors.length > 0) throw new AggregateCtnetError(`detach ${rec.netns}`, errors);
}

/** Its published ports, as part of the detach's plan (the firewall driver's choice). */
function unpublish(ctx: HostContext, rec: EndpointRecord): FirewallContribution {
  return ctx.fw.contribute(unpublishBatchOf(firewallEndpoint(rec), rec.ports, ctx.fw.ruleOpts), `unpublish ports of ${rec.netns}`);
}

/** What its anti-spoofing element holds (none before the attach knew its veth, MAC and address). */
function guardOf(rec: EndpointRecord): GuardEndpoint | undefined {
  if (rec.hostIfname === undefined || rec.mac === undefined || (rec.ip ?? rec.ip6) === undefined) return undefined;
  return { hostIfname: rec.hostIfname, mac: rec.mac, ...firewallEndpoint(rec) };
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
