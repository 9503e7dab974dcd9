/**
 * cli/daemon.ts — `ctnet-fast daemon start|stop|status|run`: a resident process that keeps
 * the library loaded (addon threads, SQLite state, firewall backend) and runs command lines
 * sent by `ctnet-fast` itself, so a single `attach` from a shell script costs Node's start-up
 * plus ~4 ms instead of start-up plus ~30 ms of loading.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). The client half is bin/ctnet-fast.cjs (plain
 * CommonJS that loads nothing but node:fs on the fast path); this module is the server half
 * and the four verbs. It runs commands with the `main` the dispatch hands it in the Context
 * (it does not import main.ts: no cycle); which verbs it serves is the verb table's `daemon`
 * flag (table.ts); file names and the protocol version are protocol.ts.
 *
 * Channels: named-pipe pairs under STATE_DIR/ctnetd/ (claimed by an atomic rename, then
 * synchronous reads and writes: no event loop in the caller), else the socket
 * STATE_DIR/ctnetd.sock. One command per pair or connection; newline-delimited JSON:
 *   client → daemon  {v:1, pid, argv[, slot]}  or  {v:1, pid, op:'status'|'stop'}
 *   daemon → client  {o: text} stdout · {e: text} stderr · {x: exitCode} the end
 *                    or {local: reason}: "run it yourself" (nothing was done)
 * Who asks is read from /proc/PID (user, netns, mount ns, cwd, environment, terminals), so the
 * caller spends nothing on it. The daemon only serves a caller it can serve exactly as the
 * caller's own process would: same user, same network and mount namespace (so netns names
 * and paths mean the same), same CTNET_* settings, same build. Anything else gets {local}.
 * Relative paths in a command line are resolved in the caller's cwd: commands from
 * different directories do not run at the same time. CTNET_DAEMON_TRACE=1 logs each
 * command's time in the daemon.
 *
 * Safety: the socket is created inside the state directory (mode 0700, root's) and chmod
 * 0600; state changes go through the same SQLite intent log as any other process, so a
 * killed daemon leaves nothing `ctnet-fast gc` cannot repair.
 */
import { chmodSync, closeSync, constants as fsc, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Context, HostCache, MainFn } from './context.js';
import type { Streams } from './output.js';
import { EXIT } from './output.js';
import { parseCommandLine, UsageError, type Parsed } from './args.js';
import { LOG_NAME, PID_NAME, PIPES_NAME, PROTOCOL, SOCKET_NAME, STARTING_NAME } from './protocol.js';
import { CtnetError, CODE } from '../model/errors.js';
import type { Host } from '../topology/host.js';
import type { HostOptions } from '../model/types.js';
import { checkPrivilege } from './privilege.js';
import { processAlive, sleepSync } from '../util/proc.js';
import { defaultStateDir } from '../state/dir.js';

export { SOCKET_NAME, PID_NAME, LOG_NAME, STARTING_NAME, PIPES_NAME };
/** Pairs kept ready; more callers at once than this use the socket. */
const FREE_PAIRS = 8;
/** Settings read from the environment by the library: the caller's must equal the daemon's. */
const SAME_ENV = ['CTNET_BACKEND', 'CTNET_NATIVE_PATH', 'CTNET_SKIP_PRIVILEGE_CHECK'] as const;
// (CTNET_STATE_DIR is not compared: a caller reaches a daemon only through the pipes and
// socket inside its own state directory, and commands run with that directory.)
/** Settings that only shape output: taken from the caller per command (/proc/PID/environ). */
const OUTPUT_ENV = ['NO_COLOR', 'FORCE_COLOR', 'TERM'] as const;

/** What a caller sends: its command line and pid (everything else is read from /proc/PID). */
interface Request {
  readonly v: number;
  readonly pid: number;
  readonly argv?: string[];
  readonly op?: 'status' | 'stop';
  /** The pipe pair it claimed (busy/SEQ.PID); absent on the socket. */
  readonly slot?: string;
}

/** The caller as /proc shows it: what its own process would have run the command with. */
interface Caller {
  readonly uid: number;
  readonly netns: string;
  readonly mntns: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tty: readonly [boolean, boolean];
  /** Its command line (argv[0] is node, argv[1] the script). */
  readonly cmdline: readonly string[];
}

/** Read the caller from /proc/PID; undefined when it is gone (or not a process we may read). */
export function callerOf(pid: number): Caller | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const ns = (kind: string): string => { const st = statSync(`/proc/${pid}/ns/${kind}`); return `${st.dev}:${st.ino}`; };
    const env: Record<string, string> = {};
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = Buffer.from(kv.slice(eq + 1), 'latin1').toString('utf8');
    }
    return {
      uid: statSync(`/proc/${pid}`).uid, netns: ns('net'), mntns: ns('mnt'),
      cwd: readlinkSync(`/proc/${pid}/cwd`), env, tty: [isTerminal(pid, 1), isTerminal(pid, 2)],
      cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1),
    };
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
}

function nsId(kind: 'net' | 'mnt'): string {
  try {
    const s = statSync(`/proc/self/ns/${kind}`);
    return `${s.dev}:${s.ino}`;
  } catch {
    return '?';
  }
}

/** The state directory the CLI uses for these global options (absolute). */
export function stateDirOf(ctx: Pick<Context, 'global' | 'env'>): string {
  return path.resolve(ctx.global.stateDir ?? defaultStateDir(ctx.env));
}

/** The file this code was loaded from: when it changes (an upgrade), a running daemon is stale. */
function ownBuild(): { file: string; mtimeMs: number } | undefined {
  try {
    const file = fileURLToPath(import.meta.url);
    return { file, mtimeMs: statSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

class Server {
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
  #server: net.Server | undefined;
  #cwd = process.cwd();
  #inFlight = 0;
  #served = 0;
  #declined = 0;
  #waiting: Array<() => void> = [];
  #idleTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #socketIno = 0;
  /** The pipe pairs: their directory and the addon's mkfifo; undefined: socket only. */
  #pipes: { dir: string; mkfifo: (p: string, mode: number) => void } | undefined;
  /** Pairs waiting for a request, by sequence number (their `req` is open for reading). */
  readonly #pairs = new Map<string, net.Socket>();
  #pairSeq = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  #resolveStopped: () => void = () => undefined;
  /** Settles when stop() has finished (whoever started it: a signal, `daemon stop`, idle, a new build). */
  readonly stopped = new Promise<void>((resolve) => { this.#resolveStopped = resolve; });

  readonly #main: MainFn;

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
        p = import('../topology/host.js').then(({ Host }) => Host.open({ ...opts, stateDir, warn: (m) => log(`warning: ${m}`) }));
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
        const fd = openSync(pidFile, 'wx', 0o600);
        writeFileSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST' || attempt >= 5) throw e;
      }
      let owner = NaN; // NaN: empty (a daemon between creating and writing it) or removed meanwhile
      try {
        const text = readFileSync(pidFile, 'utf8').trim();
        if (text !== '') owner = Number(text);
      } catch { /* removed meanwhile: retry */ }
      if (processAlive(owner)) {
        throw new CtnetError(`daemon: already running for ${this.#stateDir} (pid ${owner}); stop it with ctnet-fast daemon stop`, CODE.exists);
      }
      if (!Number.isNaN(owner)) {
        // a daemon that was killed: its pid file (and socket) are stale
        try { if (Number(readFileSync(pidFile, 'utf8').trim()) === owner) unlinkSync(pidFile); } catch { /* someone else did */ }
      } else {
        // written but not filled yet by a daemon starting right now
        sleepSync(20);
      }
    }
  }

  async listen(): Promise<void> {
    mkdirSync(this.#stateDir, { recursive: true, mode: 0o700 });
    try {
      this.#lock();
    } finally {
      // a start asked for by CTNET_DAEMON=auto (bin/ctnet-fast.cjs) is decided either way
      rmSync(path.join(this.#stateDir, STARTING_NAME), { force: true });
    }
    try {
      if (existsSync(this.#socket)) unlinkSync(this.#socket); // left by a daemon that was killed
      await this.#listen();
    } catch (e) {
      try { unlinkSync(path.join(this.#stateDir, PID_NAME)); } catch { /* gone */ }
      throw e;
    }
  }

  async #listen(): Promise<void> {
    const server = net.createServer((c) => this.#connection(c));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#socket, () => { server.off('error', reject); resolve(); });
    });
    chmodSync(this.#socket, 0o600);
    this.#socketIno = statSync(this.#socket).ino;
    await this.#setupPipes();
    // the Host most commands use, opened now rather than by the first command
    await this.hosts.get({}).catch((e: Error) => log(`opening the state in ${this.#stateDir}: ${e.message}`));
    this.#armIdle();
  }

  /**
   * The fast channel (see bin/ctnet-fast.cjs viaPipes): FREE_PAIRS directories under
   * ctnetd/free, each with two FIFOs, `req` (we keep it open for reading) and `res`. A caller
   * renames one into busy/SEQ.PID, writes its request into req and reads our answer from
   * res. A pair is made in new/ and renamed into free/ only once we read its req, so a
   * caller never finds one nobody listens on.
   */
  async #setupPipes(): Promise<void> {
    const { loadNative } = await import('../backend/native.js');
    const mkfifo = (loadNative().addon as unknown as { mkfifo?: unknown } | undefined)?.mkfifo;
    if (typeof mkfifo !== 'function') {
      log('the addon has no mkfifo (not loaded, or an older build): callers use the socket only');
      return;
    }
    const dir = path.join(this.#stateDir, PIPES_NAME);
    rmSync(dir, { recursive: true, force: true });
    for (const d of ['free', 'busy', 'new']) mkdirSync(path.join(dir, d), { recursive: true, mode: 0o700 });
    this.#pipes = { dir, mkfifo: mkfifo as (p: string, mode: number) => void };
    for (let i = 0; i < FREE_PAIRS; i++) this.#addPair();
    this.#sweepTimer = setInterval(() => this.#sweep(), 5000);
    this.#sweepTimer.unref();
  }

  #addPair(): void {
    const pipes = this.#pipes;
    if (pipes === undefined || this.#stopping !== undefined) return;
    const seq = String(++this.#pairSeq);
    const staging = path.join(pipes.dir, 'new', seq);
    try {
      mkdirSync(staging, { mode: 0o700 });
      pipes.mkfifo(path.join(staging, 'req'), 0o600);
      pipes.mkfifo(path.join(staging, 'res'), 0o600);
      const fd = openSync(path.join(staging, 'req'), fsc.O_RDONLY | fsc.O_NONBLOCK);
      const sock = new net.Socket({ fd, readable: true, writable: false });
      sock.on('error', () => undefined);
      onFirstLine(sock, (line) => {
        sock.destroy();
        this.#pairs.delete(seq);
        // the replacement pair is made once this answer is out (not while its plan runs)
        this.#pairRequest(seq, line, () => this.#addPair());
      });
      this.#pairs.set(seq, sock);
      renameSync(staging, path.join(pipes.dir, 'free', seq));
    } catch (e) {
      log(`pipe pair ${seq}: ${(e as Error).message}`);
      this.#pairs.get(seq)?.destroy();
      this.#pairs.delete(seq);
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /** A request came in on pair `seq`: answer on its res, then remove the pair. */
  #pairRequest(seq: string, line: string, after: () => void): void {
    const pipes = this.#pipes;
    if (pipes === undefined) return;
    const req = parseRequest(line);
    const slot = req?.slot;
    // the caller names the busy/ entry it renamed our pair to: SEQ.PID, nothing else
    const busy = typeof slot === 'string' && slot.startsWith(`${seq}.`) && /^\d+$/.test(slot.slice(seq.length + 1))
      ? path.join(pipes.dir, 'busy', slot) : undefined;
    let fd: number | undefined;
    if (busy !== undefined) {
      try { fd = openSync(path.join(busy, 'res'), fsc.O_WRONLY | fsc.O_NONBLOCK); } catch { /* ENXIO: the caller is gone before we answered */ }
    }
    const done = (): void => {
      if (busy !== undefined) rmSync(busy, { recursive: true, force: true });
      setImmediate(after);
    };
    // Answers are written straight into the pipe (a few hundred bytes, no stream to set up);
    // only one that does not fit (the caller reads slower than we write) gets a stream.
    let stream: net.Socket | undefined;
    let gone = fd === undefined;
    const ch: Channel = {
      send: (m) => {
        if (gone || fd === undefined) return;
        const data = Buffer.from(JSON.stringify(m) + '\n');
        if (stream !== undefined) { stream.write(data); return; }
        let n = 0;
        try { n = writeSync(fd, data); } catch (e) {
          if ((e as { code?: string }).code !== 'EAGAIN') { gone = true; return; } // EPIPE: the caller went away
        }
        if (n < data.length) {
          stream = new net.Socket({ fd, readable: false, writable: true });
          stream.on('error', () => { gone = true; }); // the caller went away: the command still finishes
          stream.write(data.subarray(n));
        }
      },
      end: () => {
        if (stream !== undefined) stream.end(done);
        else {
          if (fd !== undefined) closeSync(fd);
          done();
        }
      },
    };
    if (busy === undefined) {
      log(`pipe pair ${seq}: request without a valid slot name; ignored`);
      ch.end();
      return;
    }
    this.#dispatch(ch, req);
  }

  /** Pairs claimed by callers that died before writing a request: drop them, make new ones. */
  #sweep(): void {
    const pipes = this.#pipes;
    if (pipes === undefined) return;
    let names: string[];
    try { names = readdirSync(path.join(pipes.dir, 'busy')); } catch { return; }
    for (const n of names) {
      const [seq, pid] = n.split('.');
      if (seq === undefined || pid === undefined || !this.#pairs.has(seq) || processAlive(Number(pid))) continue;
      this.#pairs.get(seq)?.destroy();
      this.#pairs.delete(seq);
      rmSync(path.join(pipes.dir, 'busy', n), { recursive: true, force: true });
      this.#addPair();
    }
  }

  status(): DaemonStatus {
    return {
      running: true, pid: process.pid, socket: this.#socket, stateDir: this.#stateDir,
      startedAt: new Date(this.#started).toISOString(), uptimeMs: Date.now() - this.#started,
      served: this.#served, declined: this.#declined, inFlight: this.#inFlight, idleTimeout: this.#idleTimeout,
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
    onFirstLine(c, (line) => this.#dispatch(socketChannel(c), parseRequest(line)));
  }

  #dispatch(ch: Channel, req: Partial<Request> | undefined): void {
    void this.#handle(ch, req).catch((e: Error) => {
      log(`internal error: ${e.stack ?? e.message}`);
      ch.send({ e: `ctnet-fast: daemon: internal error: ${e.message}\n` });
      ch.send({ x: EXIT.FAILURE });
      ch.end();
    });
  }

  async #handle(c: Channel, r: Partial<Request> | undefined): Promise<void> {
    const decline = (why: string): void => this.#decline(c, why);
    if (r === undefined || r.v !== PROTOCOL) return decline(`protocol version ${String(r?.v)} (this daemon speaks ${PROTOCOL})`);
    const caller = callerOf(Number(r.pid));
    if (caller === undefined) return decline(`cannot read the calling process ${String(r.pid)} in /proc`);
    if (caller.uid !== this.#uid) return decline(`the daemon runs as uid ${this.#uid}, you are uid ${caller.uid}`);
    if (r.op === 'status') { c.send(this.status()); c.end(); return; }
    if (r.op === 'stop') { c.send({ stopping: process.pid }); c.end(); void this.stop('asked to stop'); return; }
    if (this.#replaced()) {
      decline('the daemon runs an older build of ctnet-fast (it exits now)');
      void this.stop('its code was replaced');
      return;
    }
    const { why, parsed } = this.#refusal(r.argv, caller);
    if (why !== undefined) return decline(why);
    const t0 = performance.now();
    await this.#run(c, r.argv as string[], caller, parsed);
    if (process.env.CTNET_DAEMON_TRACE === '1') log(`${(r.argv as string[]).join(' ')}: ${(performance.now() - t0).toFixed(2)} ms`);
  }

  /**
   * Why this caller must run the command itself (`why`), or nothing: we serve it (with the
   * command line parsed once here, or undefined when it does not parse: main reports that).
   */
  #refusal(argv: unknown, caller: Caller): { why?: string; parsed?: Parsed } {
    if (this.#stopping !== undefined) return { why: 'the daemon is stopping' };
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return { why: 'malformed request' };
    // PID must be the process that sent this command line: a caller in another pid namespace
    // names some other process of ours, whose cwd and environment are not the caller's
    const tail = caller.cmdline.slice(-argv.length);
    if (tail.length !== argv.length || tail.some((a, i) => a !== argv[i])) return { why: 'your pid does not name you here (another pid namespace?)' };
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

  async #run(c: Channel, argv: string[], caller: Caller, parsed: Parsed | undefined): Promise<void> {
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
      code = await this.#main(argv, streams, env, { hosts: this.hosts, ...(parsed !== undefined ? { parsed } : {}) });
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
      try { if (statSync(this.#socket).ino === this.#socketIno) unlinkSync(this.#socket); } catch { /* already gone */ }
      if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
      for (const sock of this.#pairs.values()) sock.destroy();
      this.#pairs.clear();
      if (this.#pipes !== undefined) {
        for (const d of ['free', 'new']) rmSync(path.join(this.#pipes.dir, d), { recursive: true, force: true });
      }
      while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiting.push(resolve));
      for (const p of this.#hosts.values()) {
        const host = await p.catch(() => undefined);
        await host?.close().catch((e: Error) => log(`close: ${e.message}`));
      }
      this.#hosts.clear();
      if (this.#pipes !== undefined) rmSync(this.#pipes.dir, { recursive: true, force: true });
      const pidFile = path.join(this.#stateDir, PID_NAME);
      try { if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile); } catch { /* gone */ }
      await closed;
      log('stopped');
      this.#resolveStopped();
    })();
    return this.#stopping;
  }
}

/** Where one command's answer goes: a socket connection or a claimed pipe pair. */
interface Channel {
  send(m: unknown): void;
  end(): void;
}

/** Call `fn` once with the first line a caller writes (at most 1 MiB; more: drop the caller). */
function onFirstLine(stream: net.Socket, fn: (line: string) => void): void {
  let buf = '';
  const onData = (chunk: Buffer): void => {
    buf += chunk.toString('utf8');
    const nl = buf.indexOf('\n');
    if (nl < 0) {
      if (buf.length > 1 << 20) stream.destroy();
      return;
    }
    stream.off('data', onData);
    fn(buf.slice(0, nl));
  };
  stream.on('data', onData);
}

function parseRequest(line: string): Partial<Request> | undefined {
  try {
    const r: unknown = JSON.parse(line);
    return typeof r === 'object' && r !== null ? r as Partial<Request> : undefined;
  } catch {
    return undefined;
  }
}

function socketChannel(c: net.Socket): Channel {
  return {
    send: (m) => { if (!c.destroyed && c.writable) c.write(JSON.stringify(m) + '\n'); },
    end: () => { c.end(); },
  };
}

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ctnet-fast daemon[${process.pid}]: ${message}\n`);
}

/** One control request to a daemon socket; resolves to its one answer. */
function request(socket: string, msg: unknown, timeoutMs = 3000): Promise<unknown> {
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

/** The running daemon's status, or undefined when none answers on the socket. */
export async function daemonStatus(stateDir: string): Promise<DaemonStatus | undefined> {
  const socket = path.join(stateDir, SOCKET_NAME);
  if (!existsSync(socket)) return undefined;
  try {
    const s = await request(socket, { v: PROTOCOL, op: 'status', pid: process.pid });
    return typeof (s as { pid?: unknown }).pid === 'number' ? s as DaemonStatus : undefined;
  } catch {
    return undefined;
  }
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
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const fd = openSync(logFile, 'a', 0o600);
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
  try {
    const pid = Number(readFileSync(path.join(stateDir, PID_NAME), 'utf8').trim());
    return processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function tailOf(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return (lines[lines.length - 1] ?? '').replace(/^\S+ ctnet-fast daemon\[\d+\]: /, '');
  } catch {
    return '';
  }
}


/** `daemon stop`: ask the daemon to finish its commands and exit; wait for it. Not running: nothing to do. */
export async function stop(ctx: Context): Promise<number> {
  const stateDir = stateDirOf(ctx);
  const s = await daemonStatus(stateDir);
  if (s === undefined) {
    ctx.out.result({ running: false, stateDir }, () => `no ctnet-fast daemon is running for ${stateDir}`);
    return EXIT.OK;
  }
  await request(path.join(stateDir, SOCKET_NAME), { v: PROTOCOL, op: 'stop', pid: process.pid });
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
