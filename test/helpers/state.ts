/**
 * test/helpers/state.ts — an independent look at a store's database: SQLite's own
 * integrity and foreign-key checks plus the store's invariants, read through a separate
 * read-only connection (not through the Store under test).
 */
import Database from 'better-sqlite3';

/** Problems found in the store whose database file is `file` (a Store's `.file`); [] when healthy. */
export function storeProblems(store: { readonly file: string } | string): string[] {
  const db = new Database(typeof store === 'string' ? store : store.file, { readonly: true, fileMustExist: true });
  try {
    const problems: string[] = [];
    for (const r of db.pragma('integrity_check') as Array<{ integrity_check: string }>) {
      if (r.integrity_check !== 'ok') problems.push(`integrity: ${r.integrity_check}`);
    }
    for (const r of db.pragma('foreign_key_check') as Array<{ table: string; rowid: number; parent: string }>) {
      problems.push(`foreign key: ${r.table} row ${r.rowid} references a missing ${r.parent}`);
    }
    for (const r of db.prepare('SELECT l.network, l.ip, l.endpoint_id FROM leases l LEFT JOIN endpoints e ON e.id = l.endpoint_id WHERE l.endpoint_id IS NOT NULL AND e.id IS NULL').all() as Array<{ network: string; ip: string; endpoint_id: string }>) {
      problems.push(`lease ${r.ip} on ${r.network} held by missing endpoint ${r.endpoint_id}`);
    }
    for (const r of db.prepare('SELECT f.network, f.ip FROM ipam_free f JOIN leases l ON l.network = f.network AND l.ip = f.ip').all() as Array<{ network: string; ip: string }>) {
      problems.push(`address ${r.ip} on ${r.network} is both leased and in the free list`);
    }
    return problems;
  } finally {
    db.close();
  }
}
