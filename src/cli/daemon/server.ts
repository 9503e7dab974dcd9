/**
 * cli/daemon/server.ts — the daemon's server half: takes the state directory (pid file
 * lock), listens on the socket and the pipe pairs, decides for each request whether it can
 * serve the caller exactly as the caller's own process would, and runs the command with the
 * `main` it was handed (it does not import main.ts: no cycle).
 *
 * Who asks is the kernel's answer (peer.ts: SO_PEERCRED on the socket, the holder of the pair's
 * FIFO on the pipes); the request's pid must name that same process. Then /proc/PID gives the
 * user, network and mount namespace, cwd, environment and terminals. Anything the daemon
 * cannot reproduce gets {local: reason}: "run it yourself". It never opens a file a caller
 * names: an `attach --from-file` list comes read by the caller (protocol.ts readListFile).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostCache, MainFn } from '../context.js';
import type { Streams } from '../output.js';
import { EXIT } from '../output.js';
import { parseCommandLine, type Parsed } from '../args.js';
import { PID_NAME, PIPES_NAME, PROTOCOL, SOCKET_NAME, STARTING_NAME, type ListFile } from '../protocol.js';
import { CtnetError, CODE } from '../../model/errors.js';
import type { Host } from '../../topology/host.js';
import type { HostOptions } from '../../model/types.js';
import { processAlive, sleepSync } from '../../util/proc.js';
import { ensureStateDir } from '../../state/dir.js';
import { log, onFirstLine, parseRequest, socketChannel, type Channel, type DaemonStatus, type Request } from './channel.js';
import { callerOf, nsId, socketPeerPid, type Caller, type PeerCredFn } from './peer.js';
import { createExclusive, readPid } from './files.js';
import { PipePairs } from './pipes.js';

/** Settings read from the environment by the library: the caller's must equal the daemon's. */
const SAME_ENV = ['CTNET_BACKEND', 'CTNET_NATIVE_PATH', 'CTNET_SKIP_PRIVILEGE_CHECK'] as const;
// (CTNET_STATE_DIR is not compared: a caller reaches a daemon only through the pipes and
// socket inside its own state directory, and commands run with that directory.)
/** Settings that only shape output: taken from the caller per command (/proc/PID/environ). */
const OUTPUT_ENV = ['NO_COLOR', 'FORCE_COLOR', 'TERM'] as const;
const NOT_YOU = 'your pid does not name you here (another pid namespace?)';

/** The file this code was loaded from: when it changes (an upgrade), a running daemon is stale. */
function ownBuild(): { file: string; mtimeMs: number } | undefined {
  try {
    const file = fileURLToPath(import.meta.url);
    return { file, mtimeMs: statSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

export class Server {
  readonly #stateDir: string;
  readonly #socket: string;
  readonly #idleTimeout: number;
  readonly #hosts = new Map<string, Promise<Host>>();
  readonly #netns = nsId('net');
  readonly #mntns = nsId('mnt');
  readonly #uid = process.getuid?.() ?? -1;
  readonly #build = ownBuild();
  readonly #started = Date.now();
  /** The environment commands run with: ours, without what only shapes output (the caller's is used). */
  readonly #env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(OUTPUT_ENV as readonly string[]).includes(k)));
  readonly #main: MainFn;
  #server: net.Server | undefined;
  #peerCred: PeerCredFn | undefined;
  #pipes: PipePairs | undefined;
  #cwd = process.cwd();
  #inFlight = 0;
  #served = 0;
  #declined = 0;
  #waiting: Array<() => void> = [];
  #idleTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #socketIno = 0;
  #resolveStopped: () => void = () => undefined;
  /** Settles when stop() has finished (whoever started it: a signal, `daemon stop`, idle, a new build). */
  readonly stopped = new Promise<void>((resolve) => { this.#resolveStopped = resolve; });

  constructor(stateDir: string, idleTimeout: number, main: MainFn) {
    this.#main = main;
    this.#stateDir = stateDir;
    this.#socket = path.join(stateDir, SOCKET_NAME);
    this.#idleTimeout = idleTimeout;
  }

  readonly hosts: HostCache = {
    get: (opts: HostOptions): Promise<Host> => {
      const stateDir = path.resolve(opts.stateDir ?? this.#stateDir);
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
   * Take the state directory: the pid file is the lock (created exclusively, so of daemons
   * starting at once exactly one wins); one left by a daemon that is gone is replaced.
   */
  #lock(): void {
    const pidFile = path.join(this.#stateDir, PID_NAME);
    for (let attempt = 0; ; attempt++) {
      try {
        createExclusive(pidFile, `${process.pid}\n`);
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST' || attempt >= 5) throw e;
      }
      const owner = readPid(pidFile); // NaN: empty (a daemon between creating and writing it), gone, or not ours
      if (processAlive(owner)) {
        throw new CtnetError(`daemon: already running for ${this.#stateDir} (pid ${owner}); stop it with ctnet-fast daemon stop`, CODE.exists);
      }
      if (!Number.isNaN(owner)) {
        // a daemon that was killed: its pid file (and socket) are stale
        try { if (readPid(pidFile) === owner) unlinkSync(pidFile); } catch { /* someone else did */ }
      } else if (attempt >= 2) {
        try { if (!lstatSync(pidFile).isFile()) unlinkSync(pidFile); } catch { /* gone */ } // not a file of ours
        sleepSync(20);
      } else {
        sleepSync(20); // written but not filled yet by a daemon starting right now
      }
    }
  }

  async listen(): Promise<void> {
    ensureStateDir(this.#stateDir);
    try {
      this.#lock();
    } finally {
      // a start asked for by CTNET_DAEMON=auto (bin/ctnet-fast.cjs) is decided either way
      try { unlinkSync(path.join(this.#stateDir, STARTING_NAME)); } catch { /* none */ }
    }
    try {
      try { unlinkSync(this.#socket); } catch { /* none: left only by a daemon that was killed */ }
      await this.#listen();
    } catch (e) {
      try { unlinkSync(path.join(this.#stateDir, PID_NAME)); } catch { /* gone */ }
      throw e;
    }
  }

  async #listen(): Promise<void> {
    const { loadNative } = await import('../../backend/native.js');
    const addon = loadNative().addon as unknown as { mkfifo?: unknown; peerCred?: unknown } | undefined;
    if (typeof addon?.peerCred === 'function') this.#peerCred = addon.peerCred as PeerCredFn;
    else log('the addon has no peerCred (not loaded, or an older build): commands on the socket run in the callers');
    const server = net.createServer((c) => this.#connection(c));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#socket, () => { server.off('error', reject); resolve(); });
    });
    chmodSync(this.#socket, 0o600);
    this.#socketIno = statSync(this.#socket).ino;
    if (typeof addon?.mkfifo === 'function') {
      this.#pipes = new PipePairs(path.join(this.#stateDir, PIPES_NAME), addon.mkfifo as (p: string, mode: number) => void,
        (ch, req, peer) => this.#dispatch(ch, req, peer));
    } else {
      log('the addon has no mkfifo (not loaded, or an older build): callers use the socket only');
    }
    // the Host most commands use, opened now rather than by the first command
    await this.hosts.get({}).catch((e: Error) => log(`opening the state in ${this.#stateDir}: ${e.message}`));
    this.#armIdle();
  }

  status(): DaemonStatus {
    return {
      running: true, pid: process.pid, socket: this.#socket, stateDir: this.#stateDir,
      startedAt: new Date(this.#started).toISOString(), uptimeMs: Date.now() - this.#started,
      served: this.#served, declined: this.#declined, inFlight: this.#inFlight, idleTimeout: this.#idleTimeout,
      freePairs: this.#pipes?.free ?? 0,
    };
  }

  #armIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#idleTimeout > 0 && this.#inFlight === 0) {
      this.#idleTimer = setTimeout(() => { void this.stop(`idle for ${this.#idleTimeout} s`); }, this.#idleTimeout * 1000);
      this.#idleTimer.unref();
    }
  }

  #connection(c: net.Socket): void {
    c.on('error', () => undefined); // a caller that went away: its command still finishes
    const peer = socketPeerPid(c, this.#peerCred);
    onFirstLine(c, (line) => this.#dispatch(socketChannel(c), parseRequest(line), peer));
  }

  #dispatch(ch: Channel, req: Partial<Request> | undefined, peer: number | undefined): void {
    void this.#handle(ch, req, peer).catch((e: Error) => {
      log(`internal error: ${e.stack ?? e.message}`);
      ch.send({ e: `ctnet-fast: daemon: internal error: ${e.message}\n` });
      ch.send({ x: EXIT.FAILURE });
      ch.end();
    });
  }

  /** `peer`: the pid the kernel says sent this request (undefined: unknown). */
  async #handle(c: Channel, r: Partial<Request> | undefined, peer: number | undefined): Promise<void> {
    const decline = (why: string): void => this.#decline(c, why);
    if (r === undefined || r.v !== PROTOCOL) return decline(`protocol version ${String(r?.v)} (this daemon speaks ${PROTOCOL})`);
    if (r.op === 'status' || r.op === 'stop') {
      // control only: our socket (0600) and pipes (0700) admit our uid and root; a known peer is checked too
      const uid = peer !== undefined ? callerOf(peer)?.uid : this.#uid;
      if (uid !== this.#uid) return decline(`the daemon runs as uid ${this.#uid}, you are uid ${String(uid)}`);
      if (r.op === 'status') c.send(this.status());
      else c.send({ stopping: process.pid });
      c.end();
      if (r.op === 'stop') void this.stop('asked to stop');
      return;
    }
    if (peer === undefined || Number(r.pid) !== peer) return decline(NOT_YOU);
    const caller = callerOf(peer);
    if (caller === undefined) return decline(`cannot read the calling process ${peer} in /proc`);
    if (caller.uid !== this.#uid) return decline(`the daemon runs as uid ${this.#uid}, you are uid ${caller.uid}`);
    if (this.#replaced()) {
      decline('the daemon runs an older build of ctnet-fast (it exits now)');
      void this.stop('its code was replaced');
      return;
    }
    const { why, parsed } = this.#refusal(r.argv, caller, r.fromFile);
    if (why !== undefined) return decline(why);
    const t0 = performance.now();
    await this.#run(c, r.argv as string[], caller, parsed, r.fromFile);
    if (process.env.CTNET_DAEMON_TRACE === '1') log(`${(r.argv as string[]).join(' ')}: ${(performance.now() - t0).toFixed(2)} ms`);
  }

  /**
   * Why this caller must run the command itself (`why`), or nothing: we serve it (with the
   * command line parsed once here, or undefined when it does not parse: main reports that).
   */
  #refusal(argv: unknown, caller: Caller, fromFile: ListFile | undefined): { why?: string; parsed?: Parsed } {
    if (this.#stopping !== undefined) return { why: 'the daemon is stopping' };
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return { why: 'malformed request' };
    // the process that sent it must be running this command line: its cwd and environment are used
    const tail = caller.cmdline.slice(-argv.length);
    if (tail.length !== argv.length || tail.some((a, i) => a !== argv[i])) return { why: NOT_YOU };
    if (caller.netns !== this.#netns) return { why: 'you are in another network namespace than the daemon' };
    if (caller.mntns !== this.#mntns) return { why: 'you are in another mount namespace than the daemon' };
    for (const k of SAME_ENV) {
      if ((caller.env[k] ?? '') !== (process.env[k] ?? '')) return { why: `${k} differs from the daemon's` };
    }
    let parsed: Parsed;
    try {
      parsed = parseCommandLine(argv as string[]);
    } catch {
      return {}; // usage errors are reported the same way here
    }
    if (parsed.kind !== 'run') return { why: 'help is printed by the CLI itself' };
    if (parsed.verb.daemon !== true) return { why: `${parsed.verb.name} runs in the calling process` };
    const list = parsed.options['from-file'];
    if (typeof list === 'string' && (fromFile === undefined || fromFile.name !== list)) {
      return { why: '--from-file is read by the caller: the request does not carry it' };
    }
    return { parsed };
  }

  /** Has the file this code was loaded from changed since (a new build installed)? */
  #replaced(): boolean {
    if (this.#build === undefined) return false;
    try { return statSync(this.#build.file).mtimeMs !== this.#build.mtimeMs; } catch { return true; }
  }

  /** "Run it yourself": nothing was done. */
  #decline(c: Channel, why: string): void {
    this.#declined++;
    c.send({ local: why });
    c.end();
  }

  async #enter(cwd: string): Promise<void> {
    while (cwd !== this.#cwd && this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (cwd !== this.#cwd) {
      process.chdir(cwd);
      this.#cwd = cwd;
    }
    this.#inFlight++;
    if (this.#idleTimer !== undefined) { clearTimeout(this.#idleTimer); this.#idleTimer = undefined; }
  }

  #leave(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) {
      for (const w of this.#waiting.splice(0)) w();
      this.#armIdle();
    }
  }

  async #run(c: Channel, argv: string[], caller: Caller, parsed: Parsed | undefined, fromFile: ListFile | undefined): Promise<void> {
    try {
      await this.#enter(caller.cwd);
    } catch (e) {
      return this.#decline(c, `cannot enter your working directory ${caller.cwd}: ${(e as Error).message}`);
    }
    let code: number;
    try {
      const streams: Streams = {
        stdout: { write: (s: string) => c.send({ o: s }), isTTY: caller.tty[0] },
        stderr: { write: (s: string) => c.send({ e: s }), isTTY: caller.tty[1] },
      };
      const env: NodeJS.ProcessEnv = { ...this.#env };
      for (const k of OUTPUT_ENV) {
        const v = caller.env[k];
        if (v !== undefined) env[k] = v;
      }
      code = await this.#main(argv, streams, env, {
        hosts: this.hosts, ...(parsed !== undefined ? { parsed } : {}), ...(fromFile !== undefined ? { fromFile } : {}),
      });
      this.#served++;
    } finally {
      this.#leave();
    }
    c.send({ x: code });
    c.end();
  }

  /** Stop taking commands, finish the running ones, close every Host, remove socket and pid file. */
  stop(why: string): Promise<void> {
    this.#stopping ??= (async () => {
      log(`stopping (${why})`);
      if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
      const closed = new Promise<void>((resolve) => { if (this.#server !== undefined) this.#server.close(() => resolve()); else resolve(); });
      // the socket file and the free pipe pairs go first, so new callers run locally instead of waiting on us
      try { if (lstatSync(this.#socket).ino === this.#socketIno) unlinkSync(this.#socket); } catch { /* already gone */ }
      this.#pipes?.closeFree();
      while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiting.push(resolve));
      for (const p of this.#hosts.values()) {
        const host = await p.catch(() => undefined);
        await host?.close().catch((e: Error) => log(`close: ${e.message}`));
      }
      this.#hosts.clear();
      this.#pipes?.remove();
      const pidFile = path.join(this.#stateDir, PID_NAME);
      try { if (readPid(pidFile) === process.pid) unlinkSync(pidFile); } catch { /* gone */ }
      await closed;
      log('stopped');
      this.#resolveStopped();
    })();
    return this.#stopping;
  }
}
