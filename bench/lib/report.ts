/**
 * bench/lib/report.ts — the human table on stdout and the targets of issue 4, all as
 * ratios inside one run (DESIGN §3: the VM drifts ±30 % between runs).
 */
import type { PhaseName, RatioSpread } from './split.js';
import type { Summary } from './stats.js';

export interface PathReport {
  readonly name: string;
  readonly label: string;
  readonly status: 'ok' | 'unavailable' | 'failed';
  readonly error?: string;
  readonly n: number;
  readonly attach: Summary | null;
  readonly detach: Summary | null;
  readonly perSecond: number | null;
  /** This path's median divided by ctnet-fast's (how many times slower than ctnet-fast). */
  readonly vsCtnet: { readonly attach: number; readonly detach: number } | null;
  /** This path's median divided by the floor's. */
  readonly vsFloor: { readonly attach: number; readonly detach: number } | null;
  /** The same ratio round by round (this path's round median ÷ the floor's), with its range. */
  readonly vsFloorRounds: { readonly attach: RatioSpread | null; readonly detach: RatioSpread | null } | null;
  readonly roundMediansMs: { readonly attach: number[]; readonly detach: number[] };
  /** The library paths: each attach phase's median (lib/split.ts), from the library's timing hook. */
  readonly phasesMedianMs?: Readonly<Record<PhaseName, number>> | null;
  readonly phases?: Readonly<Record<PhaseName, Summary>> | null;
  readonly info?: Record<string, unknown>;
}

export interface Target {
  readonly name: string;
  readonly target: string;
  readonly value: number | null;
  /** null: could not be measured in this run (path unavailable, or not run in --quick). */
  readonly pass: boolean | null;
  readonly note?: string;
}

function pad(s: string, w: number, right = false): string {
  return right ? s.padStart(w) : s.padEnd(w);
}
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(digits);
}

/** A finite number, or null (for reading figures back out of the loosely typed results). */
export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
/** obj[k1][k2]…, or undefined where any step is not an object. */
export function get(obj: unknown, ...keys: string[]): unknown {
  let cur = obj;
  for (const k of keys) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

export function table(paths: readonly PathReport[]): string {
  const head = ['path', 'attach med', 'p90', 'p99', 'att/s', 'detach med', 'p90', 'p99', '×ctnet', '×floor', 'per round'];
  const widths = [30, 11, 8, 8, 8, 11, 8, 8, 8, 8, 11];
  const lines = [head.map((h, i) => pad(h, widths[i] ?? 8, i > 0)).join(' ')];
  lines.push('-'.repeat(lines[0]!.length));
  for (const p of paths) {
    if (p.status !== 'ok' || !p.attach || !p.detach) {
      lines.push(`${pad(p.label, widths[0]!)} ${p.status}: ${(p.error ?? '').slice(0, 110)}`);
      continue;
    }
    const cells = [
      p.label,
      `${fmt(p.attach.medianMs)} ms`, fmt(p.attach.p90Ms), fmt(p.attach.p99Ms), fmt(p.perSecond, 0),
      `${fmt(p.detach.medianMs)} ms`, fmt(p.detach.p90Ms), fmt(p.detach.p99Ms),
      p.vsCtnet ? `${fmt(p.vsCtnet.attach, 2)}×` : '—',
      p.vsFloor ? `${fmt(p.vsFloor.attach, 2)}×` : '—',
      rangeText(p.vsFloorRounds?.attach),
    ];
    lines.push(cells.map((c, i) => pad(c, widths[i] ?? 8, i > 0)).join(' '));
  }
  return lines.join('\n');
}

/** "1.21–1.35" for a ratio's per-round range (one round: the one value; none: "—"). */
export function rangeText(s: RatioSpread | null | undefined): string {
  if (!s) return '—';
  return s.min === s.max ? fmt(s.min, 2) : `${fmt(s.min, 2)}–${fmt(s.max, 2)}`;
}

export function targetsTable(targets: readonly Target[]): string {
  return targets
    .map((t) => `${t.pass === null ? ' n/a' : t.pass ? ' ok ' : 'MISS'}  ${pad(t.name, 46)} ${pad(t.target, 16)} measured ${fmt(t.value)}${t.note ? `  (${t.note})` : ''}`)
    .join('\n');
}
