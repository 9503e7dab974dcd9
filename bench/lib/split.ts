/**
 * bench/lib/split.ts — what a user asks first: where one attach's time goes, and how much
 * the headline ratio (ctnet-fast ÷ the floor) moves from round to round.
 *
 * Pure (no I/O, no clock): the marks come from the library's timing hook (HostOptions.trace,
 * called at the phase boundaries of topology/attach.ts attachBridge — docs/ARCHITECTURE.md,
 * "Life of an attach"), taken by bench/paths/ctnet.ts; the rest from the per-path summaries.
 * Tested in test/unit/bench-split.test.ts.
 */
import type { AttachPhase } from '../../src/index.js';
import { fmt, rangeText } from './report.js';
import { median, round, summarize, type Summary } from './stats.js';

/** The phases of one library attach, in order; their sum is the attach the caller timed. */
export const PHASES = ['validation', 'state', 'plan', 'crossingKernel', 'finish'] as const;
export type PhaseName = (typeof PHASES)[number];
export const PHASE_LABELS: Readonly<Record<PhaseName, string>> = {
  validation: 'validation',
  state: 'state',
  plan: 'plan',
  crossingKernel: 'crossing+kernel',
  finish: 'finish',
};
/** What each phase covers (README, JSON). */
export const PHASE_MEANING: Readonly<Record<PhaseName, string>> = {
  validation: 'from the call to the intent transaction: input checks, netns lookup, bridge index, firewall base',
  state: 'the SQLite intent transaction (IPAM, the pending endpoint)',
  plan: 'building the plan (steps, firewall elements)',
  crossingKernel: 'backend.run of the plan: the addon crossing and the kernel work, until its promise resumes',
  finish: 'after the plan: firewall rest, ready mark queued, the return to the caller',
};

/** One attach: the caller's clock before the call, at each boundary the hook reported, after it returned. */
export type AttachMarks = { readonly start: number; readonly end: number } & Partial<Readonly<Record<AttachPhase, number>>>;

/** The phases of one attach, or null when a boundary was not reported (another code path, a failure). */
export function phasesOf(m: AttachMarks): Record<PhaseName, number> | null {
  const { start, validated, recorded, planned, ran, end } = m;
  if (validated === undefined || recorded === undefined || planned === undefined || ran === undefined) return null;
  return { validation: validated - start, state: recorded - validated, plan: planned - recorded, crossingKernel: ran - planned, finish: end - ran };
}

export type PhaseSamples = Record<PhaseName, number[]>;

export function emptyPhases(): PhaseSamples {
  return { validation: [], state: [], plan: [], crossingKernel: [], finish: [] };
}

/** Append one attach's phases (or another batch of samples) to `into`. */
export function addPhases(into: PhaseSamples, from: Partial<Record<PhaseName, number | readonly number[]>>): PhaseSamples {
  for (const p of PHASES) {
    const v = from[p];
    if (typeof v === 'number') into[p].push(v);
    else if (v !== undefined) into[p].push(...v);
  }
  return into;
}

/** A path that can say, for the attaches it was asked about, how long each phase took. */
export interface PhaseSource {
  attachPhases(ids: readonly number[]): PhaseSamples;
}
export function hasPhases<T extends object>(p: T): p is T & PhaseSource {
  return typeof (p as Partial<PhaseSource>).attachPhases === 'function';
}

/** Per phase the summary of its samples; null when no attach reported its phases. */
export function phaseSummaries(s: PhaseSamples): Record<PhaseName, Summary> | null {
  if (PHASES.some((p) => s[p].length === 0)) return null;
  return Object.fromEntries(PHASES.map((p) => [p, summarize(s[p])])) as Record<PhaseName, Summary>;
}

/** Per phase its median (ms, rounded); null when no attach reported its phases. */
export function phaseMedians(s: PhaseSamples): Record<PhaseName, number> | null {
  if (PHASES.some((p) => s[p].length === 0)) return null;
  return Object.fromEntries(PHASES.map((p) => [p, round(median(s[p]))])) as Record<PhaseName, number>;
}

export interface RatioSpread {
  /** mine ÷ base, round by round (rounds where either is missing or not positive are skipped). */
  readonly perRound: number[];
  readonly min: number;
  readonly max: number;
}

/** The per-round ratios of two paths' round medians (same run, same round index), with their range. */
export function ratioSpread(mine: readonly number[], base: readonly number[]): RatioSpread | null {
  const perRound: number[] = [];
  for (let r = 0; r < Math.min(mine.length, base.length); r++) {
    const a = mine[r], b = base[r];
    if (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0) perRound.push(round(a / b, 2));
  }
  if (perRound.length === 0) return null;
  return { perRound, min: Math.min(...perRound), max: Math.max(...perRound) };
}

/**
 * The library's attach in three layers, from three paths of the same run: the kernel (the
 * floor), the crossing (the library's plan alone − the floor: addon, plan shape, promise)
 * and the library (ctnet-fast − the plan alone: validation, state, firewall, plumbing).
 */
export interface Layers {
  readonly kernelMs: number;
  readonly crossingMs: number;
  readonly libraryMs: number;
  readonly totalMs: number;
}
export function layersOf(floorMs: number | undefined, planMs: number | undefined, ctnetMs: number | undefined): Layers | null {
  if (floorMs === undefined || planMs === undefined || ctnetMs === undefined) return null;
  return { kernelMs: round(floorMs), crossingMs: round(planMs - floorMs), libraryMs: round(ctnetMs - planMs), totalMs: round(ctnetMs) };
}

/** What the split needs of a path's report (lib/report.ts PathReport). */
export interface SplitRow {
  readonly name: string;
  readonly label: string;
  readonly status: string;
  readonly attach: { readonly medianMs: number } | null;
  readonly phasesMedianMs?: Readonly<Record<PhaseName, number>> | null;
  readonly info?: Readonly<Record<string, unknown>>;
}

const PLAN_NOTE = 'the library\'s plan through the backend alone: no validation, store, IPAM, firewall';

/** The split section of stdout: one line per path that ran, then the layers when floor, plan and ctnet all ran. */
export function splitLines(rows: readonly SplitRow[], layers: Layers | null): string[] {
  const ok = rows.filter((r) => r.status === 'ok' && r.attach);
  if (ok.length === 0) return [];
  const width = Math.max(...ok.map((r) => r.label.length));
  const out = ['where the attach time goes (medians, ms; the median of each phase, so they need not add up to the total):'];
  for (const r of ok) {
    const steps = r.info?.stepsMedianMs as Record<string, number> | undefined;
    const what = r.phasesMedianMs
      ? PHASES.map((p) => `${PHASE_LABELS[p]} ${fmt(r.phasesMedianMs![p])}`).join(' · ')
      : steps
        ? `kernel: ${Object.entries(steps).map(([k, v]) => `${k} ${fmt(v)}`).join(' · ')}`
        : r.name === 'ctnet-plan' ? PLAN_NOTE : 'total only';
    out.push(`  ${r.label.padEnd(width)} ${fmt(r.attach!.medianMs).padStart(7)}  ${what}`);
  }
  if (layers) {
    out.push(`  ctnet-fast in layers: kernel (floor) ${fmt(layers.kernelMs)} · crossing (plan − floor) ${fmt(layers.crossingMs)} · library (ctnet − plan) ${fmt(layers.libraryMs)} = ${fmt(layers.totalMs)} ms`);
  }
  return out;
}

/** The headline line: ctnet-fast ÷ floor, overall and the range of the per-round ratios. */
export function headlineLine(attach: number | null, detach: number | null, a: RatioSpread | null, d: RatioSpread | null): string | null {
  if (attach === null && detach === null) return null;
  const part = (what: string, v: number | null, s: RatioSpread | null): string =>
    `${what} ${fmt(v, 2)}× (per round ${rangeText(s)}${s ? `, ${s.perRound.length} round${s.perRound.length === 1 ? '' : 's'}` : ''})`;
  return `ctnet-fast ÷ floor: ${part('attach', attach, a)} · ${part('detach', detach, d)}`;
}

/** What the report needs of a path beyond the split: its ratio to the floor, overall and per round. */
export interface HeadlineRow extends SplitRow {
  readonly vsFloor: { readonly attach: number; readonly detach: number } | null;
  readonly vsFloorRounds: { readonly attach: RatioSpread | null; readonly detach: RatioSpread | null } | null;
}

/** The headline and the split, for latest.json and for stdout, from the run's path reports. */
export function splitReport(rows: readonly HeadlineRow[]): { headline: Record<string, unknown> | null; attachSplit: Record<string, unknown>; lines: string[] } {
  const ok = (n: string): HeadlineRow | undefined => rows.find((r) => r.name === n && r.status === 'ok' && r.attach !== null);
  const ctnet = ok('ctnet');
  const layers = layersOf(ok('floor')?.attach?.medianMs, ok('ctnet-plan')?.attach?.medianMs, ctnet?.attach?.medianMs);
  const rounds = ctnet?.vsFloorRounds;
  const headline = ctnet?.vsFloor
    ? {
        path: 'ctnet', base: 'floor', what: 'median ÷ median; perRound: each round\'s medians, same round',
        attach: { ratio: ctnet.vsFloor.attach, ...(rounds?.attach ?? {}) },
        detach: { ratio: ctnet.vsFloor.detach, ...(rounds?.detach ?? {}) },
      }
    : null;
  const paths = Object.fromEntries(rows.filter((r) => r.status === 'ok' && r.attach).map((r) => [r.name, {
    attachMedianMs: r.attach!.medianMs,
    ...(r.phasesMedianMs ? { phasesMedianMs: r.phasesMedianMs } : {}),
    ...(r.info?.stepsMedianMs ? { kernelStepsMedianMs: r.info.stepsMedianMs } : {}),
  }]));
  const head = ctnet?.vsFloor ? headlineLine(ctnet.vsFloor.attach, ctnet.vsFloor.detach, rounds?.attach ?? null, rounds?.detach ?? null) : null;
  const lines = [...(head ? [head, ''] : []), ...splitLines(rows, layers)];
  return { headline, attachSplit: { phases: PHASE_MEANING, layers, paths }, lines };
}
