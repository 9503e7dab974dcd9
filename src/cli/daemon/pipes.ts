/**
 * cli/daemon/pipes.ts — the daemon's fast channel (see bin/ctnet-fast.cjs viaPipes):
 * FREE_PAIRS directories under STATE_DIR/ctnetd/free, each with two FIFOs, `req` (we keep it
 * open for reading) and `res`. A caller renames one into busy/SEQ.PID, opens res, writes its
 * request into req and reads our answer from res. A pair is made in new/ and renamed into
 * free/ only once we read its req, so a caller never finds one nobody listens on. Every pair
 * that goes (answered, broken off, oversized, claimed by a caller that died) is replaced, so
 * FREE_PAIRS stay ready.
 *
 * Who asks: the pid in the request is believed only if that process holds this pair's `res`
 * open (peer.ts holdsFile); otherwise the request reaches the server without a proven pid
 * and is handed back.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { closeSync, constants as fsc, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { processAlive } from '../../util/proc.js';
import { log, onFirstLine, parseRequest, type Channel, type Request } from './channel.js';
import { holdsFile } from './peer.js';

/** Pairs kept ready; more callers at once than this use the socket. */
export const FREE_PAIRS = 8;

/** A request from a pair: the channel to answer on, the request, and the pid proven to send it. */
export type PairHandler = (ch: Channel, req: Partial<Request> | undefined, peer: number | undefined) => void;

interface Pair {
  readonly sock: net.Socket;
  /** The `res` FIFO's identity: the caller must hold it open. */
  readonly res: { readonly dev: number; readonly ino: number };
}

export class PipePairs {
  readonly #dir: string;
  readonly #mkfifo: (p: string, mode: number) => void;
  readonly #handle: PairHandler;
  /** Pairs waiting for a request, by sequence number (their `req` is open for reading). */
  readonly #pairs = new Map<string, Pair>();
  #seq = 0;
  #closed = false;
  readonly #sweepTimer: NodeJS.Timeout;

  constructor(dir: string, mkfifo: (p: string, mode: number) => void, handle: PairHandler) {
    this.#dir = dir;
    this.#mkfifo = mkfifo;
    this.#handle = handle;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    for (const d of ['free', 'busy', 'new']) mkdirSync(path.join(dir, d), { mode: 0o700 });
    for (let i = 0; i < FREE_PAIRS; i++) this.#add();
    this.#sweepTimer = setInterval(() => this.#sweep(), 5000);
    this.#sweepTimer.unref();
  }

  /** Pairs in free/ (for the status). */
  get free(): number {
    try { return readdirSync(path.join(this.#dir, 'free')).length; } catch { return 0; }
  }

  #add(): void {
    if (this.#closed) return;
    const seq = String(++this.#seq);
    const staging = path.join(this.#dir, 'new', seq);
    let sock: net.Socket | undefined;
    try {
      mkdirSync(staging, { mode: 0o700 });
      this.#mkfifo(path.join(staging, 'req'), 0o600);
      this.#mkfifo(path.join(staging, 'res'), 0o600);
      const st = lstatSync(path.join(staging, 'res'));
      const fd = openSync(path.join(staging, 'req'), fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW);
      const s = new net.Socket({ fd, readable: true, writable: false });
      sock = s;
      s.on('error', () => undefined);
      onFirstLine(s, (line) => {
        s.destroy();
        this.#pairs.delete(seq);
        // the replacement pair is made once this answer is out (not while its plan runs)
        this.#request(seq, st, line, () => this.#add());
      }, () => this.#drop(seq)); // oversized, or ended without a request
      this.#pairs.set(seq, { sock: s, res: { dev: st.dev, ino: st.ino } });
      renameSync(staging, path.join(this.#dir, 'free', seq));
    } catch (e) {
      log(`pipe pair ${seq}: ${(e as Error).message}`);
      sock?.destroy();
      this.#pairs.delete(seq);
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /** Drop pair `seq` (wherever it is: free/ or claimed in busy/) and make a new one. */
  #drop(seq: string): void {
    const pair = this.#pairs.get(seq);
    if (pair === undefined) return;
    pair.sock.destroy();
    this.#pairs.delete(seq);
    rmSync(path.join(this.#dir, 'free', seq), { recursive: true, force: true });
    let busy: string[] = [];
    try { busy = readdirSync(path.join(this.#dir, 'busy')); } catch { /* gone */ }
    for (const n of busy) if (n.startsWith(`${seq}.`)) rmSync(path.join(this.#dir, 'busy', n), { recursive: true, force: true });
    this.#add();
  }

  /** A request came in on pair `seq`: answer on its res, then remove the pair and call `after`. */
  #request(seq: string, res: { dev: number; ino: number }, line: string, after: () => void): void {
    const req = parseRequest(line);
    const slot = req?.slot;
    // the caller names the busy/ entry it renamed our pair to: SEQ.PID, nothing else
    const pid = typeof slot === 'string' && slot.startsWith(`${seq}.`) && /^\d+$/.test(slot.slice(seq.length + 1))
      ? Number(slot.slice(seq.length + 1)) : undefined;
    const busy = pid !== undefined ? path.join(this.#dir, 'busy', `${seq}.${pid}`) : undefined;
    // the kernel's word: the process named holds this pair's res (checked before we open it)
    const peer = pid !== undefined && pid === Number(req?.pid) && holdsFile(pid, res) ? pid : undefined;
    let fd: number | undefined;
    if (busy !== undefined) {
      try { fd = openSync(path.join(busy, 'res'), fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW); } catch { /* ENXIO: the caller is gone before we answered */ }
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
    this.#handle(ch, req, peer);
  }

  /** Pairs claimed by callers that died before writing a request: drop them, make new ones. */
  #sweep(): void {
    let names: string[];
    try { names = readdirSync(path.join(this.#dir, 'busy')); } catch { return; }
    for (const n of names) {
      const [seq, pid] = n.split('.');
      if (seq === undefined || pid === undefined || !this.#pairs.has(seq) || processAlive(Number(pid))) continue;
      this.#drop(seq);
    }
  }

  /** Stop making pairs; remove the free ones (callers then run locally instead of waiting). */
  closeFree(): void {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    for (const p of this.#pairs.values()) p.sock.destroy();
    this.#pairs.clear();
    for (const d of ['free', 'new']) rmSync(path.join(this.#dir, d), { recursive: true, force: true });
  }

  /** Remove the whole directory (once no command runs). */
  remove(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
