/**
 * state/ports.ts — published ports as the store keeps them: one row per host port (a
 * range is several rows sharing range_start), conflicts refused in the publishing
 * transaction, rows coalesced back into the mappings as published.
 *
 * Layer: state. Validation and the canonical form of a mapping are validate/ports.ts's
 * (normalizeMapping, formatPortSpec, formatHostPort); this module only stores.
 * See docs/ARCHITECTURE.md, "State model".
 */
import type Database from 'better-sqlite3';
import { CtnetError, InvalidInputError, CODE } from '../model/errors.js';
import { parseIp } from '../util/ip.js';
import { formatHostPort, normalizeMapping, WILDCARD } from '../validate/ports.js';
import type { Mode, PortMapping, Protocol } from '../model/types.js';
import type { PortRecord } from './types.js';
import { notFound, type Mutable, type Tx } from './rows.js';

/** One published host port: the primary key is (hostIp, protocol, hostPort). */
export interface PortRow {
  readonly hostIp: string;
  readonly protocol: Protocol;
  readonly hostPort: number;
  readonly containerPort: number;
  /** first host port of the mapping this row came from (to give ranges back as given) */
  readonly rangeStart: number;
}

/** A ports row as SQLite gives it. */
export interface PortDbRow {
  host_ip: string; proto: Protocol; host_port: number; endpoint_id: string; container_port: number; range_start: number;
}
interface PortHolderRow extends PortDbRow { network: string | null; netns: string | null }

export function toPortRow(p: PortDbRow): PortRow {
  return { hostIp: p.host_ip, protocol: p.proto, hostPort: p.host_port, containerPort: p.container_port, rangeStart: p.range_start };
}

/** One row per host port of a normalized mapping. */
export function expandMapping(m: PortMapping): PortRow[] {
  const rows: PortRow[] = [];
  const end = m.hostPortEnd ?? m.hostPort;
  for (let i = 0; m.hostPort + i <= end; i++) {
    rows.push({ hostIp: m.hostIp ?? WILDCARD[4], protocol: m.protocol, hostPort: m.hostPort + i, containerPort: m.containerPort + i, rangeStart: m.hostPort });
  }
  return rows;
}

/** Rows (of one endpoint) back to mappings, ranges as they were published. */
export function coalesceRows(rows: readonly PortRow[]): PortMapping[] {
  const sorted = [...rows].sort((a, b) =>
    a.hostIp < b.hostIp ? -1 : a.hostIp > b.hostIp ? 1
      : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : a.hostPort - b.hostPort);
  const out: Array<{ hostIp: string; protocol: Protocol; hostPort: number; containerPort: number; last: number; lastC: number; rangeStart: number }> = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev.hostIp === r.hostIp && prev.protocol === r.protocol && prev.rangeStart === r.rangeStart &&
        r.hostPort === prev.last + 1 && r.containerPort === prev.lastC + 1) {
      prev.last = r.hostPort; prev.lastC = r.containerPort;
    } else {
      out.push({ hostIp: r.hostIp, protocol: r.protocol, hostPort: r.hostPort, containerPort: r.containerPort, last: r.hostPort, lastC: r.containerPort, rangeStart: r.rangeStart });
    }
  }
  return out.map((g) => g.last === g.hostPort
    ? { hostIp: g.hostIp, hostPort: g.hostPort, containerPort: g.containerPort, protocol: g.protocol }
    : { hostIp: g.hostIp, hostPort: g.hostPort, hostPortEnd: g.last, containerPort: g.containerPort, containerPortEnd: g.lastC, protocol: g.protocol });
}

/** The ports table. */
export class PortTable {
  readonly #tx: Tx;
  readonly #s;

  constructor(db: Database.Database, tx: Tx) {
    this.#tx = tx;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      endpointMode: p('SELECT mode FROM endpoints WHERE id = ?'),
      holdersIp: p(`SELECT p.*, e.network, e.netns FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id
        WHERE p.proto = ? AND p.host_port = ? AND p.host_ip IN (?, ?) LIMIT 1`),
      holdersAny: p(`SELECT p.*, e.network, e.netns FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id
        WHERE p.proto = ? AND p.host_port = ?`),
      insert: p('INSERT INTO ports (host_ip, proto, host_port, endpoint_id, container_port, range_start) VALUES (?, ?, ?, ?, ?, ?)'),
      delete: p('DELETE FROM ports WHERE host_ip = ? AND proto = ? AND host_port = ? AND endpoint_id = ?'),
      deleteOf: p('DELETE FROM ports WHERE endpoint_id = ?'),
      of: p('SELECT * FROM ports WHERE endpoint_id = ?'),
      all: p('SELECT * FROM ports'),
      withOwner: p('SELECT p.*, e.network, e.ip, e.ip6 FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id ORDER BY p.endpoint_id'),
      withOwnerOf: p('SELECT p.*, e.network, e.ip, e.ip6 FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id WHERE p.endpoint_id = ?'),
    };
  }

  /** Every port row (listEndpoints without a filter reads them all at once). */
  get allStatement(): Database.Statement { return this.#s.all; }

  /** See Store.addPorts. */
  add(endpointId: string, mappings: readonly PortMapping[]): PortMapping[] {
    const norm = mappings.map(normalizeMapping);
    return this.#tx(() => {
      const ep = this.#s.endpointMode.get(endpointId) as { mode: Mode } | undefined;
      if (!ep) throw notFound(`endpoint ${endpointId}`);
      if (ep.mode !== 'bridge') throw new InvalidInputError(`endpoint ${endpointId}: ports can only be published in bridge mode (mode ${ep.mode})`);
      return this.insert(endpointId, norm);
    });
  }

  /** See Store.removePorts. Deletes only: needs no new pages (a full disk allows it). */
  remove(endpointId: string, mappings?: readonly PortMapping[]): number {
    if (mappings === undefined) return this.#tx(() => this.#s.deleteOf.run(endpointId).changes);
    const rows = mappings.map(normalizeMapping).flatMap(expandMapping);
    return this.#tx(() => {
      let n = 0;
      for (const r of rows) n += this.#s.delete.run(r.hostIp, r.protocol, r.hostPort, endpointId).changes;
      return n;
    });
  }

  /** Drop every port of an endpoint (inside the caller's transaction). */
  removeAllOf(endpointId: string): void {
    this.#s.deleteOf.run(endpointId);
  }

  /** The endpoint's mappings as published. */
  of(endpointId: string): PortMapping[] {
    return coalesceRows((this.#s.of.all(endpointId) as PortDbRow[]).map(toPortRow));
  }

  /** See Store.listPorts. */
  list(q: { readonly endpointId?: string } = {}): PortRecord[] {
    const rows = (q.endpointId !== undefined ? this.#s.withOwnerOf.all(q.endpointId) : this.#s.withOwner.all()) as Array<PortDbRow & { network: string | null; ip: string | null; ip6: string | null }>;
    const groups = new Map<string, typeof rows>();
    for (const r of rows) {
      let g = groups.get(r.endpoint_id);
      if (!g) groups.set(r.endpoint_id, (g = []));
      g.push(r);
    }
    const out: PortRecord[] = [];
    for (const [endpointId, g] of groups) {
      const first = g[0];
      for (const m of coalesceRows(g.map(toPortRow))) {
        const hostIp = m.hostIp ?? WILDCARD[4];
        const containerIp = hostIp.includes(':') ? first?.ip6 : first?.ip;
        const rec: Mutable<PortRecord> = { ...m, hostIp, endpointId };
        if (first?.network != null) rec.network = first.network;
        if (containerIp != null) rec.containerIp = containerIp;
        out.push(rec);
      }
    }
    return out;
  }

  /**
   * Insert normalized mappings for `endpointId` (inside the caller's transaction), refusing
   * a host port already published (EPORTINUSE, naming the port and its holder).
   */
  insert(endpointId: string, mappings: readonly PortMapping[]): PortMapping[] {
    for (const m of mappings) {
      for (const r of expandMapping(m)) {
        const fam = parseIp(r.hostIp).family;
        const wild = WILDCARD[fam];
        const holder = (r.hostIp === wild
          ? (this.#s.holdersAny.all(r.protocol, r.hostPort) as PortHolderRow[]).find((h) => parseIp(h.host_ip).family === fam)
          : this.#s.holdersIp.get(r.protocol, r.hostPort, r.hostIp, wild)) as PortHolderRow | undefined;
        if (holder) {
          const who = holder.endpoint_id === endpointId ? 'this endpoint'
            : `endpoint ${holder.endpoint_id}${holder.network ? ` on network "${holder.network}"` : ''}${holder.netns ? ` (netns ${holder.netns})` : ''}`;
          const same = holder.host_ip === r.hostIp ? '' : ` as ${formatHostPort(holder.host_ip, holder.host_port, holder.proto)}`;
          throw new CtnetError(
            `host port ${formatHostPort(r.hostIp, r.hostPort, r.protocol)} is already published by ${who}${same} → container port ${holder.container_port}`,
            CODE.portInUse);
        }
        this.#s.insert.run(r.hostIp, r.protocol, r.hostPort, endpointId, r.containerPort, r.rangeStart);
      }
    }
    return [...mappings];
  }
}
