/**
 * netns/index.ts — network namespaces: create (exactly as `ip netns add`), open by name, path
 * or pid, delete without blocking, list.
 *
 * Layer: netns. Kernel work goes through a Batch plan (netnsCreate/netnsOpen/netnsDelete
 * steps); only `listNetns` reads the filesystem directly. Names are validated before any
 * kernel work (InvalidInputError naming them); a missing netns is a NetlinkError ENOENT
 * naming it. Every function takes an optional Backend; without one it uses the process-wide
 * default (`defaultBackend()`: native if it loads, else iproute2 with one warning).
 *
 * Mount-namespace caveat (docs/ARCHITECTURE.md, Kernel facts): a named netns is a bind mount that exists only in
 * the mount namespace that made it. See `inHostMountNamespace()`.
 */
import { promises as fs } from 'node:fs';
import type { Backend, NsRef } from '../model/plan.js';
import { Batch } from '../rtnl/batch.js';
import { defaultBackend } from '../backend/select.js';
import { NETNS_RUN_DIR, netnsPath, resolveNetns } from '../validate/netns.js';

export { NETNS_RUN_DIR, NETNS_NAME_MAX, checkNetnsName, netnsPath, resolveNetns, toNsRef } from '../validate/netns.js';
export type { ResolvedNetns } from '../validate/netns.js';
export { inHostMountNamespace, mountNamespaceWarning, outerNamespace } from './mount-ns.js';

/** A netns we created or opened. */
export interface Netns {
  /** The nsfs file. */
  readonly path: string;
  /** Its name under /run/netns, if it has one. */
  readonly name?: string;
  /** For plans and `new Rtnl(backend, netns.ref)`. */
  readonly ref: NsRef;
}

function handle(path: string, name: string | undefined): Netns {
  return name === undefined ? { path, ref: { path } } : { path, name, ref: { path } };
}

/** One netns step as a plan of its own; a failure is thrown as "create netns NAME: ENOENT: …". */
async function runOne(backend: Backend | undefined, add: (b: Batch) => unknown): Promise<void> {
  const b = new Batch(backend ?? await defaultBackend());
  add(b);
  (await b.run()).stepValue(0);
}

/**
 * `ip netns add NAME`: a fresh netns bind-mounted on /run/netns/NAME (EEXIST if taken).
 * The iproute2 backend runs exactly that; the native one does the same syscalls.
 */
export async function createNetns(name: string, backend?: Backend): Promise<Netns> {
  const path = netnsPath(name);
  await runOne(backend, (b) => b.netnsCreate(path));
  return handle(path, name);
}

/**
 * Open an existing netns: a name (/run/netns/NAME), an absolute nsfs path, or pid:N
 * (/proc/N/ns/net). ENOENT when missing, EINVAL when the file is not a network namespace.
 */
export async function openNetns(nameOrPath: string, backend?: Backend): Promise<Netns> {
  const r = resolveNetns(nameOrPath);
  await runOne(backend, (b) => b.netnsOpen(r.path));
  return handle(r.path, r.name);
}

/**
 * `ip netns del NAME` (or umount -l + unlink for another path): returns at once; the kernel
 * reaps the netns and its links when the last user goes (no ~30 ms RTM_DELLINK wait).
 * `missingOk`: a netns that is already gone is not an error.
 */
export async function deleteNetns(
  nameOrPath: string,
  opts: { readonly backend?: Backend | undefined; readonly missingOk?: boolean | undefined } = {},
): Promise<void> {
  const r = resolveNetns(nameOrPath);
  try {
    await runOne(opts.backend, (b) => b.netnsDelete(r.path));
  } catch (e) {
    if (opts.missingOk === true && (e as { code?: string }).code === 'ENOENT') return;
    throw e;
  }
}

/** `ip netns list`: the entries of /run/netns, sorted by name ([] when the directory is missing). */
export async function listNetns(dir: string = NETNS_RUN_DIR): Promise<Array<{ name: string; path: string }>> {
  try {
    return (await fs.readdir(dir)).sort().map((name) => ({ name, path: `${dir}/${name}` }));
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw e;
  }
}
