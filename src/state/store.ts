/**
 * state/store.ts — the durable store: one facade over the state's tables (networks,
 * endpoints with their intent and leases, published ports, counters and meta flags).
 *
 * Layer: state. It keeps facts and makes them consistent; it never touches the kernel.
 * Address *choice* is ipam/'s (pure) algorithm, run inside the store's transaction.
 * See docs/ARCHITECTURE.md, "State model". The work is done by one module per concept:
 *   database.ts  the file: atomic creation, refusing what is not a store, WAL, migrations, meta
 *   networks.ts  networks and their IPAM pools
 *   endpoints.ts endpoints as an intent log (pending → ready → detaching → gone) and leases
 *   ports.ts     published ports
 *   reserve.ts   room on a full disk for teardown
 *
 * Durability and concurrency:
 *  - one SQLite file under the state dir (default $CTNET_STATE_DIR or /run/ctnet-fast,
 *    created 0700), WAL journal, synchronous=NORMAL (a kill -9 at any instant loses
 *    nothing committed; only a power cut could lose the last commits — and /run does not
 *    survive one anyway), busy_timeout, foreign keys on;
 *  - every mutation is one BEGIN IMMEDIATE transaction: it takes the write lock up front,
 *    so concurrent processes (a CLI beside a long-lived runtime) queue on busy_timeout
 *    instead of failing with SQLITE_BUSY on a read→write upgrade;
 *  - statements are prepared once per Store;
 *  - teardown (beginDetach, finishDetach, removePorts, deleteNetwork, deleteMeta) works on
 *    a full disk: it may spend the state directory's reserve (reserve.ts).
 */
import type Database from 'better-sqlite3';
import path from 'node:path';
import { defaultStateDir } from './dir.js';
import type { PortMapping } from '../model/types.js';
import { DEFAULT_BUSY_TIMEOUT_MS, MetaTable, openDatabase } from './database.js';
import { NetworkTable } from './networks.js';
import { EndpointTable, type EndpointFilter, type LingeringLeases } from './endpoints.js';
import { PortTable } from './ports.js';
import { ensureReserve, isDiskFull, releaseReserve } from './reserve.js';
import type {
  BeginAttachInput, EndpointRecord, JsonValue, LeaseRecord, NetworkInput, NetworkRecord, PortRecord,
} from './types.js';

export { STATE_FILE, DEFAULT_BUSY_TIMEOUT_MS } from './database.js';

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

export class Store {
  /** The state directory and the database file in it. */
  readonly dir: string;
  readonly file: string;
  readonly #db: Database.Database;
  readonly #ifnameTag: string;
  readonly #meta: MetaTable;
  readonly #nets: NetworkTable;
  readonly #ports: PortTable;
  readonly #eps: EndpointTable;
  /** one transaction wrapper, reused: runs the function it is given */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;
  /** the reserve is known to be missing: the next building write tries to restore it */
  #reserveMissing: boolean;

  constructor(dir: string, busyTimeoutMs: number) {
    this.dir = path.resolve(dir);
    const { db, file } = openDatabase(this.dir, busyTimeoutMs);
    this.file = file;
    this.#db = db;
    this.#tx = db.transaction((fn: () => unknown) => fn());
    const tx = <T>(fn: () => T): T => this.transaction(fn);
    this.#meta = new MetaTable(db);
    this.#ifnameTag = this.#meta.get('ifname_tag') ?? '000';
    this.#nets = new NetworkTable(db, tx);
    this.#ports = new PortTable(db, tx);
    this.#eps = new EndpointTable(db, tx, { nets: this.#nets, ports: this.#ports, ifnameTag: this.#ifnameTag, nextVeth: () => this.#meta.nextSeq('veth'), meta: this.#meta });
    this.#reserveMissing = !ensureReserve(this.dir);
  }

  /**
   * The 3-character tag of this store in every host veth name ("ctv" + tag + sequence):
   * links with that prefix were made through this store (gc's ownership test).
   */
  get ifnameTag(): string { return this.#ifnameTag; }

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
   * of the name, bridgeMac derived from the name, mtu 1500, masquerade = !internal, a new
   * random id). Refuses (in the same transaction, so race-free): a bad spec, /31–/32 pools,
   * a name that exists (unless `existOk` and the resolved spec is identical), a bridge
   * already used by another network, a subnet overlapping another network's.
   */
  putNetwork(input: NetworkInput, opts: { readonly existOk?: boolean } = {}): { network: NetworkRecord; created: boolean } {
    this.#restoreReserve();
    return this.#nets.put(input, opts);
  }

  /** The network named `name` (with its endpoint count), or undefined. */
  getNetwork(name: string): NetworkRecord | undefined {
    return this.#nets.get(name);
  }

  /** All networks, by name. */
  listNetworks(): NetworkRecord[] {
    return this.#nets.list();
  }

  /**
   * The first network whose subnet (IPv4) or subnet6 (IPv6) overlaps `subnet`, or undefined.
   * `exceptName` skips one network (e.g. the one being checked).
   */
  findOverlappingNetwork(subnet: string, exceptName?: string): NetworkRecord | undefined {
    return this.#nets.findOverlapping(subnet, exceptName);
  }

  /**
   * Delete a network and its IPAM state. Refuses (EBUSY) while endpoints still reference
   * it, naming how many and one of them. Returns the deleted record, or undefined if absent.
   */
  deleteNetwork(name: string): NetworkRecord | undefined {
    return this.#teardown(() => this.#nets.delete(name));
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
    this.#restoreReserve();
    return this.#eps.begin(input);
  }

  /**
   * The attach's kernel work is done: 'pending' → 'ready' (idempotent on 'ready').
   * `data`, if given, is merged into the endpoint's stored data when both are objects (its
   * keys win; JSON merge patch), else replaces it. Throws ENOTFOUND, or EBUSY if the
   * endpoint is already 'detaching'.
   */
  markReady(id: string, update: { readonly data?: JsonValue } = {}): void {
    this.#eps.markReady(id, update);
  }

  /**
   * A ready endpoint's host veth gets a new name (never used before, as beginAttach
   * chooses): gc re-creates a veth deleted behind our back while its old name is still
   * taken. Returns the new name, or undefined if the endpoint is not (or no longer) ready.
   */
  renewHostIfname(id: string): string | undefined {
    return this.#eps.renewHostIfname(id);
  }

  /**
   * Start a detach: the endpoint becomes 'detaching' (from any state) and is returned, so
   * the caller knows what to tear down. Undefined if there is no such endpoint (a detach
   * of something already gone is not an error: CNI DEL must be idempotent).
   */
  beginDetach(id: string): EndpointRecord | undefined {
    return this.#teardown(() => this.#eps.beginDetach(id));
  }

  /**
   * Forget an endpoint (from ANY state — gc uses it to undo a 'pending' attach too):
   * delete its ports, release its leases (into the IPAM free list) and delete the row;
   * `linger`: keep the leases until releaseLingering (endpoints.ts, "Lingering addresses").
   * Returns false if it did not exist.
   */
  finishDetach(id: string, opts: { readonly linger?: boolean } = {}): boolean {
    return this.#teardown(() => this.#eps.finishDetach(id, opts));
  }

  /** Leases kept by `finishDetach(id, { linger: true })` until the netns is gone (endpoints.ts). */
  lingering(): LingeringLeases[] {
    return this.#eps.lingering();
  }

  /** Free the lingering leases of detached endpoint(s) `ids`, in one transaction; how many had some. */
  releaseLingering(ids: string | readonly string[]): number {
    return this.#teardown(() => this.#eps.releaseLingering(ids));
  }

  /** The endpoint with its ports, or undefined. */
  getEndpoint(id: string): EndpointRecord | undefined {
    return this.#eps.get(id);
  }

  /** The endpoint of netns path `netns` (on `network`, if given; else the oldest). */
  findEndpoint(q: { readonly netns: string; readonly network?: string }): EndpointRecord | undefined {
    return this.#eps.find(q);
  }

  /** Endpoints, filtered by network, state and/or netns path, in the order they were created. */
  listEndpoints(q: EndpointFilter = {}): EndpointRecord[] {
    return this.#eps.list(q);
  }

  /** Every lease (for gc and diagnostics), optionally of one network. */
  listLeases(network?: string): LeaseRecord[] {
    return this.#eps.listLeases(network);
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
    return this.#ports.add(endpointId, mappings);
  }

  /**
   * Unpublish: the given mappings (only rows this endpoint holds; others are left alone),
   * or all of the endpoint's ports when `mappings` is absent. Returns the number of host
   * ports removed.
   */
  removePorts(endpointId: string, mappings?: readonly PortMapping[]): number {
    return this.#teardown(() => this.#ports.remove(endpointId, mappings));
  }

  /** Published ports with their owners and container addresses (what the DNAT map holds). */
  listPorts(q: { readonly endpointId?: string } = {}): PortRecord[] {
    return this.#ports.list(q);
  }

  // ---- counters and flags ---------------------------------------------------------------

  /** Next value (1, 2, …) of the named counter; never repeats for the store's life. */
  nextSeq(name: string): number {
    return this.transaction(() => this.#meta.nextSeq(name));
  }

  getMeta(key: string): string | undefined {
    return this.#meta.get(key);
  }

  setMeta(key: string, value: string): void {
    this.transaction(() => this.#meta.set(key, value));
  }

  deleteMeta(key: string): boolean {
    return this.#teardown(() => this.transaction(() => this.#meta.delete(key)));
  }

  // ---- the reserve ----------------------------------------------------------------------

  /**
   * A teardown-side write: if it fails because the disk is full (and it is not part of a
   * caller's larger transaction, which SQLite may have rolled back), spend the reserve and
   * try once more.
   */
  #teardown<T>(fn: () => T): T {
    const outer = this.#db.inTransaction;
    try {
      return fn();
    } catch (e) {
      if (outer || !isDiskFull(e) || !releaseReserve(this.dir)) throw e;
      this.#reserveMissing = true;
      return fn();
    }
  }

  /** Before a building write: put the reserve back if it was spent (best effort). */
  #restoreReserve(): void {
    if (this.#reserveMissing && !this.#db.inTransaction) this.#reserveMissing = !ensureReserve(this.dir);
  }
}
