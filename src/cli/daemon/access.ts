/**
 * cli/daemon/access.ts — who may talk to the agent and what a non-root peer may name: the
 * agent's config file (`--config`: group, cniAgentMode, metricsListen), the group resolved
 * from /etc/group, the peer's groups from /proc, and the netns check (docs/agent-protocol.md,
 * "Who may talk").
 *
 * The rules: root (uid 0) and the agent's own uid may do everything; members of the
 * configured group may send typed requests; anyone else is refused before a byte is parsed.
 * A non-root peer may only name a netns it could open itself: the path is looked up in the
 * peer's own filesystem view (/proc/PID/root/…), every directory on the way must be
 * searchable and the file readable by the peer's uid and groups (mode bits; owner, group,
 * other), a /proc/N/ns/net path must name a process of the peer's own uid (the kernel's
 * ptrace rule for ns files, without CAP_SYS_PTRACE), and the file must be the same inode the
 * agent sees at that path (so a peer in another mount or pid namespace cannot make the agent
 * act on a different netns). A non-root peer never creates a named netns.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CtnetError, CODE, InvalidInputError } from '../../model/errors.js';

/** The agent's configuration (JSON file given with --config; every key optional). */
export interface AgentConfig {
  /** Group (name or number) whose members may talk to the agent besides root; the socket's group. */
  readonly group?: string;
  /** Reserved for a later issue (metrics over HTTP); accepted and reported, not served. */
  readonly metricsListen?: string;
  /** What the CNI shim should do when no agent answers (agent-wire.md): shown by `agent status`. */
  readonly cniAgentMode?: 'required' | 'auto' | 'fallback';
}

const CONFIG_KEYS = ['group', 'metricsListen', 'cniAgentMode'];

/** Read and check a config file; throws naming the file and the key. */
export function readConfig(file: string): AgentConfig {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    throw new CtnetError(`agent config ${file}: ${(e as Error).message}`, (e as { code?: string }).code === 'ENOENT' ? CODE.notFound : CODE.failure);
  }
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw new InvalidInputError(`agent config ${file}: not JSON: ${(e as Error).message}`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidInputError(`agent config ${file}: expected a JSON object`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!CONFIG_KEYS.includes(k)) throw new InvalidInputError(`agent config ${file}: unknown key "${k}" (known: ${CONFIG_KEYS.join(', ')})`);
  }
  if (o.group !== undefined && (typeof o.group !== 'string' || o.group === '')) throw new InvalidInputError(`agent config ${file}: "group" must be a group name or number`);
  if (o.metricsListen !== undefined && typeof o.metricsListen !== 'string') throw new InvalidInputError(`agent config ${file}: "metricsListen" must be a string (HOST:PORT)`);
  if (o.cniAgentMode !== undefined && !['required', 'auto', 'fallback'].includes(o.cniAgentMode as string)) {
    throw new InvalidInputError(`agent config ${file}: "cniAgentMode" must be required, auto or fallback`);
  }
  if (o.group !== undefined) groupId(o.group as string); // a group that does not exist is an error now, not at the first caller
  return o as AgentConfig;
}

/** The gid of a group name (from /etc/group) or number; throws naming it when unknown. */
export function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try { text = readFileSync('/etc/group', 'utf8'); } catch { /* none */ }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new CtnetError(`agent: group "${group}" not found in /etc/group`, CODE.notFound);
}

/** The peer as the kernel names it (SO_PEERCRED; on the pipes, the proven holder's /proc entry). */
export interface Peer {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** The peer's groups: its primary gid and the supplementary ones from /proc/PID/status. */
export function peerGroups(peer: Peer): number[] {
  const out = [peer.gid];
  try {
    const m = /^Groups:\s*(.*)$/m.exec(readFileSync(`/proc/${peer.pid}/status`, 'utf8'));
    for (const g of (m?.[1] ?? '').trim().split(/\s+/)) if (/^\d+$/.test(g)) out.push(Number(g));
  } catch { /* gone: the primary gid only */ }
  return out;
}

/** Why `peer` may not talk to an agent of uid `ownUid` admitting group `gid` (-1: none); undefined when it may. */
export function refusal(peer: Peer | undefined, ownUid: number, gid: number): string | undefined {
  if (peer === undefined) return 'the kernel did not name the peer (SO_PEERCRED unavailable): refused';
  if (peer.uid === 0 || peer.uid === ownUid) return undefined;
  if (gid >= 0 && peerGroups(peer).includes(gid)) return undefined;
  return `uid ${peer.uid} is neither root nor a member of the agent's group${gid >= 0 ? ` (gid ${gid})` : ' (none configured: root only)'}`;
}

/** Is this peer privileged (root, or the agent's own uid)? */
export function isRoot(peer: Peer, ownUid: number): boolean {
  return peer.uid === 0 || peer.uid === ownUid;
}

/** May uid/groups do `want` (4 read, 1 search) on a file of this stat? */
function permits(st: { uid: number; gid: number; mode: number }, uid: number, groups: readonly number[], want: number): boolean {
  const bits = st.uid === uid ? (st.mode >> 6) & 7 : groups.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & want) === want;
}

/**
 * Check that a non-root `peer` could open the netns `netns` (a name under /run/netns or an
 * absolute path) itself; throws EACCES/ENOENT naming it otherwise. Returns the path.
 */
export function checkNetnsAccess(peer: Peer, netns: string): string {
  if (typeof netns !== 'string' || netns === '') throw new InvalidInputError('netns: expected a name or an absolute path');
  const p = netns.startsWith('/') ? path.normalize(netns) : `/run/netns/${netns}`;
  if (/^\/proc\/(self|thread-self)\//.test(p)) throw new InvalidInputError(`netns ${netns}: /proc/self names the agent, not you: give /proc/PID/ns/net`);
  if (!netns.startsWith('/') && (netns.includes('/') || netns === '.' || netns === '..')) throw new InvalidInputError(`netns "${netns}": not a name`);
  const denied = (why: string): CtnetError => new CtnetError(`netns ${netns}: uid ${peer.uid} ${why}: a non-root caller may only name a netns it could open itself`, 'EACCES');
  const root = `/proc/${peer.pid}/root`;
  const groups = peerGroups(peer);
  const parts = p.split('/').filter((x) => x !== '');
  let at = '';
  for (let i = 0; i < parts.length; i++) {
    let st;
    try { st = statSync(root + at); } catch { throw new CtnetError(`netns ${netns}: ${at || '/'} is not there for the caller`, CODE.notFound); }
    if (!permits(st, peer.uid, groups, 1)) throw denied(`cannot search ${at || '/'}`);
    at += `/${parts[i] as string}`;
  }
  let st;
  try { st = statSync(root + at); } catch { throw new CtnetError(`netns ${netns}: ${p} does not exist (a non-root caller cannot create one)`, CODE.notFound); }
  const proc = /^\/proc\/(\d+)\/(?:task\/\d+\/)?ns\/net$/.exec(p);
  if (proc !== null) {
    // /proc/N/ns/*: the kernel lets a process open them when it may ptrace N (same uid, dumpable)
    let owner = -1;
    try { owner = statSync(`${root}/proc/${proc[1] as string}`).uid; } catch { /* gone */ }
    if (owner !== peer.uid) throw denied(`does not own the process of ${p} (uid ${owner})`);
  } else if (!permits(st, peer.uid, groups, 4)) {
    throw denied(`may not read ${p} (mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid}:${st.gid})`);
  }
  let mine;
  try { mine = statSync(p); } catch { mine = undefined; }
  if (mine === undefined || mine.dev !== st.dev || mine.ino !== st.ino) {
    throw denied(`names at ${p} another netns than the agent sees there (another mount or pid namespace)`);
  }
  return p;
}
