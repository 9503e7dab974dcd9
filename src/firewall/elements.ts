/**
 * firewall/elements.ts — the per-network and per-container facts as nftables JSON element
 * batches: a network's bridge, isolation, masquerade and hairpin entries; an endpoint's
 * published ports and its anti-spoofing guard (docs/ARCHITECTURE.md, "Firewall model").
 *
 * Layer: firewall (pure functions: no I/O, no kernel calls, no state). The hot path: built
 * as strings from precomputed prefixes; every value is validated first (IP literals,
 * interface names, port numbers, tcp|udp) so none needs JSON escaping. The sets and maps
 * they fill are declared in ruleset.ts.
 *
 * Exact, idempotent removal: every remove/unpublish batch first `add`s the elements it
 * then `delete`s, in the same transaction (see ruleset.ts).
 */
import { InvalidInputError } from '../model/errors.js';
import { formatIp, isIp, parseCidr, parseIp, networkText } from '../util/ip.js';
import type { EndpointInfo, HostPort, NetworkInfo, PortMapping } from '../model/types.js';
import { checkIfname, checkMac } from '../validate/kernel.js';
import { formatPortSpec, portCount, validatePortMapping } from '../validate/ports.js';
import { SET, TABLE, checkBridge, type NftFamily, type RulesetOptions, type TableFamily } from './ruleset.js';
import { concat, ifnamePart, ipPart, macPart, portPart, protoPart, type ElementBatch } from './native-elements.js';
import type { NftElemOp } from '../model/plan.js';

/**
 * What the firewall reads of a network: NetworkInfo's fields (so a stored network fits);
 * `internal` defaults to false, `masquerade` to true, `blockHost` to false. With blockHost
 * the gateways are needed (DNS and allowHostPorts are allowed on them).
 */
export type FirewallNetwork = Pick<NetworkInfo, 'bridge' | 'subnet' | 'subnet6'>
  & Partial<Pick<NetworkInfo, 'internal' | 'masquerade' | 'gateway' | 'gateway6' | 'blockHost' | 'allowHostPorts' | 'ranges'>>;

/** Always allowed to the gateway of a blockHost network: DNS. */
export const HOST_DNS: readonly HostPort[] = [{ port: 53, protocol: 'udp' }, { port: 53, protocol: 'tcp' }];

/** What the firewall reads of an endpoint: its plain addresses (EndpointInfo fits). */
export type FirewallEndpoint = Pick<EndpointInfo, 'ip' | 'ip6'>;

type Verb = 'add' | 'delete';
const PREFIX: Record<string, string> = {};
function prefix(verb: Verb, f: TableFamily, name: string): string {
  const k = `${verb} ${f} ${name}`;
  let p = PREFIX[k];
  if (p === undefined) {
    p = `{"${verb}":{"element":{"family":"${f}","table":"${TABLE}","name":"${name}","elem":[`;
    PREFIX[k] = p;
  }
  return p;
}
const SUFFIX = ']}}}';

/** One (family, set) of a batch: its JSON element texts and, while every element has them, their bytes. */
interface BatchItem { f: TableFamily; name: string; elems: string[]; keys: Uint8Array[] | undefined; data: Uint8Array[] | undefined }

/** The bytes of one element (native-elements.ts): its key and, in a map, its data. */
export interface ElemBytes { readonly key: Uint8Array; readonly data?: Uint8Array }

/**
 * One batch under construction: per (family, set) element texts, emitted in a fixed order,
 * and the same elements' bytes when every element of the batch was given them.
 */
class Batch {
  private readonly items: BatchItem[] = [];
  add(f: TableFamily, name: string, elem: string, bytes?: ElemBytes): void {
    let it: BatchItem | undefined;
    for (const x of this.items) if (x.f === f && x.name === name) { it = x; break; }
    if (it === undefined) { it = { f, name, elems: [], keys: [], data: [] }; this.items.push(it); }
    it.elems.push(elem);
    if (bytes === undefined) { it.keys = undefined; it.data = undefined; return; }
    it.keys?.push(bytes.key);
    if (bytes.data !== undefined) it.data?.push(bytes.data);
  }
  /** Append another batch's elements (same fixed order: this batch's sets first). */
  merge(other: Batch): this {
    for (const it of other.items) {
      it.elems.forEach((e, i) => {
        const key = it.keys?.[i];
        const data = it.data?.[i];
        this.add(it.f, it.name, e, key !== undefined ? { key, ...(data !== undefined ? { data } : {}) } : undefined);
      });
    }
    return this;
  }
  /** verbs: ['add'] installs; ['add','delete'] removes exactly and idempotently. */
  render(verbs: readonly Verb[]): string {
    const cmds: string[] = [];
    for (const verb of verbs) {
      for (const it of this.items) cmds.push(prefix(verb, it.f, it.name) + it.elems.join(',') + SUFFIX);
    }
    return `{"nftables":[${cmds.join(',')}]}`;
  }
  /** The same batch as an ElementBatch: JSON, and the native form when every element has bytes. */
  batch(del: boolean): ElementBatch {
    const json = this.render(del ? ['add', 'delete'] : ['add']);
    if (this.items.some((it) => it.keys === undefined)) return { json };
    const native: NftElemOp[] = this.items.map((it) => ({
      family: it.f, table: TABLE, set: it.name, keys: it.keys ?? [],
      ...(it.data !== undefined && it.data.length > 0 ? { data: it.data } : {}), ...(del ? { del: true } : {}),
    }));
    return { json, native };
  }
}

function prefixElem(cidr: string, family: 4 | 6, what: string): string {
  const c = parseCidr(cidr, what, { family });
  const text = networkText(c);
  const slash = text.indexOf('/');
  return `{"prefix":{"addr":"${text.slice(0, slash)}","len":${c.prefixLen}}}`;
}

function networkBatch(net: FirewallNetwork, opts: RulesetOptions): Batch {
  if (net === null || typeof net !== 'object') throw new InvalidInputError('invalid network: not an object');
  checkBridge(net.bridge);
  const br = `"${net.bridge}"`;
  const internal = net.internal === true;
  const masq = !internal && net.masquerade !== false;
  // every subnet of the network: subnet/subnet6 and its address ranges' (NetworkSpec.ranges), once each
  const more = (net.ranges ?? []).map((r) => r.subnet);
  const p4 = [...new Set([net.subnet, ...more.filter((x) => !x.includes(':'))].filter((x) => x !== undefined).map((x) => prefixElem(x, 4, `subnet of network on ${net.bridge}`)))];
  const p6 = [...new Set([net.subnet6, ...more.filter((x) => x.includes(':'))].filter((x) => x !== undefined).map((x) => prefixElem(x, 6, `IPv6 subnet of network on ${net.bridge}`)))];
  const b = new Batch();
  const fams: NftFamily[] = opts.ipv6 === false ? ['ip'] : ['ip', 'ip6'];
  if (opts.ipv6 === false && p6.length > 0) {
    throw new InvalidInputError(`network on ${net.bridge} has an IPv6 subnet but the firewall was set up without IPv6`);
  }
  for (const f of fams) {
    b.add(f, SET.bridges, br);
    b.add(f, SET.intra, `{"concat":[${br},${br}]}`);
    if (internal) b.add(f, SET.internal, br);
    for (const p of f === 'ip' ? p4 : p6) {
      if (!internal) b.add(f, SET.hairpin, `{"concat":[${br},${p}]}`);
      if (masq) b.add(f, SET.masq, p);
    }
    if (net.blockHost === true) blockHostElements(b, f, net, br);
  }
  return b;
}

/** blockHost: the bridge in `blockhost`, and "BR . GATEWAY . proto . port" for DNS and each allowed port. */
function blockHostElements(b: Batch, f: NftFamily, net: FirewallNetwork, br: string): void {
  b.add(f, SET.blockHost, br);
  const gw = f === 'ip' ? net.gateway : net.gateway6;
  if (gw === undefined) {
    if (f === 'ip' && net.subnet !== undefined) throw new InvalidInputError(`network on ${net.bridge} blocks the host but has no gateway`);
    return; // no subnet of this family: nothing of it reaches the host's gateway
  }
  if (!isIp(gw, f === 'ip' ? 4 : 6)) throw new InvalidInputError(`invalid gateway "${String(gw)}" of network on ${net.bridge}`);
  for (const hp of [...HOST_DNS, ...net.allowHostPorts ?? []]) {
    if (!Number.isInteger(hp.port) || hp.port < 1 || hp.port > 65535 || (hp.protocol !== 'tcp' && hp.protocol !== 'udp')) {
      throw new InvalidInputError(`invalid host port ${String(hp.port)}/${String(hp.protocol)} of network on ${net.bridge}`);
    }
    b.add(f, SET.hostAllow, `{"concat":[${br},"${gw}","${hp.protocol}",${hp.port}]}`);
  }
}

/** Elements that make a network known: its bridge, isolation, masquerade and hairpin entries. */
export function addNetworkElements(net: FirewallNetwork, opts: RulesetOptions = {}): string {
  return networkBatch(net, opts).render(['add']);
}

/** Remove exactly the elements `addNetworkElements(net)` added (idempotent). */
export function removeNetworkElements(net: FirewallNetwork, opts: RulesetOptions = {}): string {
  return networkBatch(net, opts).render(['add', 'delete']);
}

/** What the anti-spoofing guard reads of an endpoint: its host veth, MAC and addresses (EndpointInfo fits). */
export type GuardEndpoint = Pick<EndpointInfo, 'hostIfname' | 'mac' | 'ip' | 'ip6'>;

/** An endpoint's guard facts, validated: what guard4/guard6 hold for it (native-elements.ts encodes the same). */
export interface GuardParts { readonly hostIfname: string; readonly mac: string; readonly ip4?: string; readonly ip6?: string }

export function guardParts(ep: GuardEndpoint, opts: RulesetOptions): GuardParts {
  if (ep === null || typeof ep !== 'object') throw new InvalidInputError('invalid endpoint: not an object');
  checkIfname(ep.hostIfname, 'host veth of the endpoint');
  const mac = checkMac(ep.mac, 'MAC of the endpoint').toLowerCase();
  const ip4 = checkEndpointIp(ep.ip, 4, 'address');
  const ip6 = opts.ipv6 === false ? undefined : checkEndpointIp(ep.ip6, 6, 'IPv6 address');
  return { hostIfname: ep.hostIfname, mac, ...(ip4 !== undefined ? { ip4 } : {}), ...(ip6 !== undefined ? { ip6 } : {}) };
}

function guardBatch(ep: GuardEndpoint, opts: RulesetOptions): Batch {
  const { mac, ip4, ip6 } = guardParts(ep, opts);
  const b = new Batch();
  const head = `{"concat":[${JSON.stringify(ep.hostIfname)},"${mac}",`;
  const ifp = ifnamePart(ep.hostIfname);
  const macp = macPart(mac);
  if (ip4 !== undefined) b.add('bridge', SET.guard4, `${head}"${ip4}"]}`, { key: concat(ifp, macp, ipPart(ip4)) });
  if (ip6 !== undefined) b.add('bridge', SET.guard6, `${head}"${ip6}"]}`, { key: concat(ifp, macp, ipPart(ip6)) });
  return b;
}

/**
 * The anti-spoofing elements of an endpoint: "HOSTVETH . MAC . IP" in guard4 (and guard6
 * for its IPv6 address): only those leave its host veth (ruleset.ts, `table bridge ctnet`).
 * Added in the attach's own plan.
 */
export function guardElements(ep: GuardEndpoint, opts: RulesetOptions = {}): string {
  return guardBatch(ep, opts).render(['add']);
}

/**
 * What an attach adds in its plan, as ONE batch (one transaction): the endpoint's guard
 * elements, then its published ports (`mappings` may be empty).
 */
export function attachElements(ep: GuardEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions = {}): string {
  const b = guardBatch(ep, opts);
  return (mappings.length > 0 ? b.merge(publishBatch(ep, mappings, opts)) : b).render(['add']);
}

/** Remove exactly what `guardElements(ep)` added (idempotent): a detach's (or gc's) part. */
export function removeGuardElements(ep: GuardEndpoint, opts: RulesetOptions = {}): string {
  return guardBatch(ep, opts).render(['add', 'delete']);
}

function checkEndpointIp(ip: string | undefined, family: 4 | 6, what: string): string | undefined {
  if (ip === undefined || ip === '') return undefined; // '': no address of this family (EndpointInfo's way)
  if (!isIp(ip, family)) {
    throw new InvalidInputError(`invalid endpoint ${what} "${String(ip)}": not an IPv${family} address`);
  }
  return ip;
}

function publishBatch(ep: FirewallEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions): Batch {
  if (ep === null || typeof ep !== 'object') throw new InvalidInputError('invalid endpoint: not an object');
  const cip4 = checkEndpointIp(ep.ip, 4, 'address');
  const cip6 = opts.ipv6 === false ? undefined : checkEndpointIp(ep.ip6, 6, 'IPv6 address');
  const b = new Batch();
  const seen = new Set<string>();
  for (const m of mappings) {
    validatePortMapping(m);
    const spec = formatPortSpec(m);
    // the state's canonical "every address" (0.0.0.0) on an endpoint without IPv4 (an IPv6-only network): its IPv6 side
    const h = m.hostIp === '0.0.0.0' && cip4 === undefined ? undefined : m.hostIp;
    // Which tables/maps this mapping goes to.
    let v4: 'any' | 'ip' | undefined;
    let v6: 'any' | 'ip' | undefined;
    let key6Ip: string | undefined;
    if (h === undefined) {
      v4 = cip4 !== undefined ? 'any' : undefined;
      v6 = cip6 !== undefined ? 'any' : undefined;
    } else if (isIp(h, 4)) {
      v4 = h === '0.0.0.0' ? 'any' : 'ip';
    } else {
      const n = parseIp(h, 'host address').value;
      if (n === 1n) {
        throw new InvalidInputError(`invalid port mapping "${spec}": publishing on ::1 is not possible (IPv6 has no route_localnet: the kernel never routes a ::1 source out of a bridge); use 127.0.0.1`);
      }
      if (n === 0n) v6 = 'any';
      else { v6 = 'ip'; key6Ip = formatIp(n, 6); }
    }
    if (h !== undefined && isIp(h, 4) && cip4 === undefined) {
      throw new InvalidInputError(`invalid port mapping "${spec}": the endpoint has no IPv4 address`);
    }
    if (h !== undefined && !isIp(h, 4) && cip6 === undefined) {
      throw new InvalidInputError(`invalid port mapping "${spec}": the endpoint has no IPv6 address${opts.ipv6 === false ? ' (IPv6 firewall disabled)' : ''}`);
    }
    if (v4 === undefined && v6 === undefined) {
      throw new InvalidInputError(`invalid port mapping "${spec}": the endpoint has no address`);
    }
    const n = portCount(m);
    const proto = m.protocol;
    for (const [f, kind, cip, hip] of [['ip', v4, cip4, h], ['ip6', v6, cip6, key6Ip]] as const) {
      if (kind === undefined || cip === undefined) continue;
      const addrMap = kind === 'any' ? SET.pubAnyAddr : SET.pubIpAddr;
      const portMap = kind === 'any' ? SET.pubAnyPort : SET.pubIpPort;
      const keyHead = kind === 'any' ? `{"concat":["${proto}",` : `{"concat":["${hip}","${proto}",`;
      const dupHead = `${f}|${kind === 'any' ? '*' : hip}|${proto}|`;
      const addrTail = `]},"${cip}"]`;
      const head = kind === 'any' || hip === undefined ? [protoPart(proto)] : [ipPart(hip), protoPart(proto)];
      const cipBytes = ipPart(cip);
      for (let i = 0; i < n; i++) {
        const hp = m.hostPort + i;
        const dk = dupHead + hp;
        if (seen.has(dk)) {
          throw new InvalidInputError(`invalid port mapping "${spec}": host port ${kind === 'any' ? '' : `${hip} `}${hp}/${proto} is published twice`);
        }
        seen.add(dk);
        const key = keyHead + hp;
        const keyBytes = concat(...head, portPart(hp));
        b.add(f, addrMap, `[${key}${addrTail}`, { key: keyBytes, data: cipBytes });
        b.add(f, portMap, `[${key}]},${m.containerPort + i}]`, { key: keyBytes, data: portPart(m.containerPort + i) });
      }
    }
  }
  return b;
}

/**
 * Elements that publish `mappings` to endpoint `ep` (a range becomes one element per
 * port). A mapping without hostIp is published on every host address of each family the
 * endpoint has; "0.0.0.0" / "::" mean every address of that family only. Throws
 * InvalidInputError naming the spec for bad ports, ranges, protocols and addresses.
 */
export function publishElements(ep: FirewallEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions = {}): string {
  return publishBatch(ep, mappings, opts).render(['add']);
}

/** Remove exactly the mappings `publishElements(ep, mappings)` added (idempotent, never someone else's). */
export function unpublishElements(ep: FirewallEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions = {}): string {
  return publishBatch(ep, mappings, opts).render(['add', 'delete']);
}

/** publishElements, with its native form (native-elements.ts). */
export function publishBatchOf(ep: FirewallEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions = {}): ElementBatch {
  return publishBatch(ep, mappings, opts).batch(false);
}

/** unpublishElements, with its native form. */
export function unpublishBatchOf(ep: FirewallEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions = {}): ElementBatch {
  return publishBatch(ep, mappings, opts).batch(true);
}

/** What an attach adds (attachElements), with its native form: ONE transaction. */
export function attachBatch(ep: GuardEndpoint, mappings: readonly PortMapping[], opts: RulesetOptions = {}): ElementBatch {
  const b = guardBatch(ep, opts);
  return (mappings.length > 0 ? b.merge(publishBatch(ep, mappings, opts)) : b).batch(false);
}

/** What removes the guard (removeGuardElements), with its native form. */
export function removeGuardBatch(ep: GuardEndpoint, opts: RulesetOptions = {}): ElementBatch {
  return guardBatch(ep, opts).batch(true);
}
