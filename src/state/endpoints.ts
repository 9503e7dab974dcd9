/**
 * state/endpoints.ts — the endpoints table as an intent log, with the address leases
 * each endpoint holds.
 *
 * Layer: state. Address choice is ipam/'s algorithm, run here inside the transaction;
 * name/MAC rules are validate/kernel.ts's. See docs/ARCHITECTURE.md, "State model".
 *
 * Intent protocol, for gc: begin() records the endpoint as 'pending' together with its
 * leases, host ifname and ports in ONE transaction before any kernel work; markReady()
 * flips it to 'ready'. beginDetach() flips it to 'detaching'; finishDetach() deletes it and
 * releases everything. A crash leaves 'pending'/'detaching' rows that gc can list
 * (list({ state })) and finish or undo (finishDetach works from any state).
 *
 * Lingering addresses: a detach that unmounted a netns cannot know whether some process
 * still holds it (its veth, address and MAC then live on). finishDetach(id, { linger })
 * deletes the endpoint but keeps its leases, held by no endpoint, and records them in meta
 * as "linger:ID" with the host veth's name; releaseLingering(id) frees them once topology
 * has seen that host veth vanish (the kernel reaped the netns). Until then the address and
 * the MAC derived from it go to nobody else.
 */
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { CtnetError, InvalidInputError, CODE } from '../model/errors.js';
import type { Family } from '../util/ip.js';
import { checkIfname, checkMac } from '../validate/kernel.js';
import type { Mode, PortMapping } from '../model/types.js';
import { macFromIp } from '../ipam/pool.js';
import { allocateNext, claimStatic, noteReleased, type LeaseBackend } from '../ipam/allocator.js';
import { normalizeMapping } from '../validate/ports.js';
import { coalesceRows, toPortRow, type PortDbRow, type PortRow, type PortTable } from './ports.js';
import type { NetworkRow, NetworkTable } from './networks.js';
import type { BeginAttachInput, EndpointRecord, EndpointState, JsonValue, LeaseRecord } from './types.js';
import type { MetaTable } from './database.js';
import { fromJson, notFound, type Mutable, type Tx } from './rows.js';

/** An endpoints row as SQLite gives it. */
interface EndpointRow {
  id: string; network: string | null; mode: Mode; netns: string; netns_name: string | null; owns_netns: number;
  ifname: string; host_ifname: string | null; ip: string | null; ip6: string | null; mac: string | null;
  state: EndpointState; created_at: string; data: string | null;
  name: string | null; aliases: string | null; container_id: string | null;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** A container name or DNS alias (Docker's rule, with the length of a DNS name). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
/** CNI: "alphanumeric, with period, hyphen and underscore". */
const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$/;

/** A lease as the release statements return it. */
interface LeaseRow { network: string; family: number; ip: string }

/** meta key prefix of lingering leases (see the module comment). */
const LINGER = 'linger:';

/** Addresses of a detached endpoint kept until its netns is gone. */
export interface LingeringLeases {
  readonly endpointId: string;
  readonly hostIfname: string;
  readonly ips: readonly string[];
}

/** list()'s filters (column names of endpoints). */
const FILTERS = ['network', 'state', 'netns'] as const;
type FilterKey = (typeof FILTERS)[number];
export type EndpointFilter = { readonly network?: string; readonly state?: EndpointState; readonly netns?: string };

function checkText(value: unknown, re: RegExp, what: string): string {
  if (typeof value !== 'string' || !re.test(value)) {
    throw new InvalidInputError(`invalid ${what} "${String(value)}": use letters, digits, "_", "." or "-", starting with a letter or digit`);
  }
  return value;
}

function toEndpoint(r: EndpointRow, ports: readonly PortMapping[]): EndpointRecord {
  const e: Mutable<EndpointRecord> = {
    id: r.id, mode: r.mode, netns: r.netns, ownsNetns: r.owns_netns === 1, ifname: r.ifname, state: r.state,
    createdAt: r.created_at, ports,
  };
  if (r.network !== null) e.network = r.network;
  if (r.netns_name !== null) e.netnsName = r.netns_name;
  if (r.host_ifname !== null) e.hostIfname = r.host_ifname;
  if (r.ip !== null) e.ip = r.ip;
  if (r.ip6 !== null) e.ip6 = r.ip6;
  if (r.mac !== null) e.mac = r.mac;
  if (r.data !== null) e.data = JSON.parse(r.data) as JsonValue;
  if (r.name !== null) e.name = r.name;
  const aliases = fromJson<string[]>(r.aliases);
  if (aliases !== undefined) e.aliases = aliases;
  if (r.container_id !== null) e.containerId = r.container_id;
  return e;
}

/** The endpoints and leases tables. */
export class EndpointTable {
  readonly #db: Database.Database;
  readonly #tx: Tx;
  readonly #nets: NetworkTable;
  readonly #ports: PortTable;
  readonly #ifnameTag: string;
  readonly #nextVeth: () => number;
  readonly #meta: MetaTable | undefined;
  readonly #lists = new Map<string, { endpoints: Database.Statement; ports: Database.Statement }>();
  readonly #s;

  constructor(db: Database.Database, tx: Tx, deps: { nets: NetworkTable; ports: PortTable; ifnameTag: string; nextVeth: () => number; meta?: MetaTable }) {
    this.#db = db;
    this.#tx = tx;
    this.#nets = deps.nets;
    this.#ports = deps.ports;
    this.#ifnameTag = deps.ifnameTag;
    this.#nextVeth = deps.nextVeth;
    this.#meta = deps.meta;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      tryLease: p('INSERT INTO leases (network, family, ip, endpoint_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      leaseHolder: p('SELECT endpoint_id FROM leases WHERE network = ? AND ip = ?'),
      takeFree: p('DELETE FROM ipam_free WHERE seq = (SELECT seq FROM ipam_free WHERE network = ? AND family = ? ORDER BY seq LIMIT 1) RETURNING ip'),
      addFree: p('INSERT INTO ipam_free (network, family, ip) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      removeFree: p('DELETE FROM ipam_free WHERE network = ? AND ip = ?'),
      deleteLeasesOf: p('DELETE FROM leases WHERE endpoint_id = ? RETURNING network, family, ip'),
      orphanLeasesOf: p('UPDATE leases SET endpoint_id = NULL WHERE endpoint_id = ? RETURNING network, family, ip'),
      deleteOrphanLease: p('DELETE FROM leases WHERE network = ? AND ip = ? AND endpoint_id IS NULL'),
      listLeases: p('SELECT network, family, ip, endpoint_id FROM leases WHERE (@network IS NULL OR network = @network) ORDER BY network, family, ip'),
      insert: p(`INSERT INTO endpoints (id, network, mode, netns, netns_name, owns_netns, ifname, host_ifname, ip, ip6, mac, state, created_at, data, name, aliases, container_id)
        VALUES (@id, @network, @mode, @netns, @netns_name, @owns_netns, @ifname, @host_ifname, @ip, @ip6, @mac, @state, @created_at, @data, @name, @aliases, @container_id)`),
      get: p('SELECT * FROM endpoints WHERE id = ?'),
      getState: p('SELECT state FROM endpoints WHERE id = ?'),
      findIn: p('SELECT * FROM endpoints WHERE netns = ? AND network = ?'),
      findAny: p('SELECT * FROM endpoints WHERE netns = ? ORDER BY rowid LIMIT 1'),
      // data: merged into the stored object (both objects: json_patch), else replaced
      markReady: p(`UPDATE endpoints SET state = 'ready', data = CASE WHEN @data IS NULL THEN data
        WHEN json_valid(data) AND json_type(data) = 'object' AND json_type(@data) = 'object' THEN json_patch(data, @data) ELSE @data END
        WHERE id = @id AND state IN ('pending', 'ready')`),
      setHostIfname: p(`UPDATE endpoints SET host_ifname = ? WHERE id = ? AND state = 'ready'`),
      markDetaching: p(`UPDATE endpoints SET state = 'detaching' WHERE id = ? RETURNING *`),
      delete: p('DELETE FROM endpoints WHERE id = ?'),
    };
  }

  /** See Store.beginAttach. */
  begin(input: BeginAttachInput): EndpointRecord {
    const mode = input.mode ?? 'bridge';
    if (mode !== 'bridge' && mode !== 'host' && mode !== 'none') throw new InvalidInputError(`invalid mode "${String(mode)}": expected bridge, host or none`);
    if (typeof input.netns !== 'string' || input.netns === '') throw new InvalidInputError('attach: netns path missing');
    const id = input.id ?? randomBytes(8).toString('hex');
    if (!ID_RE.test(id)) throw new InvalidInputError(`invalid endpoint id "${id}": use 1-128 letters, digits, "_", ".", ":" or "-"`);
    const ifname = checkIfname(input.ifname ?? 'eth0', 'container interface name');
    if (input.hostIfname !== undefined) checkIfname(input.hostIfname, 'host interface name');
    if (mode === 'bridge' && input.network === undefined) throw new InvalidInputError(`attach ${input.netns}: bridge mode needs a network`);
    if (mode !== 'bridge' && (input.ports?.length ?? 0) > 0) throw new InvalidInputError(`attach ${input.netns}: ports can only be published in bridge mode (mode ${mode})`);
    if (mode !== 'bridge' && (input.ip !== undefined || input.ip6 !== undefined)) throw new InvalidInputError(`attach ${input.netns}: addresses only exist in bridge mode (mode ${mode})`);
    const mappings = (input.ports ?? []).map(normalizeMapping);
    const macIn = input.mac !== undefined ? checkMac(input.mac, 'container MAC') : undefined;
    const name = input.name !== undefined ? checkText(input.name, NAME_RE, 'container name') : null;
    if (input.aliases !== undefined && !Array.isArray(input.aliases)) throw new InvalidInputError(`invalid aliases of ${input.netns}: expected a list of names`);
    const aliases = input.aliases !== undefined ? JSON.stringify(input.aliases.map((a) => checkText(a, NAME_RE, 'alias'))) : null;
    const containerId = input.containerId !== undefined ? checkText(input.containerId, CONTAINER_ID_RE, 'container id') : null;
    const createdAt = new Date().toISOString();
    const data = input.data !== undefined ? JSON.stringify(input.data) : null;

    return this.#tx(() => {
      let net: NetworkRow | undefined;
      if (input.network !== undefined) {
        net = this.#nets.row(input.network);
        if (!net) throw notFound(`network "${input.network}"`);
        // (a netns attached twice to one network is caught by UNIQUE (network, netns) below)
      }
      let ip: string | null = null, ip6: string | null = null, mac = macIn ?? null, hostIfname = input.hostIfname ?? null;
      if (mode === 'bridge' && net) {
        const pools = this.#nets.poolsOf(net);
        const c4 = BigInt(net.cursor4), c6 = BigInt(net.cursor6);
        let n4 = c4, n6 = c6;
        if (pools.pool4) {
          const b4 = this.#leases(net.name, 4, id);
          const a4 = input.ip !== undefined ? claimStatic(pools.pool4, c4, input.ip, b4) : allocateNext(pools.pool4, c4, b4);
          ip = a4.ip;
          n4 = a4.cursor;
        } else if (input.ip !== undefined) {
          throw new InvalidInputError(`invalid address "${input.ip}" requested on network "${net.name}": the network has no IPv4 subnet (IPv6-only)`);
        }
        if (pools.pool6) {
          const b6 = this.#leases(net.name, 6, id);
          const a6 = input.ip6 !== undefined ? claimStatic(pools.pool6, c6, input.ip6, b6) : allocateNext(pools.pool6, c6, b6);
          ip6 = a6.ip;
          n6 = a6.cursor;
        } else if (input.ip6 !== undefined) {
          throw new InvalidInputError(`invalid address "${input.ip6}" requested on network "${net.name}": the network has no IPv6 subnet`);
        }
        if (n4 !== c4 || n6 !== c6) this.#nets.setCursors(net.name, n4, n6);
        if ((ip ?? ip6) !== null) mac ??= macFromIp((ip ?? ip6) as string); // IPv6-only: from the IPv6 address
        hostIfname ??= `ctv${this.#ifnameTag}${this.#nextVeth().toString(36)}`;
      }
      const row: EndpointRow = {
        id, network: input.network ?? null, mode, netns: input.netns, netns_name: input.netnsName ?? null,
        owns_netns: input.ownsNetns ? 1 : 0, ifname, host_ifname: hostIfname, ip, ip6, mac, state: 'pending', created_at: createdAt, data,
        name, aliases, container_id: containerId,
      };
      try {
        this.#s.insert.run(row);
      } catch (e) {
        throw this.#explainConflict(e, id, hostIfname, input);
      }
      return toEndpoint(row, mappings.length > 0 ? this.#ports.insert(id, mappings) : []);
    });
  }

  /** See Store.markReady. */
  markReady(id: string, update: { readonly data?: JsonValue } = {}): void {
    const data = update.data !== undefined ? JSON.stringify(update.data) : null;
    this.#tx(() => {
      if (this.#s.markReady.run({ data, id }).changes === 1) return;
      const r = this.#s.getState.get(id) as { state: EndpointState } | undefined;
      if (!r) throw notFound(`endpoint ${id}`);
      throw new CtnetError(`endpoint ${id} is ${r.state}, it cannot become ready`, CODE.busy);
    });
  }

  /** See Store.renewHostIfname. */
  renewHostIfname(id: string): string | undefined {
    return this.#tx(() => {
      const name = `ctv${this.#ifnameTag}${this.#nextVeth().toString(36)}`;
      return this.#s.setHostIfname.run(name, id).changes === 1 ? name : undefined;
    });
  }

  /** See Store.beginDetach. */
  beginDetach(id: string): EndpointRecord | undefined {
    return this.#tx(() => this.#withPorts(this.#s.markDetaching.get(id) as EndpointRow | undefined));
  }

  /**
   * See Store.finishDetach. Mostly deletes; a release below the IPAM cursor appends one
   * row to the free list (small; the reserve covers a full disk). `linger`: keep the
   * leases (see the module comment) until releaseLingering.
   */
  finishDetach(id: string, opts: { readonly linger?: boolean } = {}): boolean {
    return this.#tx(() => {
      const row = opts.linger === true ? this.#s.get.get(id) as EndpointRow | undefined : undefined;
      // ports and leases reference the row DEFERRABLE: it can go first, and tells if there was one
      if (this.#s.delete.run(id).changes === 0) return false;
      this.#ports.removeAllOf(id);
      if (row !== undefined && row.host_ifname !== null && this.#meta !== undefined) {
        const ips = this.#s.orphanLeasesOf.all(id) as LeaseRow[];
        if (ips.length > 0) this.#meta.set(`${LINGER}${id}`, JSON.stringify({ hostIfname: row.host_ifname, leases: ips }));
        return true;
      }
      this.#noteReleased(this.#s.deleteLeasesOf.all(id) as LeaseRow[]);
      return true;
    });
  }

  /** The lingering leases of detached endpoints (see the module comment). */
  lingering(): LingeringLeases[] {
    return (this.#meta?.list(LINGER) ?? []).map(({ key, value }) => {
      const v = JSON.parse(value) as { hostIfname: string; leases: LeaseRow[] };
      return { endpointId: key.slice(LINGER.length), hostIfname: v.hostIfname, ips: v.leases.map((l) => l.ip) };
    });
  }

  /** Free the lingering leases of detached endpoint `id` (its netns is gone). False if none. */
  releaseLingering(ids: string | readonly string[]): number {
    return this.#tx(() => {
      let n = 0;
      const freed: LeaseRow[] = [];
      for (const id of typeof ids === 'string' ? [ids] : ids) {
        const value = this.#meta?.get(`${LINGER}${id}`);
        if (value === undefined) continue;
        const { leases } = JSON.parse(value) as { leases: LeaseRow[] };
        // only leases still held by nobody (the network may have been removed and re-made since)
        freed.push(...leases.filter((l) => this.#s.deleteOrphanLease.run(l.network, l.ip).changes === 1));
        this.#meta?.delete(`${LINGER}${id}`);
        n++;
      }
      this.#noteReleased(freed);
      return n;
    });
  }

  /** Released addresses below the IPAM cursor join the free list. */
  #noteReleased(leases: readonly LeaseRow[]): void {
    const byNet = new Map<string, NetworkRow | undefined>();
    for (const l of leases) {
      if (!byNet.has(l.network)) byNet.set(l.network, this.#nets.row(l.network));
      const net = byNet.get(l.network);
      if (!net) continue;
      const pools = this.#nets.poolsOf(net);
      const pool = l.family === 6 ? pools.pool6 : pools.pool4;
      if (!pool) continue;
      noteReleased(pool, BigInt(l.family === 6 ? net.cursor6 : net.cursor4), l.ip, this.#leases(l.network, l.family as Family, null));
    }
  }

  get(id: string): EndpointRecord | undefined {
    return this.#withPorts(this.#s.get.get(id) as EndpointRow | undefined);
  }

  find(q: { readonly netns: string; readonly network?: string }): EndpointRecord | undefined {
    return this.#withPorts((q.network !== undefined ? this.#s.findIn.get(q.netns, q.network) : this.#s.findAny.get(q.netns)) as EndpointRow | undefined);
  }

  list(q: EndpointFilter = {}): EndpointRecord[] {
    const keys = FILTERS.filter((k) => q[k] !== undefined);
    const params = Object.fromEntries(keys.map((k) => [k, q[k]]));
    const stmts = this.#listStatements(keys);
    const rows = stmts.endpoints.all(params) as EndpointRow[];
    if (rows.length === 0) return [];
    const ports = new Map<string, PortRow[]>();
    for (const p of stmts.ports.all(params) as PortDbRow[]) {
      let list = ports.get(p.endpoint_id);
      if (!list) ports.set(p.endpoint_id, (list = []));
      list.push(toPortRow(p));
    }
    return rows.map((r) => toEndpoint(r, coalesceRows(ports.get(r.id) ?? [])));
  }

  listLeases(network?: string): LeaseRecord[] {
    return (this.#s.listLeases.all({ network: network ?? null }) as Array<{ network: string; family: 4 | 6; ip: string; endpoint_id: string | null }>)
      .map((l) => (l.endpoint_id === null ? { network: l.network, family: l.family, ip: l.ip } : { network: l.network, family: l.family, ip: l.ip, endpointId: l.endpoint_id }));
  }

  #withPorts(r: EndpointRow | undefined): EndpointRecord | undefined {
    return r && toEndpoint(r, this.#ports.of(r.id));
  }

  /**
   * list()'s two statements for one combination of filters, prepared on first use: a WHERE
   * with only the given columns lets SQLite use endpoints_netns (the attach path's lookup of
   * a netns's other endpoints), and the ports read are only those endpoints'.
   */
  #listStatements(keys: readonly FilterKey[]): { endpoints: Database.Statement; ports: Database.Statement } {
    const key = keys.join(',');
    let st = this.#lists.get(key);
    if (!st) {
      const where = (t: string) => (keys.length > 0 ? ` WHERE ${keys.map((k) => `${t}${k} = @${k}`).join(' AND ')}` : '');
      st = {
        endpoints: this.#db.prepare(`SELECT * FROM endpoints${where('')} ORDER BY rowid`),
        ports: keys.length > 0 ? this.#db.prepare(`SELECT p.* FROM ports p JOIN endpoints e ON e.id = p.endpoint_id${where('e.')}`) : this.#ports.allStatement,
      };
      this.#lists.set(key, st);
    }
    return st;
  }

  /** IPAM's storage for one network + family, bound to this transaction's statements. */
  #leases(network: string, family: Family, endpointId: string | null): LeaseBackend {
    const s = this.#s;
    return {
      tryLease: (ip) => s.tryLease.run(network, family, ip, endpointId).changes === 1,
      holderOf: (ip) => {
        const r = s.leaseHolder.get(network, ip) as { endpoint_id: string | null } | undefined;
        return r === undefined ? undefined : r.endpoint_id ?? '';
      },
      takeOldestFree: () => (s.takeFree.get(network, family) as { ip: string } | undefined)?.ip,
      addFree: (ip) => { s.addFree.run(network, family, ip); },
      removeFree: (ip) => { s.removeFree.run(network, ip); },
    };
  }

  #explainConflict(e: unknown, id: string, hostIfname: string | null, input: BeginAttachInput): unknown {
    const code = (e as { code?: unknown } | null)?.code;
    if (code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' && code !== 'SQLITE_CONSTRAINT_UNIQUE') return e;
    const msg = (e as Error).message;
    const dup = input.network !== undefined ? this.#s.findIn.get(input.netns, input.network) as { id: string; state: string } | undefined : undefined;
    if (dup) return new CtnetError(`netns ${input.netns} is already attached to network "${String(input.network)}" (endpoint ${dup.id}, ${dup.state})`, CODE.exists);
    if (msg.includes('endpoints.id')) return new CtnetError(`endpoint ${id} already exists`, CODE.exists);
    if (msg.includes('endpoints.host_ifname')) return new CtnetError(`host interface name ${String(hostIfname)} is already used by another endpoint`, CODE.exists);
    return new CtnetError(`endpoint ${id}: ${msg}`, CODE.exists);
  }
}
