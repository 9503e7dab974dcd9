/**
 * cli/daemon/ledger.ts — the agent's own bookkeeping in its state directory
 * (docs/agent-protocol.md, "Restarts, kills and vanished agents" and "Who may talk"):
 *
 * - STATE_DIR/agent.inflight/: one small JSON file per ADD (a typed `attach`, or a `cni` ADD)
 *   the agent is serving, written and fsynced before the work starts and removed once the
 *   reply was written to the client. A file still there at start names an ADD whose client
 *   got an error (the agent died before answering): the agent undoes it.
 * - STATE_DIR/agent.owners/: who made a CNI attachment (network, container id, ifname) when a
 *   non-root group member made it, so that a member's DEL/CHECK may only touch its own.
 *
 * Every file is created with O_EXCL|O_NOFOLLOW, mode 0600, in 0700 directories.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers", "State model").
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export const INFLIGHT_NAME = 'agent.inflight';
export const OWNERS_NAME = 'agent.owners';

/** An ADD the agent serves: what undoes it. */
export type InflightRecord =
  | { readonly kind: 'cni'; readonly env: Readonly<Record<string, string>>; readonly stdin: string; readonly uid: number; readonly pid: number }
  | { readonly kind: 'attach'; readonly netns: string; readonly network: string; readonly uid: number };

/** A CNI attachment's identity (SPEC.md: network name, container id, ifname). */
export interface AttachmentKey { readonly network: string; readonly containerId: string; readonly ifname: string }

function dirOf(stateDir: string, name: string): string {
  const dir = path.join(stateDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function writeSynced(file: string, text: string): void {
  const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const dfd = openSync(path.dirname(file), fsc.O_RDONLY | fsc.O_DIRECTORY);
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

/** Record an ADD before its work; returns the file to pass to `inflightDone`. */
export function inflightBegin(stateDir: string, rec: InflightRecord): string {
  const file = path.join(dirOf(stateDir, INFLIGHT_NAME), `${Date.now()}-${process.pid}-${randomBytes(6).toString('hex')}.json`);
  writeSynced(file, JSON.stringify(rec));
  return file;
}

export function inflightDone(file: string): void {
  try { unlinkSync(file); } catch { /* gone */ }
}

/** Read a file of ours whole, without following a link; undefined when absent or not JSON. */
function readJson<T>(file: string): T | undefined {
  try {
    const fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    try { return JSON.parse(readFileSync(fd, 'utf8')) as T; } finally { closeSync(fd); }
  } catch {
    return undefined;
  }
}

/** The ADDs a previous agent left unanswered (files it could not remove); rec undefined: unreadable. */
export function inflightLeft(stateDir: string): Array<{ file: string; rec: InflightRecord | undefined }> {
  const dir = dirOf(stateDir, INFLIGHT_NAME);
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const file = path.join(dir, f);
    return { file, rec: readJson<InflightRecord>(file) ?? undefined };
  });
}

function ownerFile(stateDir: string, key: AttachmentKey): string {
  const h = createHash('sha256').update(`${key.network}\n${key.containerId}\n${key.ifname}`).digest('hex').slice(0, 32);
  return path.join(dirOf(stateDir, OWNERS_NAME), `${h}.json`);
}

/** Record (uid ≥ 0) or forget (undefined) who made the attachment. */
export function setOwner(stateDir: string, key: AttachmentKey, uid: number | undefined): void {
  const file = ownerFile(stateDir, key);
  rmSync(file, { force: true });
  if (uid !== undefined) writeSynced(file, JSON.stringify({ uid, ...key }));
}

/** The uid that made the attachment through the agent as a non-root member; undefined: root (or unknown). */
export function ownerOf(stateDir: string, key: AttachmentKey): number | undefined {
  const o = readJson<AttachmentKey & { uid: number }>(ownerFile(stateDir, key));
  return o !== undefined && o !== null && o.network === key.network && o.containerId === key.containerId && o.ifname === key.ifname && Number.isSafeInteger(o.uid) ? o.uid : undefined;
}
