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

function signed(v: number | null): string {
  return v !== null && v >= 0 ? `+${fmt(v)}` : fmt(v);
}

/** The lines under the split for the extra runs (nft step, concurrency, scale, publish, churn) that ran. */
export function extraLines(extra: Readonly<Record<string, Record<string, unknown> | null>>): string[] {
  const lines: string[] = [];
  const nft = extra.nftStep;
  if (nft) {
    lines.push('', nft.error
      ? `nft step: ${String(nft.error)}`
      : `nft step (one set element): nft process ${fmt(num(get(nft, 'process', 'medianMs')))} ms median · in-process ${num(get(nft, 'inProcess', 'medianMs')) !== null ? `${fmt(num(get(nft, 'inProcess', 'medianMs')))} ms` : `n/a (${String(get(nft, 'inProcess', 'unavailable'))})`}`);
  }
  const conc = extra.concurrency;
  if (conc) {
    const levels = (get(conc, 'levels') as unknown[] | undefined) ?? [];
    const per = (l: unknown, p: string): string => get(l, p, 'error') ? 'n/a' : fmt(num(get(l, p, 'perSecond')), 0);
    lines.push(`attaches/s by attaches in flight (floor | ctnet): ${levels.map((l) => `${String(get(l, 'inFlight'))}: ${per(l, 'floor')} | ${per(l, 'ctnet')}`).join(' · ')}`);
    const ce = levels.map((l) => get(l, 'ctnet', 'error')).find(Boolean);
    if (ce) lines.push(`  ctnet concurrency: ${String(ce)}`);
  }
  const sc = extra.scale;
  if (sc) {
    const row = (p: string): string => get(sc, p, 'error') ? `${p} ${String(get(sc, p, 'error')).slice(0, 80)}` : `${p} ${fmt(num(get(sc, p, 'at10', 'medianMs')))} → ${fmt(num(get(sc, p, 'at1000', 'medianMs')))} ms`;
    lines.push(`bridge ports 10 → 1000 (attach median): ${['floor', 'ctnet', 'floor-ipv6'].map(row).join(' · ')}`);
  }
  const pub = extra.publish;
  if (pub) {
    const row = (l: string): string => get(pub, l, 'error') ? `${l}: ${String(get(pub, l, 'error')).slice(0, 100)}` : `${l}: ${fmt(num(get(pub, l, 'at10', 'medianMs')))} → ${fmt(num(get(pub, l, 'at10000', 'medianMs')))} ms`;
    lines.push(`publish one port, 10 → 10,000 ports published (median): ${row('spread')} · ${row('one')}`);
  }
  const ch = extra.churn;
  if (ch) lines.push(ch.error ? `churn: ${String(ch.error)}` : `churn ${String(ch.cycles)} cycles: leaks ${JSON.stringify(ch.leaks)}${(ch.newFds as string[] | undefined)?.length ? ` (new fds: ${(ch.newFds as string[]).join(', ')})` : ''}, second half ${JSON.stringify(ch.secondHalfLeaks)} · RSS ${signed(num(ch.rssGrowthMiB))} MiB, V8 heap in use ${signed(num(ch.heapUsedGrowthMiB))} MiB (after gc)`);
  return lines;
}
