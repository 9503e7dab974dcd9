/**
 * firewall/ruleset.ts — ctnet-fast's nftables tables, sets, maps and fixed rules (the base
 * ruleset), as nftables JSON strings, and the sysctls they need.
 *
 * Layer: firewall (pure functions: no I/O, no kernel calls, no state). The per-network and
 * per-container elements are built in elements.ts; a driver (driver.ts) applies both, in
 * the caller's plan or on its own. Nothing here may edit tables that are not ours.
 *
 * The model (docs/ARCHITECTURE.md, "Firewall model"): ctnet-fast owns one table per family, `table ip ctnet` and
 * `table ip6 ctnet`. Their rules are FIXED; every per-network and per-container fact is an
 * ELEMENT of a set or map, so attach/publish/detach are element adds/deletes whose cost
 * does not depend on how many networks, containers or ports exist.
 *
 * Sets and maps of each table (ADDR = ipv4_addr | ipv6_addr):
 *   bridges       ifname                            every bridge of ours
 *   intra         ifname . ifname                   "BR . BR": traffic inside one network
 *   internal      ifname                            bridges of internal networks (no egress)
 *   masq          ADDR (interval)                   subnets masqueraded when leaving (not internal)
 *   hairpin       ifname . ADDR (interval)          "BR . SUBNET": DNAT-ed traffic sent back into
 *                                                   the network it came from is masqueraded
 *   pub_ip_addr   ADDR . inet_proto . inet_service : ADDR          published on ONE host address
 *   pub_ip_port   ADDR . inet_proto . inet_service : inet_service
 *   pub_any_addr  inet_proto . inet_service : ADDR                 published on ALL host addresses
 *   pub_any_port  inet_proto . inet_service : inet_service
 *   blockhost     ifname                            bridges of networks with blockHost
 *   hostallow     ifname . ADDR . inet_proto . inet_service   "BR . GATEWAY . proto . port" a
 *                                                   blockHost network may still reach (DNS,
 *                                                   the user's allowHostPorts)
 * The DNAT target is split in an address map and a port map (looked up with the same key)
 * because nftables 1.0.6's JSON parser cannot declare a map whose data is a concatenation
 * (`: ipv4_addr . inet_service`): the text parser can, the JSON parser silently makes a
 * plain set. Both maps change in the same transaction, so they never disagree.
 *
 * Chains (same in both tables unless said):
 *   publish      (regular)  dnat to ADDR . proto . dport via pub_ip_*; then
 *                           fib daddr type local → dnat via pub_any_*
 *   prerouting   nat  prerouting  -100 (dstnat)  jump publish   (traffic from outside/containers)
 *   output       nat  output      -100 (dstnat)  jump publish   (traffic from the host itself)
 *   postrouting  nat  postrouting  100 (srcnat)
 *                  [ip only] ct status dnat ip saddr 127.0.0.0/8 oifname @bridges masquerade
 *                  ct status dnat oifname . saddr @hairpin masquerade
 *                  saddr @masq oifname != @bridges masquerade
 *   forward      filter forward     0 (filter)
 *                  ct state established,related accept
 *                  iifname . oifname @intra accept        (containers of one network)
 *                  iifname @internal drop                 (internal: no egress)
 *                  oifname @internal drop                 (internal: nothing in)
 *                  ct status dnat oifname @bridges accept (published ports)
 *                  oifname @bridges drop                  (nothing else enters a bridge)
 *                  [ip only] iifname @blockhost daddr 169.254.0.0/16 drop (metadata services)
 *   input        filter input       0 (filter)            container → host, blockHost only
 *                  iifname @blockhost ct state established,related accept
 *                  iifname . daddr . l4proto . dport @hostallow accept
 *                  [ip6 only] iifname @blockhost neighbour discovery accept
 *                  iifname @blockhost drop
 *
 * Anti-spoofing, `table bridge ctnet` (docs/ARCHITECTURE.md, "Firewall model"):
 *   guard4  ifname . ether_addr . ipv4_addr   one element per endpoint: "HOSTVETH . MAC . IP"
 *   guard6  ifname . ether_addr . ipv6_addr   one more for an endpoint with an IPv6 address
 *   chain guard  filter prerouting -200: frames entering a bridge from one of our host veths
 *   (GUARDED_PORTS) leave it only as IPv4 from its own MAC and IP, ARP whose sender MAC and
 *   IP are its own (Ethernet source too), IPv6 from its own MAC and IPv6 address, or
 *   neighbour/router solicitations and MLD reports from its link-local or the unspecified
 *   address; everything else from that port is dropped (other ethertypes included).
 *   Known limit: nft 1.0.6 cannot match an ICMPv6 advert's target address, so an IPv6
 *   endpoint's neighbour adverts are checked by source address and MAC only.
 * Chains have policy accept: we only decide about traffic of our bridges and leave the
 * rest of the host's traffic to its own firewall. (An accept here cannot override a drop
 * in another table: a host whose own forward policy is drop must allow our bridges.)
 *
 * Idempotent base install: `baseRuleset()` creates table, sets, maps and chains with `add`
 * (a no-op when they exist with the same definition), then `flush chain` + re-adds the
 * fixed rules of each chain, all in one transaction. Flushing a CHAIN drops only rules,
 * never set/map elements, so re-running the base batch (on every process start, or to
 * upgrade the rules of an older BASE_VERSION) keeps every network and published port,
 * and no packet ever sees a half-built chain. A future version that must change the
 * definition of a set (its type or flags) has to use a new set name. Rules carry the
 * comment "ctnet-fast vN: …" so `nft list ruleset` says who owns them and which version.
 *
 * Exact, idempotent removal: every remove/unpublish batch first `add`s the elements it
 * then `delete`s, in the same transaction. Adding an existing identical element is a
 * no-op and adding a missing one makes the delete succeed, so removal of something already
 * gone is not an error (gc, retries after a crash). Adding a key that exists with DIFFERENT
 * data (a port now published by another container) fails with EEXIST and aborts the whole
 * transaction: we never delete a mapping that is not ours.
 *
 * Sysctls the topology must set: see `requiredSysctls()`. Elements and the exact,
 * idempotent removal: elements.ts.
 */
import { InvalidInputError } from '../model/errors.js';
import type { NetworkInfo } from '../model/types.js';

/** Bumped whenever the fixed rules change; recorded in every rule's comment. */
export const BASE_VERSION = 2;
export const TABLE = 'ctnet';
export type NftFamily = 'ip' | 'ip6';
export const FAMILIES: readonly NftFamily[] = ['ip', 'ip6'] as const;
/** Every family we own a `ctnet` table in: the L3 pair, and `bridge` (anti-spoofing). */
export type TableFamily = NftFamily | 'bridge';
export const ALL_FAMILIES: readonly TableFamily[] = ['ip', 'ip6', 'bridge'] as const;
/**
 * The host ends of our veths: their names start "ctv" (state/endpoints.ts chooses them,
 * model/names.ts). Frames entering a bridge from such a port are checked by the guard chain;
 * other ports (foreign links someone put on a bridge) are left alone.
 */
export const GUARDED_PORTS = 'ctv*';

export const SET = {
  bridges: 'bridges',
  intra: 'intra',
  internal: 'internal',
  masq: 'masq',
  hairpin: 'hairpin',
  pubIpAddr: 'pub_ip_addr',
  pubIpPort: 'pub_ip_port',
  pubAnyAddr: 'pub_any_addr',
  pubAnyPort: 'pub_any_port',
  blockHost: 'blockhost',
  hostAllow: 'hostallow',
  guard4: 'guard4',
  guard6: 'guard6',
} as const;

export const CHAIN = {
  publish: 'publish',
  prerouting: 'prerouting',
  output: 'output',
  postrouting: 'postrouting',
  forward: 'forward',
  input: 'input',
} as const;

/** The chain of `table bridge ctnet`. */
export const GUARD_CHAIN = 'guard';

export interface RulesetOptions {
  /** Also install/maintain `table ip6 ctnet` (default true). Must be the same for every call. */
  readonly ipv6?: boolean;
}

export interface SysctlNeed {
  /** /proc/sys path form, as in the plan's `sysctl` step: "net/ipv4/ip_forward". */
  readonly key: string;
  readonly value: string;
  readonly why: string;
}

// ---------------------------------------------------------------- base ruleset (cold path)

type Json = unknown;

const L3: Readonly<Record<NftFamily, { addr: string; proto: string; loopback?: string }>> = {
  ip: { addr: 'ipv4_addr', proto: 'ip', loopback: '127.0.0.0/8' },
  ip6: { addr: 'ipv6_addr', proto: 'ip6' },
};

const meta = (key: string): Json => ({ meta: { key } });
const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
const match = (op: string, left: Json, right: Json): Json => ({ match: { op, left, right } });
const concat = (...xs: Json[]): Json => ({ concat: xs });
const ACCEPT: Json = { accept: null };
const DROP: Json = { drop: null };
const MASQ: Json = { masquerade: null };
const ctStatusDnat: Json = match('in', { ct: { key: 'status' } }, 'dnat');
const ctEstablished: Json = match('in', { ct: { key: 'state' } }, ['established', 'related']);
const inSet = (left: Json, name: string): Json => match('==', left, `@${name}`);

function tableRules(f: NftFamily): Array<{ chain: string; expr: Json[]; comment: string }> {
  const l3 = L3[f];
  const saddr = payload(l3.proto, 'saddr');
  const daddr = payload(l3.proto, 'daddr');
  const l4proto = meta('l4proto');
  const dport = payload('th', 'dport');
  const ipKey = concat(daddr, l4proto, dport);
  const anyKey = concat(l4proto, dport);
  const dnat = (key: Json, addrMap: string, portMap: string): Json => ({
    dnat: { family: f, addr: { map: { key, data: `@${addrMap}` } }, port: { map: { key, data: `@${portMap}` } } },
  });
  const rules: Array<{ chain: string; expr: Json[]; comment: string }> = [
    { chain: CHAIN.publish, comment: 'published on one host address',
      expr: [match('==', l4proto, { set: ['tcp', 'udp'] }), dnat(ipKey, SET.pubIpAddr, SET.pubIpPort)] },
    { chain: CHAIN.publish, comment: 'published on all host addresses',
      expr: [match('==', l4proto, { set: ['tcp', 'udp'] }), match('==', { fib: { result: 'type', flags: ['daddr'] } }, 'local'),
        dnat(anyKey, SET.pubAnyAddr, SET.pubAnyPort)] },
    { chain: CHAIN.prerouting, comment: 'published ports, traffic from outside and from containers',
      expr: [{ jump: { target: CHAIN.publish } }] },
    { chain: CHAIN.output, comment: 'published ports, traffic from the host itself',
      expr: [{ jump: { target: CHAIN.publish } }] },
  ];
  if (l3.loopback !== undefined) {
    const [a = '', len = ''] = l3.loopback.split('/');
    rules.push({ chain: CHAIN.postrouting, comment: 'published on 127.0.0.1: the container must not see a loopback source',
      expr: [ctStatusDnat, match('==', saddr, { prefix: { addr: a, len: Number(len) } }),
        match('==', meta('oifname'), `@${SET.bridges}`), MASQ] });
  }
  rules.push(
    { chain: CHAIN.postrouting, comment: 'hairpin: published port reached from its own network',
      expr: [ctStatusDnat, match('==', concat(meta('oifname'), saddr), `@${SET.hairpin}`), MASQ] },
    { chain: CHAIN.postrouting, comment: 'egress: masquerade subnets leaving through anything but our bridges',
      expr: [match('==', saddr, `@${SET.masq}`), match('!=', meta('oifname'), `@${SET.bridges}`), MASQ] },
    { chain: CHAIN.forward, comment: 'replies',
      expr: [ctEstablished, ACCEPT] },
    { chain: CHAIN.forward, comment: 'containers of one network',
      expr: [match('==', concat(meta('iifname'), meta('oifname')), `@${SET.intra}`), ACCEPT] },
    { chain: CHAIN.forward, comment: 'internal network: no egress',
      expr: [match('==', meta('iifname'), `@${SET.internal}`), DROP] },
    { chain: CHAIN.forward, comment: 'internal network: nothing in',
      expr: [match('==', meta('oifname'), `@${SET.internal}`), DROP] },
    { chain: CHAIN.forward, comment: 'published ports',
      expr: [ctStatusDnat, match('==', meta('oifname'), `@${SET.bridges}`), ACCEPT] },
    { chain: CHAIN.forward, comment: 'nothing else enters a bridge (other networks, outside)',
      expr: [match('==', meta('oifname'), `@${SET.bridges}`), DROP] },
  );
  if (f === 'ip') {
    rules.push({ chain: CHAIN.forward, comment: 'blockHost: no link-local destinations (169.254.169.254 metadata services)',
      expr: [inSet(meta('iifname'), SET.blockHost), match('==', daddr, { prefix: { addr: '169.254.0.0', len: 16 } }), DROP] });
  }
  rules.push(
    { chain: CHAIN.input, comment: 'blockHost: replies to the host',
      expr: [inSet(meta('iifname'), SET.blockHost), ctEstablished, ACCEPT] },
    { chain: CHAIN.input, comment: 'blockHost: DNS and the allowed ports on the gateway',
      expr: [match('==', l4proto, { set: ['tcp', 'udp'] }), inSet(concat(meta('iifname'), daddr, l4proto, dport), SET.hostAllow), ACCEPT] },
  );
  if (f === 'ip6') {
    rules.push({ chain: CHAIN.input, comment: 'blockHost: neighbour discovery with the gateway',
      expr: [inSet(meta('iifname'), SET.blockHost),
        match('==', payload('icmpv6', 'type'), { set: ['nd-neighbor-solicit', 'nd-neighbor-advert', 'nd-router-solicit'] }), ACCEPT] });
  }
  rules.push({ chain: CHAIN.input, comment: 'blockHost: nothing else from the containers reaches the host',
    expr: [inSet(meta('iifname'), SET.blockHost), DROP] });
  return rules;
}

function tableCommands(f: NftFamily): Json[] {
  const addr = L3[f].addr;
  const t = { family: f, table: TABLE };
  const set = (name: string, type: string | string[], extra: Record<string, unknown> = {}): Json =>
    ({ add: { set: { ...t, name, type, ...extra } } });
  const map = (name: string, type: string | string[], data: string): Json =>
    ({ add: { map: { ...t, name, type, map: data } } });
  const base = (name: string, type: string, hook: string, prio: number): Json =>
    ({ add: { chain: { ...t, name, type, hook, prio, policy: 'accept' } } });
  const ipKey = [addr, 'inet_proto', 'inet_service'];
  const anyKey = ['inet_proto', 'inet_service'];
  const cmds: Json[] = [
    { add: { table: { family: f, name: TABLE } } },
    set(SET.bridges, 'ifname'),
    set(SET.intra, ['ifname', 'ifname']),
    set(SET.internal, 'ifname'),
    set(SET.masq, addr, { flags: ['interval'] }),
    set(SET.hairpin, ['ifname', addr], { flags: ['interval'] }),
    map(SET.pubIpAddr, ipKey, addr),
    map(SET.pubIpPort, ipKey, 'inet_service'),
    map(SET.pubAnyAddr, anyKey, addr),
    map(SET.pubAnyPort, anyKey, 'inet_service'),
    set(SET.blockHost, 'ifname'),
    set(SET.hostAllow, ['ifname', addr, 'inet_proto', 'inet_service']),
    { add: { chain: { ...t, name: CHAIN.publish } } },
    base(CHAIN.prerouting, 'nat', 'prerouting', -100),
    base(CHAIN.output, 'nat', 'output', -100),
    base(CHAIN.postrouting, 'nat', 'postrouting', 100),
    base(CHAIN.forward, 'filter', 'forward', 0),
    base(CHAIN.input, 'filter', 'input', 0),
  ];
  for (const name of Object.values(CHAIN)) cmds.push({ flush: { chain: { ...t, name } } });
  for (const r of tableRules(f)) {
    cmds.push({ add: { rule: { ...t, chain: r.chain, expr: r.expr, comment: `ctnet-fast v${BASE_VERSION}: ${r.comment}` } } });
  }
  return cmds;
}

/** `table bridge ctnet`: the anti-spoofing sets and the guard chain (module comment). */
function guardCommands(): Json[] {
  const t = { family: 'bridge', table: TABLE };
  const iif = meta('iifname');
  const esaddr = payload('ether', 'saddr');
  const arpIp = payload('arp', 'saddr ip');
  const rules: Array<{ expr: Json[]; comment: string }> = [
    { comment: 'only our host veths are guarded', expr: [match('!=', iif, GUARDED_PORTS), ACCEPT] },
    { comment: 'IPv4 from its own MAC and address', expr: [inSet(concat(iif, esaddr, payload('ip', 'saddr')), SET.guard4), ACCEPT] },
    { comment: 'ARP claiming only its own MAC and address',
      expr: [inSet(concat(iif, esaddr, arpIp), SET.guard4), inSet(concat(iif, payload('arp', 'saddr ether'), arpIp), SET.guard4), ACCEPT] },
    { comment: 'IPv6 from its own MAC and address', expr: [inSet(concat(iif, esaddr, payload('ip6', 'saddr')), SET.guard6), ACCEPT] },
    { comment: 'IPv6 solicitations and MLD from its link-local or unspecified address',
      expr: [match('==', payload('ip6', 'saddr'), { set: ['::', { prefix: { addr: 'fe80::', len: 10 } }] }),
        match('==', payload('icmpv6', 'type'), { set: ['nd-neighbor-solicit', 'nd-router-solicit', 'mld-listener-report', 'mld2-listener-report'] }), ACCEPT] },
    { comment: 'nothing else leaves a guarded port (spoofed sources, other ethertypes)', expr: [DROP] },
  ];
  return [
    { add: { table: { family: 'bridge', name: TABLE } } },
    { add: { set: { ...t, name: SET.guard4, type: ['ifname', 'ether_addr', 'ipv4_addr'] } } },
    { add: { set: { ...t, name: SET.guard6, type: ['ifname', 'ether_addr', 'ipv6_addr'] } } },
    { add: { chain: { ...t, name: GUARD_CHAIN, type: 'filter', hook: 'prerouting', prio: -200, policy: 'accept' } } },
    { flush: { chain: { ...t, name: GUARD_CHAIN } } },
    ...rules.map((r) => ({ add: { rule: { ...t, chain: GUARD_CHAIN, expr: r.expr, comment: `ctnet-fast v${BASE_VERSION}: ${r.comment}` } } })),
  ];
}

/**
 * The JSON batch that installs (or refreshes) ctnet-fast's tables, sets, maps, chains and
 * fixed rules. Idempotent, one transaction, never drops elements (see the module comment).
 */
export function baseRuleset(opts: RulesetOptions = {}): string {
  const fams: NftFamily[] = opts.ipv6 === false ? ['ip'] : ['ip', 'ip6'];
  return JSON.stringify({ nftables: [...fams.flatMap(tableCommands), ...guardCommands()] });
}

/** Delete ctnet-fast's tables (all elements with them); succeeds when they are already gone. */
export function removeAllRuleset(opts: RulesetOptions = {}): string {
  const fams: TableFamily[] = opts.ipv6 === false ? ['ip', 'bridge'] : ['ip', 'ip6', 'bridge'];
  return JSON.stringify({
    nftables: fams.flatMap((f) => [
      { add: { table: { family: f, name: TABLE } } },
      { delete: { table: { family: f, name: TABLE } } },
    ]),
  });
}

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** A bridge name safe to put into nftables JSON unescaped. */
export function checkBridge(name: string): void {
  if (typeof name !== 'string' || !IFNAME_RE.test(name)) {
    throw new InvalidInputError(`invalid bridge name "${String(name)}": 1-15 characters of A-Z a-z 0-9 _ . -`);
  }
}

/**
 * The sysctls the topology must set for these rules to work, as plan `sysctl` steps
 * (keys relative to /proc/sys, in the HOST netns — where the bridge lives). route_localnet
 * is per bridge, so it is set after the bridge exists.
 *
 * Not a sysctl but needed too: hairpin mode on every bridge port (IFLA_BRPORT_MODE = 1,
 * `ip link set VETH type bridge_slave hairpin on`) for a container to reach its OWN
 * published port through a host address while br_netfilter is active (the DNAT-ed frame
 * is bridged back out of the port it came in on). Siblings do not need it.
 * br_netfilter (net/bridge/bridge-nf-call-iptables) is NOT required: the rules work with
 * it on (intra-network frames then pass the forward hook with iif = oif = the bridge and
 * are accepted by @intra) and off (intra-network frames never reach IP hooks).
 */
export function requiredSysctls(net: Pick<NetworkInfo, 'bridge' | 'subnet6'> & { readonly internal?: boolean }): SysctlNeed[] {
  checkBridge(net.bridge);
  const out: SysctlNeed[] = [];
  if (net.internal !== true) {
    out.push({ key: 'net/ipv4/ip_forward', value: '1', why: 'route container traffic out and published traffic in' });
  }
  out.push({ key: `net/ipv4/conf/${net.bridge}/route_localnet`, value: '1',
    why: 'publishing on 127.0.0.1: a DNAT-ed packet with a 127.0.0.0/8 source may be routed out of the bridge' });
  if (net.subnet6 !== undefined && net.internal !== true) {
    out.push({ key: 'net/ipv6/conf/all/forwarding', value: '1', why: 'route IPv6 container traffic' });
  }
  return out;
}
