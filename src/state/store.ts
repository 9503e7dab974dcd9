/**
 * state/store.ts — the durable store: networks, endpoints (with their attach/detach
 * intent), address leases, published ports, sequence counters and meta flags.
 *
 * Layer: state. It keeps facts and makes them consistent; it never touches the kernel.
 * Address *choice* is ipam/'s (pure) algorithm, run here inside the store's transaction.
 *
 * Durability and concurrency (DESIGN §5):
 *  - one SQLite file under the state dir (default $CTNET_STATE_DIR or /run/ctnet-fast,
 *    created 0700), WAL journal, synchronous=NORMAL (a kill -9 at any instant loses
 *    nothing committed; only a power cut could lose the last commits — and /run does not
 *    survive one anyway), busy_timeout, foreign keys on;
 *  - every mutation is one BEGIN IMMEDIATE transaction: it takes the write lock up front,
 *    so concurrent processes (a CLI beside a long-lived runtime) queue on busy_timeout
 *    instead of failing with SQLITE_BUSY on a read→write upgrade;
 *  - statements are prepared once per Store.
 *
 * Intent protocol, for gc: beginAttach records the endpoint as 'pending' together with
 * its leases, host ifname and ports in ONE transaction before any kernel work; markReady
 * flips it to 'ready'. beginDetach flips it to 'detaching'; finishDetach deletes it and
 * releases everything. A crash leaves 'pending'/'detaching' rows that gc can list
 * (listEndpoints({ state })) and finish or undo (finishDetach works from any state).
 */
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { CtnetError, EnvironmentError, InvalidInputError, CODE } from '../model/errors.js';
import { formatIp, overlaps, parseCidr, parseIp, type Family } from '../util/ip.js';
import { sleepSync } from '../util/proc.js';
import { defaultStateDir } from './dir.js';
import type { Mode, NetworkSpec, PortMapping, Protocol } from '../model/types.js';
import { makePool, macFromIp, type Pool } from '../ipam/pool.js';
import { allocateNext, claimStatic, noteReleased, type LeaseBackend } from '../ipam/allocator.js';
import { migrate } from './schema.js';
import { coalesceRows, describeHostPort, expandMapping, normalizeMapping, WILDCARD, type PortRow } from './ports.js';
import {
  type BeginAttachInput, type EndpointRecord, type EndpointState, type JsonValue,
  type LeaseRecord, type NetworkInput, type NetworkRecord, type PortRecord,
} from './types.js';

/** File name of the database inside the state directory. */
export const STATE_FILE = 'state.db';

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;


export interface OpenStoreOptions {
  /** State directory. Default: defaultStateDir(). */
  readonly dir?: string;
  /** How long a mutation waits for another process's write lock. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

/** Open (creating if needed) the store. Synchronous; keep one Store per process. */
export function openStore(dirOrOptions?: string | OpenStoreOptions): Store {
  const opts: OpenStoreOptions = typeof dirOrOptions === 'string' ? { dir: dirOrOptions } : dirOrOptions ?? {};
  return new Store(opts.dir ?? defaultStateDir(), opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
}

// ---- rows as SQLite gives them ----------------------------------------------------------

interface NetworkRow {
  name: string; subnet: string; subnet6: string | null; gateway: string; gateway6: string | null;
  bridge: string; bridge_mac: string; mtu: number; internal: number; masquerade: number;
  created_at: string; spec: string; cursor4: string; cursor6: string; endpoints?: number;
}
interface EndpointRow {
  id: string; network: string | null; mode: Mode; netns: string; netns_name: string | null; owns_netns: number;
  ifname: string; host_ifname: string | null; ip: string | null; ip6: string | null; mac: string | null;
  state: EndpointState; created_at: string; data: string | null;
}
interface PortDbRow {
  host_ip: string; proto: Protocol; host_port: number; endpoint_id: string; container_port: number; range_start: number;
}
interface PortHolderRow extends PortDbRow { network: string | null; netns: string | null }

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function checkIfname(name: string, what: string): string {
  if (name.length < 1 || name.length > 15 || name === '.' || name === '..' || /[\s/:]/.test(name)) {
    throw new InvalidInputError(`invalid ${what} "${name}": an interface name is 1-15 characters without spaces, "/" or ":"`);
  }
  return name;
}

function checkMac(mac: string, what: string): string {
  const m = mac.toLowerCase();
  if (!MAC_RE.test(m)) throw new InvalidInputError(`invalid ${what} "${mac}": expected six hex octets like 02:42:ac:12:00:02`);
  if ((parseInt(m.slice(0, 2), 16) & 1) !== 0) throw new InvalidInputError(`invalid ${what} "${mac}": a multicast MAC cannot be an interface address`);
  return m;
}

/**
 * mkdir -p with `mode` for every directory it creates. Not `mkdirSync({ recursive })`:
 * Node's version spins forever where mkdir answers ENOENT under an existing parent
 * (e.g. anywhere under /proc); this one fails with that ENOENT.
 */
function mkdirp(dir: string, mode: number): void {
  try {
    mkdirSync(dir, { mode });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EEXIST') return; // if it is not a directory, opening the file in it says so
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw e;
    mkdirp(parent, mode);
    mkdirSync(dir, { mode });
  }
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function notFound(what: string): CtnetError {
  return new CtnetError(`${what} not found`, CODE.notFound);
}

/** listEndpoints' filters (column names of endpoints). */
const ENDPOINT_FILTERS = ['network', 'state', 'netns'] as const;
type EndpointFilterKey = (typeof ENDPOINT_FILTERS)[number];
type EndpointFilter = { readonly network?: string; readonly state?: EndpointState; readonly netns?: string };

/** A pool pair cached per network, rebuilt if the row's subnet/gateway text changes. */
interface PoolCacheEntry { key: string; pool4: Pool; pool6: Pool | undefined }

export class Store {
  /**
   * The 3-character tag of this store in every host veth name ("ctv" + tag + sequence):
   * links with that prefix were made through this store (gc's ownership test).
   */
  get ifnameTag(): string { return this.#ifnameTag; }

  /** The state directory and the database file in it. */
  readonly dir: string;
  readonly file: string;
  readonly #db: Database.Database;
  readonly #s: ReturnType<typeof prepareAll>;
  readonly #ifnameTag: string;
  readonly #pools = new Map<string, PoolCacheEntry>();
  readonly #lists = new Map<string, { endpoints: Database.Statement; ports: Database.Statement }>();
  /** one transaction wrapper, reused: runs the function it is given */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(dir: string, busyTimeoutMs: number) {
    this.dir = path.resolve(dir);
    this.file = path.join(this.dir, STATE_FILE);
    try {
      mkdirp(this.dir, 0o700);
      closeSync(openSync(this.file, 'a', 0o600)); // create it private before SQLite does
    } catch (e) {
      throw new EnvironmentError(`cannot open the state in ${this.dir} (set $CTNET_STATE_DIR or the stateDir option to use another directory): ${(e as Error).message}`, (e as { code?: string }).code ?? 'ENVIRONMENT');
    }
    const db = new Database(this.file, { timeout: busyTimeoutMs });
    try {
      // Switching to WAL needs a moment of exclusive access; a fresh store opened by many
      // processes at once can see SQLITE_BUSY here without the busy handler, so retry.
      const deadline = Date.now() + busyTimeoutMs;
      for (;;) {
        try {
          const mode = db.pragma('journal_mode = WAL', { simple: true });
          if (mode !== 'wal') throw new EnvironmentError(`state ${this.file}: the filesystem does not support SQLite WAL (journal_mode=${String(mode)})`);
          break;
        } catch (e) {
          if (!isBusy(e) || Date.now() > deadline) throw e;
          sleepSync(5 + Math.random() * 10);
        }
      }
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      migrate(db, this.file);
    } catch (e) {
      db.close();
      throw e;
    }
    this.#db = db;
    this.#s = prepareAll(db);
    this.#tx = db.transaction((fn: () => unknown) => fn());
    this.#ifnameTag = (this.#s.getMeta.get('ifname_tag') as { value: string } | undefined)?.value ?? '000';
  }

  /** Close the database (a no-op if already closed). */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  get isOpen(): boolean {
    return this.#db.open;
  }

  /**
   * SQLite's `PRAGMA data_version`: changes when another connection (another process)
   * commits to the state; our own commits leave it as is. Long-lived processes compare it
   * to know when what they learnt from the kernel may be stale.
   */
  dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  /**
   * Run `fn` (synchronous — it must not await) in one BEGIN IMMEDIATE transaction and
   * return its result; a throw rolls everything back. Store methods called inside `fn`
   * join it, each as a SAVEPOINT: one that fails is undone entirely even if `fn` catches
   * its error and goes on.
   */
  transaction<T>(fn: () => T): T {
    return this.#tx.immediate(fn) as T;
  }

  // ---- networks -------------------------------------------------------------------------

  /**
   * Create a network, resolving defaults (gateway = first address, bridge = "ctbr-" + hash
   * of the name, bridgeMac derived from the name, mtu 1500, masquerade = !internal).
   * Refuses (in the same transaction, so race-free): a bad spec, /31–/32 pools, a name
   * that exists (unless `existOk` and the resolved spec is identical), a bridge already
   * used by another network, a subnet overlapping another network's.
   */
  putNetwork(input: NetworkInput, opts: { readonly existOk?: boolean } = {}): { network: NetworkRecord; created: boolean } {
    const name = input.name;
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      throw new InvalidInputError(`invalid network name "${String(name)}": use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit`);
    }
    const pool4 = makePool(name, input.subnet, input.gateway, 4);
    const pool6 = input.subnet6 !== undefined ? makePool(name, input.subnet6, input.gateway6, 6) : undefined;
    if (input.subnet6 === undefined && input.gateway6 !== undefined) {
      throw new InvalidInputError(`invalid network "${name}": gateway6 ${input.gateway6} given without subnet6`);
    }
    const hash = createHash('sha256').update(name).digest();
    const bridge = checkIfname(input.bridge ?? `ctbr-${hash.subarray(0, 4).toString('hex')}`, `bridge name of network "${name}"`);
    // 0x06: locally administered, unicast — and never 02:42:…, the containers' prefix
    const bridgeMac = checkMac(input.bridgeMac ?? ['06', ...[...hash.subarray(4, 9)].map((b) => b.toString(16).padStart(2, '0'))].join(':'), `bridge MAC of network "${name}"`);
    const mtu = input.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidInputError(`invalid MTU ${String(mtu)} of network "${name}": expected 68-65535`);
    const internal = input.internal ?? false;
    const masquerade = input.masquerade ?? !internal;
    const row = {
      name, subnet: pool4.subnet, subnet6: pool6?.subnet ?? null,
      gateway: formatIp(pool4.gateway, 4), gateway6: pool6 ? formatIp(pool6.gateway, 6) : null,
      bridge, bridge_mac: bridgeMac, mtu, internal: internal ? 1 : 0, masquerade: masquerade ? 1 : 0,
      created_at: new Date().toISOString(), spec: JSON.stringify(input),
    };
    return this.transaction(() => {
      const existing = this.#s.getNetworkRow.get(name) as NetworkRow | undefined;
      if (existing) {
        const diffs: string[] = [];
        for (const k of ['subnet', 'subnet6', 'gateway', 'gateway6', 'bridge', 'mtu', 'internal', 'masquerade'] as const) {
          if (existing[k] !== row[k]) diffs.push(`${k} ${String(existing[k])} (asked ${String(row[k])})`);
        }
        if (opts.existOk && diffs.length === 0) return { network: this.getNetwork(name) as NetworkRecord, created: false };
        throw new CtnetError(`network "${name}" already exists${diffs.length ? ` with ${diffs.join(', ')}` : ''}`, CODE.exists);
      }
      const byBridge = this.#s.getNetworkByBridge.get(bridge) as { name: string } | undefined;
      if (byBridge) throw new CtnetError(`bridge ${bridge} is already used by network "${byBridge.name}"`, CODE.exists);
      for (const p of pool6 ? [pool4, pool6] : [pool4]) {
        const other = this.findOverlappingNetwork(p.subnet);
        if (other) {
          const theirs = p.family === 4 ? other.subnet : other.subnet6;
          throw new CtnetError(`subnet ${p.subnet} of network "${name}" overlaps ${String(theirs)} of network "${other.name}"`, CODE.overlap);
        }
      }
      this.#s.insertNetwork.run(row);
      return { network: this.getNetwork(name) as NetworkRecord, created: true };
    });
  }

  /** The network named `name` (with its endpoint count), or undefined. */
  getNetwork(name: string): NetworkRecord | undefined {
    const r = this.#s.getNetworkWithCount.get(name) as NetworkRow | undefined;
    return r ? toNetwork(r) : undefined;
  }

  /** All networks, by name. */
  listNetworks(): NetworkRecord[] {
    return (this.#s.listNetworks.all() as NetworkRow[]).map(toNetwork);
  }

  /**
   * The first network whose subnet (IPv4) or subnet6 (IPv6) overlaps `subnet`, or undefined.
   * `exceptName` skips one network (e.g. the one being checked).
   */
  findOverlappingNetwork(subnet: string, exceptName?: string): NetworkRecord | undefined {
    const c = parseCidr(subnet, 'subnet');
    for (const r of this.#s.listSubnets.all() as Array<{ name: string; subnet: string; subnet6: string | null }>) {
      if (r.name === exceptName) continue;
      const theirs = c.family === 4 ? r.subnet : r.subnet6;
      if (theirs !== null && overlaps(c, parseCidr(theirs))) return this.getNetwork(r.name);
    }
    return undefined;
  }

  /**
   * Delete a network and its IPAM state. Refuses (EBUSY) while endpoints still reference
   * it, naming how many and one of them. Returns the deleted record, or undefined if absent.
   */
  deleteNetwork(name: string): NetworkRecord | undefined {
    return this.transaction(() => {
      const net = this.getNetwork(name);
      if (!net) return undefined;
      if (net.endpoints > 0) {
        const one = this.#s.oneEndpointOf.get(name) as { id: string; state: string } | undefined;
        throw new CtnetError(`network "${name}" still has ${net.endpoints} endpoint(s)${one ? ` (e.g. ${one.id}, ${one.state})` : ''}: detach them first`, CODE.busy);
      }
      this.#s.deleteNetworkLeases.run(name);
      this.#s.deleteNetworkFree.run(name);
      this.#s.deleteNetwork.run(name);
      this.#pools.delete(name);
      return net;
    });
  }

  // ---- endpoints ------------------------------------------------------------------------

  /**
   * Record an attach's intent in ONE transaction, before any kernel work: allocate (or
   * claim the static) IPv4 and, if the network has subnet6, IPv6 addresses, choose the
   * host ifname (never reused) and MAC, record the ports (conflicts abort everything) and
   * insert the endpoint as 'pending'. Returns the full record.
   * Errors: unknown network (ENOTFOUND); this netns already attached to this network
   * (EEXIST, naming the endpoint); static address outside/reserved (EINVALID_INPUT) or
   * taken (EADDRINUSE); pool exhausted (EEXHAUSTED); port published (EPORTINUSE).
   */
  beginAttach(input: BeginAttachInput): EndpointRecord {
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
    const createdAt = new Date().toISOString();
    const data = input.data !== undefined ? JSON.stringify(input.data) : null;

    return this.transaction(() => {
      let net: NetworkRow | undefined;
      if (input.network !== undefined) {
        net = this.#s.getNetworkRow.get(input.network) as NetworkRow | undefined;
        if (!net) throw notFound(`network "${input.network}"`);
        // (a netns attached twice to one network is caught by UNIQUE (network, netns) below:
        // no extra lookup on the hot path)
      }
      let ip: string | null = null, ip6: string | null = null, mac = macIn ?? null, hostIfname = input.hostIfname ?? null;
      if (mode === 'bridge' && net) {
        const pools = this.#poolsOf(net);
        const c4 = BigInt(net.cursor4), c6 = BigInt(net.cursor6);
        const b4 = this.#backend(net.name, 4, id);
        const a4 = input.ip !== undefined ? claimStatic(pools.pool4, c4, input.ip, b4) : allocateNext(pools.pool4, c4, b4);
        ip = a4.ip;
        let n6 = c6;
        if (pools.pool6) {
          const b6 = this.#backend(net.name, 6, id);
          const a6 = input.ip6 !== undefined ? claimStatic(pools.pool6, c6, input.ip6, b6) : allocateNext(pools.pool6, c6, b6);
          ip6 = a6.ip;
          n6 = a6.cursor;
        } else if (input.ip6 !== undefined) {
          throw new InvalidInputError(`invalid address "${input.ip6}" requested on network "${net.name}": the network has no IPv6 subnet`);
        }
        if (a4.cursor !== c4 || n6 !== c6) this.#s.setCursors.run(String(a4.cursor), String(n6), net.name);
        mac ??= macFromIp(ip);
        hostIfname ??= `ctv${this.#ifnameTag}${(this.#s.nextSeq.get('veth') as { value: number }).value.toString(36)}`;
      }
      const row: EndpointRow = {
        id, network: input.network ?? null, mode, netns: input.netns, netns_name: input.netnsName ?? null,
        owns_netns: input.ownsNetns ? 1 : 0, ifname, host_ifname: hostIfname, ip, ip6, mac, state: 'pending', created_at: createdAt, data,
      };
      try {
        this.#s.insertEndpoint.run(row);
      } catch (e) {
        throw this.#explainEndpointConflict(e, id, hostIfname, input);
      }
      return toEndpoint(row, mappings.length > 0 ? this.#insertPorts(id, mappings) : []);
    });
  }

  /**
   * The attach's kernel work is done: 'pending' → 'ready' (idempotent on 'ready').
   * `data`, if given, replaces the endpoint's stored data. Throws ENOTFOUND, or EBUSY if
   * the endpoint is already 'detaching'.
   */
  markReady(id: string, update: { readonly data?: JsonValue } = {}): void {
    const data = update.data !== undefined ? JSON.stringify(update.data) : null;
    this.transaction(() => {
      if (this.#s.markReady.run(data, id).changes === 1) return;
      const r = this.#s.getEndpointState.get(id) as { state: EndpointState } | undefined;
      if (!r) throw notFound(`endpoint ${id}`);
      throw new CtnetError(`endpoint ${id} is ${r.state}, it cannot become ready`, CODE.busy);
    });
  }

  /**
   * Start a detach: the endpoint becomes 'detaching' (from any state) and is returned, so
   * the caller knows what to tear down. Undefined if there is no such endpoint (a detach
   * of something already gone is not an error: CNI DEL must be idempotent).
   */
  beginDetach(id: string): EndpointRecord | undefined {
    return this.transaction(() => {
      return this.#withPorts(this.#s.markDetaching.get(id) as EndpointRow | undefined);
    });
  }

  /**
   * Forget an endpoint (from ANY state — gc uses it to undo a 'pending' attach too):
   * delete its ports, release its leases (into the IPAM free list) and delete the row.
   * Returns false if it did not exist.
   */
  finishDetach(id: string): boolean {
    return this.transaction(() => {
      // ports and leases reference the row DEFERRABLE: it can go first, and tells if there was one
      if (this.#s.deleteEndpoint.run(id).changes === 0) return false;
      this.#s.deletePortsOf.run(id);
      const leases = this.#s.deleteLeasesOf.all(id) as Array<{ network: string; family: number; ip: string }>;
      if (leases.length > 0) {
        const byNet = new Map<string, NetworkRow>();
        for (const l of leases) {
          let net = byNet.get(l.network);
          if (!net) {
            net = this.#s.getNetworkRow.get(l.network) as NetworkRow | undefined;
            if (!net) continue;
            byNet.set(l.network, net);
          }
          const pools = this.#poolsOf(net);
          const pool = l.family === 6 ? pools.pool6 : pools.pool4;
          if (!pool) continue;
          noteReleased(pool, BigInt(l.family === 6 ? net.cursor6 : net.cursor4), l.ip, this.#backend(l.network, l.family as Family, null));
        }
      }
      return true;
    });
  }

  /** The endpoint with its ports, or undefined. */
  getEndpoint(id: string): EndpointRecord | undefined {
    return this.#withPorts(this.#s.getEndpoint.get(id) as EndpointRow | undefined);
  }

  /** The endpoint of netns path `netns` (on `network`, if given; else the oldest). */
  findEndpoint(q: { readonly netns: string; readonly network?: string }): EndpointRecord | undefined {
    return this.#withPorts((q.network !== undefined ? this.#s.findEndpointIn.get(q.netns, q.network) : this.#s.findEndpointAny.get(q.netns)) as EndpointRow | undefined);
  }

  /** Endpoints, filtered by network, state and/or netns path, in the order they were created. */
  listEndpoints(q: EndpointFilter = {}): EndpointRecord[] {
    const keys = ENDPOINT_FILTERS.filter((k) => q[k] !== undefined);
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

  /** Every lease (for gc and diagnostics), optionally of one network. */
  listLeases(network?: string): LeaseRecord[] {
    return (this.#s.listLeases.all({ network: network ?? null }) as Array<{ network: string; family: 4 | 6; ip: string; endpoint_id: string | null }>)
      .map((l) => (l.endpoint_id === null ? { network: l.network, family: l.family, ip: l.ip } : { network: l.network, family: l.family, ip: l.ip, endpointId: l.endpoint_id }));
  }

  // ---- ports ----------------------------------------------------------------------------

  /**
   * Publish `mappings` for endpoint `endpointId` (one transaction: all or none). A host
   * port already published — same host IP, or either side the wildcard (0.0.0.0 overlaps
   * every IPv4 host IP, :: every IPv6 one), same protocol and port — is refused with
   * EPORTINUSE naming the host port and the endpoint holding it. Returns the normalized
   * mappings (hostIp filled in, "0.0.0.0" when absent).
   */
  addPorts(endpointId: string, mappings: readonly PortMapping[]): PortMapping[] {
    const norm = mappings.map(normalizeMapping);
    return this.transaction(() => {
      const ep = this.#s.getEndpoint.get(endpointId) as EndpointRow | undefined;
      if (!ep) throw notFound(`endpoint ${endpointId}`);
      if (ep.mode !== 'bridge') throw new InvalidInputError(`endpoint ${endpointId}: ports can only be published in bridge mode (mode ${ep.mode})`);
      return this.#insertPorts(endpointId, norm);
    });
  }

  /**
   * Unpublish: the given mappings (only rows this endpoint holds; others are left alone),
   * or all of the endpoint's ports when `mappings` is absent. Returns the number of host
   * ports removed.
   */
  removePorts(endpointId: string, mappings?: readonly PortMapping[]): number {
    if (mappings === undefined) return this.transaction(() => this.#s.deletePortsOf.run(endpointId).changes);
    const rows = mappings.map(normalizeMapping).flatMap(expandMapping);
    return this.transaction(() => {
      let n = 0;
      for (const r of rows) n += this.#s.deletePort.run(r.hostIp, r.protocol, r.hostPort, endpointId).changes;
      return n;
    });
  }

  /** Published ports with their owners and container addresses (what the DNAT map holds). */
  listPorts(q: { readonly endpointId?: string } = {}): PortRecord[] {
    const rows = (q.endpointId !== undefined ? this.#s.portsWithOwnerOf.all(q.endpointId) : this.#s.portsWithOwner.all()) as Array<PortDbRow & { network: string | null; ip: string | null; ip6: string | null }>;
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

  // ---- counters and flags ---------------------------------------------------------------

  /** Next value (1, 2, …) of the named counter; never repeats for the store's life. */
  nextSeq(name: string): number {
    return this.transaction(() => (this.#s.nextSeq.get(name) as { value: number }).value);
  }

  getMeta(key: string): string | undefined {
    return (this.#s.getMeta.get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.transaction(() => this.#s.setMeta.run(key, value));
  }

  deleteMeta(key: string): boolean {
    return this.transaction(() => this.#s.deleteMeta.run(key).changes > 0);
  }

  /** SQLite's integrity check plus our own invariants; [] when healthy. */
  check(): string[] {
    const problems: string[] = [];
    const ic = this.#db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>;
    for (const r of ic) if (r.integrity_check !== 'ok') problems.push(`integrity: ${r.integrity_check}`);
    for (const r of this.#db.pragma('foreign_key_check') as Array<{ table: string; rowid: number; parent: string }>) {
      problems.push(`foreign key: ${r.table} row ${r.rowid} references a missing ${r.parent}`);
    }
    for (const r of this.#db.prepare('SELECT l.network, l.ip, l.endpoint_id FROM leases l LEFT JOIN endpoints e ON e.id = l.endpoint_id WHERE l.endpoint_id IS NOT NULL AND e.id IS NULL').all() as Array<{ network: string; ip: string; endpoint_id: string }>) {
      problems.push(`lease ${r.ip} on ${r.network} held by missing endpoint ${r.endpoint_id}`);
    }
    for (const r of this.#db.prepare('SELECT f.network, f.ip FROM ipam_free f JOIN leases l ON l.network = f.network AND l.ip = f.ip').all() as Array<{ network: string; ip: string }>) {
      problems.push(`address ${r.ip} on ${r.network} is both leased and in the free list`);
    }
    return problems;
  }

  // ---- internals ------------------------------------------------------------------------

  /** An endpoint row as a record, with its ports. */
  #withPorts(r: EndpointRow | undefined): EndpointRecord | undefined {
    return r && toEndpoint(r, coalesceRows((this.#s.portsOf.all(r.id) as PortDbRow[]).map(toPortRow)));
  }

  /**
   * listEndpoints' two statements for one combination of filters, prepared on first use:
   * a WHERE with only the given columns lets SQLite use endpoints_netns (the attach path's
   * lookup of a netns's other endpoints), and the ports read are only those endpoints'.
   */
  #listStatements(keys: readonly EndpointFilterKey[]): { endpoints: Database.Statement; ports: Database.Statement } {
    const key = keys.join(',');
    let st = this.#lists.get(key);
    if (!st) {
      const where = (t: string) => (keys.length > 0 ? ` WHERE ${keys.map((k) => `${t}${k} = @${k}`).join(' AND ')}` : '');
      st = {
        endpoints: this.#db.prepare(`SELECT * FROM endpoints${where('')} ORDER BY rowid`),
        ports: keys.length > 0 ? this.#db.prepare(`SELECT p.* FROM ports p JOIN endpoints e ON e.id = p.endpoint_id${where('e.')}`) : this.#s.allPorts,
      };
      this.#lists.set(key, st);
    }
    return st;
  }

  #poolsOf(net: NetworkRow): PoolCacheEntry {
    const key = `${net.subnet}|${net.gateway}|${net.subnet6 ?? ''}|${net.gateway6 ?? ''}`;
    const hit = this.#pools.get(net.name);
    if (hit && hit.key === key) return hit;
    const e: PoolCacheEntry = {
      key,
      pool4: makePool(net.name, net.subnet, net.gateway, 4),
      pool6: net.subnet6 !== null ? makePool(net.name, net.subnet6, net.gateway6 ?? undefined, 6) : undefined,
    };
    this.#pools.set(net.name, e);
    return e;
  }

  #backend(network: string, family: Family, endpointId: string | null): LeaseBackend {
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

  #insertPorts(endpointId: string, mappings: readonly PortMapping[]): PortMapping[] {
    for (const m of mappings) {
      for (const r of expandMapping(m)) {
        const fam = parseIp(r.hostIp).family;
        const wild = WILDCARD[fam];
        const holder = (r.hostIp === wild
          ? (this.#s.portHoldersAny.all(r.protocol, r.hostPort) as PortHolderRow[]).find((h) => parseIp(h.host_ip).family === fam)
          : this.#s.portHoldersIp.get(r.protocol, r.hostPort, r.hostIp, wild)) as PortHolderRow | undefined;
        if (holder) {
          const who = holder.endpoint_id === endpointId ? 'this endpoint'
            : `endpoint ${holder.endpoint_id}${holder.network ? ` on network "${holder.network}"` : ''}${holder.netns ? ` (netns ${holder.netns})` : ''}`;
          const same = holder.host_ip === r.hostIp ? '' : ` as ${describeHostPort(holder.host_ip, holder.host_port, holder.proto)}`;
          throw new CtnetError(
            `host port ${describeHostPort(r.hostIp, r.hostPort, r.protocol)} is already published by ${who}${same} → container port ${holder.container_port}`,
            CODE.portInUse);
        }
        this.#s.insertPort.run(r.hostIp, r.protocol, r.hostPort, endpointId, r.containerPort, r.rangeStart);
      }
    }
    return [...mappings];
  }

  #explainEndpointConflict(e: unknown, id: string, hostIfname: string | null, input: BeginAttachInput): unknown {
    const code = (e as { code?: unknown } | null)?.code;
    if (code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' && code !== 'SQLITE_CONSTRAINT_UNIQUE') return e;
    const msg = (e as Error).message;
    const dup = input.network !== undefined ? this.#s.findEndpointIn.get(input.netns, input.network) as { id: string; state: string } | undefined : undefined;
    if (dup) return new CtnetError(`netns ${input.netns} is already attached to network "${String(input.network)}" (endpoint ${dup.id}, ${dup.state})`, CODE.exists);
    if (msg.includes('endpoints.id')) return new CtnetError(`endpoint ${id} already exists`, CODE.exists);
    if (msg.includes('endpoints.host_ifname')) return new CtnetError(`host interface name ${String(hostIfname)} is already used by another endpoint`, CODE.exists);
    return new CtnetError(`endpoint ${id}: ${msg}`, CODE.exists);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function toNetwork(r: NetworkRow): NetworkRecord {
  const n: Mutable<NetworkRecord> = {
    name: r.name, subnet: r.subnet, gateway: r.gateway, bridge: r.bridge, bridgeMac: r.bridge_mac, mtu: r.mtu,
    internal: r.internal === 1, masquerade: r.masquerade === 1, endpoints: r.endpoints ?? 0, createdAt: r.created_at,
    spec: JSON.parse(r.spec) as NetworkSpec,
  };
  if (r.subnet6 !== null) n.subnet6 = r.subnet6;
  if (r.gateway6 !== null) n.gateway6 = r.gateway6;
  return n;
}

function toPortRow(p: PortDbRow): PortRow {
  return { hostIp: p.host_ip, protocol: p.proto, hostPort: p.host_port, containerPort: p.container_port, rangeStart: p.range_start };
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
  return e;
}

/** Every statement the store runs, prepared once. */
function prepareAll(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  const NET_COUNT = '(SELECT count(*) FROM endpoints e WHERE e.network = n.name) AS endpoints';
  return {
    getNetworkRow: p('SELECT * FROM networks WHERE name = ?'),
    getNetworkWithCount: p(`SELECT n.*, ${NET_COUNT} FROM networks n WHERE n.name = ?`),
    listNetworks: p(`SELECT n.*, ${NET_COUNT} FROM networks n ORDER BY n.name`),
    listSubnets: p('SELECT name, subnet, subnet6 FROM networks'),
    getNetworkByBridge: p('SELECT name FROM networks WHERE bridge = ?'),
    insertNetwork: p(`INSERT INTO networks (name, subnet, subnet6, gateway, gateway6, bridge, bridge_mac, mtu, internal, masquerade, created_at, spec)
      VALUES (@name, @subnet, @subnet6, @gateway, @gateway6, @bridge, @bridge_mac, @mtu, @internal, @masquerade, @created_at, @spec)`),
    deleteNetwork: p('DELETE FROM networks WHERE name = ?'),
    deleteNetworkLeases: p('DELETE FROM leases WHERE network = ?'),
    deleteNetworkFree: p('DELETE FROM ipam_free WHERE network = ?'),
    oneEndpointOf: p('SELECT id, state FROM endpoints WHERE network = ? LIMIT 1'),
    setCursors: p('UPDATE networks SET cursor4 = ?, cursor6 = ? WHERE name = ?'),

    tryLease: p('INSERT INTO leases (network, family, ip, endpoint_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
    leaseHolder: p('SELECT endpoint_id FROM leases WHERE network = ? AND ip = ?'),
    takeFree: p(`DELETE FROM ipam_free WHERE seq = (SELECT seq FROM ipam_free WHERE network = ? AND family = ? ORDER BY seq LIMIT 1) RETURNING ip`),
    addFree: p('INSERT INTO ipam_free (network, family, ip) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    removeFree: p('DELETE FROM ipam_free WHERE network = ? AND ip = ?'),
    deleteLeasesOf: p('DELETE FROM leases WHERE endpoint_id = ? RETURNING network, family, ip'),
    listLeases: p('SELECT network, family, ip, endpoint_id FROM leases WHERE (@network IS NULL OR network = @network) ORDER BY network, family, ip'),

    insertEndpoint: p(`INSERT INTO endpoints (id, network, mode, netns, netns_name, owns_netns, ifname, host_ifname, ip, ip6, mac, state, created_at, data)
      VALUES (@id, @network, @mode, @netns, @netns_name, @owns_netns, @ifname, @host_ifname, @ip, @ip6, @mac, @state, @created_at, @data)`),
    getEndpoint: p('SELECT * FROM endpoints WHERE id = ?'),
    getEndpointState: p('SELECT state FROM endpoints WHERE id = ?'),
    findEndpointIn: p('SELECT * FROM endpoints WHERE netns = ? AND network = ?'),
    findEndpointAny: p('SELECT * FROM endpoints WHERE netns = ? ORDER BY rowid LIMIT 1'),
    markReady: p(`UPDATE endpoints SET state = 'ready', data = coalesce(?, data) WHERE id = ? AND state IN ('pending', 'ready')`),
    markDetaching: p(`UPDATE endpoints SET state = 'detaching' WHERE id = ? RETURNING *`),
    deleteEndpoint: p('DELETE FROM endpoints WHERE id = ?'),

    portHoldersIp: p(`SELECT p.*, e.network, e.netns FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id
      WHERE p.proto = ? AND p.host_port = ? AND p.host_ip IN (?, ?) LIMIT 1`),
    portHoldersAny: p(`SELECT p.*, e.network, e.netns FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id
      WHERE p.proto = ? AND p.host_port = ?`),
    insertPort: p('INSERT INTO ports (host_ip, proto, host_port, endpoint_id, container_port, range_start) VALUES (?, ?, ?, ?, ?, ?)'),
    deletePort: p('DELETE FROM ports WHERE host_ip = ? AND proto = ? AND host_port = ? AND endpoint_id = ?'),
    deletePortsOf: p('DELETE FROM ports WHERE endpoint_id = ?'),
    portsOf: p('SELECT * FROM ports WHERE endpoint_id = ?'),
    allPorts: p('SELECT * FROM ports'),
    portsWithOwner: p('SELECT p.*, e.network, e.ip, e.ip6 FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id ORDER BY p.endpoint_id'),
    portsWithOwnerOf: p('SELECT p.*, e.network, e.ip, e.ip6 FROM ports p LEFT JOIN endpoints e ON e.id = p.endpoint_id WHERE p.endpoint_id = ?'),

    nextSeq: p('INSERT INTO seq (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value'),
    getMeta: p('SELECT value FROM meta WHERE key = ?'),
    setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    deleteMeta: p('DELETE FROM meta WHERE key = ?'),
  };
}
