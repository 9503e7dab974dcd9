/**
 * topology/prewarm.ts — the prewarm pool: network namespaces created ahead of time
 * (Host.prewarm), adopted by the next attaches that would create one.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Kernel facts": `unshare(CLONE_NEWNET)` is ~0.3 ms
 * of the ~1 ms floor). Entries are netns files STATE_DIR/pool/PID-SEQ; an attach adopts one
 * with a `netnsCreate … from` step (a bind mount and an unmount), close() deletes the unused
 * ones, and gc those of processes that ended. "pool" in topology means only this.
 *
 * An entry is named PID.START-SEQ: the creating process's pid and start time (util/proc.ts),
 * so a pid reused by another process does not keep an orphan alive. Entries of older
 * versions (PID-SEQ) are judged by the pid alone.
 */
import { existsSync, readdirSync } from 'node:fs';
import type { Backend } from '../model/plan.js';
import { InvalidInputError } from '../model/errors.js';
import { ownerAlive, selfOwner } from '../util/proc.js';

/** How many netnsCreate steps go in one plan while filling. */
const CHUNK = 64;

export class Prewarmed {
  readonly #paths: string[] = [];

  /** `dir`: where entries live (STATE_DIR/pool). */
  constructor(readonly dir: string) {}

  get size(): number {
    return this.#paths.length;
  }

  /**
   * Create `n` more namespaces (native backend only: 0 otherwise); `nextSeq` numbers them.
   * Returns how many are ready.
   */
  async fill(backend: Backend, n: number, nextSeq: () => number): Promise<number> {
    if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new InvalidInputError(`prewarm: invalid count ${String(n)} (0..100000)`);
    // the iproute2 backend cannot adopt a netns (`netnsCreate … from`)
    if (backend.name !== 'native') return 0;
    const paths: string[] = [];
    const me = selfOwner();
    for (let i = 0; i < n; i++) paths.push(`${this.dir}/${me.pid}.${me.start}-${nextSeq()}`);
    for (let i = 0; i < paths.length; i += CHUNK) {
      const chunk = paths.slice(i, i + CHUNK);
      const r = await backend.run({ steps: chunk.map((path) => ({ kind: 'netnsCreate', path })), stopOnError: false });
      chunk.forEach((p, j) => { if (r[j]?.ok === true) this.#paths.push(p); });
    }
    return this.#paths.length;
  }

  /** One entry for an attach to adopt, or undefined when the pool is empty. */
  take(): string | undefined {
    return this.#paths.pop();
  }

  /** An entry a failed attach did not use up (it still exists): back into the pool. */
  giveBack(path: string): void {
    if (existsSync(path)) this.#paths.push(path);
  }

  /** Delete every unused entry (close). */
  async drain(backend: Backend): Promise<void> {
    const paths = this.#paths.splice(0);
    if (paths.length === 0) return;
    await backend.run({ steps: paths.map((path) => ({ kind: 'netnsDelete', path })), stopOnError: false }).catch(() => undefined);
  }

  /** Entries left by processes that ended (for gc to delete). */
  orphans(): string[] {
    let files: string[];
    try { files = readdirSync(this.dir); } catch { files = []; }
    return files.filter((f) => {
      const m = /^(\d+)(?:\.(\d+))?-\d+$/.exec(f);
      return !ownerAlive(Number(m?.[1]), m?.[2] !== undefined ? Number(m[2]) : undefined);
    }).map((f) => `${this.dir}/${f}`);
  }
}
