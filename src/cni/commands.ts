/**
 * cni/commands.ts — ADD, DEL, GC and STATUS over the library (Host.network, Network.attach,
 * Endpoint.detach). CHECK is check.ts's. An attachment is identified as the spec says:
 * (network name, CNI_CONTAINERID, CNI_IFNAME); the library's endpoint records the container
 * id (AttachOptions.containerId).
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI" and "Life of an attach"). Addresses come from the
 * store's IPAM (host-local, static: the network's subnet or its `ranges`, with
 * rangeStart/rangeEnd and several subnets) or a delegated IPAM plugin (delegate.ts).
 */
import { existsSync } from 'node:fs';
import type { Endpoint, Host, Network } from '../topology/index.js';
import type { AddressRange, AttachOptions, EndpointInfo, NetworkInfo, NetworkSpec } from '../model/types.js';
import type { Link } from '../model/plan.js';
import { AggregateCtnetError, CODE, codeOf } from '../model/errors.js';
import { familyOf, formatIp, parseCidr, parseIp, type Family } from '../util/ip.js';
import { networkOf, type CniConfig, type CniRange, type CniRoute } from './config.js';
import { CniError, ERR } from './errors.js';
import { execIpam, parseIpamResult, type IpamResult } from './delegate.js';
import { buildResult, type CniResult } from './result.js';
import { readResolvConf } from './resolv.js';

/** The CNI environment a command reads (already checked for presence by index.ts). */
export interface CniEnv {
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly raw: Readonly<Record<string, string>>;
  readonly stdin: string;
}

/** How long an ADD waits for the kernel to reap the veth of a DEL just before (~30 ms normally). */
const REAP_WAIT_MS = 2000;

/**
 * The network a config describes: per family its one plain range as subnet/gateway, or its
 * ranges (rangeStart/rangeEnd, several subnets) as the network's `ranges`; or the delegated
 * IPAM's subnets. isGateway false: no gateway address on the bridge.
 */
export function networkSpec(cfg: CniConfig, delegated?: IpamResult): NetworkSpec {
  let r4: readonly CniRange[] = [];
  let r6: readonly CniRange[] = [];
  if (cfg.ipam.kind === 'native') {
    r4 = cfg.ipam.v4 ?? [];
    r6 = cfg.ipam.v6 ?? [];
  } else if (delegated !== undefined) {
    const one = (a: { address: string; gateway?: string } | undefined, family: Family): CniRange[] =>
      a === undefined ? [] : [{ subnet: networkOf(a.address), family, ...(a.gateway !== undefined ? { gateway: a.gateway } : {}) }];
    r4 = one(delegated.v4, 4);
    r6 = one(delegated.v6, 6);
  }
  if (r4.length === 0 && r6.length === 0) {
    throw new CniError(ERR.invalidConfig, `invalid network config: ipam${cfg.ipam.kind === 'native' ? '.ranges' : ''}: no address range`);
  }
  const spec: { -readonly [K in keyof NetworkSpec]: NetworkSpec[K] } = {
    name: cfg.name, ...(cfg.bridge !== undefined ? { bridge: cfg.bridge } : {}), ...(cfg.mtu !== undefined ? { mtu: cfg.mtu } : {}),
    masquerade: cfg.ipMasq, ...(cfg.isGateway ? {} : { gatewayOnBridge: false }), ...(cfg.promiscMode ? { promisc: true } : {}),
  };
  const ranges: AddressRange[] = [];
  for (const [rs, f] of [[r4, 4], [r6, 6]] as const) {
    const r = rs[0];
    if (r === undefined) continue;
    if (rs.length === 1 && r.rangeStart === undefined && r.rangeEnd === undefined) {
      if (f === 4) { spec.subnet = r.subnet; if (r.gateway !== undefined) spec.gateway = r.gateway; }
      else { spec.subnet6 = r.subnet; if (r.gateway !== undefined) spec.gateway6 = r.gateway; }
    } else {
      for (const x of rs) {
        ranges.push({ subnet: x.subnet, ...(x.gateway !== undefined ? { gateway: x.gateway } : {}),
          ...(x.rangeStart !== undefined ? { rangeStart: x.rangeStart } : {}), ...(x.rangeEnd !== undefined ? { rangeEnd: x.rangeEnd } : {}) });
      }
    }
  }
  if (ranges.length > 0) spec.ranges = ranges;
  return spec;
}

/** The CNI attachments (endpoints with a container id) of a network, as the state knows them. */
export async function cniEndpoints(host: Host, network: string): Promise<EndpointInfo[]> {
  return (await host.endpoints({ network })).filter((e) => e.containerId !== undefined);
}

/**
 * The attachment (network, container id, ifname): by its netns first (one indexed query),
 * else by a scan of the network's endpoints (CNI_NETNS empty, or another path to it).
 */
export async function findAttachment(host: Host, network: string, env: Pick<CniEnv, 'containerId' | 'ifname' | 'netns'>): Promise<EndpointInfo | undefined> {
  const mine = (e: EndpointInfo): boolean => e.containerId === env.containerId && e.ifname === env.ifname;
  if (env.netns !== '') {
    const byNs = (await host.findEndpoint(env.netns, network))?.info;
    if (byNs !== undefined && mine(byNs)) return byNs;
  }
  return (await cniEndpoints(host, network)).find(mine);
}

/** The network of a config: the stored one when it says the same (no kernel work), else Host.network (creates, or names the difference). */
async function ensureNetwork(host: Host, spec: NetworkSpec): Promise<{ net: Network; info: NetworkInfo }> {
  const have = await host.getNetwork(spec.name).catch((e: unknown) => { if (codeOf(e) === CODE.notFound) return undefined; throw e; });
  const info = have?.info;
  if (have !== undefined && info !== undefined && sameNetwork(info, spec)) return { net: have, info };
  const net = await host.network(spec);
  return { net, info: net.info };
}

function sameNetwork(n: NetworkInfo, s: NetworkSpec): boolean {
  const gw = (subnet: string): string => { const c = parseCidr(subnet); return formatIp(c.network + 1n, c.family); };
  const rangesText = (rs: readonly AddressRange[] | undefined): string =>
    JSON.stringify((rs ?? []).map((r) => [r.subnet, r.gateway ?? gw(r.subnet), r.rangeStart ?? '', r.rangeEnd ?? '']));
  const famOf = (r: AddressRange): number => parseCidr(r.subnet).family;
  // a stored network with ranges: compare them, per family (the spec gives a plain family as subnet/gateway)
  const stored = (f: number): AddressRange[] => (n.ranges ?? []).filter((r) => famOf(r) === f);
  const asked = (f: number): AddressRange[] => (s.ranges ?? []).filter((r) => famOf(r) === f);
  for (const f of [4, 6]) if (rangesText(asked(f)) !== rangesText(stored(f)) && asked(f).length + stored(f).length > 0) return false;
  const plain = (subnet: string | undefined, gateway: string | undefined, have: string | undefined, haveGw: string | undefined, f: number): boolean =>
    asked(f).length > 0 || (subnet === have && (subnet === undefined || haveGw === (gateway ?? gw(subnet))));
  return plain(s.subnet, s.gateway, n.subnet, n.gateway, 4) && plain(s.subnet6, s.gateway6, n.subnet6, n.gateway6, 6) &&
    (n.gatewayOnBridge !== false) === (s.gatewayOnBridge !== false) && (n.promisc === true) === (s.promisc === true) &&
    (s.bridge === undefined || n.bridge === s.bridge) && n.mtu === (s.mtu ?? 1500) && n.masquerade === s.masquerade && !n.internal && n.blockHost !== true;
}

/** The Endpoint object of a stored endpoint (the library finds it by netns and network). */
async function endpointOf(host: Host, info: EndpointInfo): Promise<Endpoint | undefined> {
  const ep = await host.findEndpoint(info.netns, info.network);
  return ep !== undefined && ep.id === info.id ? ep : undefined;
}

/** Detach one stored endpoint (idempotent: one already gone is done). */
export async function detachInfo(host: Host, info: EndpointInfo): Promise<void> {
  const ep = await endpointOf(host, info);
  if (ep === undefined) {
    if ((await host.endpoints({ network: info.network })).some((e) => e.id === info.id)) {
      throw new CniError(ERR.ours, `cannot detach endpoint ${info.id} of ${info.netns}: another endpoint of network ${info.network} shares its netns; detach it with ctnet-fast`);
    }
    return;
  }
  await ep.detach();
}

/** The routes the library adds inside the container besides its default route. */
function extraRoutes(routes: readonly CniRoute[], has4: boolean, has6: boolean, ownDefault: boolean): NonNullable<AttachOptions['routes']> {
  const out: Array<{ dst: string; via?: string; viaGateway?: boolean }> = [];
  for (const r of routes) {
    const c = parseCidr(r.dst, 'route');
    if (c.prefixLen === 0 && ownDefault) continue; // the default route: the library's own
    if (!(c.family === 6 ? has6 : has4) && r.gw === undefined) continue; // no address of that family
    // without gw: via the gateway of the container's own range (as the reference: its IP's gateway)
    out.push({ dst: networkOf(r.dst), ...(r.gw !== undefined ? { via: r.gw } : { viaGateway: true }) });
  }
  return out;
}

const plain = (ip: string): string => { const p = parseIp(ip.split('/')[0]); return formatIp(p.value, p.family); };
const byFamily = (ips: readonly string[], f: Family): string | undefined => ips.map(plain).find((ip) => familyOf(ip) === f);

/** ADD: ensure the network, attach, and the result document. */
export async function cmdAdd(host: Host, cfg: CniConfig, env: CniEnv): Promise<CniResult> {
  if (!existsSync(env.netns)) throw new CniError(ERR.unknownContainer, `CNI_NETNS ${env.netns} does not exist (the container's netns is gone)`);
  let delegated: IpamResult | undefined;
  if (cfg.ipam.kind === 'delegate') delegated = parseIpamResult(await execIpam(cfg.ipam.type, 'ADD', env.raw, env.stdin), cfg.ipam.type);
  try {
    return await addWith(host, cfg, env, delegated);
  } catch (e) {
    if (cfg.ipam.kind === 'delegate') await execIpam(cfg.ipam.type, 'DEL', env.raw, env.stdin).catch(() => undefined);
    throw e;
  }
}

async function addWith(host: Host, cfg: CniConfig, env: CniEnv, delegated: IpamResult | undefined): Promise<CniResult> {
  const spec = networkSpec(cfg, delegated);
  const found = await ensureNetwork(host, spec);
  const info = found.info;
  let net = found.net;
  // ADD again for the same attachment answers what is there; a stale one on this netns (a
  // /proc/PID path reused by another container) is detached first
  const same = await host.findEndpoint(env.netns, cfg.name);
  if (same !== undefined) {
    const i = same.info;
    if (i.containerId === env.containerId && i.ifname === env.ifname) return resultOf(host, cfg, env, info, i, delegated);
    if (i.containerId !== env.containerId && i.ifname === env.ifname) await same.detach();
  }
  const requested = cfg.ipam.kind === 'native' ? [...cfg.ipam.addresses, ...cfg.ips] : [delegated?.v4?.address, delegated?.v6?.address].filter((x): x is string => x !== undefined);
  const ip = info.subnet !== undefined ? byFamily(requested, 4) : undefined;
  const ip6 = info.subnet6 !== undefined ? byFamily(requested, 6) : undefined;
  const routes = cfg.ipam.kind === 'native' ? cfg.ipam.routes : delegated?.routes ?? [];
  const base: AttachOptions = {
    netns: env.netns, ifname: env.ifname, containerId: env.containerId,
    ...(ip6 !== undefined ? { ip6 } : {}), ...(cfg.mac !== undefined ? { mac: cfg.mac } : {}),
    publish: cfg.portMappings, routes: extraRoutes(routes, info.subnet !== undefined, info.subnet6 !== undefined, cfg.isGateway),
    ...(cfg.hairpinMode ? {} : { hairpin: false }),
  };
  // rangeStart/rangeEnd and several ranges: the network's own ranges (the store's IPAM)
  const attach = (n: Network): Promise<Endpoint> => n.attach({ ...base, ...(ip !== undefined ? { ip } : {}) });
  let ep: Endpoint;
  try {
    ep = await attach(net);
  } catch (e) {
    // (the attach rolled back) the bridge deleted behind our back: Host.network re-creates it;
    // CNI_IFNAME still there: a DEL just before let the kernel reap our old veth in the
    // background (an agent's long-lived Host): wait for it to go, bounded, then once more
    if (codeOf(e) === 'ENODEV') net = await host.network(spec);
    else if (codeOf(e) !== 'EEXIST' || !await linkGone(host, env.netns, env.ifname, REAP_WAIT_MS)) throw e;
    ep = await attach(net);
  }
  return resultOf(host, cfg, env, info, ep.info, delegated);
}

/** The result document of an endpoint (one rtnl query: the host veth's MAC). */
async function resultOf(host: Host, cfg: CniConfig, env: CniEnv, net: NetworkInfo, ep: EndpointInfo, delegated: IpamResult | undefined): Promise<CniResult> {
  const hostMac = (await hostLink(host, ep.hostIfname))?.mac ?? '';
  const ipamRoutes = cfg.ipam.kind === 'native' ? cfg.ipam.routes : delegated?.routes ?? [];
  const ipamDns = cfg.ipam.kind === 'native' ? cfg.ipam.dns ?? (cfg.ipam.resolvConf !== undefined ? readResolvConf(cfg.ipam.resolvConf) : undefined) : delegated?.dns;
  return buildResult({ cfg, ep, net, sandbox: env.netns, hostMac, ipamRoutes, ipamDns });
}

/** Whether link `name` of netns `nsPath` is gone, or goes within `ms` (polled). */
async function linkGone(host: Host, nsPath: string, name: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await host.backend.run({ steps: [{ kind: 'netnsOpen', path: nsPath }, { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkGet', link: name }] }] });
    if (r[0]?.ok !== true) return false; // the netns itself is gone: the attach fails on its own
    const got = r[1];
    if (got !== undefined && !got.ok && 'error' in got && got.error.code === 'ENODEV') return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A link of the host netns by name (undefined when it is not there). */
export async function hostLink(host: Host, name: string): Promise<Link | undefined> {
  if (name === '') return undefined;
  const ns = host.netnsPath !== undefined ? { path: host.netnsPath } : { self: true as const };
  const r = await host.backend.run({ steps: [{ kind: 'rtnl', ns, ops: [{ op: 'linkGet', link: name }] }] });
  const op = r[0]?.ok === true ? r[0].ops?.[0] : undefined;
  return op?.ok === true ? op.value as Link : undefined;
}

/**
 * DEL: detach the attachment (its address, ports, guard, conntrack entries go with it), from
 * the state alone: the netns may be gone or CNI_NETNS empty. Nothing to do is success.
 */
export async function cmdDel(host: Host, cfg: CniConfig, env: CniEnv): Promise<void> {
  const errors: Error[] = [];
  const e = await findAttachment(host, cfg.name, env);
  if (e !== undefined) await detachInfo(host, e).catch((x: Error) => errors.push(x));
  if (cfg.ipam.kind === 'delegate') await execIpam(cfg.ipam.type, 'DEL', env.raw, env.stdin).catch((x: Error) => errors.push(x));
  if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateCtnetError(`DEL ${env.containerId} ${env.ifname}`, errors);
}

/** GC: detach every CNI attachment of the network that is not in cni.dev/valid-attachments; nothing else. */
export async function cmdGc(host: Host, cfg: CniConfig, env: Omit<CniEnv, 'containerId' | 'netns' | 'ifname'>): Promise<void> {
  if (cfg.validAttachments === undefined) throw new CniError(ERR.invalidConfig, 'invalid network config: cni.dev/valid-attachments: missing (GC needs the list of attachments to keep)');
  const keep = new Set(cfg.validAttachments.map((a) => `${a.containerID}\n${a.ifname}`));
  const errors: Error[] = [];
  for (const e of await cniEndpoints(host, cfg.name)) {
    if (keep.has(`${e.containerId ?? ''}\n${e.ifname}`)) continue;
    await detachInfo(host, e).catch((x: Error) => errors.push(x));
  }
  if (cfg.ipam.kind === 'delegate') await execIpam(cfg.ipam.type, 'GC', env.raw, env.stdin).catch((x: Error) => errors.push(x));
  if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateCtnetError(`GC of network ${cfg.name}`, errors);
}

/** STATUS: ADD can work when the state dir opened (the caller did), nftables and the addon are there. */
export async function cmdStatus(host: Host, cfg: CniConfig, env: Omit<CniEnv, 'containerId' | 'netns' | 'ifname'>): Promise<void> {
  try {
    void host.firewallName; // resolves the driver: throws when nftables is missing
  } catch (e) {
    throw new CniError(ERR.notAvailable, `ctnet-fast cannot add containers: nftables is not available (${(e as Error).message})`);
  }
  if (host.backendName !== 'native' && env.raw.CTNET_BACKEND !== 'iproute2' && process.env.CTNET_BACKEND !== 'iproute2') {
    throw new CniError(ERR.notAvailable, 'ctnet-fast cannot add containers at speed: its addon (build/Release/ctnet_native.node) did not load; rebuild it with npm install, or set CTNET_BACKEND=iproute2');
  }
  if (cfg.ipam.kind === 'delegate') await execIpam(cfg.ipam.type, 'STATUS', env.raw, env.stdin);
}
