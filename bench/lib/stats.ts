/**
 * bench/lib/stats.ts — distributions of per-container latencies.
 *
 * Percentiles are linear interpolations between closest ranks (the same definition as
 * numpy's default), so p99 of 500 samples sits between the 5th and 6th largest.
 */

export interface Summary {
  readonly n: number;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p25Ms: number;
  readonly p75Ms: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export function sorted(samples: readonly number[]): number[] {
  return [...samples].sort((a, b) => a - b);
}

/** q in [0, 1] over an already sorted array. */
export function quantile(sortedSamples: readonly number[], q: number): number {
  const n = sortedSamples.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const a = sortedSamples[lo] ?? Number.NaN;
  const b = sortedSamples[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

export function median(samples: readonly number[]): number {
  return quantile(sorted(samples), 0.5);
}

export function summarize(samples: readonly number[]): Summary {
  const s = sorted(samples);
  const sum = s.reduce((acc, v) => acc + v, 0);
  return {
    n: s.length,
    medianMs: round(quantile(s, 0.5)),
    p90Ms: round(quantile(s, 0.9)),
    p99Ms: round(quantile(s, 0.99)),
    p25Ms: round(quantile(s, 0.25)),
    p75Ms: round(quantile(s, 0.75)),
    meanMs: round(s.length ? sum / s.length : Number.NaN),
    minMs: round(s[0] ?? Number.NaN),
    maxMs: round(s[s.length - 1] ?? Number.NaN),
  };
}

/** Four significant decimals are far below the noise; keeps the JSON readable. */
export function round(v: number, digits = 4): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Sequential throughput: containers per second if attaches run back to back. */
export function perSecond(samples: readonly number[]): number {
  const sum = samples.reduce((acc, v) => acc + v, 0);
  return sum > 0 ? round((samples.length * 1000) / sum, 1) : Number.NaN;
}
