/**
 * cli/daemon.ts — `ctnet-fast agent run|start|stop|status` (and `daemon …`, their old names):
 * THE resident agent of the project (docs/agent-protocol.md). It keeps the library loaded
 * (addon threads, SQLite state, firewall backend) and serves one versioned protocol to every
 * client: the CLI (its command lines, so a single `attach` from a shell script costs Node's
 * start-up plus ~4 ms instead of start-up plus ~30 ms of loading), the CNI shim `ctnet-cni`,
 * and any runtime that speaks NDJSON on STATE_DIR/agent.sock. `agent install|uninstall`
 * (its systemd unit) are verbs/agent.ts.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). The CLI's client half is bin/ctnet-fast.cjs
 * (plain CommonJS that loads nothing but node:fs on the fast path); the server half is
 * daemon/: server.ts (lock, repair at start, transports, lifecycle), session.ts (peer check,
 * hello, dispatch), access.ts (who may talk, config, netns access), requests.ts (typed
 * requests), relay.ts (the `cli` request), peer.ts (who asks, from the kernel), pipes.ts
 * (the CLI's pipe pairs), channel.ts (the wire, the control client), files.ts (the state
 * directory's files). File names, limits and versions are protocol.ts.
 *
 * Safety: the state directory must be ours or root's and writable by nobody else
 * (state/dir.ts ensureStateDir), every file in it is opened without following links
 * (daemon/files.ts), the socket is 0660 with the configured group, the pipes live in a 0700
 * directory; clients check that the socket and pipes are owned by their own uid before
 * talking. State changes go through the same SQLite intent log as any other process, and the
 * agent runs `gc` over it at start, so a killed agent leaves nothing half done.
 */
import { closeSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Context } from './context.js';
import { EXIT } from './output.js';
import { UsageError } from './args.js';
import { LOG_NAME, PID_NAME, PIPES_NAME, SOCKET_NAME, STARTING_NAME } from './protocol.js';
import { CtnetError, CODE } from '../model/errors.js';
import { checkPrivilege } from './privilege.js';
import { processAlive } from '../util/proc.js';
import { defaultStateDir, ensureStateDir } from '../state/dir.js';
import { checkStateDirAccess, daemonStatus, log, ownSocket, request, type DaemonStatus } from './daemon/channel.js';
import { readConfig, type AgentConfig } from './daemon/access.js';
import { openLog, readPid, readSmall } from './daemon/files.js';
import { callerOf } from './daemon/peer.js';
import { Server } from './daemon/server.js';

export { SOCKET_NAME, PID_NAME, LOG_NAME, STARTING_NAME, PIPES_NAME };
export { callerOf, daemonStatus, type DaemonStatus };
export { install, uninstall } from './verbs/agent.js';

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

/** The --config file, absolute (undefined: none), and what it says. */
function configOption(ctx: Context): { file?: string; config?: AgentConfig } {
  const v = ctx.options.config;
  if (v === undefined) return {};
  if (typeof v !== 'string' || v === '') throw new UsageError(`${ctx.verb.name}: --config: expected a file`, ctx.verb.name);
  const file = path.resolve(v);
  return { file, config: readConfig(file) };
}

/** `agent run`: serve in the foreground until SIGTERM/SIGINT, `agent stop` or the idle timeout. */
export async function run(ctx: Context): Promise<number> {
  const idle = idleOption(ctx); // usage errors first
  const { file, config } = configOption(ctx);
  checkPrivilege(ctx.verb.name);
  const server = new Server({ stateDir: stateDirOf(ctx), idleTimeout: idle, main: ctx.main, ...(config !== undefined ? { config } : {}), ...(file !== undefined ? { configFile: file } : {}) });
  await server.listen();
  log(`${server.agentName} serving ${path.join(stateDirOf(ctx), SOCKET_NAME)}${config?.group !== undefined ? ` (root and group ${config.group})` : ' (root only)'}${idle > 0 ? ` (exits after ${idle} s idle)` : ''}`);
  ctx.out.debug(`agent pid ${process.pid} listening`);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string): void => { void server.stop(sig).then(resolve); };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    void server.stopped.then(resolve);
  });
  // (--json: one document when it ends, for a supervisor's log)
  const s = server.status();
  if (ctx.global.json) ctx.out.result({ running: false, stopped: s.pid, served: s.served, declined: s.declined, stateDir: s.stateDir }, () => '');
  return EXIT.OK;
}

/** `agent start`: start `agent run` in the background and wait until it answers. */
export async function start(ctx: Context): Promise<number> {
  const idle = idleOption(ctx); // usage errors first
  const { file } = configOption(ctx); // (read now: a bad config is an error here, not in the log)
  checkPrivilege(ctx.verb.name);
  const stateDir = stateDirOf(ctx);
  const socket = path.join(stateDir, SOCKET_NAME);
  const logFile = path.join(stateDir, LOG_NAME);
  const running = await daemonStatus(stateDir);
  if (running !== undefined) {
    ctx.out.result({ ...running, started: false }, () => `ctnet-fast agent already running (pid ${running.pid}, socket ${socket})`);
    return EXIT.OK;
  }
  const script = process.argv[1];
  if (script === undefined) throw new CtnetError('agent start: cannot find the ctnet-fast script to run', CODE.failure);
  ensureStateDir(stateDir);
  const fd = openLog(logFile);
  let child;
  try {
    child = spawn(process.execPath, [script, 'agent', 'run', '--state-dir', stateDir, '--idle-timeout', String(idle), ...(file !== undefined ? ['--config', file] : [])], {
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
      ctx.out.result({ ...s, started: true, log: logFile }, () => `ctnet-fast agent started (pid ${s.pid}, socket ${socket}, log ${logFile})`);
      return EXIT.OK;
    }
    if (s !== undefined && exited !== undefined) {
      // another `agent start` won the race: that agent is the one
      ctx.out.result({ ...s, started: false }, () => `ctnet-fast agent already running (pid ${s.pid}, socket ${socket})`);
      return EXIT.OK;
    }
    const winner = exited !== undefined ? lockOwner(stateDir) : undefined;
    if ((exited !== undefined && winner === undefined) || Date.now() > deadline) {
      const tail = tailOf(logFile);
      if (exited === undefined) child.kill('SIGTERM');
      throw new CtnetError(`agent start: the agent ${exited !== undefined ? `exited (status ${String(exited)})` : 'did not answer within 10 s'}${tail !== '' ? `: ${tail}` : ''} (log ${logFile})`, CODE.failure);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The live agent holding the state directory's pid file (it may still be starting), if any. */
function lockOwner(stateDir: string): number | undefined {
  const pid = readPid(path.join(stateDir, PID_NAME));
  return processAlive(pid) ? pid : undefined;
}

function tailOf(file: string): string {
  const lines = (readSmall(file, true) ?? '').trim().split('\n');
  return (lines[lines.length - 1] ?? '').replace(/^\S+ ctnet-fast agent\[\d+\]: /, '');
}


/** `agent stop`: ask the agent to finish its requests and exit; wait for it. Not running: nothing to do. */
export async function stop(ctx: Context): Promise<number> {
  const stateDir = stateDirOf(ctx);
  checkStateDirAccess(stateDir);
  let s = await daemonStatus(stateDir, true);
  // an agent without its socket is stopping (wait for it to go) or starting (wait for the socket)
  const deadline = Date.now() + 30_000;
  for (let pid = lockOwner(stateDir); s === undefined && pid !== undefined; pid = lockOwner(stateDir)) {
    if (Date.now() > deadline) throw new CtnetError(`agent stop: pid ${pid} has had no socket for 30 s (neither started nor stopped)`, 'ETIMEDOUT');
    await new Promise((r) => setTimeout(r, 20));
    s = await daemonStatus(stateDir, true);
    if (s === undefined && lockOwner(stateDir) === undefined) {
      ctx.out.result({ running: false, stopped: pid, stateDir }, () => `ctnet-fast agent stopped (pid ${pid}, it was already stopping)`);
      return EXIT.OK;
    }
  }
  if (s === undefined) {
    ctx.out.result({ running: false, stateDir }, () => `no ctnet-fast agent is running for ${stateDir}`);
    return EXIT.OK;
  }
  const socket = ownSocket(stateDir);
  if (socket !== undefined) await request(socket, { type: 'stop' });
  await waitGone(s.pid);
  ctx.out.result({ running: false, stopped: s.pid, served: s.served, stateDir }, () => `ctnet-fast agent stopped (pid ${s.pid}, served ${s.served} requests)`);
  return EXIT.OK;
}

async function waitGone(pid: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new CtnetError(`agent stop: pid ${pid} is still running after 30 s`, 'ETIMEDOUT');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `agent status`: exit 0 and the status when running; exit 3 when not. */
export async function status(ctx: Context): Promise<number> {
  const stateDir = stateDirOf(ctx);
  checkStateDirAccess(stateDir);
  const s = await daemonStatus(stateDir, true);
  if (s === undefined) {
    const pid = lockOwner(stateDir);
    if (pid !== undefined) throw new CtnetError(`the ctnet-fast agent for ${stateDir} (pid ${pid}) is running but takes no requests: it is starting (repairing what a killed agent left) or stopping (finishing its requests in flight)`, CODE.notFound);
    throw new CtnetError(`no ctnet-fast agent is running for ${stateDir}: start one with ctnet-fast agent start`, CODE.notFound);
  }
  ctx.out.result(s, () => [
    `ctnet-fast agent running: pid ${s.pid} (${s.agent}, protocol ${s.protocol.min}..${s.protocol.max})`,
    `  socket    ${s.socket} (${s.group !== null ? `root and group ${s.group}` : 'root only'})`,
    `  since     ${s.startedAt} (${Math.round(s.uptimeMs / 1000)} s)`,
    `  served    ${s.served} requests (${s.declined} left to the caller), ${s.inFlight} running, ${s.subscribers} following events`,
    `  idle exit ${s.idleTimeout > 0 ? `${s.idleTimeout} s` : 'never'}`,
    `  gc at start ${s.startGc.actions} repairs${s.startGc.errors.length > 0 ? `, errors: ${s.startGc.errors.join('; ')}` : ''}`,
  ].join('\n'));
  return EXIT.OK;
}
