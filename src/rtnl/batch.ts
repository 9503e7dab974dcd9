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

export interface Failure {
  /** Index of the failed step in the plan. */
  readonly step: number;
  /** Index of the failed op inside an rtnl step. */
  readonly op?: number;
  readonly error: KernelError;
  /** What was being done: "create veth vethA→eth0 in netns0". */
  readonly context: string;
}

/** A KernelError as the NetlinkError callers catch, prefixed with `context`. */
export function toNetlinkError(err: KernelError, context?: string): NetlinkError {
  const e = new NetlinkError({ errno: err.errno, op: err.op, extack: err.message });
  // Keep the backend's errno name when it knows one we do not (e.g. fs codes).
  if (/^E\d+$/.test(e.code) && err.code !== '') e.code = err.code;
  return context !== undefined && context !== '' ? e.withContext(context) : e;
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
    const out: Failure[] = [];
    this.steps.forEach((s, i) => {
      if (s.ok || 'skipped' in s) return;
      if (s.kind === 'rtnl' && s.ops !== undefined && s.ops.some((o) => !o.ok)) {
        s.ops.forEach((o, j) => {
          if (!o.ok) out.push({ step: i, op: j, error: o.error, context: this.describe(i, j) });
        });
      } else {
        out.push({ step: i, error: s.error, context: this.describe(i, s.failedOp) });
      }
    });
    return out;
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
    if (!s.ok && 'skipped' in s) throw toNetlinkError({ errno: 125, code: 'ECANCELED', op: 'plan', message: 'step skipped after an earlier failure' }, this.describe(step, op));
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
      if ('skipped' in s) throw toNetlinkError({ errno: 125, code: 'ECANCELED', op: 'plan', message: 'step skipped after an earlier failure' }, this.describe(step));
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

/**
 * A sysctl key, returned in the contract's slash form: "net/ipv4/ip_forward" is kept as is
 * (so interface names with dots stay intact), "net.ipv4.ip_forward" becomes slashes.
 * Refuses "", a leading '/', NUL, and "." / ".." / empty components.
 */
export function checkSysctlKey(key: unknown): string {
  if (typeof key !== 'string') throw new InvalidInputError('invalid sysctl key: expected a string like net/ipv4/ip_forward');
  const slash = key.includes('/') ? key : key.replaceAll('.', '/');
  if (key === '' || key.startsWith('/') || key.includes('\0') || slash.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new InvalidInputError(`invalid sysctl key "${key}": expected e.g. net/ipv4/ip_forward`);
  }
  return slash;
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
    case 'rtnl': {
      const op = j !== undefined ? s.ops[j] : undefined;
      if (op !== undefined) return describeOp(op, s.ns, label);
      return `rtnetlink requests${'self' in s.ns ? '' : ` in ${label(s.ns)}`}`;
    }
  }
}
