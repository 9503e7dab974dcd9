/**
 * state/networks.ts — the networks table: create (defaults resolved, conflicts refused in
 * the same transaction), read, delete, and each network's address pools for IPAM: per
 * family its subnet, or its address ranges (NetworkSpec.ranges), IPv6-only networks too.
 *
 * Layer: state. Address geometry is ipam/pool.ts's; name/MAC/MTU rules are validate/'s.
 * See docs/ARCHITECTURE.md, "State model".
 */
import type Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { CtnetError, InvalidInputError, CODE } from '../model/errors.js';
import { formatIp, networkText, overlaps, parseCidr, parseIp } from '../util/ip.js';
import { checkIfname, checkMac, checkMtu } from '../validate/kernel.js';
import { checkNetworkSubnet } from '../validate/subnet.js';
import { makePool, makeRangePool, validatePool, type Pool, type RangeInput } from '../ipam/pool.js';
import type { AddressRange, HostPort, Labels, NetworkSpec } from '../model/types.js';
import type { NetworkInput, NetworkRecord } from './types.js';
import { fromJson, type Mutable, type Tx } from './rows.js';

/** A networks row as SQLite gives it (subnet/gateway NULL only for an IPv6-only network). */
export interface NetworkRow {
  name: string; id: string; subnet: string | null; subnet6: string | null; gateway: string | null; gateway6: string | null;
  ranges: string | null; labels: string; bridge: string; bridge_mac: string; mtu: number; internal: number; masquerade: number;
  created_at: string; spec: string; cursor4: string; cursor6: string; endpoints?: number;
}

/** A network's pools, cached per network and rebuilt if the row's subnet/gateway text changes. */
export interface Pools { key: string; pool4: Pool | undefined; pool6: Pool | undefined }

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LABEL_KEY_MAX = 253;

/** What putNetwork compares when the network exists (existOk: identical means no change). */
const COMPARED = ['subnet', 'subnet6', 'gateway', 'gateway6', 'ranges', 'bridge', 'mtu', 'internal', 'masquerade'] as const;

function checkLabels(labels: unknown, name: string): Labels {
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw new InvalidInputError(`invalid labels of network "${name}": expected an object of text values`);
  }
  for (const [k, v] of Object.entries(labels)) {
    if (k === '' || k.length > LABEL_KEY_MAX) throw new InvalidInputError(`invalid label "${k}" of network "${name}": a key is 1-${LABEL_KEY_MAX} characters`);
    if (typeof v !== 'string') throw new InvalidInputError(`invalid label "${k}" of network "${name}": the value must be text`);
  }
  return labels as Labels;
}

/** A family's ranges as given, each `ranges` entry with the key that names it in errors ("ranges[1]"). */
type KeyedRange = RangeInput;

/**
 * The ranges of each family, in order (NetworkSpec.ranges): subnet/subnet6 first unless the
 * family's first range restates it (then its gateway must agree), then `ranges` of that family.
 */
function rangesOf(input: NetworkInput): { r4: KeyedRange[]; r6: KeyedRange[] } {
  const name = input.name;
  if (input.ranges !== undefined && !Array.isArray(input.ranges)) throw new InvalidInputError(`invalid ranges of network "${name}": expected a list of {subnet, rangeStart?, rangeEnd?, gateway?}`);
  const given: Array<KeyedRange & { family: 4 | 6; key?: string }> = (input.ranges ?? []).map((r, i) => {
    const key = `ranges[${i}]`;
    if (r === null || typeof r !== 'object' || typeof r.subnet !== 'string') throw new InvalidInputError(`invalid ${key} of network "${name}": expected {subnet, rangeStart?, rangeEnd?, gateway?}`);
    const c = validatePool(r.subnet, `${key}.subnet of network "${name}"`);
    return { ...r, subnet: networkText(c), key, family: c.family };
  });
  const out = { r4: [] as KeyedRange[], r6: [] as KeyedRange[] };
  for (const [f, subnet, gateway, list] of [[4, input.subnet, input.gateway, out.r4], [6, input.subnet6, input.gateway6, out.r6]] as const) {
    const mine = given.filter((r) => r.family === f);
    const key = f === 4 ? 'subnet' : 'subnet6';
    if (subnet !== undefined) {
      const canon = networkText(validatePool(subnet, `${key} of network "${name}"`, f));
      const first = mine[0];
      if (first !== undefined && first.subnet === canon) {
        if (gateway !== undefined && first.gateway !== undefined && canonIp(gateway) !== canonIp(first.gateway)) {
          throw new InvalidInputError(`invalid network "${name}": ${f === 4 ? 'gateway' : 'gateway6'} ${gateway} differs from ${first.key ?? ''}.gateway ${first.gateway} (the same subnet)`);
        }
        mine[0] = { ...first, ...(gateway !== undefined && first.gateway === undefined ? { gateway } : {}) };
      } else {
        mine.unshift({ subnet: canon, ...(gateway !== undefined ? { gateway } : {}), family: f });
      }
    } else if (gateway !== undefined) {
      throw new InvalidInputError(`invalid network "${name}": ${f === 4 ? 'gateway' : 'gateway6'} ${gateway} given without ${key}`);
    }
    list.push(...mine.map(({ family: _f, ...r }) => r as KeyedRange));
  }
  if (out.r4.length === 0 && out.r6.length === 0) {
    throw new InvalidInputError(`invalid network "${name}": no subnet (give subnet, subnet6 or ranges)`);
  }
  return out;
}

const canonIp = (ip: string): string => { const p = parseIp(ip); return formatIp(p.value, p.family); };

/** A pool's ranges as stored (gateways resolved; rangeStart/rangeEnd only when given). */
function storedRanges(p: Pool | undefined, given: readonly RangeInput[]): AddressRange[] {
  return (p?.ranges ?? []).map((r, i) => ({
    subnet: r.subnet, gateway: formatIp(r.gateway, p?.family ?? 4),
    ...(given[i]?.rangeStart !== undefined ? { rangeStart: formatIp(r.lo, p?.family ?? 4) } : {}),
    ...(given[i]?.rangeEnd !== undefined ? { rangeEnd: formatIp(r.hi, p?.family ?? 4) } : {}),
  }));
}

/** The pool of a stored family: its ranges when the row has some of that family, else subnet/gateway. */
function rowPool(net: NetworkRow, ranges: readonly AddressRange[] | undefined, f: 4 | 6): Pool | undefined {
  const mine = (ranges ?? []).filter((r) => parseCidr(r.subnet).family === f);
  if (mine.length > 0) return makeRangePool(net.name, mine, f);
  const subnet = f === 4 ? net.subnet : net.subnet6;
  const gateway = f === 4 ? net.gateway : net.gateway6;
  return subnet !== null ? makePool(net.name, subnet, gateway ?? undefined, f) : undefined;
}

/** allowHostPorts as given (8080, "8080", "8080/tcp", {port, protocol}) → sorted, unique HostPorts. */
export function normalizeHostPorts(list: NetworkSpec['allowHostPorts'], name: string): HostPort[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new InvalidInputError(`invalid allowHostPorts of network "${name}": expected a list such as ["8080/tcp", "5353/udp"]`);
  const out = new Map<string, HostPort>();
  for (const x of list as ReadonlyArray<unknown>) {
    const bad = (): InvalidInputError => new InvalidInputError(`invalid host port "${String(typeof x === 'object' ? JSON.stringify(x) : x)}" of network "${name}": expected PORT[/tcp|udp], PORT 1-65535`);
    let port: number; let protocol: unknown = 'tcp';
    if (typeof x === 'number') port = x;
    else if (typeof x === 'string') {
      const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(x);
      if (m === null) throw bad();
      port = Number(m[1]);
      protocol = m[2] ?? 'tcp';
    } else if (x !== null && typeof x === 'object') {
      port = (x as HostPort).port;
      protocol = (x as HostPort).protocol ?? 'tcp';
    } else throw bad();
    if (!Number.isInteger(port) || port < 1 || port > 65535 || (protocol !== 'tcp' && protocol !== 'udp')) throw bad();
    out.set(`${port}/${protocol}`, { port, protocol });
  }
  return [...out.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

const hostPortsText = (l: readonly HostPort[]): string => l.map((p) => `${p.port}/${p.protocol}`).join(',');

export function toNetwork(r: NetworkRow): NetworkRecord {
  const n: Mutable<NetworkRecord> = {
    name: r.name, id: r.id, bridge: r.bridge, bridgeMac: r.bridge_mac, mtu: r.mtu,
    internal: r.internal === 1, masquerade: r.masquerade === 1, endpoints: r.endpoints ?? 0, createdAt: r.created_at,
    spec: JSON.parse(r.spec) as NetworkSpec,
  };
  if (r.subnet !== null) n.subnet = r.subnet;
  if (r.gateway !== null) n.gateway = r.gateway;
  if (r.subnet6 !== null) n.subnet6 = r.subnet6;
  if (r.gateway6 !== null) n.gateway6 = r.gateway6;
  const ranges = fromJson<AddressRange[]>(r.ranges);
  if (ranges !== undefined) n.ranges = ranges;
  const labels = JSON.parse(r.labels) as Labels;
  if (Object.keys(labels).length > 0) n.labels = labels;
  // like blockHost below: in the spec as given (no column of their own)
  if (n.spec.gatewayOnBridge === false) n.gatewayOnBridge = false;
  if (n.spec.promisc === true) n.promisc = true;
  // blockHost lives in the spec as given (no column of its own): resolved the same way as at put
  if (n.spec.blockHost === true) {
    n.blockHost = true;
    n.allowHostPorts = normalizeHostPorts(n.spec.allowHostPorts, r.name);
  }
  return n;
}

/** The networks table (and the IPAM pools built from its rows). */
export class NetworkTable {
  readonly #tx: Tx;
  readonly #pools = new Map<string, Pools>();
  readonly #s;

  constructor(db: Database.Database, tx: Tx) {
    this.#tx = tx;
    const p = (sql: string) => db.prepare(sql);
    const COUNT = '(SELECT count(*) FROM endpoints e WHERE e.network = n.name) AS endpoints';
    this.#s = {
      row: p('SELECT * FROM networks WHERE name = ?'),
      withCount: p(`SELECT n.*, ${COUNT} FROM networks n WHERE n.name = ?`),
      list: p(`SELECT n.*, ${COUNT} FROM networks n ORDER BY n.name`),
      subnets: p('SELECT name, subnet, subnet6, ranges FROM networks'),
      byBridge: p('SELECT name FROM networks WHERE bridge = ?'),
      insert: p(`INSERT INTO networks (name, id, subnet, subnet6, gateway, gateway6, ranges, labels, bridge, bridge_mac, mtu, internal, masquerade, created_at, spec)
        VALUES (@name, @id, @subnet, @subnet6, @gateway, @gateway6, @ranges, @labels, @bridge, @bridge_mac, @mtu, @internal, @masquerade, @created_at, @spec)`),
      delete: p('DELETE FROM networks WHERE name = ?'),
      deleteLeases: p('DELETE FROM leases WHERE network = ?'),
      deleteFree: p('DELETE FROM ipam_free WHERE network = ?'),
      oneEndpoint: p('SELECT id, state FROM endpoints WHERE network = ? LIMIT 1'),
      setCursors: p('UPDATE networks SET cursor4 = ?, cursor6 = ? WHERE name = ?'),
    };
  }

  /** See Store.putNetwork. */
  put(input: NetworkInput, opts: { readonly existOk?: boolean } = {}): { network: NetworkRecord; created: boolean } {
    const name = input.name;
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      throw new InvalidInputError(`invalid network name "${String(name)}": use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit`);
    }
    // `attach --network host|none` means host and none mode: a network of that name could never be reached
    if (name === 'host' || name === 'none') throw new InvalidInputError(`invalid network name "${name}": reserved ("--network ${name}" means ${name} mode)`);
    const { r4, r6 } = rangesOf(input);
    const pool4 = r4.length > 0 ? makeRangePool(name, r4, 4) : undefined;
    const pool6 = r6.length > 0 ? makeRangePool(name, r6, 6) : undefined;
    const ranges = input.ranges !== undefined && input.ranges.length > 0 ? [...storedRanges(pool4, r4), ...storedRanges(pool6, r6)] : undefined;
    for (const k of ['gatewayOnBridge', 'promisc'] as const) {
      if (input[k] !== undefined && typeof input[k] !== 'boolean') throw new InvalidInputError(`invalid ${k} of network "${name}": expected true or false`);
    }
    const labels = input.labels !== undefined ? checkLabels(input.labels, name) : {};
    const hash = createHash('sha256').update(name).digest();
    const bridge = checkIfname(input.bridge ?? `ctbr-${hash.subarray(0, 4).toString('hex')}`, `bridge name of network "${name}"`);
    // 0x06: locally administered, unicast — and never 02:42:…, the containers' prefix
    const bridgeMac = checkMac(input.bridgeMac ?? ['06', ...[...hash.subarray(4, 9)].map((b) => b.toString(16).padStart(2, '0'))].join(':'), `bridge MAC of network "${name}"`);
    const mtu = checkMtu(input.mtu ?? 1500, `MTU of network "${name}"`);
    const internal = input.internal ?? false;
    const masquerade = input.masquerade ?? !internal;
    if (input.blockHost !== undefined && typeof input.blockHost !== 'boolean') {
      throw new InvalidInputError(`invalid blockHost of network "${name}": expected true or false`);
    }
    const blockHost = input.blockHost === true;
    const hostPorts = normalizeHostPorts(input.allowHostPorts, name);
    if (!blockHost && hostPorts.length > 0) {
      throw new InvalidInputError(`invalid network "${name}": allowHostPorts ${hostPortsText(hostPorts)} given without blockHost (without it every host port is reachable)`);
    }
    const row = {
      name, id: randomBytes(32).toString('hex'), subnet: pool4?.subnet ?? null, subnet6: pool6?.subnet ?? null,
      gateway: pool4 ? formatIp(pool4.gateway, 4) : null, gateway6: pool6 ? formatIp(pool6.gateway, 6) : null,
      ranges: ranges !== undefined ? JSON.stringify(ranges) : null, labels: JSON.stringify(labels),
      bridge, bridge_mac: bridgeMac, mtu, internal: internal ? 1 : 0, masquerade: masquerade ? 1 : 0,
      created_at: new Date().toISOString(), spec: JSON.stringify(input),
    };
    return this.#tx(() => {
      const existing = this.#s.row.get(name) as NetworkRow | undefined;
      if (existing) {
        const diffs: string[] = [];
        for (const k of COMPARED) {
          if (existing[k] !== row[k]) diffs.push(`${k} ${String(existing[k])} (asked ${String(row[k])})`);
        }
        const had = toNetwork(existing);
        if ((had.gatewayOnBridge !== false) !== (input.gatewayOnBridge !== false)) {
          diffs.push(`gatewayOnBridge ${String(had.gatewayOnBridge !== false)} (asked ${String(input.gatewayOnBridge !== false)})`);
        }
        if ((had.promisc === true) !== (input.promisc === true)) diffs.push(`promisc ${String(had.promisc === true)} (asked ${String(input.promisc === true)})`);
        if ((had.blockHost === true) !== blockHost) diffs.push(`blockHost ${String(had.blockHost === true)} (asked ${String(blockHost)})`);
        else if (hostPortsText(had.allowHostPorts ?? []) !== hostPortsText(hostPorts)) {
          diffs.push(`allowHostPorts ${hostPortsText(had.allowHostPorts ?? []) || 'none'} (asked ${hostPortsText(hostPorts) || 'none'})`);
        }
        if (opts.existOk && diffs.length === 0) return { network: this.get(name) as NetworkRecord, created: false };
        throw new CtnetError(`network "${name}" already exists${diffs.length ? ` with ${diffs.join(', ')}` : ''}`, CODE.exists);
      }
      // a new network never takes a special range (loopback, multicast, link-local, /0…)
      const subnets = [...new Set([pool4, pool6].flatMap((p) => p?.ranges.map((r) => r.subnet) ?? []))];
      for (const subnet of subnets) checkNetworkSubnet(subnet, parseCidr(subnet).family, `subnet of network "${name}"`);
      const byBridge = this.#s.byBridge.get(bridge) as { name: string } | undefined;
      if (byBridge) throw new CtnetError(`bridge ${bridge} is already used by network "${byBridge.name}"`, CODE.exists);
      for (const subnet of subnets) {
        const other = this.#overlapping(subnet);
        if (other) throw new CtnetError(`subnet ${subnet} of network "${name}" overlaps ${other.theirs} of network "${other.name}"`, CODE.overlap);
      }
      this.#s.insert.run(row);
      return { network: this.get(name) as NetworkRecord, created: true };
    });
  }

  /** The network named `name` (with its endpoint count), or undefined. */
  get(name: string): NetworkRecord | undefined {
    const r = this.#s.withCount.get(name) as NetworkRow | undefined;
    return r ? toNetwork(r) : undefined;
  }

  /** The raw row (no endpoint count), for the other tables' transactions. */
  row(name: string): NetworkRow | undefined {
    return this.#s.row.get(name) as NetworkRow | undefined;
  }

  list(): NetworkRecord[] {
    return (this.#s.list.all() as NetworkRow[]).map(toNetwork);
  }

  /** See Store.findOverlappingNetwork. */
  findOverlapping(subnet: string, exceptName?: string): NetworkRecord | undefined {
    const hit = this.#overlapping(subnet, exceptName);
    return hit !== undefined ? this.get(hit.name) : undefined;
  }

  /** The first network with a subnet (its own or a range's) overlapping `subnet`, and that subnet. */
  #overlapping(subnet: string, exceptName?: string): { name: string; theirs: string } | undefined {
    const c = parseCidr(subnet, 'subnet');
    for (const r of this.#s.subnets.all() as Array<{ name: string; subnet: string | null; subnet6: string | null; ranges: string | null }>) {
      if (r.name === exceptName) continue;
      const theirs = [c.family === 4 ? r.subnet : r.subnet6, ...(fromJson<AddressRange[]>(r.ranges) ?? []).map((x) => x.subnet)];
      for (const t of theirs) {
        if (t === null) continue;
        const tc = parseCidr(t);
        if (tc.family === c.family && overlaps(c, tc)) return { name: r.name, theirs: t };
      }
    }
    return undefined;
  }

  /** See Store.deleteNetwork. Deletes only: needs no new pages (a full disk allows it). */
  delete(name: string): NetworkRecord | undefined {
    return this.#tx(() => {
      const net = this.get(name);
      if (!net) return undefined;
      if (net.endpoints > 0) {
        const one = this.#s.oneEndpoint.get(name) as { id: string; state: string } | undefined;
        throw new CtnetError(`network "${name}" still has ${net.endpoints} endpoint(s)${one ? ` (e.g. ${one.id}, ${one.state})` : ''}: detach them first`, CODE.busy);
      }
      this.#s.deleteLeases.run(name);
      this.#s.deleteFree.run(name);
      this.#s.delete.run(name);
      this.#pools.delete(name);
      return net;
    });
  }

  /** The IPAM pools of a network row (cached). */
  poolsOf(net: NetworkRow): Pools {
    const key = `${net.subnet ?? ''}|${net.gateway ?? ''}|${net.subnet6 ?? ''}|${net.gateway6 ?? ''}|${net.ranges ?? ''}`;
    const hit = this.#pools.get(net.name);
    if (hit && hit.key === key) return hit;
    const ranges = fromJson<AddressRange[]>(net.ranges);
    const e: Pools = { key, pool4: rowPool(net, ranges, 4), pool6: rowPool(net, ranges, 6) };
    this.#pools.set(net.name, e);
    return e;
  }

  /** Persist the IPAM cursors of a network (inside the caller's transaction). */
  setCursors(name: string, cursor4: bigint, cursor6: bigint): void {
    this.#s.setCursors.run(String(cursor4), String(cursor6), name);
  }
}
