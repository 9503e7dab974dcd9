/**
 * backend/iproute2/index.ts — the iproute2 backend: executes a whole Plan by running `ip` (and
 * `nsenter`, `sysctl`, `umount`, `nft`, `conntrack`) processes with argument arrays, never a shell.
 *
 * Layer: backend (iproute2) (the fallback when the addon cannot load, and the baseline every
 * benchmark compares against). It chooses no names and applies no policy: each op runs
 * exactly the `ip` command documented on it in model/plan.ts, and answers in exactly
 * the contract's result shapes, so one test suite checks both backends.
 *
 * Namespaces: `/run/netns/NAME` → `ip -n NAME …`; any other nsfs path → `nsenter --net=PATH
 * ip …`; `{self}` → plain `ip …` (this process's netns).
 *
 * Known differences from the native backend (documented, tested where it matters):
 *  - errno is inferred from iproute2's text when the kernel sent an extended ack (see
 *    iproute2-errors.ts);
 *  - the kernel refuses IFLA_AF_SPEC (addrgenmode) and ignores IFLA_IFALIAS in a create, so
 *    `alias`/`noIpv6LinkLocal` are a follow-up `ip link set` (and the link is deleted again if
 *    that fails), and `up` is then applied after `addrgenmode none`;
 *  - iproute2 6.1 applies a veth `peer … index N` only when the host end has an index too;
 *  - ops naming links by ifindex first list the links to find the name (`ip` wants names).
 */
import { NetlinkError } from '../../model/errors.js';
import { runNftProcess } from '../nft-process.js';
import type {
  Backend, NsRef, OpResult, Plan, RtnlOp, Step, StepResult } from '../../model/plan.js';
import { ConntrackFailure, conntrackDelete } from './conntrack.js';
import { LinkNames, OpFailure, fail, renames } from './run.js';
import { resolveNs, runOp } from './ops.js';
import { netnsCreate, netnsDelete, netnsOpen, sysctl } from './system.js';

export { ipCommand } from './run.js';
export { sysctlPath } from './system.js';


export class Iproute2Backend implements Backend {
  readonly name = 'iproute2' as const;

  async run(plan: Plan): Promise<readonly StepResult[]> {
    const stopOnError = plan.stopOnError ?? true;
    const slots = new Map<number, string>();
    const results: StepResult[] = [];
    let failed = false;
    for (const [i, step] of plan.steps.entries()) {
      if (failed && stopOnError) {
        results.push({ ok: false, kind: step.kind, skipped: true });
        continue;
      }
      const r = await this.step(step, slots);
      if (r.ok && (step.kind === 'netnsCreate' || step.kind === 'netnsOpen')) slots.set(i, step.path);
      if (!r.ok) failed = true;
      results.push(r);
    }
    return results;
  }

  async close(): Promise<void> {
    // Nothing held: every request is its own process.
  }

  private async step(step: Step, slots: ReadonlyMap<number, string>): Promise<StepResult> {
    try {
      switch (step.kind) {
        // No cookie: no process answers SO_NETNS_COOKIE (model/plan.ts, NetnsIdentity).
        case 'netnsCreate': return { ok: true, kind: step.kind, inode: await netnsCreate(step.path, step.from) };
        case 'netnsOpen': return { ok: true, kind: step.kind, inode: await netnsOpen(step.path) };
        case 'netnsDelete': await netnsDelete(step.path, step); return { ok: true, kind: step.kind };
        case 'rtnl': return await this.rtnlStep(step.ns, step.ops, slots);
        case 'sysctl': {
          const nsPath = resolveNs(step.ns, slots, 'sysctl');
          const value = await sysctl(nsPath, step.key, step.value);
          return value === undefined ? { ok: true, kind: step.kind } : { ok: true, kind: step.kind, value };
        }
        case 'nft': {
          const nsPath = resolveNs(step.ns, slots, 'nft');
          try {
            const out = await runNftProcess(step.json, nsPath);
            // Always a value (nft's output, often ''), as the native backend answers.
            return { ok: true, kind: step.kind, value: out };
          } catch (e) {
            if (e instanceof NetlinkError) fail(e.errno, 'nft', e.extack ?? e.message);
            throw e;
          }
        }
        case 'conntrackDelete': {
          const nsPath = resolveNs(step.ns, slots, 'conntrackDelete');
          try {
            return { ok: true, kind: step.kind, deleted: await conntrackDelete(nsPath, step.filter) };
          } catch (e) {
            if (e instanceof ConntrackFailure) throw new OpFailure(e.kerr);
            throw e;
          }
        }
      }
    } catch (e) {
      if (e instanceof OpFailure) return { ok: false, kind: step.kind, error: e.kerr };
      throw e;
    }
  }

  private async rtnlStep(ns: NsRef, ops: readonly RtnlOp[], slots: ReadonlyMap<number, string>): Promise<StepResult> {
    let nsPath: string | undefined;
    try {
      nsPath = resolveNs(ns, slots, 'setns');
    } catch (e) {
      if (!(e instanceof OpFailure)) throw e;
      return { ok: false, kind: 'rtnl', error: e.kerr, failedOp: 0, ops: ops.map(() => ({ ok: false, error: e.kerr })) };
    }
    const names = new LinkNames(nsPath);
    const results: OpResult[] = [];
    let firstFailed: number | undefined;
    // Sequential, and a failed op does not stop the later ones: the kernel treats a batch the same way.
    for (const [i, op] of ops.entries()) {
      try {
        results.push(await runOp(op, nsPath, names, slots));
      } catch (e) {
        if (!(e instanceof OpFailure)) throw e;
        results.push({ ok: false, error: e.kerr });
        firstFailed ??= i;
      } finally {
        if (renames(op)) names.invalidate();
      }
    }
    if (firstFailed === undefined) return { ok: true, kind: 'rtnl', ops: results };
    const first = results[firstFailed];
    const error = first !== undefined && !first.ok ? first.error : { errno: 5, code: 'EIO', op: 'rtnl' };
    return { ok: false, kind: 'rtnl', error, failedOp: firstFailed, ops: results };
  }
}

