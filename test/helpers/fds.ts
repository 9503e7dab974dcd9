/**
 * test/helpers/fds.ts — count this process's open file descriptors (readdir /proc/self/fd),
 * for leak checks: take `openFds()` before, run N cycles, compare after.
 */
import { readdirSync, readlinkSync } from 'node:fs';

/** Number of open fds (not counting the one readdir itself holds while reading). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length - 1;
}

/** fd → what it points at (for a readable diff when a leak is found). */
export function fdTargets(): Map<number, string> {
  const m = new Map<number, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      m.set(Number(fd), readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile (the readdir's own fd)
    }
  }
  return m;
}
