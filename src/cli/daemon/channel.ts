/**
 * cli/daemon/channel.ts — the wire: newline-delimited JSON, one command per pipe pair or
 * connection (see cli/daemon.ts for the protocol), the daemon's log line, and the control
 * client (`daemon status|stop`) that talks to the socket after checking whose it is.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { lstatSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MAX_REQUEST_BYTES, PROTOCOL, SOCKET_NAME, type ListFile } from '../protocol.js';
import { CtnetError } from '../../model/errors.js';
import { ensureStateDir } from '../../state/dir.js';

/** What a caller sends: its command line and pid (believed only when the kernel agrees: peer.ts). */
export interface Request {
  readonly v: number;
  readonly pid: number;
  readonly argv?: string[];
  readonly op?: 'status' | 'stop';
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
  /** Commands run since start. */
  readonly served: number;
  /** Command lines answered with "run it yourself". */
  readonly declined: number;
  readonly inFlight: number;
  /** Seconds without a command after which it exits (0: never). */
  readonly idleTimeout: number;
  /** Pipe pairs waiting for a caller. */
  readonly freePairs: number;
}

/** Where one command's answer goes: a socket connection or a claimed pipe pair. */
export interface Channel {
  send(m: unknown): void;
  end(): void;
}

/**
 * Call `fn` once with the first line a caller writes. A caller that writes more than
 * MAX_REQUEST_BYTES without a newline, or ends without one, gets `broken` instead (once).
 */
export function onFirstLine(stream: net.Socket, fn: (line: string) => void, broken: () => void = () => stream.destroy()): void {
  let buf = '';
  let settled = false;
  const fail = (): void => { if (!settled) { settled = true; stream.off('data', onData); broken(); } };
  const onData = (chunk: Buffer): void => {
    buf += chunk.toString('utf8');
    const nl = buf.indexOf('\n');
    if (nl < 0) {
      if (buf.length > MAX_REQUEST_BYTES) fail();
      return;
    }
    settled = true;
    stream.off('data', onData);
    fn(buf.slice(0, nl));
  };
  stream.on('data', onData);
  stream.on('end', fail);
}

export function parseRequest(line: string): Partial<Request> | undefined {
  try {
    const r: unknown = JSON.parse(line);
    return typeof r === 'object' && r !== null ? r as Partial<Request> : undefined;
  } catch {
    return undefined;
  }
}

export function socketChannel(c: net.Socket): Channel {
  return {
    send: (m) => { if (!c.destroyed && c.writable) c.write(JSON.stringify(m) + '\n'); },
    end: () => { c.end(); },
  };
}

export function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ctnet-fast daemon[${process.pid}]: ${message}\n`);
}

/**
 * The daemon's socket in `stateDir`, when it is one we may talk to: the directory passes
 * ensureStateDir (throws otherwise), and the socket is a socket of our own uid (lstat: a link
 * is not followed). Undefined when there is none (or it is not ours: not a daemon of ours).
 */
export function ownSocket(stateDir: string): string | undefined {
  ensureStateDir(stateDir);
  const socket = path.join(stateDir, SOCKET_NAME);
  try {
    const st = lstatSync(socket);
    return st.isSocket() && st.uid === (process.geteuid?.() ?? 0) ? socket : undefined;
  } catch {
    return undefined;
  }
}

/** One control request to a daemon socket; resolves to its one answer. */
export function request(socket: string, msg: unknown, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(socket);
    let buf = '';
    const timer = setTimeout(() => { c.destroy(); reject(new CtnetError(`daemon at ${socket} did not answer within ${timeoutMs} ms`, 'ETIMEDOUT')); }, timeoutMs);
    c.on('connect', () => c.write(JSON.stringify(msg) + '\n'));
    c.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        c.destroy();
        try { resolve(JSON.parse(buf.slice(0, nl))); } catch (e) { reject(e); }
      }
    });
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.on('close', () => { clearTimeout(timer); reject(new CtnetError(`daemon at ${socket} closed the connection without answering`, 'ECONNRESET')); });
  });
}

/** The running daemon's status, or undefined when none of ours answers on the socket. */
export async function daemonStatus(stateDir: string): Promise<DaemonStatus | undefined> {
  const socket = ownSocket(stateDir);
  if (socket === undefined) return undefined;
  try {
    const s = await request(socket, { v: PROTOCOL, op: 'status', pid: process.pid });
    return typeof (s as { pid?: unknown }).pid === 'number' ? s as DaemonStatus : undefined;
  } catch {
    return undefined;
  }
}
