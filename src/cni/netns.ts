/**
 * cni/netns.ts — CNI_NETNS checked before any kernel work, so a wrong value is code 4 (an
 * environment variable problem) naming CNI_NETNS and its real cause: not a namespace file
 * (a regular file, a directory, /dev/null), a namespace of another type (/proc/1/ns/mnt),
 * one the plugin may not open (EACCES), the host's own netns, /proc/self (the plugin's or
 * the agent's own process). A path that does not exist is left to ADD (code 3, the
 * container is gone). And the rule for a caller that is not root (the agent's peer, named by
 * the kernel): it may name only /proc/N/ns/net of a process of its own uid living in a user
 * namespace other than the agent's — the one rule of netns/peer.ts, which the agent's own
 * check (cli/daemon/access.ts) uses too; every nsfs file is owned by root, so its owner says
 * nothing about the caller.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI" and "Kernel facts").
 */
import { readlinkSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { CniError, ERR } from './errors.js';
import { peerNetnsVerdict } from '../netns/peer.js';

export interface CniCaller { readonly uid: number; readonly pid: number }

const envErr = (netns: string, why: string): CniError => new CniError(ERR.invalidEnv, `CNI_NETNS ${netns}: ${why}`);
const PROC_NS = /^\/proc\/(\d+|self|thread-self)\/(?:task\/\d+\/)?ns\/([a-z_]+)$/;

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO() || st.isSocket()) return 'a pipe or socket';
  return 'a regular file';
}

/**
 * ADD and CHECK: `netns` must be a network namespace other than the host's (`hostNetns`, the
 * Host's netns path, else this process's). Returns quietly when the path does not exist.
 */
export function checkNetnsPath(netns: string, hostNetns: string | undefined): void {
  const p = path.normalize(netns);
  const m = PROC_NS.exec(p);
  if (m !== null && (m[1] === 'self' || m[1] === 'thread-self')) {
    throw envErr(netns, `/proc/${m[1]} names the plugin's own process (or the agent's), not the container: give /proc/PID/ns/net or a pinned netns`);
  }
  if (m !== null && m[2] !== 'net') throw envErr(netns, `is a ${m[2] ?? ''} namespace, not a network namespace (/proc/PID/ns/net)`);
  let st: Stats;
  try {
    st = statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // gone: ADD says so (code 3)
    if (code === 'EACCES' || code === 'EPERM') {
      throw envErr(netns, `permission denied (${code}): this plugin (uid ${process.getuid?.() ?? '?'}) may not open it; a process's netns is open to root and to that process's owner`);
    }
    throw envErr(netns, `cannot be read (${code ?? (e as Error).message})`);
  }
  let nsfs: Stats | undefined;
  try { nsfs = statSync('/proc/self/ns/net'); } catch { nsfs = undefined; }
  if (nsfs !== undefined && st.dev !== nsfs.dev) throw envErr(netns, `is ${kindOf(st)}, not a network namespace (/proc/PID/ns/net, or a netns pinned by a bind mount such as /run/netns/NAME)`);
  if (m === null) {
    // a bind mount: nsfs says nothing of its type here; a /proc link does
    try { const t = readlinkSync(p); if (!t.startsWith('net:')) throw envErr(netns, `is a ${t.split(':')[0] ?? ''} namespace, not a network namespace`); } catch (e) { if (e instanceof CniError) throw e; }
  }
  let host: Stats | undefined;
  try { host = statSync(hostNetns ?? '/proc/self/ns/net'); } catch { host = undefined; }
  if (host !== undefined && host.dev === st.dev && host.ino === st.ino) {
    throw envErr(netns, "is the host's own network namespace: a container needs its own (CNI_NETNS names the container's netns)");
  }
}

/**
 * A peer that is neither root nor the agent's own uid may name only /proc/N/ns/net (or
 * /proc/N/task/T/ns/net) where N is a process of its uid in a user namespace other than the
 * agent's, and the path must name the same netns for the peer as for us (no other mount or
 * pid namespace in between). DEL of a netns already gone is left to the state.
 */
export function checkCaller(caller: CniCaller | undefined, netns: string): void {
  if (caller === undefined || caller.uid === 0 || caller.uid === process.getuid?.() || netns === '') return;
  const p = path.normalize(netns);
  const refuse = (why: string): CniError => new CniError(ERR.invalidEnv, `CNI_NETNS ${netns}: uid ${caller.uid} ${why}: a caller that is not root may only name /proc/PID/ns/net of its own process in a user namespace of its own`);
  const m = PROC_NS.exec(p);
  if (m === null || m[2] !== 'net' || !/^\d+$/.test(m[1] ?? '')) throw refuse('may not name a pinned (bind-mounted) netns');
  const v = peerNetnsVerdict(caller, m[1] ?? '', p);
  if ('denied' in v) throw refuse(v.denied);
  if ('gone' in v && v.gone === 'process') throw new CniError(ERR.unknownContainer, `CNI_NETNS ${netns}: the caller has no process ${m[1] ?? ''} (the container is gone)`);
  if ('gone' in v) throw refuse(`names at ${p} another netns than the agent sees there (another mount or pid namespace)`);
}
