/**
 * topology/netns-identity.ts — which netns an endpoint was attached to, as the attach's own
 * plan learnt it, and how detach and gc use it (issue 10 item 11: delete by identity, not
 * by name).
 *
 * Layer: topology (docs/ARCHITECTURE.md, "State model" and "Kernel facts"). The attach's
 * netnsCreate/netnsOpen step answers the netns cookie (SO_NETNS_COOKIE: never reused in a
 * boot; native backend only) and nsfs inode (reused by the kernel as soon as a netns is
 * freed: a mismatch proves another netns, a match proves nothing alone) — model/plan.ts
 * NetnsIdentity. The ready mark (ready.ts) stores them in the endpoint's data as
 * `netnsCookie` and `netnsInode`; no stat or syscall of ours on the attach path. Rows of
 * older versions carry `netnsId` = "DEV:INODE" (read as the inode).
 *
 * Every netnsDelete of an endpoint's netns carries what was recorded: the backend deletes
 * only that netns, else fails ESTALE and leaves the file alone (a stranger's netns now).
 */
import type { NetnsIdentity, StepResult } from '../model/plan.js';
import type { EndpointRecord } from '../state/index.js';
import type { HostContext } from './context.js';

/** What a netnsCreate/netnsOpen result says about the netns it made or opened. */
export function identityOf(r: StepResult | undefined): NetnsIdentity {
  if (r?.ok !== true) return {};
  return { ...(r.cookie !== undefined ? { cookie: r.cookie } : {}), ...(r.inode !== undefined ? { inode: r.inode } : {}) };
}

/** The keys an endpoint's data stores the identity under (merged into it by the ready mark). */
export function identityData(id: NetnsIdentity): { netnsCookie?: string; netnsInode?: number } {
  return { ...(id.cookie !== undefined ? { netnsCookie: id.cookie } : {}), ...(id.inode !== undefined ? { netnsInode: id.inode } : {}) };
}

/** The identity an endpoint's data recorded at attach ({} when none: taken to be ours). */
export function recordedNetns(data: unknown): NetnsIdentity {
  const d = data as { netnsCookie?: unknown; netnsInode?: unknown; netnsId?: unknown } | null | undefined;
  const cookie = typeof d?.netnsCookie === 'string' && /^[1-9][0-9]{0,19}$/.test(d.netnsCookie) ? d.netnsCookie : undefined;
  let inode = typeof d?.netnsInode === 'number' && Number.isSafeInteger(d.netnsInode) && d.netnsInode > 0 ? d.netnsInode : undefined;
  // older rows: "DEV:INODE" of the nsfs file (the device is nsfs's, the same for every netns)
  const old = inode === undefined && typeof d?.netnsId === 'string' ? /^\d+:(\d+)$/.exec(d.netnsId) : null;
  if (old?.[1] !== undefined && Number.isSafeInteger(Number(old[1])) && Number(old[1]) > 0) inode = Number(old[1]);
  return { ...(cookie !== undefined ? { cookie } : {}), ...(inode !== undefined ? { inode } : {}) };
}

/** "cookie C, inode I" (what was recorded), for messages. */
export function describeIdentity(id: NetnsIdentity): string {
  const parts = [...(id.cookie !== undefined ? [`cookie ${id.cookie}`] : []), ...(id.inode !== undefined ? [`inode ${id.inode}`] : [])];
  return parts.length > 0 ? parts.join(', ') : 'identity unknown';
}

/** Whether what a netnsOpen saw proves another netns than the recorded one. */
export function provesStranger(recorded: NetnsIdentity, seen: NetnsIdentity): boolean {
  if (recorded.cookie !== undefined && seen.cookie !== undefined) return recorded.cookie !== seen.cookie;
  return recorded.inode !== undefined && seen.inode !== undefined && recorded.inode !== seen.inode;
}

/** Namespaces opened per plan (each is held open until its plan ends). */
const OPEN_CHUNK = 256;

/**
 * gc: the endpoints (ids) whose netns file now holds another netns than the one attached —
 * one plan of netnsOpen steps (per OPEN_CHUNK), compared with what each recorded. A file
 * that cannot be opened is not judged here (gone: gc forgets its endpoint anyway).
 */
export async function strangerNetns(ctx: HostContext, eps: readonly EndpointRecord[]): Promise<Set<string>> {
  const out = new Set<string>();
  const known = eps.filter((e) => { const id = recordedNetns(e.data); return id.cookie !== undefined || id.inode !== undefined; });
  for (let i = 0; i < known.length; i += OPEN_CHUNK) {
    const chunk = known.slice(i, i + OPEN_CHUNK);
    const r = await ctx.backend.run({ steps: chunk.map((e) => ({ kind: 'netnsOpen', path: e.netns })), stopOnError: false });
    chunk.forEach((e, k) => {
      if (r[k]?.ok === true && provesStranger(recordedNetns(e.data), identityOf(r[k]))) out.add(e.id);
    });
  }
  return out;
}
