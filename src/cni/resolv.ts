/**
 * cni/resolv.ts — host-local's `resolvConf` key: the result's `dns` read from a resolv.conf
 * file (nameserver, domain, search, options), as the reference host-local reads it.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI").
 */
import { readFileSync } from 'node:fs';
import type { CniDns } from './config.js';
import { CniError, ERR } from './errors.js';

export function readResolvConf(file: string): CniDns {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CniError(ERR.invalidConfig, `invalid network config: ipam.resolvConf: cannot read ${file}: ${(e as Error).message}`);
  }
  const nameservers: string[] = [];
  const options: string[] = [];
  let domain: string | undefined;
  let search: string[] | undefined;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const key = f[0] ?? '';
    if (key === '' || key.startsWith('#') || key.startsWith(';') || f.length < 2) continue;
    if (key === 'nameserver') nameservers.push(f[1] as string);
    else if (key === 'domain') domain = f[1];
    else if (key === 'search') search = f.slice(1);
    else if (key === 'options') options.push(...f.slice(1));
  }
  return {
    ...(nameservers.length > 0 ? { nameservers } : {}), ...(domain !== undefined ? { domain } : {}),
    ...(search !== undefined ? { search } : {}), ...(options.length > 0 ? { options } : {}),
  };
}
