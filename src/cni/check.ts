/**
 * cni/check.ts — CHECK: the attachment is still what ADD made, asked of the kernel (not the
 * state): the container interface (up, its MAC, its addresses), its routes, the host veth
 * on the network's bridge, and each published port in our DNAT maps. The first thing
 * missing is the error, named (SPEC.md: CHECK fails when the container's networking is not
 * as expected); prevResult must agree with what we attached.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI"). Queries go through the library's public API:
 * one plan (netnsOpen, then link/addr/route lists inside it) on Host.backend, and one
 * `list map` per family through its nft step.
 */
import type { Addr, Link, Route } from '../model/plan.js';
import type { EndpointInfo } from '../model/types.js';
import { formatIp, parseIp } from '../util/ip.js';
import { SET, TABLE } from '../firewall/index.js';
import type { Host } from '../topology/index.js';
import type { CniConfig } from './config.js';
import { CniError, ERR } from './errors.js';
import { findAttachment, hostLink, type CniEnv } from './commands.js';
import { prevAddresses, prevMac, resultRoutes } from './result.js';
import { execIpam } from './delegate.js';

const canon = (ip: string): string => { const p = parseIp(ip); return formatIp(p.value, p.family); };
const fail = (msg: string): CniError => new CniError(ERR.ours, `CHECK ${msg}`);

export async function cmdCheck(host: Host, cfg: CniConfig, env: CniEnv): Promise<void> {
  if (cfg.prevResult === undefined) throw new CniError(ERR.invalidConfig, 'invalid network config: prevResult: missing (CHECK needs the result of ADD)');
  const ep = await findAttachment(host, cfg.name, env);
  const who = `${env.containerId} ${env.ifname} on network ${cfg.name}`;
  if (ep === undefined) throw fail(`${who}: no such attachment (never added, or deleted)`);
  const want = [ep.ip, ...(ep.ip6 !== undefined ? [ep.ip6] : [])].filter((x) => x !== '').map(canon).sort();
  const prev = prevAddresses(cfg.prevResult, env.ifname).map(canon).sort();
  if (prev.length > 0 && prev.join(',') !== want.join(',')) throw fail(`${who}: prevResult gives ${prev.join(', ')}, the attachment has ${want.join(', ')}`);
  await checkInside(host, cfg, env, ep, who);
  await checkHostSide(host, ep, who);
  await checkPorts(host, ep, who);
  if (cfg.ipam.kind === 'delegate') await execIpam(cfg.ipam.type, 'CHECK', env.raw, env.stdin);
}

async function checkInside(host: Host, cfg: CniConfig, env: CniEnv, ep: EndpointInfo, who: string): Promise<void> {
  const r = await host.backend.run({ steps: [
    { kind: 'netnsOpen', path: env.netns },
    { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkGet', link: env.ifname }, { op: 'addrList' }, { op: 'routeList', family: 4 }, { op: 'routeList', family: 6 }] },
  ] });
  if (r[0]?.ok !== true) throw fail(`${who}: netns ${env.netns} cannot be opened (${r[0] !== undefined && 'error' in r[0] ? r[0].error.code : 'gone'})`);
  const ops = r[1]?.ok === true || (r[1] !== undefined && 'ops' in r[1]) ? r[1].ops ?? [] : [];
  const link = ops[0]?.ok === true ? ops[0].value as Link : undefined;
  if (link === undefined) throw fail(`${who}: interface ${env.ifname} is missing in ${env.netns}`);
  if (!link.up) throw fail(`${who}: interface ${env.ifname} is down`);
  // the MAC the chain's result says (a later plugin may have set it), else ours
  const mac = prevMac(cfg.prevResult, env.ifname) ?? ep.mac.toLowerCase();
  if (link.mac !== undefined && link.mac.toLowerCase() !== mac) throw fail(`${who}: interface ${env.ifname} has MAC ${link.mac}, not ${mac}`);
  const addrs = (ops[1]?.ok === true ? ops[1].value as readonly Addr[] : []).filter((a) => a.index === link.index);
  for (const cidr of [ep.address, ...(ep.address6 !== undefined ? [ep.address6] : [])]) {
    if (cidr === '') continue;
    const [ip, len] = cidr.split('/');
    if (!addrs.some((a) => canon(a.local) === canon(ip ?? '') && a.prefixLen === Number(len))) throw fail(`${who}: address ${cidr} is missing on ${env.ifname}`);
  }
  const routes = [ops[2], ops[3]].flatMap((o) => (o?.ok === true ? o.value as readonly Route[] : []));
  for (const want of resultRoutes(cfg, ep, cfg.ipam.kind === 'native' ? cfg.ipam.routes : [])) {
    const [dst, len] = want.dst.split('/');
    const isDefault = Number(len) === 0;
    const found = routes.some((rt) => rt.table === 254 && rt.dstLen === Number(len) && (isDefault || canon(rt.dst ?? '') === canon(dst ?? '')) &&
      (want.gw === undefined || (rt.gateway !== undefined && canon(rt.gateway) === canon(want.gw))));
    if (!found) throw fail(`${who}: route ${want.dst}${want.gw !== undefined ? ` via ${want.gw}` : ''} is missing in ${env.netns}`);
  }
}

async function checkHostSide(host: Host, ep: EndpointInfo, who: string): Promise<void> {
  const veth = await hostLink(host, ep.hostIfname);
  if (veth === undefined) throw fail(`${who}: host veth ${ep.hostIfname} is missing`);
  const net = (await host.networks()).find((n) => n.name === ep.network);
  const bridge = net !== undefined ? await hostLink(host, net.bridge) : undefined;
  if (bridge === undefined) throw fail(`${who}: bridge ${net?.bridge ?? ''} of network ${ep.network} is missing`);
  if (veth.master !== bridge.index) throw fail(`${who}: host veth ${ep.hostIfname} is not on bridge ${bridge.name}`);
  if (!veth.up) throw fail(`${who}: host veth ${ep.hostIfname} is down`);
}

/** Every published port has its element in our DNAT address map (any-address or per-address) of each family it has. */
async function checkPorts(host: Host, ep: EndpointInfo, who: string): Promise<void> {
  if (ep.ports.length === 0) return;
  const ns = host.netnsPath !== undefined ? { path: host.netnsPath } : { self: true as const };
  const listed = new Map<string, string>();
  const list = async (family: 'ip' | 'ip6', name: string): Promise<string> => {
    const key = `${family} ${name}`;
    const hit = listed.get(key);
    if (hit !== undefined) return hit;
    const [r] = await host.backend.run({ steps: [{ kind: 'nft', ns, json: JSON.stringify({ nftables: [{ list: { map: { family, table: TABLE, name } } }] }) }] });
    const text = r?.ok === true ? r.value ?? '' : '';
    listed.set(key, text);
    return text;
  };
  for (const m of ep.ports) {
    const fams: Array<['ip' | 'ip6', string]> = [];
    const h = m.hostIp;
    if (h === undefined || h.includes('.')) fams.push(['ip', ep.ip]);
    if ((h === undefined || h.includes(':')) && ep.ip6 !== undefined) fams.push(['ip6', ep.ip6]);
    for (const [family, cip] of fams) {
      const any = h === undefined || h === '0.0.0.0' || h === '::';
      const text = await list(family, any ? SET.pubAnyAddr : SET.pubIpAddr);
      const end = m.hostPortEnd ?? m.hostPort;
      for (let p = m.hostPort; p <= end; p++) {
        if (!hasElement(text, any ? [m.protocol, p] : [canon(h ?? ''), m.protocol, p], cip)) {
          throw fail(`${who}: published port ${h !== undefined ? `${h}:` : ''}${p}/${m.protocol} → ${cip} is missing from the firewall (${family} ${TABLE} ${any ? SET.pubAnyAddr : SET.pubIpAddr})`);
        }
      }
    }
  }
}

/** Whether an nft -j `list map` output has the element key → value. */
function hasElement(text: string, key: ReadonlyArray<string | number>, value: string): boolean {
  let doc: { nftables?: Array<{ map?: { elem?: unknown[] } }> };
  try { doc = JSON.parse(text) as typeof doc; } catch { return false; }
  const want = key.map((k) => String(k)).join('|');
  for (const item of doc.nftables ?? []) {
    for (const el of item.map?.elem ?? []) {
      if (!Array.isArray(el) || el.length !== 2) continue;
      const [k, v] = el as [unknown, unknown];
      const parts = (k as { concat?: unknown[] })?.concat;
      if (!Array.isArray(parts)) continue;
      const got = parts.map((x) => (typeof x === 'string' && x.includes(':') || typeof x === 'string' && x.includes('.') ? canon(x) : String(x))).join('|');
      if (got === want && typeof v === 'string' && canon(v) === canon(value)) return true;
    }
  }
  return false;
}
