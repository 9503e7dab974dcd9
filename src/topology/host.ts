/**
 * topology/host.ts — Host: the library's front door, one host netns with its state and
 * firewall. Opens and closes them, ensures and lists networks, finds endpoints, and hands
 * out the rest (network.ts, endpoint.ts, attach.ts, detach.ts, gc.ts, prewarm.ts).
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Layers" and "Life of an attach"). Composes rtnl/
 * through plans (one crossing per operation), ipam+state/ (durable intent before kernel
 * work) and firewall/ (set/map elements, through its driver). It never loops over netlink
 * messages itself, never runs processes directly and never names a firewall backend.
 *
 * Failure rules: an attach or network creation that fails rolls back everything it did
 * (kernel objects, rules, addresses, state); teardown is best-effort and reports every
 * failure together (AggregateCtnetError).
 */
import { existsSync } from 'node:fs';
import type { Backend, NsRef } from '../model/plan.js';
import { CODE, CtnetError, InvalidInputError } from '../model/errors.js';
import type { EndpointInfo, GcReport, HostOptions, NetworkInfo, NetworkSpec } from '../model/types.js';
import { loadBackend } from '../backend/select.js';
import { runSteps } from '../backend/result.js';
import { resolveNetns } from '../netns/index.js';
import { Firewall, type FirewallBackendName } from '../firewall/index.js';
import { openStore, type Store } from '../state/index.js';
import { notFound, type HostContext } from './context.js';
import { attachHost, attachNone } from './attach.js';
import { Endpoint } from './endpoint.js';
import { runGc, type GcOptions } from './gc.js';
import { Network, createNetwork } from './network.js';
import { Prewarmed } from './prewarm.js';
import { flushReady } from './ready.js';
import { flushAfterDetach } from './after-detach.js';
import { adoptContext } from './repair.js';
import { endpointInfo, networkInfo, networkView } from './records.js';

export { Network } from './network.js';
export { Endpoint } from './endpoint.js';

export class Host {
  readonly #ctx: HostContext;
  readonly #ownsBackend: boolean;
  #closed = false;

  private constructor(ctx: HostContext, ownsBackend: boolean) {
    this.#ctx = ctx;
    this.#ownsBackend = ownsBackend;
    adoptContext(this, ctx); // repair.ts: the firewall's restore source, watchFirewall
  }

  /** Open a host: this netns (default) or another one given by name/path (`createNetns` makes a missing named one). */
  static async open(opts: HostOptions & { readonly backendInstance?: Backend } = {}): Promise<Host> {
    checkChoice('backend', opts.backend, ['auto', 'native', 'iproute2']);
    checkChoice('firewall', opts.firewall, ['auto', 'libnftables', 'nft', 'none']);
    const warn = opts.warn ?? ((m: string) => { process.stderr.write(`ctnet-fast: ${m}\n`); });
    const backend = opts.backendInstance ?? await loadBackend(opts.backend ?? 'auto', warn);
    let hostNs: NsRef = { self: true };
    let hostNsPath: string | undefined;
    try {
      if (opts.netns !== undefined) {
        const r = resolveNetns(opts.netns);
        hostNsPath = r.path;
        hostNs = { path: r.path };
        if (!existsSync(r.path)) {
          if (opts.createNetns !== true || r.name === undefined) {
            throw new CtnetError(`host netns ${opts.netns} does not exist (${r.path})${r.name !== undefined ? '; pass createNetns to create it' : ''}`, 'ENOENT');
          }
          await runSteps(backend, [{ step: { kind: 'netnsCreate', path: r.path }, label: `create host netns ${r.path}` }], 'open host');
        }
      }
      const store = openStore(opts.stateDir);
      const fw = new Firewall({ firewall: opts.firewall ?? 'auto', backend, ns: hostNs });
      return new Host({
        backend, hostNs, hostNsPath, store, fw, warn, bridgeIndex: new Map(), background: new Set(), ready: [],
        prewarmed: new Prewarmed(`${store.dir}/pool`), dataVersion: store.dataVersion(), trace: opts.trace,
      }, opts.backendInstance === undefined);
    } catch (e) {
      if (opts.backendInstance === undefined) await backend.close().catch(() => undefined);
      throw e;
    }
  }

  get backendName(): 'native' | 'iproute2' { return this.#ctx.backend.name; }
  /** The firewall driver's name (resolving 'auto'; throws EnvironmentError if nftables is missing). */
  get firewallName(): FirewallBackendName { return this.#ctx.fw.backendName; }
  /** The host netns path (undefined: the caller's own netns). */
  get netnsPath(): string | undefined { return this.#ctx.hostNsPath; }
  /** The kernel backend (for callers composing their own plans, e.g. benchmarks). */
  get backend(): Backend { return this.#ctx.backend; }

  /**
   * Ensure a bridge network: creates it (bridge, gateway address, sysctls, rules) or, when it
   * exists with the same settings, makes sure its kernel state is there. Different settings
   * or an overlapping subnet (another network's, the host's addresses or, unless
   * `ignoreHostRoutes`, its routes; a special range): a clear error, nothing changed.
   * Idempotent under races between processes (network.ts createNetwork).
   */
  async network(spec: NetworkSpec): Promise<Network> {
    return createNetwork(this.#ctx, spec);
  }

  async getNetwork(name: string): Promise<Network> {
    const rec = this.#ctx.store.getNetwork(name);
    if (rec === undefined) throw notFound(`network "${name}"`);
    return new Network(this.#ctx, rec);
  }

  async networks(): Promise<NetworkInfo[]> {
    return this.#ctx.store.listNetworks().map(networkInfo);
  }

  /** Remove a network: refused while endpoints exist unless `force` (which detaches them first). */
  async removeNetwork(name: string, opts: { force?: boolean } = {}): Promise<void> {
    await (await this.getNetwork(name)).remove(opts);
  }

  async endpoints(filter: { network?: string } = {}): Promise<EndpointInfo[]> {
    const ctx = this.#ctx;
    const nets = new Map(ctx.store.listNetworks().map((n) => [n.name, n]));
    return ctx.store.listEndpoints(filter.network !== undefined ? { network: filter.network } : {})
      .map((r) => endpointInfo(r, r.network !== undefined ? nets.get(r.network) : undefined));
  }

  /** The endpoint of a netns (name or path), optionally on one network (`host`/`none`: that mode's endpoint). */
  async findEndpoint(netns: string, network?: string): Promise<Endpoint | undefined> {
    const path = resolveNetns(netns).path;
    const rec = network === 'host' || network === 'none'
      ? this.#ctx.store.listEndpoints({ netns: path }).find((e) => e.mode === network)
      : this.#ctx.store.findEndpoint(network !== undefined ? { netns: path, network } : { netns: path });
    return rec === undefined ? undefined : new Endpoint(this.#ctx, rec);
  }

  /** Mode "host": the container shares the host's netns; nothing to build, only recorded. */
  async attachHostMode(netns?: string): Promise<EndpointInfo> {
    return attachHost(this.#ctx, netns);
  }

  /** Mode "none": the container's own netns (created if missing) with only lo up. */
  async attachNoneMode(netns: string): Promise<EndpointInfo> {
    return attachNone(this.#ctx, netns);
  }

  /**
   * Reconcile state with the kernel: undo attaches whose process died half-way, forget
   * endpoints whose netns is gone, delete links and bridges tagged as ours that no state
   * knows, and recreate missing bridges of known networks.
   */
  async gc(opts: GcOptions = {}): Promise<GcReport> {
    return runGc(this.#ctx, opts);
  }

  /**
   * Pre-create `n` network namespaces off the hot path, so that the next `n` attaches that
   * create a netns adopt one (a bind mount and an unmount) instead of paying for a new one
   * (`unshare(CLONE_NEWNET)`, ~0.3 ms of the ~1 ms floor). For runtimes that can afford the
   * work ahead of time. Native backend only (returns 0 otherwise). Entries live under
   * STATE_DIR/pool, named by our pid; close() removes the unused ones, and gc those of dead
   * processes. Returns how many are ready.
   */
  async prewarm(n: number): Promise<number> {
    const ctx = this.#ctx;
    return ctx.prewarmed.fill(ctx.backend, n, () => ctx.store.nextSeq('pool'));
  }

  /**
   * For long-lived processes (the CLI daemon): when another process has changed the state
   * since the last call, forget what this Host learnt from the kernel (bridge ifindexes,
   * "our nft tables exist") so the next operation looks it up again instead of trusting a
   * bridge or table that may have been removed and re-created meanwhile. One cheap SQLite
   * pragma when nothing changed.
   */
  refresh(): void {
    const ctx = this.#ctx;
    const v = ctx.store.dataVersion();
    if (v === ctx.dataVersion) return;
    ctx.dataVersion = v;
    ctx.bridgeIndex.clear();
    ctx.fw.forgetBase();
  }

  /**
   * Run now what detaches leave for just after they return (their anti-spoofing elements and
   * the conntrack entries of their addresses, topology/after-detach.ts) and wait for it. For
   * callers that must answer only once a container's flows are gone (a CNI DEL); detach
   * itself does not wait.
   */
  async settle(): Promise<void> {
    await flushAfterDetach(this.#ctx);
  }

  /** Wait for background teardown, release the backend (if we loaded it) and the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ctx.prewarmed.drain(this.#ctx.backend);
    await flushAfterDetach(this.#ctx).catch(() => undefined);
    await Promise.allSettled([...this.#ctx.background]);
    flushReady(this.#ctx);
    this.#ctx.store.close();
    // this Host, and the Networks and Endpoints it handed out, now fail with a clear error
    (this.#ctx as { store: Store }).store = closedStore();
    if (this.#ownsBackend) await this.#ctx.backend.close();
  }
}

/** An option that must be one of `allowed` (undefined: the default). */
function checkChoice(name: string, value: unknown, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw new InvalidInputError(`Host.open: invalid ${name} ${JSON.stringify(value)}: expected ${allowed.join(', ')}`);
  }
}

/** What a closed Host's context holds in place of its store: every use says the host is closed. */
function closedStore(): Store {
  const fail = (): never => { throw new CtnetError('host is closed (Host.close() was called): open a new Host to use the state', CODE.failure); };
  return new Proxy({} as Store, { get: (_t, prop) => (prop === 'then' || typeof prop === 'symbol' ? undefined : fail) });
}
