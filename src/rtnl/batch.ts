/**
 * rtnl/batch.ts — build one Plan that carries work across several namespaces, run it with
 * ONE crossing into the backend, and read per-step / per-op results (or throw the first
 * failure with context naming the objects).
 *
 * Layer: rtnl. It validates every op before anything runs (InvalidInputError), chooses no
 * names and applies no policy.
 *
 *   const b = new Batch(backend);            // or rtnl.batch()
 *   const ns = b.netnsCreate('/run/netns/x'); // → { slot: 0 }
 *   b.rtnl({ self: true }, [ops.vethAdd('vethA', { name: 'eth0', ns })]);
 *   b.rtnl(ns, [ops.linkSet('eth0', { up: true }), ops.addrAdd('eth0', '10.0.0.2/24')]);
 *   const res = await b.run();
 *   res.throwIfFailed('attach x');           // "attach x: create veth vethA→eth0 in x: EEXIST: …"
 */
import { InvalidInputError, NetlinkError } from '../model/errors.js';
import type { Backend, KernelError, NsRef, OpValue, Plan, RtnlOp, Step, StepResult } from '../model/plan.js';
import { checkNsRef, checkOp, describeOp, nsLabel } from './ops.js';
import { SKIPPED, planFailures, toNetlinkError } from '../backend/result.js';
import { checkSysctlKey } from '../validate/kernel.js';

export interface Failure {
  /** Index of the failed step in the plan. */
  readonly step: number;
  /** Index of the failed op inside an rtnl step. */
  readonly op?: number;
  readonly error: KernelError;
  /** What was being done: "create veth vethA→eth0 in netns0". */
  readonly context: string;
}


export class BatchResult {
  constructor(
    readonly steps: readonly StepResult[],
    private readonly describe: (step: number, op?: number) => string,
  ) {}

  get ok(): boolean {
    return this.steps.every((s) => s.ok);
  }

  /** Every failed step and every failed op (skipped steps are not failures of their own). */
  failures(): Failure[] {
    return planFailures(this.steps).map((f) => ({ ...f, context: this.describe(f.step, f.op) }));
  }

  firstFailure(): Failure | undefined {
    return this.failures()[0];
  }

  /** Throw the first failure as a NetlinkError: "PREFIX: create veth a→b in x: EEXIST: … (RTM_NEWLINK)". */
  throwIfFailed(prefix?: string): void {
    const f = this.firstFailure();
    if (f === undefined) return;
    const ctx = prefix !== undefined && prefix !== '' ? `${prefix}: ${f.context}` : f.context;
    throw toNetlinkError(f.error, ctx);
  }

  /** The value of op `op` of rtnl step `step` (throws that op's error if it failed). */
  opValue(step: number, op: number): OpValue {
    const s = this.steps[step];
    if (s === undefined) throw new RangeError(`no step ${step}`);
    if (!s.ok && 'skipped' in s) throw toNetlinkError(SKIPPED, this.describe(step, op));
    const r = s.ops?.[op];
    if (r === undefined) {
      if (!s.ok) throw toNetlinkError(s.error, this.describe(step, op));
      throw new RangeError(`no op ${op} in step ${step}`);
    }
    if (!r.ok) throw toNetlinkError(r.error, this.describe(step, op));
    return r.value;
  }

  /** The string value of a sysctl/nft step (throws its error if it failed). */
  stepValue(step: number): string | undefined {
    const s = this.steps[step];
    if (s === undefined) throw new RangeError(`no step ${step}`);
    if (!s.ok) {
      if ('skipped' in s) throw toNetlinkError(SKIPPED, this.describe(step));
      throw toNetlinkError(s.error, this.describe(step));
    }
    return s.value;
  }
}

export class Batch {
  private readonly steps: Step[] = [];

  constructor(private readonly backend: Backend, private readonly opts: { readonly stopOnError?: boolean } = {}) {}

  get length(): number {
    return this.steps.length;
  }

  /** `ip netns add NAME` (any path for the native backend). Returns a ref later steps can use. */
  netnsCreate(path: string): NsRef {
    checkNsRef({ path }, 'netns to create');
    return { slot: this.push({ kind: 'netnsCreate', path }) };
  }

  /** Open an existing netns file; later steps refer to it by the returned ref. */
  netnsOpen(path: string): NsRef {
    checkNsRef({ path }, 'netns to open');
    return { slot: this.push({ kind: 'netnsOpen', path }) };
  }

  /** `ip netns del NAME`: umount + unlink, returns at once. Returns the step index. */
  netnsDelete(path: string): number {
    checkNsRef({ path }, 'netns to delete');
    return this.push({ kind: 'netnsDelete', path });
  }

  /** Rtnetlink ops in one netns (one sendmsg for the native backend). Returns the step index. */
  rtnl(ns: NsRef, ops: readonly RtnlOp[]): number {
    const where = this.checkRef(ns, 'netns of rtnl step');
    for (const op of ops) {
      checkOp(op);
      if (op.op === 'linkAdd' && op.peer?.ns !== undefined) this.checkRef(op.peer.ns, `netns of veth peer ${op.peer.name}`);
      if (op.op === 'linkSet' && op.ns !== undefined) this.checkRef(op.ns, `target netns of ${String(op.link)}`);
    }
    return this.push({ kind: 'rtnl', ns: where, ops: [...ops] });
  }

  /** Read (no value) or write /proc/sys/KEY inside a netns. Returns the step index. */
  sysctl(ns: NsRef, key: string, value?: string): number {
    const where = this.checkRef(ns, 'netns of sysctl');
    const k = checkSysctlKey(key);
    return this.push(value === undefined ? { kind: 'sysctl', ns: where, key: k } : { kind: 'sysctl', ns: where, key: k, value });
  }

  /** An nftables JSON batch inside a netns. Returns the step index. */
  nft(ns: NsRef, json: string): number {
    return this.push({ kind: 'nft', ns: this.checkRef(ns, 'netns of nft'), json });
  }

  plan(): Plan {
    return this.opts.stopOnError === undefined
      ? { steps: [...this.steps] }
      : { steps: [...this.steps], stopOnError: this.opts.stopOnError };
  }

  /** Run the whole plan in one backend call. */
  async run(): Promise<BatchResult> {
    const steps = [...this.steps];
    const results = await this.backend.run(this.plan());
    return new BatchResult(results, (i, j) => describeStep(steps, i, j));
  }

  private push(step: Step): number {
    this.steps.push(step);
    return this.steps.length - 1;
  }

  private checkRef(ns: NsRef, what: string): NsRef {
    const r = checkNsRef(ns, what);
    if ('slot' in r) {
      const s = this.steps[r.slot];
      if (s === undefined || (s.kind !== 'netnsCreate' && s.kind !== 'netnsOpen')) {
        throw new InvalidInputError(`invalid ${what}: slot ${r.slot} is not an earlier netnsCreate/netnsOpen step`);
      }
    }
    return r;
  }
}


function describeStep(steps: readonly Step[], i: number, j?: number): string {
  const s = steps[i];
  if (s === undefined) return `step ${i}`;
  const label = (ns: NsRef): string => nsLabel(ns, (slot) => {
    const t = steps[slot];
    return t !== undefined && 'path' in t ? t.path : undefined;
  });
  switch (s.kind) {
    case 'netnsCreate': return `create netns ${label({ path: s.path })}`;
    case 'netnsOpen': return `open netns ${label({ path: s.path })}`;
    case 'netnsDelete': return `delete netns ${label({ path: s.path })}`;
    case 'sysctl': return `${s.value === undefined ? 'read' : 'write'} sysctl ${s.key}${'self' in s.ns ? '' : ` in ${label(s.ns)}`}`;
    case 'nft': return `apply nftables batch${'self' in s.ns ? '' : ` in ${label(s.ns)}`}`;
    case 'conntrackDelete': return `delete conntrack entries${'self' in s.ns ? '' : ` in ${label(s.ns)}`}`;
    case 'rtnl': {
      const op = j !== undefined ? s.ops[j] : undefined;
      if (op !== undefined) return describeOp(op, s.ns, label);
      return `rtnetlink requests${'self' in s.ns ? '' : ` in ${label(s.ns)}`}`;
    }
  }
}
