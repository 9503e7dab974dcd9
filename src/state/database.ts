/**
 * state/database.ts — the SQLite file of the state: find or create it, refuse one that is
 * not ours, open it (WAL, busy timeout, retries), bring its schema up to date.
 *
 * Layer: state. No domain rules here (networks.ts, endpoints.ts, ports.ts have them).
 * See docs/ARCHITECTURE.md, "State model".
 *
 * A store is created ATOMICALLY: it is built complete (schema, meta) under a temporary
 * name in the state directory and then hard-linked to `state.db` (link(2) fails if the
 * name exists, so of many processes creating it at once exactly one wins and the others
 * open the winner's). So a visible `state.db` is always a finished store, and one that is
 * empty, truncated, not SQLite or without our schema is an error naming the file and the
 * cause — never taken for a fresh store (gc would then delete everything the lost state
 * knew about). Nothing is deleted or rewritten in that case.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, linkSync, lstatSync, openSync, readSync, statSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { CtnetError, EnvironmentError, CODE, codeOf } from '../model/errors.js';
import { sleepSync } from '../util/proc.js';
import { migrate } from './schema.js';
import { ensureStateDir } from './dir.js';
import { isDiskFull, withRoom } from './reserve.js';

/** File name of the database inside the state directory. */
export const STATE_FILE = 'state.db';

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/** The first 16 bytes of every SQLite 3 database file. */
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

export function isBusy(e: unknown): boolean {
  return codeOf(e)?.startsWith('SQLITE_BUSY') ?? false;
}

function notOurs(file: string, why: string, code: string = CODE.badStore): CtnetError {
  return new CtnetError(`state ${file} is not a usable ctnet-fast store: ${why}; nothing was changed ` +
    '(move it away to start from an empty state, or point $CTNET_STATE_DIR elsewhere)', code);
}

/**
 * Look at an existing `file` before SQLite does (SQLite would take an empty file for a new
 * database). Returns false when there is no such file; throws when it is not a store.
 */
function existingStore(file: string): boolean {
  refuseLinks(file);
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return false;
    throw notOurs(file, `cannot read it (${codeOf(e) ?? (e as Error).message})`, codeOf(e) ?? CODE.environment);
  }
  if (!st.isFile()) throw notOurs(file, st.isDirectory() ? 'it is a directory' : 'it is not a regular file');
  if (st.size === 0) throw notOurs(file, 'it is empty (a store is never empty: it may have been truncated)');
  // A checkpoint by a process that has the store open copies page 1 (with the new page
  // count) before the pages that extend the file: a short file is only "truncated" when it
  // stays short with no write-ahead log beside it.
  for (let attempt = 0; ; attempt++) {
    const short = headerSaysLonger(file, st.size);
    if (short === undefined) return true;
    if (attempt >= 3 && !existsSync(`${file}-wal`)) throw notOurs(file, short);
    sleepSync(20);
    st = statSync(file);
  }
}

/**
 * The state's files are never reached through a symbolic link (README: files in the state
 * directory are opened without following links): a `state.db`, `-wal` or `-shm` that is one
 * is refused, naming it, before SQLite opens (and follows) it.
 */
function refuseLinks(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    let link = false;
    try {
      link = lstatSync(f).isSymbolicLink();
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw notOurs(f, `cannot read it (${codeOf(e) ?? (e as Error).message})`, codeOf(e) ?? CODE.environment);
    }
    if (link) throw notOurs(f, 'it is a symbolic link (the state is never opened through a link)');
  }
}

/** Why `file` is not an SQLite store or is cut short, or undefined when its header fits its size. */
function headerSaysLonger(file: string, size: number): string | undefined {
  const head = Buffer.alloc(100); // the database header
  let fd;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw notOurs(file, `cannot read it (${codeOf(e) ?? (e as Error).message})`, codeOf(e) ?? CODE.environment);
  }
  try {
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < head.length || !head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
      throw notOurs(file, `it is not an SQLite database (${size} bytes, no SQLite header)`);
    }
    // The header's page count is valid when its "version-valid-for" equals the change
    // counter (sqlite.org/fileformat2.html, 1.3): then a shorter file was cut off.
    const pageSize = head.readUInt16BE(16) === 1 ? 65536 : head.readUInt16BE(16);
    const pages = head.readUInt32BE(28);
    if (pages > 0 && head.readUInt32BE(92) === head.readUInt32BE(24) && size < pages * pageSize) {
      return `it is truncated (${size} bytes, its header says ${pages} pages of ${pageSize})`;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The pragmas every connection runs (foreign keys are turned on after migrate(): see schema.ts). */
function configure(db: Database.Database, file: string, busyTimeoutMs: number): void {
  // Switching to WAL needs a moment of exclusive access; a store opened by many processes
  // at once can see SQLITE_BUSY here without the busy handler, so retry.
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new EnvironmentError(`state ${file}: the filesystem does not support SQLite WAL (journal_mode=${String(mode)})`);
      break;
    } catch (e) {
      if (!isBusy(e) || Date.now() > deadline) throw e;
      sleepSync(5 + Math.random() * 10);
    }
  }
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = OFF'); // better-sqlite3 turns them on; migrations need them off
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
}

/**
 * Build a complete store under a temporary name next to `file` and link it into place.
 * Losing the race to another process is fine: its store is complete too.
 */
function createStore(dir: string, file: string, busyTimeoutMs: number): void {
  const tmp = path.join(dir, `.${STATE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  closeSync(openSync(tmp, 'wx', 0o600)); // private before SQLite writes a byte
  try {
    const db = new Database(tmp, { timeout: busyTimeoutMs });
    try {
      configure(db, tmp, busyTimeoutMs);
      migrate(db, tmp);
    } finally {
      db.close(); // checkpoints the WAL into the file and removes it
    }
    try {
      linkSync(tmp, file);
    } catch (e) {
      if (codeOf(e) !== 'EEXIST') throw e; // another process created it first: use theirs
    }
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) {
      try { unlinkSync(f); } catch { /* gone already */ }
    }
  }
}

/** The connection a new store works with, or an error naming the file and the cause. */
function openExisting(file: string, busyTimeoutMs: number): Database.Database {
  const db = new Database(file, { timeout: busyTimeoutMs, fileMustExist: true });
  try {
    // checked before configure() writes the header (journal mode): a foreign file stays as it is
    if ((db.pragma('user_version', { simple: true }) as number) === 0) throw notOurs(file, 'it has no ctnet-fast schema (schema version 0)');
    configure(db, file, busyTimeoutMs);
    migrate(db, file);
    const tag = db.prepare("SELECT value FROM meta WHERE key = 'ifname_tag'").get() as { value: string } | undefined;
    if (tag === undefined) throw notOurs(file, 'its meta table has no ifname_tag');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Open the store in `dir` (created 0700 with its parents if missing), creating the
 * database atomically when there is none. Errors: CtnetError ENVIRONMENT naming the
 * directory and the fix for one we must not trust (owned by another user, or writable by
 * others, itself or a parent: dir.ts ensureStateDir, issue 10 item 7); EnvironmentError for
 * one we cannot use; CtnetError EBADSTORE for a file that is not a store (empty, corrupt,
 * foreign, a symbolic link), ESCHEMA for one of a newer schema.
 */
export function openDatabase(dir: string, busyTimeoutMs: number): { db: Database.Database; file: string } {
  const file = path.join(dir, STATE_FILE);
  try {
    // refuses a directory (or a parent we create in) another user owns or can write (dir.ts)
    ensureStateDir(path.resolve(dir));
  } catch (e) {
    if (e instanceof CtnetError) throw e;
    throw new EnvironmentError(`cannot open the state in ${dir} (set $CTNET_STATE_DIR or the stateDir option to use another directory): ${(e as Error).message}`, codeOf(e) ?? 'ENVIRONMENT');
  }
  // Opening needs a little room (the WAL index): on a full disk, the reserve makes it, so
  // that a detach can still run (reserve.ts).
  return withRoom(dir, () => {
    try {
      if (!existingStore(file)) createStore(dir, file, busyTimeoutMs);
      return { db: openExisting(file, busyTimeoutMs), file };
    } catch (e) {
      if (e instanceof CtnetError || isDiskFull(e)) throw e;
      const code = codeOf(e);
      if (code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new EnvironmentError(`cannot open the state in ${dir} (set $CTNET_STATE_DIR or the stateDir option to use another directory): ${(e as Error).message}`, code);
      }
      if (code?.startsWith('SQLITE_')) throw notOurs(file, `SQLite cannot read it (${code}: ${(e as Error).message})`, code);
      throw e;
    }
  });
}

/** The seq (counters) and meta (flags) tables. */
export class MetaTable {
  readonly #s;

  constructor(db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      nextSeq: p('INSERT INTO seq (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value'),
      get: p('SELECT value FROM meta WHERE key = ?'),
      set: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      delete: p('DELETE FROM meta WHERE key = ?'),
      // keys from `prefix` up to the next prefix ("linger:" … "linger;"): the primary key's range
      list: p('SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key'),
    };
  }

  /** Next value of a counter (inside the caller's transaction). */
  nextSeq(name: string): number {
    return (this.#s.nextSeq.get(name) as { value: number }).value;
  }

  get(key: string): string | undefined {
    return (this.#s.get.get(key) as { value: string } | undefined)?.value;
  }

  set(key: string, value: string): void {
    this.#s.set.run(key, value);
  }

  delete(key: string): boolean {
    return this.#s.delete.run(key).changes > 0;
  }

  /** Every key starting with `prefix` (non-empty), with its value, in key order. */
  list(prefix: string): Array<{ key: string; value: string }> {
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    return this.#s.list.all(prefix, end) as Array<{ key: string; value: string }>;
  }
}
