/**
 * util/proc.ts — small facts about processes, read from /proc, and a synchronous sleep.
 *
 * Layer: utility (no library imports). Used by the state's owner checks (gc: is the process
 * that began this attach still there?) and by the CLI daemon's locks.
 */
import { readFileSync } from 'node:fs';

/**
 * Is process `pid` there? A zombie (killed, not yet reaped by its parent or init) has ended:
 * state Z counts as gone. Anything but a positive integer is not a process.
 */
export function processAlive(pid: unknown): boolean {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block this thread for `ms` milliseconds (for short waits in synchronous code only). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
