/**
 * firewall/elements.ts — the per-network and per-container facts as nftables JSON element
 * batches: a network's bridge, isolation, masquerade and hairpin entries; an endpoint's
 * published ports (docs/ARCHITECTURE.md, "Firewall model").
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
import type { EndpointInfo, NetworkInfo, PortMapping } from '../model/types.js';
import { formatPortSpec, portCount, validatePortMapping } from '../validate/ports.js';
import { SET, TABLE, checkBridge, type NftFamily, type RulesetOptions } from './ruleset.js';

/**
 * What the firewall reads of a network: NetworkInfo's fields (so a stored network fits);
 * `internal` defaults to false and `masquerade` to true.
 */
export type FirewallNetwork = Pick<NetworkInfo, 'bridge' | 'subnet' | 'subnet6'> & Partial<Pick<NetworkInfo, 'internal' | 'masquerade'>>;

/** What the firewall reads of an endpoint: its plain addresses (EndpointInfo fits). */
export type FirewallEndpoint = Pick<EndpointInfo, 'ip' | 'ip6'>;

type Verb = 'add' | 'delete';
const PREFIX: Record<string, string> = {};
function prefix(verb: Verb, f: NftFamily, name: string): string {
  const k = `${verb} ${f} ${name}`;
  let p = PREFIX[k];
  if (p === undefined) {
    p = `{"${verb}":{"element":{"family":"${f}","table":"${TABLE}","name":"${name}","elem":[`;
    PREFIX[k] = p;
  }
  return p;
}
const SUFFIX = ']}}}';

/** One batch under construction: per (family, set) element texts, emitted in a fixed order. */
class Batch {
  private readonly items: Array<{ f: NftFamily; name: string; elems: string[] }> = [];
  add(f: NftFamily, name: string, elem: string): void {
    let it: { f: NftFamily; name: string; elems: string[] } | undefined;
    for (const x of this.items) if (x.f === f && x.name === name) { it = x; break; }
    if (it === undefined) { it = { f, name, elems: [] }; this.items.push(it); }
    it.elems.push(elem);
  }
  /** verbs: ['add'] installs; ['add','delete'] removes exactly and idempotently. */
  render(verbs: readonly Verb[]): string {
    const cmds: string[] = [];
    for (const verb of verbs) {
      for (const it of this.items) cmds.push(prefix(verb, it.f, it.name) + it.elems.join(',') + SUFFIX);
    }
    return `{"nftables":[${cmds.join(',')}]}`;
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
  const p4 = prefixElem(net.subnet, 4, `subnet of network on ${net.bridge}`);
  const p6 = net.subnet6 === undefined ? undefined : prefixElem(net.subnet6, 6, `IPv6 subnet of network on ${net.bridge}`);
  const b = new Batch();
  const fams: NftFamily[] = opts.ipv6 === false ? ['ip'] : ['ip', 'ip6'];
  if (opts.ipv6 === false && p6 !== undefined) {
    throw new InvalidInputError(`network on ${net.bridge} has an IPv6 subnet but the firewall was set up without IPv6`);
  }
  for (const f of fams) {
    const p = f === 'ip' ? p4 : p6;
    b.add(f, SET.bridges, br);
    b.add(f, SET.intra, `{"concat":[${br},${br}]}`);
    if (internal) b.add(f, SET.internal, br);
    if (p !== undefined && !internal) b.add(f, SET.hairpin, `{"concat":[${br},${p}]}`);
    if (p !== undefined && masq) b.add(f, SET.masq, p);
  }
  return b;
}

/** Elements that make a network known: its bridge, isolation, masquerade and hairpin entries. */
export function addNetworkElements(net: FirewallNetwork, opts: RulesetOptions = {}): string {
  return networkBatch(net, opts).render(['add']);
}

/** Remove exactly the elements `addNetworkElements(net)` added (idempotent). */
export function removeNetworkElements(net: FirewallNetwork, opts: RulesetOptions = {}): string {
  return networkBatch(net, opts).render(['add', 'delete']);
}

function checkEndpointIp(ip: string | undefined, family: 4 | 6, what: string): string | undefined {
  if (ip === undefined) return undefined;
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
    const h = m.hostIp;
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
      for (let i = 0; i < n; i++) {
        const hp = m.hostPort + i;
        const dk = dupHead + hp;
        if (seen.has(dk)) {
          throw new InvalidInputError(`invalid port mapping "${spec}": host port ${kind === 'any' ? '' : `${hip} `}${hp}/${proto} is published twice`);
        }
        seen.add(dk);
        const key = keyHead + hp;
        b.add(f, addrMap, `[${key}${addrTail}`);
        b.add(f, portMap, `[${key}]},${m.containerPort + i}]`);
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
