/**
 * state/reserve.ts — room on a full disk for teardown.
 *
 * Layer: state. See docs/ARCHITECTURE.md, "State model".
 *
 * Every SQLite write, even a DELETE, appends to the WAL, and opening a store creates its
 * WAL index: with the state directory's filesystem full, a detach would fail with
 * SQLITE_FULL and leave the container's network up. So the state directory holds a
 * pre-allocated reserve file (RESERVE_FILE, RESERVE_BYTES of real blocks, not a sparse
 * file). A teardown-side write (open, detach, unpublish, network rm) that fails because
 * the disk is full deletes the reserve and tries once more; the reserve is written again
 * later, by the first attach or network create that finds it missing and has the room.
 */
import { closeSync, existsSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { codeOf } from '../model/errors.js';

export const RESERVE_FILE = '.reserve';
/** The WAL index (32 KiB) and the WAL frames of a few dozen teardown transactions (a few pages each). */
export const RESERVE_BYTES = 1024 * 1024;

/** SQLITE_FULL (or a WAL index that could not grow), or ENOSPC from the filesystem. */
export function isDiskFull(e: unknown): boolean {
  const c = codeOf(e);
  return c === 'SQLITE_FULL' || c === 'ENOSPC' || c === 'SQLITE_IOERR_SHMSIZE' || c === 'SQLITE_IOERR_WRITE';
}

/** Delete the reserve of `dir`; true if there was one to give up. */
export function releaseReserve(dir: string): boolean {
  try {
    unlinkSync(path.join(dir, RESERVE_FILE));
    return true;
  } catch {
    return false;
  }
}

/**
 * Write the reserve of `dir` if it is missing. Best effort: without the room it leaves no
 * partial file (that room is better left to the store) and returns false.
 */
export function ensureReserve(dir: string): boolean {
  const file = path.join(dir, RESERVE_FILE);
  if (existsSync(file)) return true;
  const tmp = `${file}.${process.pid}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    const chunk = Buffer.alloc(64 * 1024); // zeros written, so the blocks are really taken
    for (let done = 0; done < RESERVE_BYTES; done += chunk.length) writeSync(fd, chunk);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file); // nobody sees a short reserve
    return true;
  } catch {
    if (fd !== undefined) closeSync(fd);
    try { unlinkSync(tmp); } catch { /* absent */ }
    return false;
  }
}

/**
 * Run `fn`; if it fails because the disk is full and `dir` still has its reserve, give the
 * reserve up and run `fn` once more. For teardown-side work only: what builds must not
 * spend the room teardown needs.
 */
export function withRoom<T>(dir: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!isDiskFull(e) || !releaseReserve(dir)) throw e;
    return fn();
  }
}
