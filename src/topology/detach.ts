/**
 * topology/detach.ts — undo an attach: unpublish, drop the netns we created, take the host
 * veth away, forget the endpoint. Best-effort: every failure is reported together.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Life of an attach" and "Kernel facts": deleting a
 * veth blocks ~30 ms, unmounting a netns returns at once and the kernel reaps its veth).
 *
 * "Already gone" is not a failure (detach is idempotent), recognised by step and code:
 *   netnsDelete ENOENT   the netns file was removed already (by its owner, or a gc)
 *   nft ENOENT           our table is gone: nothing left to unpublish (the firewall is told)
 *   linkDel ENODEV       (background) the host veth is gone already: the kernel reaped it
 *                        with its netns, or someone deleted it
 */
import { AggregateCtnetError } from '../model/errors.js';
import { allFailures } from '../backend/result.js';
import { isMissingTable, unpublishElements } from '../firewall/index.js';
import type { EndpointRecord } from '../state/index.js';
import { teardownFailures, type GoneRule, type HostContext } from './context.js';
import { deleteHostVethSteps, detachSteps } from './plans.js';
import { firewallEndpoint } from './records.js';

const DETACH_GONE: GoneRule = { netnsDelete: ['ENOENT'], nft: ['ENOENT'] };
const VETH_GONE: GoneRule = { rtnl: ['ENODEV'] };

/** Best-effort detach of a stored endpoint; every failure reported together. Idempotent. */
export async function detachRecord(ctx: HostContext, rec0: EndpointRecord): Promise<void> {
  const rec = ctx.store.beginDetach(rec0.id);
  if (rec === undefined) return; // already gone: detach is idempotent
  const errors: Error[] = [];
  const notice = (e: Error): void => ctx.fw.noticeFailure(e);
  if (rec.mode === 'bridge') {
    const fw = rec.ports.length > 0 && ctx.fw.active
      ? ctx.fw.contribute(unpublishElements(firewallEndpoint(rec), rec.ports, ctx.fw.ruleOpts), `unpublish ports of ${rec.netns}`)
      : undefined;
    await fw?.applyRest().catch((e: Error) => { if (isMissingTable(e)) notice(e); else errors.push(e); });
    const steps = detachSteps({ netnsPath: rec.netns, ownsNetns: rec.ownsNetns }, fw?.steps);
    if (steps.length > 0) {
      const results = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
      errors.push(...teardownFailures(steps, results, DETACH_GONE, notice));
    }
    if (!rec.ownsNetns && rec.hostIfname !== undefined) deleteVethInBackground(ctx, rec.netns, rec.hostIfname);
  } else if (rec.mode === 'none' && rec.ownsNetns) {
    const steps = detachSteps({ netnsPath: rec.netns, ownsNetns: true });
    errors.push(...allFailures(steps, await ctx.backend.run({ steps: steps.map((s) => s.step) })));
  }
  ctx.store.finishDetach(rec.id);
  if (errors.length > 0) throw new AggregateCtnetError(`detach ${rec.netns}`, errors);
}

/** Deleting a veth blocks ~30 ms in the kernel (device unregister): not on the caller's path. */
function deleteVethInBackground(ctx: HostContext, netns: string, hostIfname: string): void {
  const del = deleteHostVethSteps(ctx.hostNs, hostIfname);
  const p: Promise<void> = ctx.backend.run({ steps: del.map((s) => s.step) }).then((r) => {
    for (const e of teardownFailures(del, r, VETH_GONE)) ctx.warn(`detach ${netns}: ${e.message}`);
  }, (e: Error) => ctx.warn(`detach ${netns}: ${e.message}`)).finally(() => ctx.background.delete(p));
  ctx.background.add(p);
}
