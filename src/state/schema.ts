/**
 * state/schema.ts — the SQLite schema of the durable state and its migrations.
 *
 * Layer: state. Only DDL and the migration runner; no policy (ipam/ decides addresses,
 * topology/ decides what to do with endpoints).
 *
 * Versioning: `PRAGMA user_version` holds the number of migrations applied. Migrations
 * run inside one BEGIN IMMEDIATE transaction that re-reads user_version, so two processes
 * opening a fresh store at the same instant migrate it exactly once.
 */
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { EnvironmentError, CODE } from '../model/errors.js';

type Db = Database.Database;

/** Schema v1. Tables are STRICT; endpoint references from leases/ports are deferred so an
 * attach can lease its address before it inserts the endpoint row, in one transaction. */
const V1 = `
CREATE TABLE networks (
  name        TEXT PRIMARY KEY,
  subnet      TEXT NOT NULL,
  subnet6     TEXT,
  gateway     TEXT NOT NULL,
  gateway6    TEXT,
  bridge      TEXT NOT NULL UNIQUE,
  bridge_mac  TEXT NOT NULL,
  mtu         INTEGER NOT NULL,
  internal    INTEGER NOT NULL,
  masquerade  INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  spec        TEXT NOT NULL,              -- the NetworkSpec as given (JSON)
  cursor4     TEXT NOT NULL DEFAULT '0',  -- IPAM cursor: a position on the pool circle (decimal)
  cursor6     TEXT NOT NULL DEFAULT '0'
) STRICT;

CREATE TABLE endpoints (
  id          TEXT PRIMARY KEY,
  network     TEXT REFERENCES networks(name),  -- NULL for mode host/none without a network
  mode        TEXT NOT NULL CHECK (mode IN ('bridge', 'host', 'none')),
  netns       TEXT NOT NULL,                   -- nsfs path
  netns_name  TEXT,
  owns_netns  INTEGER NOT NULL,
  ifname      TEXT NOT NULL,
  host_ifname TEXT UNIQUE,
  ip          TEXT,
  ip6         TEXT,
  mac         TEXT,
  state       TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'detaching')),
  created_at  TEXT NOT NULL,
  data        TEXT,                            -- caller's JSON (routes, …)
  UNIQUE (network, netns)
) STRICT;
CREATE INDEX endpoints_netns ON endpoints(netns);
-- gc looks for unfinished work: keep those rows in a small partial index
CREATE INDEX endpoints_unfinished ON endpoints(state) WHERE state <> 'ready';

CREATE TABLE leases (
  network     TEXT NOT NULL REFERENCES networks(name),
  family      INTEGER NOT NULL CHECK (family IN (4, 6)),
  ip          TEXT NOT NULL,
  endpoint_id TEXT REFERENCES endpoints(id) DEFERRABLE INITIALLY DEFERRED,
  PRIMARY KEY (network, ip)
) STRICT, WITHOUT ROWID;
CREATE INDEX leases_endpoint ON leases(endpoint_id);

-- released addresses below the cursor, reused oldest first once the cursor has wrapped
CREATE TABLE ipam_free (
  seq         INTEGER PRIMARY KEY,
  network     TEXT NOT NULL REFERENCES networks(name),
  family      INTEGER NOT NULL CHECK (family IN (4, 6)),
  ip          TEXT NOT NULL,
  UNIQUE (network, ip)
) STRICT;
CREATE INDEX ipam_free_order ON ipam_free(network, family, seq);

-- one row per published host port (a range is several rows sharing range_start)
CREATE TABLE ports (
  host_ip        TEXT NOT NULL,
  proto          TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),
  host_port      INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
  endpoint_id    TEXT NOT NULL REFERENCES endpoints(id) DEFERRABLE INITIALLY DEFERRED,
  container_port INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
  range_start    INTEGER NOT NULL,
  PRIMARY KEY (host_ip, proto, host_port)
) STRICT, WITHOUT ROWID;
CREATE INDEX ports_port ON ports(proto, host_port);
CREATE INDEX ports_endpoint ON ports(endpoint_id);

CREATE TABLE seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
`;

/** v2 → v3. Runs with foreign keys off (migrate() is called before they are turned on), so
 * dropping the old networks table neither cascades nor trips the references to it. */
const V3 = `
CREATE TABLE networks_v3 (
  name        TEXT PRIMARY KEY,
  id          TEXT NOT NULL UNIQUE,       -- stable id (64 hex digits), never reused
  subnet      TEXT,                       -- NULL: IPv6-only (not enabled yet)
  subnet6     TEXT,
  gateway     TEXT,
  gateway6    TEXT,
  ranges      TEXT,                       -- JSON AddressRange[] (CNI ranges) or NULL
  labels      TEXT NOT NULL DEFAULT '{}', -- JSON object string → string
  bridge      TEXT NOT NULL UNIQUE,
  bridge_mac  TEXT NOT NULL,
  mtu         INTEGER NOT NULL,
  internal    INTEGER NOT NULL,
  masquerade  INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  spec        TEXT NOT NULL,
  cursor4     TEXT NOT NULL DEFAULT '0',
  cursor6     TEXT NOT NULL DEFAULT '0',
  CHECK (subnet IS NOT NULL OR subnet6 IS NOT NULL)
) STRICT;
INSERT INTO networks_v3 (name, id, subnet, subnet6, gateway, gateway6, bridge, bridge_mac, mtu, internal, masquerade, created_at, spec, cursor4, cursor6)
  SELECT name, lower(hex(randomblob(32))), subnet, subnet6, gateway, gateway6, bridge, bridge_mac, mtu, internal, masquerade, created_at, spec, cursor4, cursor6 FROM networks;
DROP TABLE networks;
ALTER TABLE networks_v3 RENAME TO networks;
ALTER TABLE endpoints ADD COLUMN name TEXT;
ALTER TABLE endpoints ADD COLUMN aliases TEXT;       -- JSON string[] or NULL
ALTER TABLE endpoints ADD COLUMN container_id TEXT;  -- CNI CONTAINERID
`;

/** Migration i brings the schema from version i to i+1. Append only; never edit one. */
export const MIGRATIONS: ReadonlyArray<(db: Db) => void> = [
  (db) => {
    db.exec(V1);
    // A short random tag in host veth names, so two stores on one host never pick the same name.
    const tag = (randomBytes(4).readUInt32BE(0) % (36 ** 3)).toString(36).padStart(3, '0');
    db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)').run('ifname_tag', tag);
  },
  // v2: no query reads endpoints_unfinished (gc walks every endpoint, and SQLite scans for a
  // bound state anyway), yet every attach and detach wrote it: ~10 us of each cycle.
  (db) => { db.exec('DROP INDEX endpoints_unfinished'); },
  // v3: what the next features need, carried before they use it (ARCHITECTURE.md "State
  // model"): a network gets a stable id, labels, CNI-style address ranges and may be
  // IPv6-only (subnet/gateway NULL: a table rebuild, SQLite cannot drop NOT NULL in place);
  // an endpoint gets a name, aliases and a CNI container id. Every row is kept.
  (db) => { db.exec(V3); },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Bring `db` to SCHEMA_VERSION. Returns the version found before migrating.
 * Refuses a store written by a newer ctnet-fast (it would not understand it).
 * Call it with foreign keys OFF (v3 rebuilds a referenced table); it checks them after.
 */
export function migrate(db: Db, file: string): number {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found === SCHEMA_VERSION) return found;
  if (found > SCHEMA_VERSION) {
    throw new EnvironmentError(`state ${file} has schema version ${found}, newer than this ctnet-fast understands (${SCHEMA_VERSION}); upgrade ctnet-fast or use another state directory`, CODE.schema);
  }
  db.transaction(() => {
    const v = db.pragma('user_version', { simple: true }) as number; // another process may have won
    for (let i = v; i < SCHEMA_VERSION; i++) MIGRATIONS[i]?.(db);
    if (v < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0) throw new EnvironmentError(`state ${file}: migration to schema v${SCHEMA_VERSION} left ${broken.length} dangling reference(s)`, CODE.schema);
  }).immediate();
  return found;
}
