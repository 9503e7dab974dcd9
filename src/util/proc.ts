/**
 * util/proc.ts — small facts about processes, read from /proc, and a synchronous sleep.
 *
 * Layer: utility (no library imports). Used by the state's owner checks (gc: is the process
 * that began this attach still there, and is it still the same process?) and by the CLI daemon's locks.
 */
import { readFileSync } from 'node:fs';

/**
 * When process `pid` started, in clock ticks after boot (/proc/PID/stat field 22), or
 * undefined when there is no such process. With the pid it names one process for the life of
 * the machine: a pid reused by another process has another start time.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after "(comm)" start with field 3 (state): field 22 is the 20th of them
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

let selfStart: number | undefined;

/** This process as an owner record: its pid and start time (see ownerAlive). */
export function selfOwner(): { readonly pid: number; readonly start: number } {
  selfStart ??= processStartTime(process.pid) ?? 0;
  return { pid: process.pid, start: selfStart };
}

/**
 * Is the owner recorded as `pid` (and `start`, its start time, when recorded) still running?
 * A pid alone is trusted only as far as a pid can be: when the recorded start time differs,
 * the pid was reused by another process and the owner has ended.
 */
export function ownerAlive(pid: unknown, start?: unknown): boolean {
  if (!processAlive(pid)) return false;
  if (typeof start !== 'number' || pid === process.pid) return true;
  return processStartTime(pid as number) === start;
}

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

/**
 * When process `pid` started, in ms since the epoch (boot time from /proc/stat, whole
 * seconds, plus its start in clock ticks of 1/100 s: USER_HZ is 100 on Linux), or undefined.
 */
export function processStartedAt(pid: number): number | undefined {
  const ticks = processStartTime(pid);
  if (ticks === undefined) return undefined;
  try {
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    return Number.isFinite(btime) ? btime * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}
