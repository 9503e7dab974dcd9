/**
 * cli/daemon/channel.ts — the agent's wire (docs/agent-protocol.md): newline-delimited JSON,
 * one hello and one request per connection or pipe pair; the line reader both transports
 * use, the agent's log line, and the control client (`agent status|stop`) that speaks the
 * same protocol to the socket after checking whose it is.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { lstatSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MAX_REQUEST_BYTES, PROTOCOL, PROTOCOL_MAX, PROTOCOL_MIN, SOCKET_NAME, type ListFile } from '../protocol.js';
import { CtnetError } from '../../model/errors.js';
import { ensureStateDir } from '../../state/dir.js';

/** A parsed line: any JSON object (fields are checked by whoever reads it). */
export type Message = Readonly<Record<string, unknown>>;

/** The `cli` request: a command line relayed for the process `pid` (believed only when the kernel agrees: peer.ts). */
export interface CliRequest {
  readonly v: number;
  readonly type: 'cli';
  readonly id: number;
  readonly pid: number;
  readonly argv: string[];
  /** The pipe pair it claimed (busy/SEQ.PID); absent on the socket. */
  readonly slot?: string;
  /** Its `--from-file` list, read by the caller (protocol.ts readListFile). */
  readonly fromFile?: ListFile;
}

export interface DaemonStatus {
  readonly running: true;
  readonly pid: number;
  readonly socket: string;
  readonly stateDir: string;
  readonly startedAt: string;
  readonly uptimeMs: number;
  /** Requests served since start (cli command lines and typed requests). */
  readonly served: number;
  /** Command lines answered with "run it yourself". */
  readonly declined: number;
  readonly inFlight: number;
  /** Seconds without a request after which it exits (0: never). */
  readonly idleTimeout: number;
  /** Pipe pairs waiting for a caller. */
  readonly freePairs: number;
  /** ctnet-fast/VERSION and the protocol versions it speaks. */
  readonly agent: string;
  readonly protocol: { readonly min: number; readonly max: number };
  /** The group whose members may talk to it (besides root), as configured; null: root only. */
  readonly group: string | null;
  readonly gid: number;
  readonly config: string | null;
  /** Clients following `events`. */
  readonly subscribers: number;
  /** What `gc` at start did (actions and errors). */
  readonly startGc: { readonly actions: number; readonly errors: readonly string[] };
}

/** Where one connection's answers go: a socket connection or a claimed pipe pair. */
export interface Channel {
  send(m: object): void;
  end(): void;
  /** Send the last line and end; true when it was written to the client (false: the client is gone). */
  deliver?(m: object): Promise<boolean>;
  /** Called once when the peer goes away (events streams stop then). */
  onClose?(fn: () => void): void;
}

/**
 * Call `fn` with each line `stream` carries, until `fn` returns false. A line longer than
 * MAX_REQUEST_BYTES ('long'), or an end in the middle of a line before `fn` said stop ('end'),
 * calls `broken` instead (once).
 */
export function onLines(stream: net.Socket, fn: (line: string) => boolean, broken: (why: 'long' | 'end') => void = () => stream.destroy()): void {
  let buf = '';
  let settled = false;
  const fail = (why: 'long' | 'end'): void => { if (!settled) { settled = true; stream.off('data', onData); broken(why); } };
  const onData = (chunk: Buffer): void => {
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0 && !settled; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!fn(line)) { settled = true; stream.off('data', onData); }
    }
    if (!settled && buf.length > MAX_REQUEST_BYTES) fail('long');
  };
  stream.on('data', onData);
  stream.on('end', () => fail('end'));
}

/** A line as an object; undefined when it is not JSON or not an object. */
export function parseLine(line: string): Message | undefined {
  try {
    const r: unknown = JSON.parse(line);
    return typeof r === 'object' && r !== null && !Array.isArray(r) ? r as Message : undefined;
  } catch {
    return undefined;
  }
}

export function socketChannel(c: net.Socket): Channel {
  return {
    send: (m) => { if (!c.destroyed && c.writable) c.write(JSON.stringify(m) + '\n'); },
    end: () => { c.end(); },
    deliver: (m) => new Promise<boolean>((resolve) => {
      if (c.destroyed || !c.writable || c.readableEnded) { resolve(false); return; }
      c.write(JSON.stringify(m) + '\n', (e) => resolve(e === undefined || e === null));
      c.end();
    }),
    onClose: (fn) => { c.once('close', fn); },
  };
}

export function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ctnet-fast agent[${process.pid}]: ${message}\n`);
}

/**
 * The agent's socket in `stateDir`, when it is one we may talk to: the directory passes
 * ensureStateDir (throws otherwise), and the socket is a socket of our own uid, or of root
 * for a member of the agent's group (lstat: a link is not followed). Undefined when there is
 * none (or it is someone else's: not an agent of ours).
 */
export function ownSocket(stateDir: string): string | undefined {
  ensureStateDir(stateDir);
  const socket = path.join(stateDir, SOCKET_NAME);
  try {
    const st = lstatSync(socket);
    return st.isSocket() && (st.uid === (process.geteuid?.() ?? 0) || st.uid === 0) ? socket : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Throw EACCES naming the state directory when this user cannot look into it (root's 0700
 * directory): "no agent" would be a guess. Used by `agent status|stop`.
 */
export function checkStateDirAccess(stateDir: string): void {
  try { lstatSync(path.join(stateDir, SOCKET_NAME)); } catch (e) {
    if ((e as { code?: string }).code !== 'EACCES') return;
    throw new CtnetError(`the agent's state directory ${stateDir} is not accessible to you (uid ${process.geteuid?.() ?? '?'}), so whether an agent runs there cannot be told: ask as root, or have root let the agent's group in (chgrp GROUP ${stateDir} && chmod 0750 ${stateDir}, with "group" in the agent's config)`, 'EACCES');
  }
}

/**
 * One request to an agent socket: hello and the request sent back to back, then the answer
 * (the first line after the hello reply). An agent error (hello refused, request failed)
 * rejects with its code and message; an agent that closes without answering, or stays silent
 * for `timeoutMs`, rejects naming the socket (never a hang).
 */
export function request(socket: string, msg: Message, timeoutMs = 3000): Promise<Message> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(socket);
    let buf = '';
    let lines = 0;
    const fail = (e: Error): void => { clearTimeout(timer); c.destroy(); reject(e); };
    const timer = setTimeout(() => fail(new CtnetError(`agent at ${socket} did not answer within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    c.on('connect', () => {
      c.write(JSON.stringify({ v: PROTOCOL, type: 'hello', min: PROTOCOL_MIN, max: PROTOCOL_MAX, client: 'ctnet-fast-cli' }) + '\n'
        + JSON.stringify({ v: PROTOCOL, id: 1, ...msg }) + '\n');
    });
    c.on('data', (d) => {
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const m = parseLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (m?.type === 'error') return fail(new CtnetError(`agent at ${socket}: ${String(m.message)}`, typeof m.code === 'string' ? m.code : 'EPROTO'));
        if (++lines === 2) { clearTimeout(timer); c.destroy(); resolve(m ?? {}); return; }
      }
    });
    c.on('error', (e) => fail(e));
    c.on('close', () => fail(new CtnetError(`agent at ${socket} closed the connection without answering`, 'ECONNRESET')));
  });
}

/**
 * The running agent's status, or undefined when none of ours answers on the socket. An agent
 * that is there but refuses us (EACCES: the socket's mode, or not in its group) throws,
 * naming the socket, when `refusedThrows`.
 */
export async function daemonStatus(stateDir: string, refusedThrows = false): Promise<DaemonStatus | undefined> {
  const socket = ownSocket(stateDir);
  if (socket === undefined) return undefined;
  try {
    const s = (await request(socket, { type: 'status' })).result;
    return typeof (s as { pid?: unknown } | undefined)?.pid === 'number' ? s as DaemonStatus : undefined;
  } catch (e) {
    if (refusedThrows && (e as { code?: string }).code === 'EACCES') {
      throw new CtnetError(`the agent at ${socket} refuses you (uid ${process.geteuid?.() ?? '?'}): ${(e as Error).message.replace(/^agent at \S+: /, '')}; root and members of its configured group may talk to it`, 'EACCES');
    }
    return undefined;
  }
}
