/**
 * backend/result.ts — running a plan and turning its first failure into one error with
 * context ("attach netns0 to demo: create veth ctv1a→eth0: EEXIST: …").
 *
 * Layer: backend. Knows the plan contract, not the kernel.
 */
import type { Backend, NsRef, Plan, Step, StepResult, RtnlOp } from '../model/plan.js';
import type { NetlinkError } from '../model/errors.js';
import { toNetlinkError } from '../rtnl/batch.js';

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
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (r === undefined || r.ok || 'skipped' in r) continue;
    const s = steps[i];
    const opLabel = r.failedOp !== undefined ? s?.opLabels?.[r.failedOp] : undefined;
    return toNetlinkError(r.error, opLabel ?? s?.label ?? r.kind);
  }
  return undefined;
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
  const out: Error[] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (r === undefined || r.ok || 'skipped' in r) continue;
    const s = steps[i];
    if (r.ops !== undefined) {
      r.ops.forEach((o, j) => {
        if (!o.ok) out.push(toNetlinkError(o.error, s?.opLabels?.[j] ?? s?.label ?? r.kind));
      });
      if (r.ops.some((o) => !o.ok)) continue;
    }
    out.push(toNetlinkError(r.error, s?.label ?? r.kind));
  }
  return out;
}

export function rtnlStep(ns: NsRef, ops: RtnlOp[], label: string, opLabels?: string[]): Labelled {
  return opLabels === undefined ? { step: { kind: 'rtnl', ns, ops }, label } : { step: { kind: 'rtnl', ns, ops }, label, opLabels };
}
