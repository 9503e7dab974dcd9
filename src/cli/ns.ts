/**
 * cli/ns.ts — what a NETNS argument means: a name under /run/netns (what `ip netns` sees),
 * an absolute path to an nsfs file (/proc/PID/ns/net, a bind mount elsewhere), or pid:N.
 * Resolution is the library's own (validate/netns.ts), so the CLI and the API agree.
 *
 * Layer: CLI front door. No kernel work beyond a stat.
 */
import { statSync } from 'node:fs';
import { CtnetError, CODE } from '../model/errors.js';
import { UsageError } from './args.js';
import { resolveNetns as libResolve, NETNS_RUN_DIR, type ResolvedNetns } from '../validate/netns.js';

export { NETNS_RUN_DIR };

/** What a NETNS argument names: the library's one shape of a resolved netns. */
export type { ResolvedNetns } from '../validate/netns.js';

/** Resolve a NETNS argument; a bad one is a usage error naming it (exit 2). */
export function resolveNetns(arg: string, verb: string): ResolvedNetns {
  if (!arg.startsWith('/') && arg.includes('/')) {
    throw new UsageError(`${verb}: NETNS "${arg}": a path must be absolute (e.g. /proc/1234/ns/net); a name has no "/"`, verb);
  }
  try {
    return libResolve(arg);
  } catch (e) {
    throw new UsageError(`${verb}: NETNS ${(e as Error).message.replace(/^invalid /, '')}`, verb);
  }
}

export function checkNetnsName(name: string, verb: string): void {
  const r = resolveNetns(name, verb);
  if (r.name === undefined || name.includes('/')) {
    throw new UsageError(`${verb}: "${name}" is not a netns name (a name has no "/")`, verb);
  }
}

/** Throw ENOTFOUND (exit 3) unless the netns file exists. */
export function requireNetnsFile(ref: ResolvedNetns, verb: string): void {
  try {
    statSync(ref.path);
  } catch {
    const what = ref.name !== undefined ? `netns "${ref.name}" not found (${ref.path})` : `netns path "${ref.path}" does not exist`;
    const fix = ref.name !== undefined ? `: create it with ctnet-fast netns add ${ref.name}` : '';
    throw new CtnetError(`${verb}: ${what}${fix}`, CODE.notFound);
  }
}
