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
 * The ready mark also records the netns's identity (context.ts netnsIdentity: device and
 * inode of the nsfs file) and this process as the owner (pid and start time), so a detach
 * or gc later deletes a netns only if it is still the one attached (issue 10 item 11).
 */
import { selfOwner } from '../util/proc.js';
import { netnsIdentity, type HostContext, type ReadyMark } from './context.js';

const READY_BATCH = 256;
const READY_DELAY_MS = 50;

/** Queue an attached endpoint's ready mark (`netns`: its path; looked up when absent). */
export function markReadySoon(ctx: HostContext, id: string, netns?: string): void {
  ctx.ready.push(netns !== undefined ? { id, netns } : id);
  if (ctx.ready.length >= READY_BATCH) flushReady(ctx);
  else if (ctx.ready.length === 1) setTimeout(() => flushReady(ctx), READY_DELAY_MS).unref();
}

/** What the ready mark stores: the owner and the netns identity (see the module comment). */
export function readyData(netns: string): { pid: number; start: number; netnsId?: string } {
  const id = netnsIdentity(netns);
  return { ...selfOwner(), ...(id !== undefined ? { netnsId: id } : {}) };
}

/** Write every queued ready mark now, in one transaction. */
export function flushReady(ctx: HostContext): void {
  if (ctx.ready.length === 0 || !ctx.store.isOpen) return;
  const marks = ctx.ready.splice(0);
  const resolved = marks.map((m: ReadyMark) => (typeof m === 'string' ? { id: m, netns: ctx.store.getEndpoint(m)?.netns } : m));
  ctx.store.transaction(() => {
    for (const { id, netns } of resolved) {
      try {
        ctx.store.markReady(id, netns !== undefined ? { data: readyData(netns) } : {});
      } catch {
        // detached meanwhile (or already gone): nothing to mark
      }
    }
  });
}
