/**
 * cli/daemon/peer.ts — who is asking, from the kernel, never from the request: on the socket
 * the pid SO_PEERCRED recorded when the caller connected (native/peercred.cc); on a pipe pair
 * the process that holds the pair's `res` FIFO open (the client opens it before it writes its
 * request and keeps it until the answer). Then what that process would have run the command
 * with, read from /proc/PID: user, network and mount namespace, cwd, environment, terminals.
 *
 * Why neither can be spoofed: a pid in the request is only believed when the kernel names the
 * same process. SO_PEERCRED is set by the kernel at connect(); a FIFO's holders are the
 * processes with an fd on that inode, which only a process that opened it (or was handed the
 * fd by one) has, and the pair's directory is reachable only by the daemon's uid (mode 0700).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type net from 'node:net';

/** The caller as /proc shows it: what its own process would have run the command with. */
export interface Caller {
  readonly uid: number;
  readonly netns: string;
  readonly mntns: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tty: readonly [boolean, boolean];
  /** Its command line (argv[0] is node, argv[1] the script). */
  readonly cmdline: readonly string[];
}

/** The addon's getsockopt(SO_PEERCRED). */
export type PeerCredFn = (fd: number) => { pid: number; uid: number; gid: number };

/** A namespace's identity (device:inode of /proc/PID/ns/KIND); '?' when unreadable. */
export function nsId(kind: 'net' | 'mnt', pid: number | 'self' = 'self'): string {
  try {
    const s = statSync(`/proc/${pid}/ns/${kind}`);
    return `${s.dev}:${s.ino}`;
  } catch {
    return '?';
  }
}

/** Read the caller from /proc/PID; undefined when it is gone (or not a process we may read). */
export function callerOf(pid: number): Caller | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const env: Record<string, string> = {};
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = Buffer.from(kv.slice(eq + 1), 'latin1').toString('utf8');
    }
    const netns = nsId('net', pid);
    const mntns = nsId('mnt', pid);
    if (netns === '?' || mntns === '?') return undefined;
    return {
      uid: statSync(`/proc/${pid}`).uid, netns, mntns,
      cwd: readlinkSync(`/proc/${pid}/cwd`), env, tty: [isTerminal(pid, 1), isTerminal(pid, 2)],
      cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1),
    };
  } catch {
    return undefined;
  }
}

/** The uid and gid of process `pid` (the owner of /proc/PID), or undefined when it is gone. */
export function callerStat(pid: number): { uid: number; gid: number } | undefined {
  try {
    const st = statSync(`/proc/${pid}`);
    return { uid: st.uid, gid: st.gid };
  } catch {
    return undefined;
  }
}

/** Is fd N of process PID a terminal? (a character device with a tty major: 4, 5, 136-143) */
function isTerminal(pid: number, fd: number): boolean {
  try {
    const st = statSync(`/proc/${pid}/fd/${fd}`);
    const major = (st.rdev >> 8) & 0xfff;
    return st.isCharacterDevice() && (major === 4 || major === 5 || (major >= 136 && major <= 143));
  } catch {
    return false;
  }
}

/**
 * The pid, uid and gid the kernel recorded for the process that connected `c` (SO_PEERCRED),
 * or undefined when they cannot be read (no addon). pid 0: a process our pid namespace
 * cannot see (its uid and gid are still the kernel's word).
 */
export function socketPeer(c: net.Socket, peerCred: PeerCredFn | undefined): { pid: number; uid: number; gid: number } | undefined {
  // an accepted unix socket's libuv handle carries its fd (Node has no public name for it)
  const fd = (c as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (peerCred === undefined || typeof fd !== 'number' || fd < 0) return undefined;
  try {
    const p = peerCred(fd);
    return { pid: p.pid > 0 ? p.pid : 0, uid: p.uid, gid: p.gid };
  } catch {
    return undefined;
  }
}

/** Does process `pid` (not this one) have an fd open on the file {dev, ino}? */
export function holdsFile(pid: number, file: { readonly dev: number; readonly ino: number }): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  let fds: string[];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return false; }
  // newest fds last: the caller opened the FIFO moments ago, so it is found in a step or two
  for (let i = fds.length - 1; i >= 0; i--) {
    const n = fds[i] as string;
    try {
      const st = statSync(`/proc/${pid}/fd/${n}`);
      if (st.ino === file.ino && st.dev === file.dev) return true;
    } catch { /* closed meanwhile */ }
  }
  return false;
}
