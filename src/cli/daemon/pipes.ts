/**
 * cli/daemon/pipes.ts — the agent's fast transport for the CLI (see bin/ctnet-fast.cjs viaPipes):
 * FREE_PAIRS directories under STATE_DIR/agent.pipes/free, each with two FIFOs, `req` (we keep it
 * open for reading) and `res`. A caller renames one into busy/SEQ.PID, opens res, writes its
 * hello and its request (agent protocol lines, docs/agent-protocol.md) into req and reads
 * our answer from res. A pair is made in new/ and renamed into
 * free/ only once we read its req, so a caller never finds one nobody listens on. Every pair
 * that goes (answered, broken off, oversized, claimed by a caller that died) is replaced, so
 * FREE_PAIRS stay ready.
 *
 * Who asks: the pid in the request is believed only if that process holds this pair's `res`
 * open (peer.ts holdsFile); otherwise the request reaches the session without a proven peer
 * and is declined.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { closeSync, constants as fsc, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { processAlive } from '../../util/proc.js';
import { log, onLines, type Channel } from './channel.js';
import { callerStat, holdsFile } from './peer.js';
import type { PeerOf } from './session.js';

/** Pairs kept ready; more callers at once than this use the socket. */
export const FREE_PAIRS = 8;

/** Make the session for one pair's lines: it answers on `ch`; `peerOf` proves the sender of a request. */
export type SessionFactory = (ch: Channel, peerOf: PeerOf) => { feed(line: string): boolean };

interface Pair {
  readonly sock: net.Socket;
  /** The `res` FIFO's identity: the caller must hold it open. */
  readonly res: { readonly dev: number; readonly ino: number };
}

export class PipePairs {
  readonly #dir: string;
  readonly #mkfifo: (p: string, mode: number) => void;
  readonly #session: SessionFactory;
  /** Pairs waiting for a request, by sequence number (their `req` is open for reading). */
  readonly #pairs = new Map<string, Pair>();
  #seq = 0;
  #closed = false;
  readonly #sweepTimer: NodeJS.Timeout;

  constructor(dir: string, mkfifo: (p: string, mode: number) => void, session: SessionFactory) {
    this.#dir = dir;
    this.#mkfifo = mkfifo;
    this.#session = session;
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
      const answer = this.#answer(seq, { dev: st.dev, ino: st.ino });
      const session = this.#session(answer.ch, answer.peerOf);
      let first = true;
      onLines(s, (line) => {
        if (first) {
          // claimed: the replacement pair is made once this answer is out (not while its plan runs)
          first = false;
          this.#pairs.delete(seq);
          answer.after(() => this.#add());
        }
        const more = session.feed(line);
        if (!more) s.destroy();
        return more;
      }, () => { if (first) this.#drop(seq); else { s.destroy(); answer.ch.end(); this.#removeBusy(seq); } }); // oversized, or ended without a request
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
    this.#removeBusy(seq);
    this.#add();
  }

  /** Remove pair `seq` from busy/ (whichever caller claimed it). */
  #removeBusy(seq: string): void {
    let busy: string[] = [];
    try { busy = readdirSync(path.join(this.#dir, 'busy')); } catch { /* gone */ }
    for (const n of busy) if (n.startsWith(`${seq}.`)) rmSync(path.join(this.#dir, 'busy', n), { recursive: true, force: true });
  }

  /**
   * The answer side of pair `seq`: lines sent before the request names its slot (the hello
   * reply: the client sends hello and request back to back) wait; the request's slot opens
   * busy/SEQ.PID/res, whose holder must be the pid named (the kernel's word, peer.ts
   * holdsFile, checked before we open it). After the end the pair is removed and `after` runs.
   */
  #answer(seq: string, res: { dev: number; ino: number }): { ch: Channel; peerOf: PeerOf; after(fn: () => void): void } {
    let after: () => void = () => undefined;
    let busy: string | undefined;
    let fd: number | undefined;
    let bound = false;
    let ended = false;
    let gone = false;
    const queue: Buffer[] = [];
    // Answers are written straight into the pipe (a few hundred bytes, no stream to set up);
    // only one that does not fit (the caller reads slower than we write) gets a stream.
    let stream: net.Socket | undefined;
    const write = (data: Buffer): void => {
      if (gone || fd === undefined) return;
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
    };
    const done = (): void => {
      if (busy !== undefined) rmSync(busy, { recursive: true, force: true });
      setImmediate(after);
    };
    const peerOf: PeerOf = (req) => {
      bound = true;
      const slot = req.slot;
      // the caller names the busy/ entry it renamed our pair to: SEQ.PID, nothing else
      const pid = typeof slot === 'string' && slot.startsWith(`${seq}.`) && /^\d+$/.test(slot.slice(seq.length + 1))
        ? Number(slot.slice(seq.length + 1)) : undefined;
      if (pid === undefined) { log(`pipe pair ${seq}: request without a valid slot name; ignored`); return undefined; }
      busy = path.join(this.#dir, 'busy', `${seq}.${pid}`);
      const proven = pid === Number(req.pid) && holdsFile(pid, res);
      try { fd = openSync(path.join(busy, 'res'), fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW); } catch { /* ENXIO: the caller is gone before we answered */ }
      for (const b of queue.splice(0)) write(b);
      if (!proven) return undefined;
      const st = callerStat(pid);
      return st === undefined ? undefined : { pid, uid: st.uid, gid: st.gid };
    };
    const ch: Channel = {
      send: (m) => {
        const data = Buffer.from(JSON.stringify(m) + '\n');
        if (bound) write(data); else queue.push(data);
      },
      end: () => {
        if (ended) return;
        ended = true;
        if (stream !== undefined) stream.end(done);
        else {
          if (fd !== undefined) closeSync(fd);
          done();
        }
      },
    };
    return { ch, peerOf, after: (fn) => { after = fn; } };
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
