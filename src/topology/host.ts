/**
 * topology/host.ts — the library's front door: Host (a host netns + state + firewall),
 * Network (a bridge network) and Endpoint (one container's attachment).
 *
 * Layer: topology. Composes rtnl/ (through plans: one crossing per operation), ipam+state/
 * (durable intent before kernel work) and firewall/ (set/map elements). It never loops over
 * netlink messages itself and never runs processes directly.
 *
 * Failure rules: an attach or network creation that fails rolls back everything it did
 * (kernel objects, rules, addresses, state); teardown is best-effort and reports every
 * failure together (AggregateCtnetError).
 */
import { existsSync, readdirSync } from 'node:fs';
import type { Addr, Backend, NsRef, RtnlOp, StepResult, Link } from '../model/plan.js';
import { AggregateCtnetError, CtnetError, EnvironmentError, InvalidInputError, CODE } from '../model/errors.js';
import { loadBackend } from '../backend/select.js';
import { processAlive } from '../util/proc.js';
import { resolveNetns } from '../netns/index.js';
import { openStore, normalizeMapping, type Store } from '../state/index.js';
import type { EndpointRecord, NetworkRecord } from '../state/index.js';
import {
  Firewall, addNetworkElements, removeNetworkElements, publishElements, unpublishElements, normalizeMappings,
  type FirewallBackendName,
} from '../firewall/index.js';
import { parseCidr, broadcast as broadcastOf, formatIp, parseIp } from '../util/ip.js';
import type {
  AttachOptions, EndpointInfo, GcReport, HostOptions, NetworkInfo, NetworkSpec, PortMapping,
} from '../model/types.js';
import { ALIAS_PREFIX } from '../model/names.js';
import { checkIfname, checkMac } from '../validate/kernel.js';
import { allFailures, firstFailure, runSteps, rtnlStep, type Labelled } from '../backend/result.js';
import {
  attachSteps, detachSteps, deleteHostVethSteps, networkSteps, networkSysctls, removeNetworkSteps,
  type EndpointPlanInput, type NetRecord,
} from './plans.js';

function notFound(what: string): CtnetError {
  return new CtnetError(`${what} not found`, CODE.notFound);
}

/** NetRecord (what plans need) from a stored network. */
function netRecord(n: NetworkRecord): NetRecord {
  const c = parseCidr(n.subnet);
  const b = broadcastOf(c);
  const c6 = n.subnet6 !== undefined ? parseCidr(n.subnet6) : undefined;
  return {
    name: n.name, subnet: n.subnet, prefixLen: c.prefixLen, gateway: n.gateway,
    ...(b !== undefined ? { broadcast: formatIp(b, 4) } : {}),
    ...(n.subnet6 !== undefined && c6 !== undefined && n.gateway6 !== undefined
      ? { subnet6: n.subnet6, prefixLen6: c6.prefixLen, gateway6: n.gateway6 } : {}),
    bridge: n.bridge, bridgeMac: n.bridgeMac, mtu: n.mtu, internal: n.internal, masquerade: n.masquerade,
  };
}

function fwEndpoint(rec: { ip?: string | undefined; ip6?: string | undefined }): { ip: string; ip6?: string } {
  return { ip: rec.ip ?? '0.0.0.0', ...(rec.ip6 !== undefined ? { ip6: rec.ip6 } : {}) };
}

function infoOf(n: NetworkRecord): NetworkInfo {
  const { spec: _spec, ...info } = n;
  return info;
}

function endpointInfo(rec: EndpointRecord, net: NetworkRecord | undefined): EndpointInfo {
  const prefix = net !== undefined ? parseCidr(net.subnet).prefixLen : 0;
  const prefix6 = net?.subnet6 !== undefined ? parseCidr(net.subnet6).prefixLen : 0;
  return {
    id: rec.id, network: rec.network ?? '', mode: rec.mode, netns: rec.netns,
    ...(rec.netnsName !== undefined ? { netnsName: rec.netnsName } : {}),
    ownsNetns: rec.ownsNetns, ifname: rec.ifname, hostIfname: rec.hostIfname ?? '',
    address: rec.ip !== undefined ? `${rec.ip}/${prefix}` : '', ip: rec.ip ?? '', gateway: net?.gateway ?? '',
    ...(rec.ip6 !== undefined ? { address6: `${rec.ip6}/${prefix6}`, ip6: rec.ip6 } : {}),
    ...(net?.gateway6 !== undefined && rec.ip6 !== undefined ? { gateway6: net.gateway6 } : {}),
    mac: rec.mac ?? '', ports: rec.ports, createdAt: rec.createdAt,
  };
}

/** Parse the extra routes of an attach. */
function parseRoutes(routes: AttachOptions['routes']): EndpointPlanInput['routes'] {
  return (routes ?? []).map((r) => {
    const c = parseCidr(r.dst, 'route destination', { requireNetwork: true });
    if (r.via !== undefined && parseIp(r.via, 'route gateway').family !== c.family) {
      throw new InvalidInputError(`invalid route ${r.dst} via ${r.via}: gateway family differs from the destination's`);
    }
    return { dst: formatIp(c.network, c.family), dstLen: c.prefixLen, family: c.family, ...(r.via !== undefined ? { via: r.via } : {}) };
  });
}

interface Ctx {
  readonly backend: Backend;
  readonly hostNs: NsRef;
  readonly hostNsPath: string | undefined;
  readonly store: Store;
  readonly fw: Firewall;
  readonly warn: (m: string) => void;
  /** bridge ifindex per network, learnt when the network is ensured */
  readonly bridgeIndex: Map<string, number>;
  /** slow host-veth deletions running in the background (awaited by close) */
  readonly background: Set<Promise<void>>;
  /** attached endpoints not yet marked ready in the state (see markReadySoon) */
  readonly ready: string[];
  /** pre-created namespaces (Host.prewarm) waiting to be adopted by an attach */
  readonly pool: string[];
  /** the store's data_version when refresh() last looked (see Host.refresh) */
  dataVersion: number;
}

/** How published-port rules travel: inside the plan (one crossing), as a separate call, or not at all. */
function nftMode(ctx: Ctx): 'embed' | 'separate' | 'none' {
  const fw = ctx.fw.backendName;
  if (fw === 'none') return 'none';
  if (fw === 'libnftables') return 'embed';
  // the iproute2 backend runs nft steps as `nft` processes itself
  return ctx.backend.name === 'iproute2' ? 'embed' : 'separate';
}

export class Host {
  readonly #ctx: Ctx;
  readonly #ownsBackend: boolean;
  #closed = false;

  private constructor(ctx: Ctx, ownsBackend: boolean) {
    this.#ctx = ctx;
    this.#ownsBackend = ownsBackend;
  }

  /** Open a host: this netns (default) or another one given by name/path (`createNetns` makes a missing named one). */
  static async open(opts: HostOptions & { readonly backendInstance?: Backend } = {}): Promise<Host> {
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
      // the native backend says whether libnftables loads (in-process rules)
      const native = backend as Backend & { nftAvailable?: () => { ok: boolean; reason?: string } };
      const fw = new Firewall({
        firewall: opts.firewall ?? 'auto', backend, ns: hostNs,
        ...(typeof native.nftAvailable === 'function' ? { nftAvailable: () => native.nftAvailable?.() ?? { ok: false } } : {}),
      });
      return new Host({ backend, hostNs, hostNsPath, store, fw, warn, bridgeIndex: new Map(), background: new Set(), ready: [], pool: [], dataVersion: store.dataVersion() }, opts.backendInstance === undefined);
    } catch (e) {
      if (opts.backendInstance === undefined) await backend.close().catch(() => undefined);
      throw e;
    }
  }

  get backendName(): 'native' | 'iproute2' { return this.#ctx.backend.name; }
  /** The firewall backend (resolving 'auto'; throws EnvironmentError if nftables is missing). */
  get firewallName(): FirewallBackendName { return this.#ctx.fw.backendName; }
  /** The host netns path (undefined: the caller's own netns). */
  get netnsPath(): string | undefined { return this.#ctx.hostNsPath; }
  /** The kernel backend (for callers composing their own plans, e.g. benchmarks). */
  get backend(): Backend { return this.#ctx.backend; }

  /**
   * Ensure a bridge network: creates it (bridge, gateway address, sysctls, rules) or, when it
   * exists with the same settings, makes sure its kernel state is there. Different settings
   * or an overlapping subnet: a clear error, nothing changed.
   */
  async network(spec: NetworkSpec): Promise<Network> {
    const ctx = this.#ctx;
    const { network: rec, created } = ctx.store.putNetwork(spec, { existOk: true });
    const net = netRecord(rec);
    try {
      const index = await this.#ensureKernel(net, created);
      ctx.bridgeIndex.set(net.name, index);
    } catch (e) {
      if (created) {
        await teardownNetworkKernel(ctx, net).catch(() => undefined);
        ctx.store.deleteNetwork(net.name);
      }
      throw e instanceof CtnetError ? e.withContext(`create network ${spec.name}`) : e;
    }
    return new Network(ctx, rec);
  }

  /** Kernel side of a network; returns the bridge's ifindex. */
  async #ensureKernel(net: NetRecord, created: boolean): Promise<number> {
    const ctx = this.#ctx;
    const link = created ? undefined : await hostLinkOp<Link>(ctx, { op: 'linkGet', link: net.bridge });
    const steps: Labelled[] = [];
    if (link === undefined) steps.push(...networkSteps(ctx.hostNs, net));
    steps.push(...networkSysctls(ctx.hostNs, net));
    const mode = nftMode(ctx);
    if (mode !== 'none') await ctx.fw.ensureBase();
    const json = addNetworkElements(net, ctx.fw.ruleOpts);
    if (mode === 'embed') steps.push({ step: { kind: 'nft', ns: ctx.hostNs, json }, label: `add network ${net.name} to the firewall` });
    // the new bridge's ifindex comes back in the same plan
    if (link === undefined) steps.push(rtnlStep(ctx.hostNs, [{ op: 'linkGet', link: net.bridge }], `look up bridge ${net.bridge}`));
    const results = await runSteps(ctx.backend, steps, `network ${net.name}`);
    if (mode === 'separate') await ctx.fw.apply(json);
    if (link !== undefined) return link.index;
    const last = results[results.length - 1];
    const got = last?.ok === true ? last.ops?.[0] : undefined;
    if (got?.ok !== true) throw new CtnetError(`bridge ${net.bridge} vanished right after creation`, 'ENODEV');
    return (got.value as Link).index;
  }

  async getNetwork(name: string): Promise<Network> {
    const rec = this.#ctx.store.getNetwork(name);
    if (rec === undefined) throw notFound(`network "${name}"`);
    return new Network(this.#ctx, rec);
  }

  async networks(): Promise<NetworkInfo[]> {
    return this.#ctx.store.listNetworks().map(infoOf);
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

  /** The endpoint of a netns (name or path), optionally on one network. */
  async findEndpoint(netns: string, network?: string): Promise<Endpoint | undefined> {
    const path = resolveNetns(netns).path;
    const rec = this.#ctx.store.findEndpoint(network !== undefined ? { netns: path, network } : { netns: path });
    return rec === undefined ? undefined : new Endpoint(this.#ctx, rec);
  }

  /** Mode "host": the container shares the host's netns; nothing to build, only recorded. */
  async attachHostMode(netns?: string): Promise<EndpointInfo> {
    const path = netns !== undefined ? resolveNetns(netns).path : (this.#ctx.hostNsPath ?? `/proc/${process.pid}/ns/net`);
    const rec = this.#ctx.store.beginAttach({ mode: 'host', netns: path, data: { pid: process.pid } });
    this.#ctx.store.markReady(rec.id);
    return endpointInfo(rec, undefined);
  }

  /** Mode "none": the container's own netns (created if missing) with only lo up. */
  async attachNoneMode(netns: string): Promise<EndpointInfo> {
    const ctx = this.#ctx;
    const r = resolveNetns(netns);
    const create = r.name !== undefined && !existsSync(r.path);
    const rec = ctx.store.beginAttach({ mode: 'none', netns: r.path, ...(r.name !== undefined ? { netnsName: r.name } : {}), ownsNetns: create, data: { pid: process.pid } });
    const steps: Labelled[] = [
      create ? { step: { kind: 'netnsCreate', path: r.path }, label: `create netns ${r.path}` } : { step: { kind: 'netnsOpen', path: r.path }, label: `open netns ${r.path}` },
      rtnlStep({ slot: 0 }, [{ op: 'linkSet', link: 'lo', up: true }], `set lo up in ${r.path}`),
    ];
    const results = await ctx.backend.run({ steps: steps.map((s) => s.step) });
    const err = firstFailure(steps, results);
    if (err !== undefined) {
      if (create && results[0]?.ok === true) await ctx.backend.run({ steps: [{ kind: 'netnsDelete', path: r.path }] }).catch(() => undefined);
      ctx.store.finishDetach(rec.id);
      throw err.withContext(`attach ${netns} (mode none)`);
    }
    ctx.store.markReady(rec.id);
    return endpointInfo(rec, undefined);
  }

  /**
   * Reconcile state with the kernel: undo attaches whose process died half-way, forget
   * endpoints whose netns is gone, delete links and bridges tagged as ours that no state
   * knows, and recreate missing bridges of known networks.
   */
  async gc(opts: { dryRun?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<GcReport> {
    return runGc(this.#ctx, opts, (net, created) => this.#ensureKernel(net, created));
  }

  /**
   * Pre-create `n` network namespaces off the hot path, so that the next `n` attaches that
   * create a netns adopt one (a bind mount and an unmount) instead of paying for a new one
   * (`unshare(CLONE_NEWNET)`, ~0.3 ms of the ~1 ms floor). For runtimes that can afford the
   * work ahead of time. Native backend only (returns 0 otherwise). Pool entries live under
   * STATE_DIR/pool, named by our pid; close() removes the unused ones, and gc those of dead
   * processes. Returns how many are ready.
   */
  async prewarm(n: number): Promise<number> {
    const ctx = this.#ctx;
    if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new InvalidInputError(`prewarm: invalid count ${String(n)} (0..100000)`);
    if (ctx.backend.name !== 'native') return 0;
    const dir = poolDir(ctx);
    const paths: string[] = [];
    for (let i = 0; i < n; i++) paths.push(`${dir}/${process.pid}-${ctx.store.nextSeq('pool')}`);
    for (let i = 0; i < paths.length; i += 64) {
      const chunk = paths.slice(i, i + 64);
      const r = await ctx.backend.run({ steps: chunk.map((path) => ({ kind: 'netnsCreate', path })), stopOnError: false });
      chunk.forEach((p, j) => { if (r[j]?.ok === true) ctx.pool.push(p); });
    }
    return ctx.pool.length;
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

  /** Wait for background teardown, release the backend (if we loaded it) and the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#ctx.pool.splice(0);
    if (pool.length > 0) {
      await this.#ctx.backend.run({ steps: pool.map((path) => ({ kind: 'netnsDelete', path })), stopOnError: false }).catch(() => undefined);
    }
    await Promise.allSettled([...this.#ctx.background]);
    flushReady(this.#ctx);
    this.#ctx.store.close();
    if (this.#ownsBackend) await this.#ctx.backend.close();
  }
}

export class Network {
  readonly #ctx: Ctx;
  readonly #rec: NetworkRecord;
  readonly #net: NetRecord;

  /** @internal */
  constructor(ctx: Ctx, rec: NetworkRecord) {
    this.#ctx = ctx;
    this.#rec = rec;
    this.#net = netRecord(rec);
  }

  get info(): NetworkInfo {
    return infoOf(this.#ctx.store.getNetwork(this.#rec.name) ?? this.#rec);
  }
  get name(): string { return this.#rec.name; }

  /**
   * Attach a container netns: one plan (netns, veth with the peer born inside it and the host
   * end on the bridge, lo/eth0 up, address, routes, published ports). Rolls back on failure.
   */
  async attach(opts: AttachOptions): Promise<Endpoint> {
    try {
      return await attachOne(this.#ctx, this.#net, opts);
    } catch (e) {
      throw e instanceof CtnetError ? e.withContext(`attach ${opts.netns} to network ${this.#rec.name}`) : e;
    }
  }

  /** Attach several netns one after the other (one process, one start-up). Stops at the first failure. */
  async attachMany(list: readonly AttachOptions[], onProgress?: (done: number, total: number) => void): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    for (const o of list) {
      out.push(await this.attach(o));
      onProgress?.(out.length, list.length);
    }
    return out;
  }

  async endpoints(): Promise<EndpointInfo[]> {
    return this.#ctx.store.listEndpoints({ network: this.#rec.name }).map((r) => endpointInfo(r, this.#rec));
  }

  /** Remove the network: refused while endpoints exist unless `force` (which detaches them first). */
  async remove(opts: { force?: boolean } = {}): Promise<void> {
    const ctx = this.#ctx;
    const name = this.#rec.name;
    const eps = ctx.store.listEndpoints({ network: name });
    if (eps.length > 0) {
      if (opts.force !== true) {
        throw new CtnetError(`remove network ${name}: it still has ${eps.length} endpoint(s) (e.g. ${eps[0]?.netns}); detach them or use force`, 'EBUSY');
      }
      const errors: Error[] = [];
      for (const ep of eps) await detachRecord(ctx, ep).catch((e: Error) => errors.push(e));
      if (errors.length > 0) throw new AggregateCtnetError(`remove network ${name}`, errors);
    }
    await teardownNetworkKernel(ctx, this.#net);
    ctx.store.deleteNetwork(name);
    ctx.bridgeIndex.delete(name);
    // the last network gone: leave nothing of ours in the firewall either
    if (ctx.store.listNetworks().length === 0 && nftMode(ctx) !== 'none') await ctx.fw.removeAll();
  }
}

/** Delete a network's bridge and firewall elements; every failure reported together. */
async function teardownNetworkKernel(ctx: Ctx, net: NetRecord): Promise<void> {
  const errors: Error[] = [];
  const steps = removeNetworkSteps(ctx.hostNs, net);
  const mode = nftMode(ctx);
  const json = removeNetworkElements(net, ctx.fw.ruleOpts);
  if (mode === 'embed') steps.push({ step: { kind: 'nft', ns: ctx.hostNs, json }, label: `remove network ${net.name} from the firewall` });
  const results = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
  errors.push(...allFailures(steps, results).filter((e) => !/ENODEV|ENOENT/.test(e.message)));
  if (mode === 'separate') await ctx.fw.apply(json).catch((e: Error) => errors.push(e));
  if (errors.length > 0) throw new AggregateCtnetError(`remove network ${net.name}`, errors);
}

export class Endpoint {
  readonly #ctx: Ctx;
  #rec: EndpointRecord;

  /** @internal */
  constructor(ctx: Ctx, rec: EndpointRecord) {
    this.#ctx = ctx;
    this.#rec = rec;
  }

  get info(): EndpointInfo {
    const net = this.#rec.network !== undefined ? this.#ctx.store.getNetwork(this.#rec.network) : undefined;
    return endpointInfo(this.#rec, net);
  }
  get id(): string { return this.#rec.id; }
  get address(): string { return this.info.address; }
  get ip(): string { return this.#rec.ip ?? ''; }
  get mac(): string { return this.#rec.mac ?? ''; }
  get hostIfname(): string { return this.#rec.hostIfname ?? ''; }
  get netns(): string { return this.#rec.netns; }

  /** Detach: unpublish, release the address, and drop the netns we created (the kernel reaps the veth later). */
  async detach(): Promise<void> {
    await detachRecord(this.#ctx, this.#rec);
  }

  /** Publish ports ("8080:80/tcp", ranges, host IPs). A host port already published is an error; nothing half-done. */
  async publish(specs: ReadonlyArray<string | PortMapping>): Promise<PortMapping[]> {
    const ctx = this.#ctx;
    const mappings = normalizeMappings(specs);
    if (mappings.length === 0) return [];
    if (this.#rec.mode !== 'bridge') throw new InvalidInputError(`publish on ${this.#rec.netns}: only bridge-mode endpoints can publish ports`);
    const added = ctx.store.addPorts(this.#rec.id, mappings);
    try {
      await applyPorts(ctx, this.#rec, added, 'publish');
    } catch (e) {
      ctx.store.removePorts(this.#rec.id, added);
      throw e;
    }
    // keep our copy in step without re-reading every port (a container may publish thousands)
    this.#rec = { ...this.#rec, ports: this.#rec.ports.concat(added) };
    return added;
  }

  /** Remove exactly these mappings (they must be published by this endpoint). */
  async unpublish(specs: ReadonlyArray<string | PortMapping>): Promise<void> {
    const ctx = this.#ctx;
    const mappings = normalizeMappings(specs);
    if (mappings.length === 0) return;
    await applyPorts(ctx, this.#rec, mappings, 'unpublish');
    ctx.store.removePorts(this.#rec.id, mappings);
    const gone = new Set(mappings.map(portKey));
    this.#rec = { ...this.#rec, ports: this.#rec.ports.filter((m) => !gone.has(portKey(m))) };
  }
}

/**
 * Publish or unpublish: one nft batch in the host netns through the firewall. Without
 * mappings the firewall backend is not resolved at all; with firewall 'none' nothing is done.
 */
async function applyPorts(ctx: Ctx, rec: EndpointRecord, mappings: readonly PortMapping[], what: 'publish' | 'unpublish'): Promise<void> {
  if (mappings.length === 0 || ctx.fw.backendName === 'none') return;
  try {
    await (what === 'publish' ? ctx.fw.publish(fwEndpoint(rec), mappings) : ctx.fw.unpublish(fwEndpoint(rec), mappings));
  } catch (e) {
    throw e instanceof CtnetError ? e.withContext(`${what} on ${rec.netns}`) : e;
  }
}

/**
 * "pending" → "ready" off the hot path. The endpoint row written as "pending" before the
 * kernel work is the intent; marking it ready is bookkeeping for gc, so the ids wait in
 * ctx.ready and are marked in batches: one transaction per READY_BATCH attaches, or after
 * READY_DELAY_MS, or at close. Until then another process's gc sees a pending endpoint with
 * a live owner and leaves it alone; if the owner died, gc checks the kernel (netns and host
 * veth there: finish; otherwise: undo), so a lost mark is never a lost container.
 */
const READY_BATCH = 256;
const READY_DELAY_MS = 50;

function markReadySoon(ctx: Ctx, id: string): void {
  ctx.ready.push(id);
  if (ctx.ready.length >= READY_BATCH) flushReady(ctx);
  else if (ctx.ready.length === 1) setTimeout(() => flushReady(ctx), READY_DELAY_MS).unref();
}

function flushReady(ctx: Ctx): void {
  if (ctx.ready.length === 0 || !ctx.store.isOpen) return;
  const ids = ctx.ready.splice(0);
  ctx.store.transaction(() => {
    for (const id of ids) {
      try {
        ctx.store.markReady(id);
      } catch {
        // detached meanwhile (or already gone): nothing to mark
      }
    }
  });
}

/** Identity of a published mapping (host address, protocol, host port range). */
function portKey(m: PortMapping): string {
  const n = normalizeMapping(m);
  return `${n.hostIp ?? ''}|${n.protocol}|${n.hostPort}|${n.hostPortEnd ?? n.hostPort}`;
}

/** eth0, or the first ethN not taken by the netns's other endpoints. */
function nextIfname(taken: readonly string[]): string {
  for (let i = 0; ; i++) if (!taken.includes(`eth${i}`)) return `eth${i}`;
}

/** One rtnl op in the host netns: its value, or undefined if it failed (e.g. ENODEV). */
async function hostLinkOp<T>(ctx: Ctx, op: RtnlOp): Promise<T | undefined> {
  const [r] = await ctx.backend.run({ steps: [{ kind: 'rtnl', ns: ctx.hostNs, ops: [op] }] });
  const res = r?.ok === true ? r.ops?.[0] : undefined;
  return res?.ok === true ? res.value as T : undefined;
}

async function bridgeIndexOf(ctx: Ctx, net: NetRecord): Promise<number> {
  const known = ctx.bridgeIndex.get(net.name);
  if (known !== undefined) return known;
  const link = await hostLinkOp<Link>(ctx, { op: 'linkGet', link: net.bridge });
  if (link === undefined) {
    throw new CtnetError(`bridge ${net.bridge} of network ${net.name} is missing from the host netns; run \`ctnet-fast gc\` or re-create the network`, 'ENODEV');
  }
  ctx.bridgeIndex.set(net.name, link.index);
  return link.index;
}

async function attachOne(ctx: Ctx, net: NetRecord, opts: AttachOptions): Promise<Endpoint> {
  if (typeof opts?.netns !== 'string') throw new InvalidInputError('attach: netns is required (a name under /run/netns or an nsfs path)');
  const ns = resolveNetns(opts.netns);
  const exists = existsSync(ns.path);
  if (!exists && ns.name === undefined) {
    throw new CtnetError(`netns path ${ns.path} does not exist (a path is never created; give a name to have one created)`, 'ENOENT');
  }
  const create = !exists;
  // A netns already on other networks: the next ethN, and its default route stays the first
  // network's. (A netns we are about to create has none: skip the query on the hot path.)
  const others = exists ? ctx.store.listEndpoints({ netns: ns.path }).filter((e) => e.mode === 'bridge') : [];
  const ifname = opts.ifname ?? nextIfname(others.map((e) => e.ifname));
  checkIfname(ifname, 'container interface name');
  const mac = opts.mac !== undefined ? checkMac(opts.mac, 'container MAC') : undefined;
  const ports = normalizeMappings(opts.publish ?? []);
  const routes = parseRoutes(opts.routes);
  const bridgeIndex = await bridgeIndexOf(ctx, net);
  // without ports the firewall is not touched (nor libnftables loaded: ~1.5 ms in a fresh process)
  const mode = ports.length > 0 ? nftMode(ctx) : 'none';
  if (mode !== 'none') await ctx.fw.ensureBase();

  const rec = ctx.store.beginAttach({
    network: net.name, netns: ns.path, ...(ns.name !== undefined ? { netnsName: ns.name } : {}), ownsNetns: create,
    ifname, ...(opts.ip !== undefined ? { ip: opts.ip } : {}), ...(opts.ip6 !== undefined ? { ip6: opts.ip6 } : {}),
    ...(mac !== undefined ? { mac } : {}), ports, data: { pid: process.pid },
  });
  const input: EndpointPlanInput = {
    id: rec.id, netnsPath: ns.path, createNetns: create, ifname, hostIfname: rec.hostIfname ?? '',
    ip: rec.ip ?? '', ...(rec.ip6 !== undefined ? { ip6: rec.ip6 } : {}), mac: rec.mac ?? '', routes,
    defaultRoute: others.length === 0,
  };
  const json = rec.ports.length > 0 && mode !== 'none' ? publishElements(fwEndpoint(rec), rec.ports, ctx.fw.ruleOpts) : undefined;
  const steps = attachSteps(ctx.hostNs, net, bridgeIndex, input, mode === 'embed' ? json : undefined);
  // a pre-created netns (Host.prewarm) is adopted instead of creating one
  const adopted = create ? ctx.pool.pop() : undefined;
  if (adopted !== undefined && steps[0]?.step.kind === 'netnsCreate') {
    steps[0] = { step: { kind: 'netnsCreate', path: ns.path, from: adopted }, label: `create netns ${ns.path} (pre-created)` };
  }
  let results: readonly StepResult[] = [];
  let err: Error | undefined;
  try {
    results = await ctx.backend.run({ steps: steps.map((s) => s.step) });
    err = firstFailure(steps, results);
    if (err === undefined && json !== undefined && mode === 'separate') await ctx.fw.apply(json);
  } catch (e) {
    err = e as Error;
  }
  if (err !== undefined) {
    if (adopted !== undefined && existsSync(adopted)) ctx.pool.push(adopted); // not used up
    await rollbackAttach(ctx, rec, create, results).catch((e: Error) => ctx.warn(`rollback of ${ns.path}: ${e.message}`));
    // a bridge deleted behind our back: forget its index so the next attach re-learns it
    if (/ENODEV/.test(err.message)) ctx.bridgeIndex.delete(net.name);
    throw err;
  }
  markReadySoon(ctx, rec.id);
  return new Endpoint(ctx, { ...rec, state: 'ready' });
}

/** Undo what a failed attach did, from its step results; then forget it in the state. */
async function rollbackAttach(ctx: Ctx, rec: EndpointRecord, created: boolean, results: readonly StepResult[]): Promise<void> {
  const nsOk = results[0]?.ok === true;
  const vethOk = results[1]?.ok === true;
  const steps: Labelled[] = [];
  if (created && nsOk) steps.push({ step: { kind: 'netnsDelete', path: rec.netns }, label: `delete netns ${rec.netns}` });
  else if (vethOk && rec.hostIfname !== undefined) steps.push(...deleteHostVethSteps(ctx.hostNs, rec.hostIfname));
  try {
    if (steps.length > 0) {
      const r = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
      const errors = allFailures(steps, r);
      if (errors.length > 0) throw new AggregateCtnetError('rollback', errors);
    }
  } finally {
    ctx.store.finishDetach(rec.id);
  }
}

/** Best-effort detach of a stored endpoint; every failure reported together. */
async function detachRecord(ctx: Ctx, rec0: EndpointRecord): Promise<void> {
  const rec = ctx.store.beginDetach(rec0.id);
  if (rec === undefined) return; // already gone: detach is idempotent
  const errors: Error[] = [];
  if (rec.mode === 'bridge') {
    const mode = rec.ports.length > 0 ? nftMode(ctx) : 'none';
    const json = mode !== 'none' ? unpublishElements(fwEndpoint(rec), rec.ports, ctx.fw.ruleOpts) : undefined;
    const steps = detachSteps(ctx.hostNs, { netnsPath: rec.netns, ownsNetns: rec.ownsNetns, hostIfname: rec.hostIfname ?? '' }, mode === 'embed' ? json : undefined);
    if (json !== undefined && mode === 'separate') await ctx.fw.apply(json).catch((e: Error) => errors.push(e));
    if (steps.length > 0) {
      const results = await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
      errors.push(...allFailures(steps, results).filter((e) => !/ENOENT|EINVAL.*netnsDelete/.test(e.message)));
    }
    if (!rec.ownsNetns && rec.hostIfname !== undefined) {
      // Deleting a veth blocks ~30 ms in the kernel (device unregister): not on the caller's path.
      const del = deleteHostVethSteps(ctx.hostNs, rec.hostIfname);
      const p: Promise<void> = ctx.backend.run({ steps: del.map((s) => s.step) }).then((r) => {
        for (const e of allFailures(del, r)) if (!/ENODEV/.test(e.message)) ctx.warn(`detach ${rec.netns}: ${e.message}`);
      }, (e: Error) => ctx.warn(`detach ${rec.netns}: ${e.message}`)).finally(() => ctx.background.delete(p));
      ctx.background.add(p);
    }
  } else if (rec.mode === 'none' && rec.ownsNetns) {
    const steps = detachSteps(ctx.hostNs, { netnsPath: rec.netns, ownsNetns: true, hostIfname: '' });
    errors.push(...allFailures(steps, await ctx.backend.run({ steps: steps.map((s) => s.step) })));
  }
  ctx.store.finishDetach(rec.id);
  if (errors.length > 0) throw new AggregateCtnetError(`detach ${rec.netns}`, errors);
}

/**
 * Whether a pending attach whose owner died got through its kernel work: the netns, the host
 * veth, and inside the netns the interface up with the address (the container's batch —
 * links up, address, routes — goes to the kernel in one sendmsg, so the address means the
 * batch was applied).
 */
async function attachComplete(ctx: Ctx, ep: EndpointRecord, hostLinks: ReadonlySet<string>): Promise<boolean> {
  if (ep.mode !== 'bridge') return existsSync(ep.netns);
  if (!existsSync(ep.netns) || ep.hostIfname === undefined || !hostLinks.has(ep.hostIfname) || ep.ip === undefined) return false;
  const r = await ctx.backend.run({ steps: [{ kind: 'netnsOpen', path: ep.netns }, { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkGet', link: ep.ifname }, { op: 'addrList', family: 4 }] }] });
  const ops = r[1]?.ok === true ? r[1].ops : undefined;
  const link = ops?.[0]?.ok === true ? ops[0].value as Link : undefined;
  const addrs = ops?.[1]?.ok === true ? ops[1].value as readonly Addr[] : [];
  return link?.up === true && addrs.some((a) => a.index === link.index && a.local === ep.ip);
}

function poolDir(ctx: Ctx): string {
  return `${ctx.store.dir}/pool`;
}

async function runGc(ctx: Ctx, opts: { dryRun?: boolean; onProgress?: (done: number, total: number) => void },
  ensure: (net: NetRecord, created: boolean) => Promise<number>): Promise<GcReport> {
  const actions: string[] = [];
  const errors: string[] = [];
  const dry = opts.dryRun === true;
  const act = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    actions.push(what);
    if (dry) return;
    try { await fn(); } catch (e) { errors.push(`${what}: ${(e as Error).message}`); }
  };
  flushReady(ctx); // our own finished attaches are not "pending"
  const linkNames = async (): Promise<Link[]> => (await hostLinkOp<Link[]>(ctx, { op: 'linkList' })) ?? [];
  const before = new Set((await linkNames()).map((l) => l.name));
  const eps = ctx.store.listEndpoints();
  const total = eps.length;
  let done = 0;
  for (const ep of eps) {
    const owner = (ep.data as { pid?: unknown } | undefined)?.pid;
    if (ep.state === 'pending' && processAlive(owner)) {
      // its owner is alive: attaching it right now, or done and not yet marked
    } else if (ep.state === 'pending' && await attachComplete(ctx, ep, before)) {
      await act(`finish attach of ${ep.netns} (endpoint ${ep.id}): its owner ended after the kernel work`, async () => {
        // the published ports were the plan's last step: make sure they are there
        await applyPorts(ctx, ep, ep.ports, 'publish').catch(() => undefined);
        ctx.store.markReady(ep.id);
      });
    } else if (ep.state !== 'ready') {
      await act(`${ep.state === 'pending' ? 'undo half-done attach' : 'finish detach'} of ${ep.netns} (endpoint ${ep.id})`, async () => {
        // netns and host veth in one plan, each tried whatever the other did
        const steps = [
          ...detachSteps(ctx.hostNs, { netnsPath: ep.netns, ownsNetns: ep.ownsNetns, hostIfname: ep.hostIfname ?? '' }),
          ...(ep.hostIfname !== undefined ? deleteHostVethSteps(ctx.hostNs, ep.hostIfname) : []),
        ];
        if (steps.length > 0) await ctx.backend.run({ steps: steps.map((s) => s.step), stopOnError: false });
        await applyPorts(ctx, ep, ep.ports, 'unpublish').catch(() => undefined);
        ctx.store.finishDetach(ep.id);
      });
    } else if (ep.mode !== 'host' && !existsSync(ep.netns)) {
      await act(`forget endpoint ${ep.id}: its netns ${ep.netns} is gone`, async () => {
        await detachRecord(ctx, ep).catch(() => undefined);
      });
    }
    opts.onProgress?.(++done, total);
  }
  // pool entries (Host.prewarm) of processes that are gone
  let poolFiles: string[] = [];
  try { poolFiles = readdirSync(poolDir(ctx)); } catch { poolFiles = []; }
  for (const f of poolFiles) {
    const pid = Number(/^(\d+)-\d+$/.exec(f)?.[1]);
    if (processAlive(pid)) continue;
    await act(`delete unused pre-created netns ${poolDir(ctx)}/${f} (its process ended)`, () =>
      ctx.backend.run({ steps: [{ kind: 'netnsDelete', path: `${poolDir(ctx)}/${f}` }] }));
  }
  // networks whose bridge vanished; bridges and veths tagged as ours that no state knows
  const links = await linkNames();
  const knownIfnames = new Set(ctx.store.listEndpoints().map((e) => e.hostIfname));
  const ours = `ctv${ctx.store.ifnameTag}`;
  const nets = ctx.store.listNetworks();
  const netNames = new Set(nets.map((n) => n.name));
  for (const n of nets) {
    if (!links.some((l) => l.name === n.bridge)) {
      await act(`re-create bridge ${n.bridge} of network ${n.name}`, async () => {
        ctx.bridgeIndex.set(n.name, await ensure(netRecord(n), true));
      });
    }
  }
  for (const l of links) {
    // host veth ends are ours by name (this store's tag), bridges by their alias tag
    if (l.kind === 'veth' && l.name.startsWith(ours) && !knownIfnames.has(l.name)) {
      await act(`delete orphan veth ${l.name} (no endpoint uses it)`, () => ctx.backend.run({ steps: deleteHostVethSteps(ctx.hostNs, l.name).map((s) => s.step) }));
      continue;
    }
    const alias = l.alias ?? '';
    if (!alias.startsWith(ALIAS_PREFIX)) continue;
    const [, kind, id] = /^ctnet:(br):(.*)$/.exec(alias) ?? [];
    if (kind === 'br' && id !== undefined && !netNames.has(id)) {
      await act(`delete orphan bridge ${l.name} (network ${id} unknown)`, () => ctx.backend.run({ steps: [{ kind: 'rtnl', ns: ctx.hostNs, ops: [{ op: 'linkDel', link: l.name }] }] }));
    }
  }
  if (dry) return { actions, errors };
  if (errors.length > 0 && actions.length === 0) throw new EnvironmentError(errors.join('; '));
  return { actions, errors };
}
