/**
 * cni/result.ts — the ADD result document (SPEC.md "Success"), in the version the config
 * asked for: `interfaces` (the bridge, the host veth, the container interface with `sandbox`
 * and `mac`), `ips` (with `gateway` and `interface` = the container interface's index;
 * 0.4.0 adds `version`), `routes`, `dns`. The same indices as the reference bridge plugin
 * (0 bridge, 1 host veth, 2 container), so a chained plugin (tuning, firewall, bandwidth)
 * reads our prevResult as it reads the reference's.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI"). Pure.
 */
import type { EndpointInfo, NetworkInfo } from '../model/types.js';
import { familyOf } from '../util/ip.js';
import type { CniConfig, CniDns, CniRoute } from './config.js';

export interface CniIpEntry { readonly address: string; readonly gateway?: string; readonly interface?: number; readonly version?: '4' | '6' }
export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces: ReadonlyArray<{ readonly name: string; readonly mac: string; readonly mtu?: number; readonly sandbox?: string }>;
  readonly ips: readonly CniIpEntry[];
  readonly routes?: ReadonlyArray<{ readonly dst: string; readonly gw?: string }>;
  readonly dns: CniDns;
}

/** What the result is built from. `extra` routes/dns come from a delegated IPAM plugin's result. */
export interface ResultInput {
  readonly cfg: CniConfig;
  readonly ep: EndpointInfo;
  readonly net: NetworkInfo;
  /** CNI_NETNS as the runtime gave it */
  readonly sandbox: string;
  readonly hostMac: string;
  readonly ipamRoutes: readonly CniRoute[];
  readonly ipamDns?: CniDns | undefined;
}

/** The routes a result lists: the IPAM's as given, and the default route per family the container got (the library adds it with isGateway, which isDefaultGateway implies). */
export function resultRoutes(cfg: CniConfig, ep: EndpointInfo, ipamRoutes: readonly CniRoute[]): Array<{ dst: string; gw?: string }> {
  const out: Array<{ dst: string; gw?: string }> = ipamRoutes.map((r) => ({ dst: r.dst, ...(r.gw !== undefined ? { gw: r.gw } : {}) }));
  if (cfg.isGateway) {
    if (ep.ip !== '' && !out.some((r) => r.dst === '0.0.0.0/0')) out.push({ dst: '0.0.0.0/0', gw: ep.gateway });
    if (ep.ip6 !== undefined && ep.gateway6 !== undefined && !out.some((r) => r.dst === '::/0')) out.push({ dst: '::/0', gw: ep.gateway6 });
  }
  return out;
}

export function buildResult(x: ResultInput): CniResult {
  const { cfg, ep, net } = x;
  const v04 = cfg.cniVersion === '0.4.0';
  const routes = resultRoutes(cfg, ep, x.ipamRoutes);
  const ips: CniIpEntry[] = [];
  if (ep.ip !== '') ips.push({ ...(v04 ? { version: '4' as const } : {}), address: ep.address, gateway: ep.gateway, interface: 2 });
  if (ep.address6 !== undefined) {
    ips.push({ ...(v04 ? { version: '6' as const } : {}), address: ep.address6, ...(ep.gateway6 !== undefined ? { gateway: ep.gateway6 } : {}), interface: 2 });
  }
  return {
    cniVersion: cfg.cniVersion,
    interfaces: [
      { name: net.bridge, mac: net.bridgeMac },
      { name: ep.hostIfname, mac: x.hostMac },
      { name: ep.ifname, mac: ep.mac, sandbox: x.sandbox },
    ],
    ips,
    // none: no key (as the reference: a Go nil slice with omitempty)
    ...(routes.length > 0 ? { routes } : {}),
    dns: cfg.dns ?? x.ipamDns ?? {},
  };
}

/** The addresses (plain, no prefix) a prevResult gives the interface named `ifname` (CHECK). */
export function prevAddresses(prev: unknown, ifname: string): string[] {
  if (prev === null || typeof prev !== 'object') return [];
  const p = prev as { interfaces?: unknown; ips?: unknown };
  const ifaces = Array.isArray(p.interfaces) ? p.interfaces as Array<{ name?: unknown }> : [];
  const out: string[] = [];
  for (const ip of Array.isArray(p.ips) ? p.ips as Array<{ address?: unknown; interface?: unknown }> : []) {
    if (typeof ip.address !== 'string') continue;
    const idx = typeof ip.interface === 'number' ? ip.interface : undefined;
    if (idx !== undefined && ifaces[idx]?.name !== ifname) continue;
    const a = ip.address.split('/')[0] ?? '';
    if (familyOf(a) !== undefined) out.push(a);
  }
  return out;
}

/** The MAC a prevResult gives the container interface `ifname` (a later plugin such as tuning may have changed it). */
export function prevMac(prev: unknown, ifname: string): string | undefined {
  const ifaces = prev !== null && typeof prev === 'object' ? (prev as { interfaces?: unknown }).interfaces : undefined;
  if (!Array.isArray(ifaces)) return undefined;
  const i = (ifaces as Array<{ name?: unknown; mac?: unknown; sandbox?: unknown }>).find((x) => x.name === ifname && typeof x.sandbox === 'string' && x.sandbox !== '');
  return typeof i?.mac === 'string' && i.mac !== '' ? i.mac.toLowerCase() : undefined;
}
