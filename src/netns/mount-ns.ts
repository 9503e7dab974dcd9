/**
 * netns/mount-ns.ts — detect the mount-namespace caveat of docs/ARCHITECTURE.md (Kernel facts).
 *
 * Layer: netns (reads /proc only).
 *
 * A named netns is a bind mount on /run/netns/NAME, and a bind mount lives in the mount
 * namespace of the process that made it. Made from a private mount namespace (under
 * `ip netns exec`, `unshare --mount`, a container), it is an empty file for everyone else:
 * `ip netns exec NAME` elsewhere fails and the netns dies with our mount namespace. Front
 * doors should warn (once) when `inHostMountNamespace()` is false.
 */
import { readFileSync, readlinkSync } from 'node:fs';

function nsLink(pid: number | 'self', kind: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …" — comm may contain spaces and parentheses: cut at the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The namespace (as its nsfs link text, e.g. "mnt:[4026531841]") of the host: PID 1's when we
 * may read it; otherwise (no CAP_SYS_PTRACE over PID 1, as in some CI containers) the one of
 * our outermost readable ancestor. Undefined when nothing can be read.
 */
export function outerNamespace(kind: 'mnt' | 'net'): string | undefined {
  const init = nsLink(1, kind);
  if (init !== undefined) return init;
  let found: string | undefined;
  let pid = process.ppid;
  for (let hops = 0; pid > 1 && hops < 64; hops++) {
    const link = nsLink(pid, kind);
    if (link !== undefined) found = link;
    const next = parentOf(pid);
    if (next === undefined) break;
    pid = next;
  }
  return found;
}

/**
 * True when this process shares the host's mount namespace (compares /proc/self/ns/mnt with
 * PID 1's, or with our outermost readable ancestor's). When nothing can be read we cannot
 * tell and answer true, so nobody is warned on a guess.
 */
export function inHostMountNamespace(): boolean {
  const own = nsLink('self', 'mnt');
  const outer = outerNamespace('mnt');
  return own === undefined || outer === undefined || own === outer;
}

/** The one-line warning a front door prints when named netns made here are private, or undefined. */
export function mountNamespaceWarning(): string | undefined {
  if (inHostMountNamespace()) return undefined;
  return 'not in the host mount namespace: named netns created here (/run/netns/NAME) are bind mounts visible only inside this mount namespace, and vanish with it';
}
