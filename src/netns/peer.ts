/**
 * netns/peer.ts — whether a caller that is not root may name a netns: the one rule the agent
 * (cli/daemon/access.ts) and the CNI plugin (cni/netns.ts) both apply, each wrapping the
 * verdict in its own error. Every nsfs file is readable by everyone (0444, owned by root), so
 * "could open it" means "could enter it": the caller must hold CAP_SYS_ADMIN over the netns's
 * user namespace. Accepted: /proc/N/ns/net (or /proc/N/task/T/ns/net) where N is a process of
 * the caller's own uid living in a user namespace other than ours (one the caller made:
 * `unshare -Urn`, rootless runtimes), and the path names the same netns for the caller (seen
 * through /proc/CALLER/root) as for us (no other mount or pid namespace in between).
 *
 * Layer: netns (docs/ARCHITECTURE.md, "Layers"): stat() calls only, no kernel changes.
 */
import { statSync } from 'node:fs';

export interface NetnsPeer { readonly uid: number; readonly pid: number }

export type PeerNetnsVerdict =
  | { readonly ok: true }
  /** the caller has no process N, or the path does not exist */
  | { readonly ok: false; readonly gone: 'process' | 'path' }
  /** the rule refuses it; `why` completes "uid U …" */
  | { readonly ok: false; readonly denied: string };

function stat(f: string): { uid: number; dev: number; ino: number } | undefined {
  try { return statSync(f); } catch { return undefined; }
}

/** The verdict for `peer` naming the normalised path `p` = /proc/`procPid`/…/ns/net. */
export function peerNetnsVerdict(peer: NetnsPeer, procPid: string, p: string): PeerNetnsVerdict {
  const view = `/proc/${peer.pid}/root`;
  const owner = stat(`${view}/proc/${procPid}`);
  if (owner === undefined) return { ok: false, gone: 'process' };
  if (owner.uid !== peer.uid) return { ok: false, denied: `does not own process ${procPid} (uid ${owner.uid})` };
  const theirUserns = stat(`${view}/proc/${procPid}/ns/user`);
  const ourUserns = stat('/proc/self/ns/user');
  if (theirUserns === undefined || ourUserns === undefined || (theirUserns.dev === ourUserns.dev && theirUserns.ino === ourUserns.ino)) {
    return { ok: false, denied: "names a netns of the agent's own user namespace (the host's)" };
  }
  const theirs = stat(view + p);
  const ours = stat(p);
  if (theirs === undefined) return { ok: false, gone: 'path' };
  if (ours === undefined || theirs.dev !== ours.dev || theirs.ino !== ours.ino) {
    return { ok: false, denied: `names at ${p} another netns than the agent sees there (another mount or pid namespace)` };
  }
  return { ok: true };
}
