/**
 * netns/mount-ns.ts — detect the mount-namespace caveat of DESIGN.md §3.
 *
 * Layer: netns (reads /proc only).
 *
 * A named netns is a bind mount on /run/netns/NAME, and a bind mount lives in the mount
 * namespace of the process that made it. Made from a private mount namespace (under
 * `ip netns exec`, `unshare --mount`, a container), it is an empty file for everyone else:
 * `ip netns exec NAME` elsewhere fails and the netns dies with our mount namespace. Front
 * doors should warn (once) when `inHostMountNamespace()` is false.
 */
import { readlinkSync } from 'node:fs';

/**
 * True when this process shares PID 1's mount namespace (compares the nsfs links
 * /proc/self/ns/mnt and /proc/1/ns/mnt). When /proc/1 cannot be read (no privilege, hidepid)
 * we cannot tell and answer true, so nobody is warned on a guess.
 */
export function inHostMountNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/mnt') === readlinkSync('/proc/1/ns/mnt');
  } catch {
    return true;
  }
}

/** The one-line warning a front door prints when named netns made here are private, or undefined. */
export function mountNamespaceWarning(): string | undefined {
  if (inHostMountNamespace()) return undefined;
  return 'not in the host mount namespace: named netns created here (/run/netns/NAME) are bind mounts visible only inside this mount namespace, and vanish with it';
}
