/**
 * topology/network-claims.ts — who is creating or removing a network right now, decided by
 * the store; and the checks a new network's subnet must pass against the host.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "State model" and "Life of an attach"). A claim is
 * a meta row `network-creating:NAME` / `network-removing:NAME` holding the claimant's pid
 * and the network's id, written in the same transaction that decided (putNetwork, the start
 * of a remove). A claim whose process has ended counts as absent (a kill -9 never blocks a
 * network for good). Races (issue 10 item 5):
 *   - two creates of one network: the store inserts once; the other caller waits until the
 *     creator's claim is gone and then finds the network built (or gone: it tries itself);
 *   - attach vs `network rm --force`: rm claims "removing" first, so an attach that records
 *     its intent afterwards fails with EBUSY; rm then waits for the attaches in flight
 *     (pending rows of live processes) before it detaches them and deletes the bridge.
 */
import { CODE, CtnetError, InvalidInputError } from '../model/errors.js';
import type { Addr, Link, Route } from '../model/plan.js';
import type { NetworkSpec } from '../model/types.js';
import { networkText, parseCidr } from '../util/ip.js';
import { ownerAlive, processAlive } from '../util/proc.js';
import { checkNetworkSubnet, overlapsHost } from '../validate/subnet.js';
import { runSteps, rtnlStep } from '../backend/result.js';
import type { HostContext } from './context.js';
import { flushReady } from './ready.js';

export type ClaimKind = 'creating' | 'removing';

/** How long a create waits for another creator, and a remove for attaches in flight. */
const WAIT_MS = 15_000;
const POLL_MS = 5;

const key = (kind: ClaimKind, name: string): string => `network-${kind}:${name}`;

interface Claim { readonly pid: number; readonly id: string }

function readClaim(ctx: HostContext, kind: ClaimKind, name: string): Claim | undefined {
  const v = ctx.store.getMeta(key(kind, name));
  if (v === undefined) return undefined;
  try {
    const c = JSON.parse(v) as Partial<Claim>;
    return typeof c.pid === 'number' && typeof c.id === 'string' && processAlive(c.pid) ? c as Claim : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a live process holds this claim on the network. */
export function claimed(ctx: HostContext, kind: ClaimKind, name: string): boolean {
  return readClaim(ctx, kind, name) !== undefined;
}

/** Take the claim (call inside the deciding transaction); EBUSY if another live process holds it. */
export function claim(ctx: HostContext, kind: ClaimKind, net: { readonly name: string; readonly id: string }): void {
  const held = readClaim(ctx, kind, net.name);
  if (held !== undefined && held.pid !== process.pid) {
    throw new CtnetError(`network "${net.name}" is already being ${kind === 'removing' ? 'removed' : 'created'} by process ${held.pid}`, CODE.busy);
  }
  ctx.store.setMeta(key(kind, net.name), JSON.stringify({ pid: process.pid, id: net.id }));
}

export function releaseClaim(ctx: HostContext, kind: ClaimKind, name: string): void {
  ctx.store.deleteMeta(key(kind, name));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until no live process holds the claim (EBUSY after WAIT_MS). */
export async function waitUntilUnclaimed(ctx: HostContext, kind: ClaimKind, name: string): Promise<void> {
  for (const end = Date.now() + WAIT_MS; claimed(ctx, kind, name);) {
    if (Date.now() > end) throw new CtnetError(`network "${name}" is still being ${kind === 'removing' ? 'removed' : 'created'} by another process`, CODE.busy);
    await sleep(POLL_MS);
  }
}

/**
 * Wait until no attach to `network` is in flight: no 'pending' endpoint whose process is
 * alive (ours included: its ready marks are flushed first). A pending row of a process that
 * died is left for the caller (detach undoes it as gc would).
 */
export async function waitForAttaches(ctx: HostContext, network: string): Promise<void> {
  for (const end = Date.now() + WAIT_MS; ;) {
    flushReady(ctx);
    const busy = ctx.store.listEndpoints({ network }).filter((e) => {
      const d = e.data as { pid?: unknown; start?: unknown } | undefined;
      return e.state === 'pending' && ownerAlive(d?.pid, d?.start);
    });
    if (busy.length === 0) return;
    if (Date.now() > end) throw new CtnetError(`remove network ${network}: ${busy.length} attach(es) still in flight (e.g. ${busy[0]?.netns})`, CODE.busy);
    await sleep(POLL_MS);
  }
}

/** A subnet as given, parsed loosely (the store checks it strictly), or undefined if it does not parse. */
function parsed(cidr: unknown, family?: 4 | 6): ReturnType<typeof parseCidr> | undefined {
  if (typeof cidr !== 'string') return undefined;
  try { return parseCidr(cidr, 'subnet', family !== undefined ? { family } : {}); } catch { return undefined; }
}

/**
 * A new network's subnets against the special ranges (always refused), the host's own
 * addresses (always refused) and the host's routes other than the default route and our own
 * bridges' (refused unless `ignoreHostRoutes`). Reads the host with ONE plan (addresses,
 * routes, links). A subnet that does not parse is left to the store, which names the error.
 */
export async function checkHostOverlap(ctx: HostContext, spec: NetworkSpec): Promise<void> {
  if (spec === null || typeof spec !== 'object') throw new InvalidInputError('invalid network: not an object');
  const ranges = Array.isArray(spec.ranges) ? spec.ranges.map((r: unknown) => parsed((r as { subnet?: unknown } | null)?.subnet)) : [];
  const subnets = [parsed(spec.subnet, 4), parsed(spec.subnet6, 6), ...ranges].filter((c) => c !== undefined);
  for (const c of subnets) checkNetworkSubnet(networkText(c), c.family, c.family === 4 ? 'subnet' : 'subnet6');
  if (subnets.length === 0) return;
  const [r] = await runSteps(ctx.backend, [rtnlStep(ctx.hostNs, [{ op: 'addrList' }, { op: 'routeList' }, { op: 'linkList' }],
    'read the host\'s addresses, routes and links')], `check network ${spec.name} against the host`);
  const value = <T>(i: number): T[] => {
    const o = r?.ok === true ? r.ops?.[i] : undefined;
    return o?.ok === true ? o.value as T[] : [];
  };
  const links = value<Link>(2);
  const ours = new Set(ctx.store.listNetworks().map((n) => n.bridge));
  const ownLinks = links.filter((l) => ours.has(l.name)).map((l) => l.index);
  const names = new Map(links.map((l) => [l.index, l.name]));
  for (const c of subnets) {
    const hit = overlapsHost(c, value<Addr>(0), value<Route>(1), {
      ignoreRoutes: spec.ignoreHostRoutes === true, ownLinks, linkName: (i) => names.get(i),
    });
    if (hit !== undefined) throw hit.error.withContext(`create network ${spec.name}`);
  }
}
