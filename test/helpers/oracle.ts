/**
 * test/helpers/oracle.ts — the independent oracle: kernel state read with `ip -j …`
 * (argument arrays, never a shell), so tests never check the library with itself.
 *
 *   await ipJson(['link', 'show'])            // ip -j link show            (this netns)
 *   await ipJson(['addr', 'show'], 'ctr-ns1') // ip -n ctr-ns1 -j addr show (a named netns)
 *   await ip(['link', 'add', …])               // plain ip for setup; throws with stderr on failure
 *
 * `ns` is a name under /run/netns (→ `ip -n NAME`) or an absolute nsfs path (→ nsenter).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

function argv(args: readonly string[], ns?: string): [string, string[]] {
  if (ns === undefined) return ['ip', [...args]];
  if (ns.startsWith('/')) return ['nsenter', [`--net=${ns}`, '--', 'ip', ...args]];
  return ['ip', ['-n', ns, ...args]];
}

/** Run `ip ARGS` (in `ns`); resolves stdout, rejects with an Error carrying stderr. */
export async function ip(args: readonly string[], ns?: string): Promise<string> {
  const [file, a] = argv(args, ns);
  try {
    const { stdout } = await run(file, a, { encoding: 'utf8' });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${file} ${a.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

/** `ip -j ARGS` parsed (in `ns`). */
export async function ipJson<T = Record<string, unknown>>(args: readonly string[], ns?: string): Promise<T[]> {
  const out = await ip(['-j', ...args], ns);
  return out.trim() === '' ? [] : (JSON.parse(out) as T[]);
}

export interface OracleLink {
  ifindex: number; ifname: string; flags: string[]; mtu: number; operstate: string; address?: string;
  master?: string; link?: string; link_index?: number; link_netnsid?: number; ifalias?: string; txqlen?: number;
  linkinfo?: { info_kind?: string };
}
export interface OracleAddrLink { ifindex: number; ifname: string; addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string; nodad?: boolean; broadcast?: string }> }
export interface OracleRoute { dst: string; gateway?: string; dev?: string; metric?: number; table?: string; protocol?: string; scope?: string; type?: string; flags: string[] }

/** `ip -j -d link show` */
export function links(ns?: string): Promise<OracleLink[]> {
  return ipJson<OracleLink>(['-d', 'link', 'show'], ns);
}

/** One link by name, or undefined. */
export async function link(name: string, ns?: string): Promise<OracleLink | undefined> {
  return (await links(ns)).find((l) => l.ifname === name);
}

/** `ip -j addr show` flattened to "ADDR/LEN" strings per interface name. */
export async function addrs(ns?: string): Promise<Map<string, string[]>> {
  const m = new Map<string, string[]>();
  for (const l of await ipJson<OracleAddrLink>(['addr', 'show'], ns)) {
    m.set(l.ifname, (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  }
  return m;
}

/** `ip -j [-4|-6] route show [table T]` */
export function routes(ns?: string, family: 4 | 6 = 4, table?: number): Promise<OracleRoute[]> {
  return ipJson<OracleRoute>([`-${family}`, 'route', 'show', ...(table !== undefined ? ['table', String(table)] : [])], ns);
}

/** `ip netns list` names (first word of each line). */
export async function netnsList(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}
