/**
 * backend/result.ts — running a plan and turning its first failure into one error with
 * context ("attach netns0 to demo: create veth ctv1a→eth0: EEXIST: …").
 *
 * Layer: backend. Knows the plan contract, not the kernel.
 */
import type { Backend, KernelError, NsRef, Plan, Step, StepResult, RtnlOp } from '../model/plan.js';
import { NetlinkError } from '../model/errors.js';

/** A KernelError as the NetlinkError callers catch, prefixed with `context`. */
export function toNetlinkError(err: KernelError, context?: string): NetlinkError {
  const e = new NetlinkError({ errno: err.errno, op: err.op, extack: err.message });
  // Keep the backend's errno name when it knows one we do not (e.g. fs codes).
  if (/^E\d+$/.test(e.code) && err.code !== '') e.code = err.code;
  return context !== undefined && context !== '' ? e.withContext(context) : e;
}

/** The error a step skipped after an earlier failure answers with (ECANCELED). */
export const SKIPPED: KernelError = { errno: 125, code: 'ECANCELED', op: 'plan', message: 'step skipped after an earlier failure' };

/** One failed step, or one failed op of an rtnl step. */
export interface StepFailure {
  /** Index of the failed step in the plan. */
  readonly step: number;
  /** Index of the failed op inside an rtnl step (for a whole-step failure: the op it names, if any). */
  readonly op?: number;
  readonly error: KernelError;
}

/**
 * Every failed step and every failed op of a plan's results, in order (skipped steps are
 * not failures of their own). The one walk over StepResult: Batch, runSteps and teardown
 * all read failures through it.
 */
export function planFailures(results: readonly StepResult[]): StepFailure[] {
  const out: StepFailure[] = [];
  results.forEach((s, i) => {
    if (s.ok || 'skipped' in s) return;
    if (s.kind === 'rtnl' && s.ops !== undefined && s.ops.some((o) => !o.ok)) {
      s.ops.forEach((o, j) => {
        if (!o.ok) out.push({ step: i, op: j, error: o.error });
      });
    } else {
      out.push(s.failedOp !== undefined ? { step: i, op: s.failedOp, error: s.error } : { step: i, error: s.error });
    }
  });
  return out;
}

/** A label for each step/op, used in error messages. */
export interface Labelled {
  readonly step: Step;
  /** what the step does, in words ("create veth ctv1a→eth0 in /run/netns/c1") */
  readonly label: string;
  /** optional per-op labels for rtnl steps */
  readonly opLabels?: readonly string[];
}

/** The first failure of a plan as a NetlinkError, or undefined when every step succeeded. */
export function firstFailure(steps: readonly Labelled[], results: readonly StepResult[]): NetlinkError | undefined {
  const f = planFailures(results)[0];
  return f === undefined ? undefined : labelledError(steps, results, f);
}

function labelledError(steps: readonly Labelled[], results: readonly StepResult[], f: StepFailure): NetlinkError {
  const s = steps[f.step];
  const label = (f.op !== undefined ? s?.opLabels?.[f.op] : undefined) ?? s?.label ?? results[f.step]?.kind;
  return toNetlinkError(f.error, label);
}

/** Run labelled steps as one plan (one crossing); throws the first failure with `context`. */
export async function runSteps(backend: Backend, steps: readonly Labelled[], context: string, stopOnError = true): Promise<readonly StepResult[]> {
  const plan: Plan = { steps: steps.map((s) => s.step), stopOnError };
  const results = await backend.run(plan);
  const err = firstFailure(steps, results);
  if (err !== undefined) throw err.withContext(context);
  return results;
}

/** Every failure of a best-effort plan (teardown), each as an Error with its label. */
export function allFailures(steps: readonly Labelled[], results: readonly StepResult[]): Error[] {
  return planFailures(results).map((f) => labelledError(steps, results, f));
}

export function rtnlStep(ns: NsRef, ops: RtnlOp[], label: string, opLabels?: string[]): Labelled {
  return opLabels === undefined ? { step: { kind: 'rtnl', ns, ops }, label } : { step: { kind: 'rtnl', ns, ops }, label, opLabels };
}
