/**
 * cni/delegate.ts — an IPAM type we do not serve (anything but host-local and static) is
 * run as the reference bridge runs it: the plugin of that name found in CNI_PATH, as a
 * process (argument array, never a shell) with the same CNI_* environment, CNI_COMMAND set
 * to ours, and the network config on its stdin. Its result gives the addresses we attach.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI").
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { familyOf } from '../util/ip.js';
import { CniError, ERR } from './errors.js';
import type { CniDns, CniRoute } from './config.js';

/** What we take from an IPAM plugin's result. */
export interface IpamResult {
  /** "10.1.0.5/24" with its gateway, per family */
  readonly v4?: { readonly address: string; readonly gateway?: string };
  readonly v6?: { readonly address: string; readonly gateway?: string };
  readonly routes: readonly CniRoute[];
  readonly dns?: CniDns;
}

const TIMEOUT_MS = 60_000;

/** The plugin `type` in CNI_PATH (a colon-separated list of directories). */
export function findPlugin(type: string, cniPath: string | undefined): string {
  for (const dir of (cniPath ?? '').split(':')) {
    if (dir === '') continue;
    const p = path.join(dir, type);
    try {
      if (statSync(p).isFile()) { accessSync(p, constants.X_OK); return p; }
    } catch { /* not here */ }
  }
  throw new CniError(ERR.invalidConfig, `invalid network config: ipam.type: no executable plugin "${type}" in CNI_PATH (${cniPath ?? 'unset'})`);
}

/** Run IPAM plugin `type` for `command`; its stdout on success, a CniError with its own code otherwise. */
export async function execIpam(type: string, command: string, env: Readonly<Record<string, string>>, stdin: string): Promise<string> {
  const file = findPlugin(type, env.CNI_PATH);
  const child = spawn(file, [], { env: { ...env, CNI_COMMAND: command }, stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => undefined); // a plugin that exits without reading its stdin
  child.stdin.end(stdin);
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new CniError(ERR.ours, `IPAM plugin ${file}: ${e.message}`)));
    child.on('close', (c, sig) => resolve(c ?? (sig !== null ? 128 : 1)));
  });
  const text = Buffer.concat(out).toString('utf8');
  if (code === 0) return text;
  let doc: { code?: unknown; msg?: unknown; details?: unknown } = {};
  try { doc = JSON.parse(text) as typeof doc; } catch { /* not a CNI error document */ }
  const msg = typeof doc.msg === 'string' ? doc.msg : (Buffer.concat(err).toString('utf8').trim() || `exit code ${code}`);
  throw new CniError(typeof doc.code === 'number' ? doc.code : ERR.ours, `IPAM plugin ${type} ${command}: ${msg}`,
    typeof doc.details === 'string' ? { details: doc.details } : {});
}

/** The addresses, routes and dns of an IPAM plugin's ADD result (any supported version). */
export function parseIpamResult(text: string, type: string): IpamResult {
  let doc: { ips?: unknown; routes?: unknown; dns?: unknown };
  try { doc = JSON.parse(text) as typeof doc; } catch {
    throw new CniError(ERR.decode, `IPAM plugin ${type} printed a result that is not JSON`);
  }
  const out: { v4?: { address: string; gateway?: string }; v6?: { address: string; gateway?: string }; routes: CniRoute[]; dns?: CniDns } = { routes: [] };
  for (const ip of Array.isArray(doc.ips) ? doc.ips as Array<{ address?: unknown; gateway?: unknown }> : []) {
    if (typeof ip.address !== 'string') continue;
    const f = familyOf(ip.address.split('/')[0]);
    const e = { address: ip.address, ...(typeof ip.gateway === 'string' && ip.gateway !== '' ? { gateway: ip.gateway } : {}) };
    if (f === 4 && out.v4 === undefined) out.v4 = e;
    if (f === 6 && out.v6 === undefined) out.v6 = e;
  }
  if (out.v4 === undefined && out.v6 === undefined) throw new CniError(ERR.ours, `IPAM plugin ${type} gave no address`);
  for (const r of Array.isArray(doc.routes) ? doc.routes as Array<{ dst?: unknown; gw?: unknown }> : []) {
    if (typeof r.dst === 'string') out.routes.push({ dst: r.dst, ...(typeof r.gw === 'string' && r.gw !== '' ? { gw: r.gw } : {}) });
  }
  if (doc.dns !== null && typeof doc.dns === 'object' && Object.keys(doc.dns).length > 0) out.dns = doc.dns as CniDns;
  return out;
}
