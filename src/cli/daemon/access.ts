/**
 * cli/daemon/access.ts — who may talk to the agent and what a non-root peer may name: the
 * agent's config file (`--config`: group, metricsListen), the group resolved
 * from /etc/group, the peer's groups from /proc, and the netns check (docs/agent-protocol.md,
 * "Who may talk").
 *
 * The rules: root (uid 0) and the agent's own uid may do everything; members of the
 * configured group may send typed requests; anyone else is refused before a byte is parsed.
 * A non-root peer may only name a netns it could enter itself (checkNetnsAccess): its own
 * process's /proc/N/ns/net in a user namespace other than the host's; never a named netns.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CtnetError, CODE, InvalidInputError } from '../../model/errors.js';
import { peerNetnsVerdict } from '../../netns/peer.js';

/** The agent's configuration (JSON file given with --config; every key optional). */
export interface AgentConfig {
  /** Group (name or number) whose members may talk to the agent besides root; the socket's group. */
  readonly group?: string;
  /** Reserved for a later issue (metrics over HTTP); accepted and reported, not served. */
  readonly metricsListen?: string;
}

const CONFIG_KEYS = ['group', 'metricsListen'];
/** Keys that were removed, and what to do instead. */
const REMOVED_KEYS: Readonly<Record<string, string>> = {
  // the plugin never read it: what it does without an agent is each network config's "agent" key
  cniAgentMode: 'it had no effect (ctnet-cni never asked the agent); set "agent": "fallback" | "auto" | "required" in each CNI network config instead, and remove the key',
};

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
    if (Object.hasOwn(REMOVED_KEYS, k)) throw new InvalidInputError(`agent config ${file}: "${k}" was removed: ${REMOVED_KEYS[k] as string}`);
    if (!CONFIG_KEYS.includes(k)) throw new InvalidInputError(`agent config ${file}: unknown key "${k}" (known: ${CONFIG_KEYS.join(', ')})`);
  }
  if (o.group !== undefined && (typeof o.group !== 'string' || o.group === '')) throw new InvalidInputError(`agent config ${file}: "group" must be a group name or number`);
  if (o.metricsListen !== undefined && typeof o.metricsListen !== 'string') throw new InvalidInputError(`agent config ${file}: "metricsListen" must be a string (HOST:PORT)`);
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

/**
 * Check that a non-root `peer` may name the netns `netns`; throws EACCES (or ENOENT,
 * EINVALID_INPUT) naming it otherwise; returns the path. Every netns file is readable by
 * everyone (nsfs inodes are 0444), so "could open it" means "could enter it": the peer must
 * hold CAP_SYS_ADMIN over the netns's user namespace: the rule is netns/peer.ts's (shared
 * with the CNI plugin). Named netns (/run/netns/…) and bind mounts are root's.
 */
export function checkNetnsAccess(peer: Peer, netns: string): string {
  if (typeof netns !== 'string' || netns === '') throw new InvalidInputError('netns: expected a name or an absolute path');
  const p = netns.startsWith('/') ? path.normalize(netns) : `/run/netns/${netns}`;
  if (/^\/proc\/(self|thread-self)\//.test(p)) throw new InvalidInputError(`netns ${netns}: /proc/self names the agent, not you: give /proc/PID/ns/net`);
  const denied = (why: string): CtnetError => new CtnetError(`netns ${netns}: uid ${peer.uid} ${why}: a non-root caller may only name a netns it could enter itself (/proc/PID/ns/net of its own process in a user namespace of its own)`, 'EACCES');
  const proc = /^\/proc\/(\d+)\/(?:task\/\d+\/)?ns\/net$/.exec(p);
  if (proc === null) throw denied('may not name a named or bind-mounted netns');
  const v = peerNetnsVerdict(peer, proc[1] as string, p);
  if ('denied' in v) throw denied(v.denied);
  if ('gone' in v) throw new CtnetError(v.gone === 'process' ? `netns ${netns}: no process ${proc[1] as string} for the caller` : `netns ${netns}: ${p} does not exist`, CODE.notFound);
  return p;
}
