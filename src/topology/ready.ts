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
 */
import type { HostContext } from './context.js';

const READY_BATCH = 256;
const READY_DELAY_MS = 50;

/** Queue an attached endpoint's ready mark. */
export function markReadySoon(ctx: HostContext, id: string): void {
  ctx.ready.push(id);
  if (ctx.ready.length >= READY_BATCH) flushReady(ctx);
  else if (ctx.ready.length === 1) setTimeout(() => flushReady(ctx), READY_DELAY_MS).unref();
}

/** Write every queued ready mark now, in one transaction. */
export function flushReady(ctx: HostContext): void {
  if (ctx.ready.length === 0 || !ctx.store.isOpen) return;
  const ids = ctx.ready.splice(0);
  ctx.store.transaction(() => {
    for (const id of ids) {
      try {
        ctx.store.markReady(id);
      } catch {
        // detached meanwhile (or already gone): nothing to mark
      }
    }
  });
}
