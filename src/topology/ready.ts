/**
 * topology/ready.ts — "pending" → "ready" off the hot path.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "State model"). The endpoint row written as
 * "pending" before the kernel work is the intent; marking it ready is bookkeeping for gc, so
 * the ids wait in ctx.ready and are marked in batches: one transaction per READY_BATCH
 * attaches, or after READY_DELAY_MS, or at close. Until then another process's gc sees a
 * pending endpoint with a live owner and leaves it alone; if the owner died, gc checks the
 * kernel (netns and host veth there: finish; otherwise: undo), so a lost mark is never a
 * lost container.
 *
 * The ready mark also records the netns's identity (netns-identity.ts: the cookie and inode
 * the attach's own netnsCreate/netnsOpen step answered, nothing looked up again) and this
 * process as the owner (pid and start time), so a detach or gc later deletes a netns only
 * if it is still the one attached (issue 10 item 11).
 */
import type { NetnsIdentity } from '../model/plan.js';
import { selfOwner } from '../util/proc.js';
import type { HostContext } from './context.js';
import { identityData } from './netns-identity.js';

const READY_BATCH = 256;
const READY_DELAY_MS = 50;

/** Queue an attached endpoint's ready mark (`netns`: its identity, from the attach's plan). */
export function markReadySoon(ctx: HostContext, id: string, netns: NetnsIdentity): void {
  ctx.ready.push({ id, netns });
  if (ctx.ready.length >= READY_BATCH) flushReady(ctx);
  else if (ctx.ready.length === 1) setTimeout(() => flushReady(ctx), READY_DELAY_MS).unref();
}

/** What the ready mark stores: the owner and the netns identity (see the module comment). */
export function readyData(netns: NetnsIdentity): { pid: number; start: number; netnsCookie?: string; netnsInode?: number } {
  return { ...selfOwner(), ...identityData(netns) };
}

/** Write every queued ready mark now, in one transaction. */
export function flushReady(ctx: HostContext): void {
  if (ctx.ready.length === 0 || !ctx.store.isOpen) return;
  const marks = ctx.ready.splice(0);
  ctx.store.transaction(() => {
    for (const { id, netns } of marks) {
      try {
        ctx.store.markReady(id, { data: readyData(netns) });
      } catch {
        // detached meanwhile (or already gone): nothing to mark
      }
    }
  });
}
