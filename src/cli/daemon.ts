/**
 * cli/daemon.ts — `ctnet-fast daemon start|stop|status|run`: a resident process that keeps
 * the library loaded (addon threads, SQLite state, firewall backend) and runs command lines
 * sent by `ctnet-fast` itself, so a single `attach` from a shell script costs Node's start-up
 * plus ~4 ms instead of start-up plus ~30 ms of loading.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). The client half is bin/ctnet-fast.cjs (plain
 * CommonJS that loads nothing but node:fs on the fast path); the server half is daemon/:
 * server.ts (who may be served, running commands), peer.ts (who asks, from the kernel),
 * pipes.ts (the pipe pairs), channel.ts (the wire, the control client), files.ts (the state
 * directory's files). This module holds the four verbs. File names, limits and the protocol
 * version are protocol.ts; which verbs the daemon serves is the verb table's `daemon` flag.
 *
 * Channels: named-pipe pairs under STATE_DIR/ctnetd/ (claimed by an atomic rename, then
 * synchronous reads and writes: no event loop in the caller), else the socket
 * STATE_DIR/ctnetd.sock. One command per pair or connection; newline-delimited JSON:
 *   client → daemon  {v:1, pid, argv[, slot][, fromFile]}  or  {v:1, pid, op:'status'|'stop'}
 *   daemon → client  {o: text} stdout · {e: text} stderr · {x: exitCode} the end
 *                    or {local: reason}: "run it yourself" (nothing was done)
 * The pid is believed only when the kernel names the same process (SO_PEERCRED on the socket,
 * the holder of the pair's FIFO on the pipes: daemon/peer.ts). `fromFile` is the caller's
 * `attach --from-file` list, read by the caller (protocol.ts readListFile): the daemon never
 * opens a file a caller names. Relative paths in a command line are resolved in the caller's
 * cwd: commands from different directories do not run at the same time. CTNET_DAEMON_TRACE=1
 * logs each command's time in the daemon.
 *
 * Safety: the state directory must be ours or root's and writable by nobody else
 * (state/dir.ts ensureStateDir), every file in it is opened without following links
 * (daemon/files.ts), the socket is chmod 0600 and the pipes live in a 0700 directory; clients
 * check that the socket and pipes are owned by their own uid before talking. State changes go
 * through the same SQLite intent log as any other process, so a killed daemon leaves nothing
 * `ctnet-fast gc` cannot repair.
 */
import { closeSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Context } from './context.js';
import { EXIT } from './output.js';
import { UsageError } from './args.js';
import { LOG_NAME, PID_NAME, PIPES_NAME, PROTOCOL, SOCKET_NAME, STARTING_NAME } from './protocol.js';
import { CtnetError, CODE } from '../model/errors.js';
import { checkPrivilege } from './privilege.js';
import { processAlive } from '../util/proc.js';
import { defaultStateDir, ensureStateDir } from '../state/dir.js';
import { daemonStatus, log, ownSocket, request, type DaemonStatus } from './daemon/channel.js';
import { openLog, readPid, readSmall } from './daemon/files.js';
import { callerOf } from './daemon/peer.js';
import { Server } from './daemon/server.js';

export { SOCKET_NAME, PID_NAME, LOG_NAME, STARTING_NAME, PIPES_NAME };
export { callerOf, daemonStatus, type DaemonStatus };

/** The state directory the CLI uses for these global options (absolute). */
export function stateDirOf(ctx: Pick<Context, 'global' | 'env'>): string {
  return path.resolve(ctx.global.stateDir ?? defaultStateDir(ctx.env));
}

const MAX_IDLE_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function idleOption(ctx: Context): number {
  const v = ctx.options['idle-timeout'];
  if (v === undefined) return 0;
  const n = Number(v);
  // (a timer longer than 2^31-1 ms would fire at once)
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > MAX_IDLE_SECONDS) {
    throw new UsageError(`${ctx.verb.name}: --idle-timeout "${String(v)}": expected whole seconds up to ${MAX_IDLE_SECONDS} (0: never)`, ctx.verb.name);
  }
  return n;
}

/** `daemon run`: serve in the foreground until SIGTERM/SIGINT, `daemon stop` or the idle timeout. */
export async function run(ctx: Context): Promise<number> {
  const idle = idleOption(ctx); // usage errors first
  checkPrivilege(ctx.verb.name);
  const server = new Server(stateDirOf(ctx), idle, ctx.main);
  await server.listen();
  log(`serving ${path.join(stateDirOf(ctx), SOCKET_NAME)}${idle > 0 ? ` (exits after ${idle} s idle)` : ''}`);
  ctx.out.debug(`daemon pid ${process.pid} listening`);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string): void => { void server.stop(sig).then(resolve); };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    void server.stopped.then(resolve);
  });
  return EXIT.OK;
}

/** `daemon start`: start `daemon run` in the background and wait until it answers. */
export async function start(ctx: Context): Promise<number> {
  const idle = idleOption(ctx); // usage errors first
  checkPrivilege(ctx.verb.name);
  const stateDir = stateDirOf(ctx);
  const socket = path.join(stateDir, SOCKET_NAME);
  const logFile = path.join(stateDir, LOG_NAME);
  const running = await daemonStatus(stateDir);
  if (running !== undefined) {
    ctx.out.result({ ...running, started: false }, () => `ctnet-fast daemon already running (pid ${running.pid}, socket ${socket})`);
    return EXIT.OK;
  }
  const script = process.argv[1];
  if (script === undefined) throw new CtnetError('daemon start: cannot find the ctnet-fast script to run', CODE.failure);
  ensureStateDir(stateDir);
  const fd = openLog(logFile);
  let child;
  try {
    child = spawn(process.execPath, [script, 'daemon', 'run', '--state-dir', stateDir, '--idle-timeout', String(idle)], {
      detached: true, stdio: ['ignore', fd, fd], cwd: '/', env: process.env,
    });
  } finally {
    closeSync(fd);
  }
  let exited: number | null | undefined;
  child.on('exit', (code) => { exited = code; });
  child.unref();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = await daemonStatus(stateDir);
    if (s !== undefined && s.pid === child.pid) {
      ctx.out.result({ ...s, started: true, log: logFile }, () => `ctnet-fast daemon started (pid ${s.pid}, socket ${socket}, log ${logFile})`);
      return EXIT.OK;
    }
    if (s !== undefined && exited !== undefined) {
      // another `daemon start` won the race: that daemon is the one
      ctx.out.result({ ...s, started: false }, () => `ctnet-fast daemon already running (pid ${s.pid}, socket ${socket})`);
      return EXIT.OK;
    }
    const winner = exited !== undefined ? lockOwner(stateDir) : undefined;
    if ((exited !== undefined && winner === undefined) || Date.now() > deadline) {
      const tail = tailOf(logFile);
      if (exited === undefined) child.kill('SIGTERM');
      throw new CtnetError(`daemon start: the daemon ${exited !== undefined ? `exited (status ${String(exited)})` : 'did not answer within 10 s'}${tail !== '' ? `: ${tail}` : ''} (log ${logFile})`, CODE.failure);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The live daemon holding the state directory's pid file (it may still be starting), if any. */
function lockOwner(stateDir: string): number | undefined {
  const pid = readPid(path.join(stateDir, PID_NAME));
  return processAlive(pid) ? pid : undefined;
}

function tailOf(file: string): string {
  const lines = (readSmall(file, true) ?? '').trim().split('\n');
  return (lines[lines.length - 1] ?? '').replace(/^\S+ ctnet-fast daemon\[\d+\]: /, '');
}


/** `daemon stop`: ask the daemon to finish its commands and exit; wait for it. Not running: nothing to do. */
export async function stop(ctx: Context): Promise<number> {
  const stateDir = stateDirOf(ctx);
  const s = await daemonStatus(stateDir);
  if (s === undefined) {
    ctx.out.result({ running: false, stateDir }, () => `no ctnet-fast daemon is running for ${stateDir}`);
    return EXIT.OK;
  }
  const socket = ownSocket(stateDir);
  if (socket !== undefined) await request(socket, { v: PROTOCOL, op: 'stop', pid: process.pid });
  const deadline = Date.now() + 30_000;
  while (processAlive(s.pid)) {
    if (Date.now() > deadline) throw new CtnetError(`daemon stop: pid ${s.pid} is still running after 30 s`, 'ETIMEDOUT');
    await new Promise((r) => setTimeout(r, 10));
  }
  ctx.out.result({ running: false, stopped: s.pid, served: s.served, stateDir }, () => `ctnet-fast daemon stopped (pid ${s.pid}, served ${s.served} commands)`);
  return EXIT.OK;
}

/** `daemon status`: exit 0 and the status when running; exit 3 when not. */
export async function status(ctx: Context): Promise<number> {
  const stateDir = stateDirOf(ctx);
  const s = await daemonStatus(stateDir);
  if (s === undefined) {
    throw new CtnetError(`no ctnet-fast daemon is running for ${stateDir}: start one with ctnet-fast daemon start`, CODE.notFound);
  }
  ctx.out.result(s, () => [
    `ctnet-fast daemon running: pid ${s.pid}`,
    `  socket    ${s.socket}`,
    `  since     ${s.startedAt} (${Math.round(s.uptimeMs / 1000)} s)`,
    `  served    ${s.served} commands (${s.declined} left to the caller), ${s.inFlight} running`,
    `  idle exit ${s.idleTimeout > 0 ? `${s.idleTimeout} s` : 'never'}`,
  ].join('\n'));
  return EXIT.OK;
}
