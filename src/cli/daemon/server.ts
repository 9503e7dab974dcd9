/**
 * cli/daemon/server.ts — the agent (docs/agent-protocol.md): takes the state directory (pid
 * file lock), repairs what a killed predecessor left (`gc` over the intent log) before it
 * listens, then serves one protocol on two transports: the socket STATE_DIR/agent.sock
 * (mode 0660, group = the configured group or root; SO_PEERCRED checked before a byte is
 * parsed) and, for the CLI's fast path, the named-pipe pairs (pipes.ts; mode 0700, the peer
 * proven by the FIFO it holds). Each connection is a Session (session.ts); typed requests
 * are requests.ts, the CLI's command lines relay.ts. It keeps the open Hosts, the counters,
 * the event subscribers and the idle timer, and runs commands with the `main` it was handed
 * (it does not import main.ts: no cycle).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers", "State model").
 */
import { chmodSync, chownSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostCache, MainFn } from '../context.js';
import { MAX_REQUEST_BYTES, PID_NAME, PIPES_NAME, PROTOCOL, PROTOCOL_MAX, PROTOCOL_MIN, SOCKET_NAME, STARTING_NAME } from '../protocol.js';
import { versionInfo } from '../version.js';
import { CtnetError, CODE } from '../../model/errors.js';
import type { Host } from '../../topology/host.js';
import type { HostOptions } from '../../model/types.js';
import { processAlive, sleepSync } from '../../util/proc.js';
import { ensureStateDir } from '../../state/dir.js';
import { log, onLines, socketChannel, type DaemonStatus } from './channel.js';
import { groupId, refusal, type AgentConfig, type Peer } from './access.js';
import { nsId, socketPeer, type PeerCredFn } from './peer.js';
import { createExclusive, readPid } from './files.js';
import { PipePairs } from './pipes.js';
import { OUTPUT_ENV } from './relay.js';
import { Session, type SessionServer } from './session.js';
import { inflightDone, inflightLeft } from './ledger.js';
import { undoAdd } from './requests.js';

/** A connection that has not sent its whole request within this is closed (a client that stalls holds nothing). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The file this code was loaded from: when it changes (an upgrade), a running agent is stale. */
function ownBuild(): { file: string; mtimeMs: number } | undefined {
  try {
    const file = fileURLToPath(import.meta.url);
    return { file, mtimeMs: statSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

export interface ServerOptions {
  readonly stateDir: string;
  readonly idleTimeout: number;
  readonly main: MainFn;
  readonly config?: AgentConfig;
  readonly configFile?: string;
}

export class Server implements SessionServer {
  readonly stateDir: string;
  readonly #socket: string;
  readonly #idleTimeout: number;
  readonly #hosts = new Map<string, Promise<Host>>();
  readonly netns = nsId('net');
  readonly mntns = nsId('mnt');
  readonly uid = process.getuid?.() ?? -1;
  readonly ownUid = this.uid;
  readonly agentName = `ctnet-fast/${versionInfo().version}`;
  readonly #build = ownBuild();
  readonly #started = Date.now();
  readonly #config: AgentConfig;
  readonly #configFile: string | undefined;
  readonly #gid: number;
  /** The environment commands run with: ours, without what only shapes output (the caller's is used). */
  readonly env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(OUTPUT_ENV as readonly string[]).includes(k)));
  readonly main: MainFn;
  readonly #subscribers = new Map<(e: object) => void, () => void>();
  #server: net.Server | undefined;
  readonly #conns = new Set<net.Socket>();
  #peerCred: PeerCredFn | undefined;
  #pipes: PipePairs | undefined;
  #cwd = process.cwd();
  #inFlight = 0;
  #served = 0;
  #declined = 0;
  #startGc = { actions: 0, errors: [] as string[] };
  #waiting: Array<() => void> = [];
  #idleTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #socketIno = 0;
  #resolveStopped: () => void = () => undefined;
  /** Settles when stop() has finished (whoever started it: a signal, `agent stop`, idle, a new build). */
  readonly stopped = new Promise<void>((resolve) => { this.#resolveStopped = resolve; });

  constructor(o: ServerOptions) {
    this.main = o.main;
    this.stateDir = o.stateDir;
    this.#socket = path.join(o.stateDir, SOCKET_NAME);
    this.#idleTimeout = o.idleTimeout;
    this.#config = o.config ?? {};
    this.#configFile = o.configFile;
    this.#gid = this.#config.group !== undefined ? groupId(this.#config.group) : -1;
  }

  readonly hosts: HostCache = {
    get: (opts: HostOptions): Promise<Host> => {
      const stateDir = path.resolve(opts.stateDir ?? this.stateDir);
      const key = JSON.stringify([opts.netns, stateDir, opts.backend, opts.firewall]);
      let p = this.#hosts.get(key);
      if (p === undefined) {
        p = import('../../topology/index.js').then(async ({ Host, watchFirewall }) => {
          const host = await Host.open({ ...opts, stateDir, warn: (m) => log(`warning: ${m}`) });
          // a resident process notices `nft flush ruleset` (a firewall reload) by itself and
          // restores our tables from the state (issue 10 item 6); stops when the host closes
          let lastError = '';
          watchFirewall(host, (e) => {
            if (e === undefined) log(`our firewall tables had vanished (nft flush ruleset?): restored from the state in ${stateDir}`);
            else if (e.message !== lastError) log(`restoring our firewall tables failed (retried every check): ${e.message}`);
            lastError = e?.message ?? '';
          });
          return host;
        });
        this.#hosts.set(key, p);
        p.catch(() => this.#hosts.delete(key));
      }
      return p;
    },
  };

  /**
   * Take the state directory: the pid file is the lock (created exclusively, so of agents
   * starting at once exactly one wins); one left by an agent that is gone is replaced.
   */
  #lock(): void {
    const pidFile = path.join(this.stateDir, PID_NAME);
    for (let attempt = 0; ; attempt++) {
      try {
        createExclusive(pidFile, `${process.pid}\n`);
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST' || attempt >= 5) throw e;
      }
      const owner = readPid(pidFile); // NaN: empty (an agent between creating and writing it), gone, or not ours
      if (processAlive(owner)) {
        throw new CtnetError(`agent: already running for ${this.stateDir} (pid ${owner}); stop it with ctnet-fast agent stop`, CODE.exists);
      }
      if (!Number.isNaN(owner)) {
        // an agent that was killed: its pid file (and socket) are stale
        try { if (readPid(pidFile) === owner) unlinkSync(pidFile); } catch { /* someone else did */ }
      } else if (attempt >= 2) {
        try { if (!lstatSync(pidFile).isFile()) unlinkSync(pidFile); } catch { /* gone */ } // not a file of ours
        sleepSync(20);
      } else {
        sleepSync(20); // written but not filled yet by an agent starting right now
      }
    }
  }

  async listen(): Promise<void> {
    ensureStateDir(this.stateDir);
    try {
      this.#lock();
    } finally {
      // a start asked for by CTNET_DAEMON=auto (bin/ctnet-fast.cjs) is decided either way
      try { unlinkSync(path.join(this.stateDir, STARTING_NAME)); } catch { /* none */ }
    }
    try {
      try { unlinkSync(this.#socket); } catch { /* none: left only by an agent that was killed */ }
      await this.#repair();
      await this.#listen();
    } catch (e) {
      try { unlinkSync(path.join(this.stateDir, PID_NAME)); } catch { /* gone */ }
      throw e;
    }
  }

  /**
   * Before the first request: finish or undo what a killed agent (or any dead process) left
   * half done, from the intent log (Host.gc). An attach whose client got an error is undone.
   */
  async #repair(): Promise<void> {
    this.#startGc = { actions: 0, errors: [] };
    await this.#gcAtStart();
    // ADDs a killed agent never answered (STATE_DIR/agent.inflight): their clients got an error, so they are undone
    let undone = 0;
    for (const { file, rec } of inflightLeft(this.stateDir)) {
      if (rec === undefined) { inflightDone(file); continue; }
      try {
        await undoAdd(rec, this);
        inflightDone(file);
        undone++;
        log(`undid an unanswered ${rec.kind === 'cni' ? `CNI ADD ${rec.env.CNI_CONTAINERID ?? ''} ${rec.env.CNI_IFNAME ?? ''}` : `attach of ${rec.netns} to ${rec.network}`}`);
      } catch (e) {
        this.#startGc.errors.push((e as Error).message);
        log(`could not undo an unanswered ${rec.kind} (${file}): ${(e as Error).message}`);
      }
    }
    this.#startGc.actions += undone;
    if (undone > 0) await this.#gcAtStart(); // what the undone detaches left for gc (leases of netns now gone)
  }

  async #gcAtStart(): Promise<void> {
    try {
      const r = await (await this.hosts.get({})).gc();
      this.#startGc.actions += r.actions.length;
      this.#startGc.errors.push(...r.errors);
      if (r.actions.length > 0 || r.errors.length > 0) log(`gc at start: ${r.actions.length} repairs${r.actions.length > 0 ? ` (${r.actions.join('; ')})` : ''}${r.errors.length > 0 ? `; errors: ${r.errors.join('; ')}` : ''}`);
    } catch (e) {
      log(`gc at start failed: ${(e as Error).message}`);
      this.#startGc.errors.push((e as Error).message);
    }
  }

  async #listen(): Promise<void> {
    const { loadNative } = await import('../../backend/native.js');
    const addon = loadNative().addon as unknown as { mkfifo?: unknown; peerCred?: unknown } | undefined;
    if (typeof addon?.peerCred === 'function') this.#peerCred = addon.peerCred as PeerCredFn;
    else log('the addon has no peerCred (not loaded, or an older build): every connection on the socket is refused');
    const server = net.createServer((c) => this.#connection(c));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#socket, () => { server.off('error', reject); resolve(); });
    });
    // root (or our uid) and the configured group; the kernel checks the mode at connect()
    if (this.#gid >= 0) chownSync(this.#socket, this.uid, this.#gid);
    chmodSync(this.#socket, 0o660);
    this.#socketIno = statSync(this.#socket).ino;
    if (typeof addon?.mkfifo === 'function') {
      this.#pipes = new PipePairs(path.join(this.stateDir, PIPES_NAME), addon.mkfifo as (p: string, mode: number) => void,
        (ch, peerOf) => new Session(this, ch, peerOf));
    } else {
      log('the addon has no mkfifo (not loaded, or an older build): callers use the socket only');
    }
    this.#armIdle();
  }

  refusal(peer: Peer | undefined): string | undefined {
    return refusal(peer, this.uid, this.#gid);
  }

  status(): DaemonStatus {
    return {
      running: true, pid: process.pid, socket: this.#socket, stateDir: this.stateDir,
      startedAt: new Date(this.#started).toISOString(), uptimeMs: Date.now() - this.#started,
      served: this.#served, declined: this.#declined, inFlight: this.#inFlight, idleTimeout: this.#idleTimeout,
      freePairs: this.#pipes?.free ?? 0, agent: this.agentName, protocol: { min: PROTOCOL_MIN, max: PROTOCOL_MAX },
      group: this.#config.group ?? null, gid: this.#gid,
      config: this.#configFile ?? null, subscribers: this.#subscribers.size, startGc: this.#startGc,
    };
  }

  #armIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#idleTimeout > 0 && this.#inFlight === 0 && this.#subscribers.size === 0) {
      this.#idleTimer = setTimeout(() => { void this.stop(`idle for ${this.#idleTimeout} s`); }, this.#idleTimeout * 1000);
      this.#idleTimer.unref();
    }
  }

  #connection(c: net.Socket): void {
    c.on('error', () => undefined); // a caller that went away: its request still finishes (an ADD is undone)
    this.#conns.add(c);
    c.once('close', () => this.#conns.delete(c));
    const peer = socketPeer(c, this.#peerCred);
    const ch = socketChannel(c);
    const session = new Session(this, ch, () => peer);
    if (!session.admit(peer)) return; // refused before a byte is read
    const bye = (message: string): void => {
      ch.send({ v: PROTOCOL, type: 'error', code: 'EPROTO', message });
      c.end();
      c.destroySoon();
    };
    c.setTimeout(REQUEST_TIMEOUT_MS, () => bye(`no complete request within ${REQUEST_TIMEOUT_MS / 1000} s: closed`));
    onLines(c, (line) => {
      const more = session.feed(line);
      if (!more) c.setTimeout(0);
      return more;
    }, (why) => { c.setTimeout(0); if (why === 'long') bye(`a line longer than ${MAX_REQUEST_BYTES} bytes: closed`); else c.destroy(); });
  }

  log(message: string): void { log(message); }
  stopping(): boolean { return this.#stopping !== undefined; }
  count(what: 'served' | 'declined'): void { if (what === 'served') this.#served++; else this.#declined++; }

  emit(kind: string, data: Readonly<Record<string, unknown>>): void {
    const event = { kind, at: new Date().toISOString(), ...data };
    for (const fn of this.#subscribers.keys()) fn(event);
  }

  subscribe(fn: (event: object) => void, end: () => void): () => void {
    this.#subscribers.set(fn, end);
    if (this.#idleTimer !== undefined) { clearTimeout(this.#idleTimer); this.#idleTimer = undefined; }
    return () => { if (this.#subscribers.delete(fn) && this.#subscribers.size === 0) this.#armIdle(); };
  }

  /** Has the file this code was loaded from changed since (a new build installed)? Then stop. */
  replaced(): boolean {
    if (this.#build === undefined) return false;
    let changed: boolean;
    try { changed = statSync(this.#build.file).mtimeMs !== this.#build.mtimeMs; } catch { changed = true; }
    if (changed) void this.stop('its code was replaced');
    return changed;
  }

  async enter(cwd: string): Promise<void> {
    while (cwd !== this.#cwd && this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (cwd !== this.#cwd) {
      process.chdir(cwd);
      this.#cwd = cwd;
    }
    this.#inFlight++;
    if (this.#idleTimer !== undefined) { clearTimeout(this.#idleTimer); this.#idleTimer = undefined; }
  }

  leave(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) {
      for (const w of this.#waiting.splice(0)) w();
      this.#armIdle();
    }
  }

  async track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight++;
    if (this.#idleTimer !== undefined) { clearTimeout(this.#idleTimer); this.#idleTimer = undefined; }
    try { return await p; } finally { this.leave(); }
  }

  /** Stop taking requests, finish the running ones, close every Host, remove socket and pid file. */
  stop(why: string): Promise<void> {
    this.#stopping ??= (async () => {
      log(`stopping (${why})`);
      if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
      const closed = new Promise<void>((resolve) => { if (this.#server !== undefined) this.#server.close(() => resolve()); else resolve(); });
      // the socket file and the free pipe pairs go first, so new callers run locally instead of waiting on us
      try { if (lstatSync(this.#socket).ino === this.#socketIno) unlinkSync(this.#socket); } catch { /* already gone */ }
      this.#pipes?.closeFree();
      for (const end of this.#subscribers.values()) end();
      this.#subscribers.clear();
      while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiting.push(resolve));
      // what is left is idle: connections that sent no request, events streams, answered ones not yet closed
      await new Promise((resolve) => setImmediate(resolve)); // (the `stop` request's own answer goes out first)
      for (const c of this.#conns) c.destroySoon();
      const stuck = setTimeout(() => { for (const c of this.#conns) c.destroy(); }, 1000);
      stuck.unref();
      for (const p of this.#hosts.values()) {
        const host = await p.catch(() => undefined);
        await host?.close().catch((e: Error) => log(`close: ${e.message}`));
      }
      this.#hosts.clear();
      this.#pipes?.remove();
      await closed;
      clearTimeout(stuck);
      // the pid file last: while it names us, `agent status` says we are stopping, not gone
      const pidFile = path.join(this.stateDir, PID_NAME);
      try { if (readPid(pidFile) === process.pid) unlinkSync(pidFile); } catch { /* gone */ }
      log('stopped');
      this.#resolveStopped();
    })();
    return this.#stopping;
  }
}
