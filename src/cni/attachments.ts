/**
 * cni/attachments.ts — the attachment key as the spec defines it, (network, CNI_CONTAINERID,
 * CNI_IFNAME), and what ADD and DEL do about every attachment of a key:
 *  - ADD keeps at most one. An attachment of the key in another netns, or in a netns that is
 *    gone (a container task restarted without a DEL; /proc/PID/ns/net of a dead process), is
 *    detached first and the new one replaces it: the runtime that asks for the key again owns
 *    it, and two attachments of one key would leave DEL and CHECK guessing which is meant.
 *  - An ADD repeated into the same netns that asks for other addresses, ports or MAC than the
 *    attachment there has is code 7 naming the key (answering the old result would silently
 *    drop the request); one asking the same gets the old result (commands.ts).
 *  - A requested MAC another container on the network already has is code 7.
 *  - DEL removes every attachment of the key (older versions could leave two).
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI" and "State model").
 */
import { statSync } from 'node:fs';
import type { Host } from '../topology/index.js';
import type { EndpointInfo, PortMapping } from '../model/types.js';
import { AggregateCtnetError } from '../model/errors.js';
import { formatIp, parseIp } from '../util/ip.js';
import type { CniConfig } from './config.js';
import { CniError, ERR } from './errors.js';
import { cniEndpoints, detachInfo, type CniEnv } from './commands.js';

type Key = Pick<CniEnv, 'containerId' | 'ifname'>;

/** How the key is named in messages. */
export const keyText = (network: string, k: Key): string => `CNI_CONTAINERID ${k.containerId} CNI_IFNAME ${k.ifname} on network ${network}`;

/** Every attachment of the key the state knows (normally zero or one). */
export async function keyAttachments(host: Host, network: string, k: Key): Promise<EndpointInfo[]> {
  return (await cniEndpoints(host, network)).filter((e) => e.containerId === k.containerId && e.ifname === k.ifname);
}

/** The nsfs identity of a path ("dev:ino"), undefined when it cannot be reached. */
function nsIdentity(p: string): string | undefined {
  try { const st = statSync(p); return `${st.dev}:${st.ino}`; } catch { return undefined; }
}

const plainIp = (ip: string): string => { const p = parseIp(ip.split('/')[0] ?? ''); return formatIp(p.value, p.family); };
/** hostIp absent, 0.0.0.0 and :: all mean any address (the library stores the first as 0.0.0.0). */
const anyIp = (h: string | undefined): string => (h === undefined || h === '0.0.0.0' || h === '::' ? '' : h);
const portText = (m: PortMapping): string => `${m.protocol}/${anyIp(m.hostIp)}/${m.hostPort}-${m.hostPortEnd ?? m.hostPort}/${m.containerPort}`;
const portsText = (ms: readonly PortMapping[]): string => ms.map(portText).sort().join(',');

/** What a repeated ADD asks that the attachment `e` does not have; undefined when nothing. */
function difference(cfg: CniConfig, e: EndpointInfo): string | undefined {
  const have = [e.ip, e.ip6 ?? ''].filter((x) => x !== '');
  const asked = [...(cfg.ipam.kind === 'native' ? cfg.ipam.addresses : []), ...cfg.ips].map(plainIp);
  const missing = asked.filter((ip) => !have.includes(ip));
  if (missing.length > 0) return `asks for address ${missing.join(', ')}, the attachment has ${have.join(', ')}`;
  if (portsText(cfg.portMappings) !== portsText(e.ports)) {
    return `asks for port mappings [${portsText(cfg.portMappings)}], the attachment has [${portsText(e.ports)}]`;
  }
  if (cfg.mac !== undefined && cfg.mac !== e.mac.toLowerCase()) return `asks for MAC ${cfg.mac}, the attachment has ${e.mac}`;
  return undefined;
}

/**
 * Before ADD: replace what the key has in another (or a vanished) netns, refuse a changed
 * request into the same netns, and a requested MAC another container on the network has.
 */
export async function prepareAdd(host: Host, cfg: CniConfig, env: CniEnv): Promise<void> {
  const here = nsIdentity(env.netns);
  if (here === undefined) return; // no such netns: ADD fails on its own (code 3), and replaces nothing
  const all = await cniEndpoints(host, cfg.name);
  const errors: Error[] = [];
  for (const e of all) {
    if (e.containerId !== env.containerId || e.ifname !== env.ifname) continue;
    if (nsIdentity(e.netns) === here) {
      const diff = difference(cfg, e);
      if (diff !== undefined) {
        throw new CniError(ERR.invalidConfig, `${keyText(cfg.name, env)} is already attached in ${e.netns}: this ADD ${diff} (DEL it first to change them)`);
      }
      continue;
    }
    // another netns, or one gone: the runtime asks for the key anew; the old one goes first
    await detachInfo(host, e).catch((x: Error) => errors.push(x));
  }
  if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateCtnetError(`replacing ${keyText(cfg.name, env)}`, errors);
  if (cfg.mac !== undefined) {
    const other = all.find((e) => e.mac.toLowerCase() === cfg.mac && !(e.containerId === env.containerId && e.ifname === env.ifname));
    if (other !== undefined) {
      throw new CniError(ERR.invalidConfig, `invalid network config: mac ${cfg.mac}: already used on network ${cfg.name} by ${other.containerId !== undefined ? `container ${other.containerId}` : `endpoint ${other.id}`} (${other.ifname} in ${other.netns}); two interfaces with one MAC on a bridge break each other`);
    }
  }
}

/** DEL: detach every attachment of the key; each is tried, the failures come back together. */
export async function detachKey(host: Host, network: string, k: Key): Promise<void> {
  const errors: Error[] = [];
  for (const e of await keyAttachments(host, network, k)) await detachInfo(host, e).catch((x: Error) => errors.push(x));
  if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateCtnetError(`DEL of ${keyText(network, k)}`, errors);
}
