/**
 * cli/daemon/files.ts — the daemon's files in the state directory (pid file, log, markers),
 * opened so that nothing planted there is followed or reused: O_NOFOLLOW on every open,
 * O_EXCL where we create, and a regular file of our own uid checked with fstat. The state
 * directory itself is checked first (state/dir.ts ensureStateDir: ours or root's, writable by
 * nobody else), so these are a second line.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers", "State model").
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { CtnetError, CODE } from '../../model/errors.js';

const NOFOLLOW = fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY;

/** Open `file` with `flags` (plus O_NOFOLLOW…) and check it is a regular file of ours; throws naming it. */
function openOwn(file: string, flags: number, mode = 0o600): number {
  const fd = openSync(file, flags | NOFOLLOW, mode);
  const st = fstatSync(fd);
  const euid = process.geteuid?.() ?? 0;
  if (!st.isFile() || st.uid !== euid) {
    closeSync(fd);
    throw new CtnetError(`${file} is ${st.isFile() ? `owned by uid ${st.uid}` : 'not a regular file'}: not ours; remove it`, CODE.environment);
  }
  return fd;
}

/** The first (or `tail`: last) 4 KiB of a file of ours; undefined when absent or not ours. */
export function readSmall(file: string, tail = false): string | undefined {
  let fd: number;
  try { fd = openOwn(file, fsc.O_RDONLY); } catch { return undefined; }
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, tail ? Math.max(0, fstatSync(fd).size - buf.length) : 0);
    return buf.toString('utf8', 0, n);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The pid in a pid file; NaN when absent, empty or not ours. */
export function readPid(file: string): number {
  const text = readSmall(file)?.trim();
  return text === undefined || text === '' ? NaN : Number(text);
}

/** Create `file` (it must not exist: EEXIST otherwise) with `text`, mode 0600. */
export function createExclusive(file: string, text: string): void {
  const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | NOFOLLOW, 0o600);
  try { writeSync(fd, text); } finally { closeSync(fd); }
}

/** Open the log for appending (created 0600 when absent); a link or someone else's file is refused. */
export function openLog(file: string): number {
  return openOwn(file, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT);
}
