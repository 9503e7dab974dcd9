/**
 * bench/lib/protocol.ts — what bench/run.ts asks a worker (bench/worker.ts) to measure,
 * and what the worker answers: one JSON line on its stdout.
 *
 * Every job runs in its own fresh net+mount namespace (test/sandbox.mjs), so no path
 * sees another path's bridge, netns files, firewall or reaping backlog.
 */

import type { PhaseSamples } from './split.js';

export const PATHS = ['floor', 'ctnet', 'ctnet-plan', 'ctnet-prewarm', 'iproute2', 'cni', 'cni-masq', 'floor-ipv6', 'cni-ctnet', 'cni-ctnet-self', 'cni-chain', 'ctnet-bypath'] as const;
export type PathName = (typeof PATHS)[number];

/** Attach N containers one after another (after W warm-ups and K untimed ones), then detach them. */
export interface AttachJob {
  readonly kind: 'attach';
  readonly path: PathName;
  readonly n: number;
  readonly warmup: number;
  readonly prepopulate: number;
  /** Attaches in flight (floor only: J threads); default 1. */
  readonly inFlight?: number;
  /** Pause after the pre-populated containers, before the timed ones (kernel work drains). */
  readonly settleMs?: number;
}

/**
 * Publish cost: time one more published port with `sizes[i]` already published, either all
 * on the timed container ('one') or 10 per container on other containers ('spread').
 */
export interface PublishJob {
  readonly kind: 'publish';
  readonly sizes: readonly number[];
  readonly samples: number;
  readonly layout: 'one' | 'spread';
}

/** The nft step alone: one set-element add, in-process (libnftables) vs an `nft -j -f -` process. */
export interface NftJob {
  readonly kind: 'nft';
  readonly n: number;
}

/** Churn: attach+detach cycles, then count what is left behind. */
export interface ChurnJob {
  readonly kind: 'churn';
  readonly cycles: number;
}

/** Throughput with C attaches in flight. */
export interface ConcurrencyJob {
  readonly kind: 'concurrency';
  readonly levels: readonly number[];
  readonly n: number;
  /** Untimed attach/detach cycles before the first level (as AttachJob.warmup). */
  readonly warmup?: number;
}

export type Job = AttachJob | PublishJob | NftJob | ChurnJob | ConcurrencyJob;

export interface AttachResult {
  readonly attach: number[];
  readonly detach: number[];
  /** Anything path-specific worth keeping (floor step split, tool versions…). */
  readonly info?: Record<string, unknown>;
  /** The library paths: each timed attach's phases, from the library's timing hook (lib/split.ts). */
  readonly phases?: PhaseSamples;
}

export type WorkerAnswer =
  | { readonly ok: true; readonly result: unknown }
  /** `unavailable`: the path cannot run here (missing plugin, library not there yet). */
  | { readonly ok: false; readonly unavailable: boolean; readonly error: string };

/** The worker prints its answer on one line starting with this marker. */
export const ANSWER_MARKER = '@@bench-answer ';
