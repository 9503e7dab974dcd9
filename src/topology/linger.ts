/**
 * topology/linger.ts — release the addresses of detached containers once their netns is
 * really gone (issue 10 item 12).
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Kernel facts": a netns is freed only when nothing
 * holds it). A detach that unmounts a netns we created cannot know whether a process still
 * holds it, so it keeps the addresses leased ("lingering", state/endpoints.ts) with the
 * host veth's name. The kernel deletes that veth when it frees the netns: a link of that
 * name carrying the endpoint's alias means the netns lives on; none means it is gone, and
 * the addresses are released. Checked a little after each detach (off the caller's path,
 * one plan for all lingering entries of the store, whichever process made them) and by gc.
 */
import type { Link } from '../model/plan.js';
import { CODE, codeOf } from '../model/errors.js';
import { endpointAlias } from '../model/names.js';
import type { HostContext } from './context.js';
import { flushAfterDetach } from './after-detach.js';

/** When to look after a detach (ms): the kernel usually reaps a free netns within ~30 ms. */
const CHECK_AFTER_MS = [100, 1000] as const;
/** At most this many entries per look. */
const MAX_PER_CHECK = 512;

const scheduled = new WeakSet<HostContext>();

/**
 * Look at the lingering entries: release those whose host veth is gone. Returns what was
 * released (endpoint ids) and what still lingers.
 */
export async function checkLingering(ctx: HostContext, dryRun = false): Promise<{ released: string[]; held: string[] }> {
  const entries = ctx.store.lingering().slice(0, MAX_PER_CHECK);
  const released: string[] = [];
  const held: string[] = [];
  if (entries.length === 0) return { released, held };
  // the flows of addresses detached here are deleted before those addresses are handed out again
  if (!dryRun) await flushAfterDetach(ctx);
  // ONE rtnl step (one sendmsg): each op has its own answer, also when others failed
  const [r] = await ctx.backend.run({
    steps: [{ kind: 'rtnl', ns: ctx.hostNs, ops: entries.map((e) => ({ op: 'linkGet', link: e.hostIfname })) }],
    stopOnError: false,
  });
  const ops = r !== undefined && 'ops' in r ? r.ops : undefined;
  entries.forEach((e, i) => {
    const op = ops?.[i];
    const link = op?.ok === true ? op.value as Link : undefined;
    // only "no such device" (ENODEV) proves it gone; any other failure (or no answer): look again later
    const code = op !== undefined && !op.ok ? op.error.code : undefined;
    const gone = link !== undefined ? link.alias !== endpointAlias(e.endpointId) : code === 'ENODEV';
    if (!gone) { held.push(e.endpointId); return; }
    released.push(e.endpointId);
  });
  // one transaction for all of them (a loop of detaches leaves hundreds)
  if (!dryRun && released.length > 0) ctx.store.releaseLingering(released);
  return { released, held };
}

/** Check the lingering entries soon, off the caller's path (timers do not keep the process alive). */
export function scheduleLingerCheck(ctx: HostContext): void {
  if (scheduled.has(ctx)) return;
  scheduled.add(ctx);
  let i = 0;
  const next = (): void => {
    const ms = CHECK_AFTER_MS[i++];
    if (ms === undefined) { scheduled.delete(ctx); return; }
    setTimeout(() => {
      if (!ctx.store.isOpen) { scheduled.delete(ctx); return; }
      checkLingering(ctx).then(({ held }) => { if (held.length > 0) next(); else scheduled.delete(ctx); },
        () => scheduled.delete(ctx));
    }, ms).unref();
  };
  next();
}

/** How long an allocation that found no address waits for lingering ones to be released. */
const ALLOCATION_WAITS_MS = [0, 20, 40, 80, 160, 320] as const;

/**
 * Run `allocate` (an attach's state transaction); when it finds no free address, or the
 * static one asked for taken, while addresses of detached containers linger, look whether
 * their netns are gone (the kernel reaps a free netns ~30 ms after its unmount), release
 * those, and try again. "The next allocation checks it": only this rare path waits.
 */
export async function allocateAfterLingering<T>(ctx: HostContext, allocate: () => T): Promise<T> {
  try {
    return allocate();
  } catch (e) {
    const code = codeOf(e);
    if (code !== CODE.exhausted && code !== CODE.addrInUse) throw e;
    for (const ms of ALLOCATION_WAITS_MS) {
      if (ctx.store.lingering().length === 0) break;
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      if ((await checkLingering(ctx)).released.length > 0) return allocate();
    }
    throw e;
  }
}
