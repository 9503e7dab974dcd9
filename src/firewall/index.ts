/**
 * firewall/index.ts — the firewall of one host netns: which driver applies ctnet-fast's
 * JSON batches, "base installed" once, and what a batch contributes to a caller's plan
 * (docs/ARCHITECTURE.md, "Firewall model").
 *
 * Layer: firewall (below ipam, state and topology). The rules are pure functions in
 * ruleset.ts and elements.ts; the drivers and their choice are in driver.ts. The topology
 * asks `contribute()` for a batch's steps, so it never names a backend. This module must
 * not touch tables that are not ours, nor decide networks, addresses or ports.
 */
import type { Backend, NsRef } from '../model/plan.js';
import { NetlinkError } from '../model/errors.js';
import type { Labelled } from '../backend/result.js';
import type { PortMapping } from '../model/types.js';
import { firewallDriver, pickFirewallBackend, type FirewallBackendName, type FirewallChoice, type FirewallDriver } from './driver.js';
import { baseRuleset, removeAllRuleset, CHAIN, FAMILIES, GUARD_CHAIN, SET, TABLE, type RulesetOptions, type TableFamily } from './ruleset.js';
import { publishElements, unpublishElements, type FirewallEndpoint, type GuardEndpoint } from './elements.js';
import type { ElementBatch } from './native-elements.js';

export * from './ruleset.js';
export * from './elements.js';
export * from './native-elements.js';
export * from './driver.js';

export interface FirewallOptions extends RulesetOptions {
  /** Default 'auto'. */
  readonly firewall?: FirewallChoice;
  /** The kernel backend (runs the 'libnftables' driver's steps; says whether the 'nft' driver's ride in plans). */
  readonly backend?: Backend;
  /** Whether libnftables loaded (default: the backend's own `nftAvailable`). */
  readonly nftAvailable?: () => { ok: boolean; reason?: string };
  /** Where the rules live (the host netns). Default: our own netns. */
  readonly ns?: NsRef;
  /** PATH lookup override (tests). */
  readonly hasNftCommand?: () => boolean;
}

/** What one batch adds to a caller's plan. */
export interface FirewallContribution {
  /** Steps for the caller's plan (one crossing); empty when the driver applies the batch on its own. */
  readonly steps: readonly Labelled[];
  /** Applies what the steps do not carry (resolves at once when they carry it all). */
  applyRest(): Promise<void>;
}

const NOTHING: FirewallContribution = { steps: [], applyRest: () => Promise.resolve() };

/**
 * A batch of ours failed because a table, set or map of ours is missing (ENOENT from an nft
 * step): someone removed our tables after the base was installed (`nft flush ruleset`, a
 * firewall reload). Recognised by code and op, never by message text.
 */
export function isMissingTable(e: unknown): boolean {
  return e instanceof NetlinkError && e.code === 'ENOENT' && e.op === 'nft';
}

/** A batch of several JSON batches, as one transaction. */
export function joinBatches(batches: readonly string[]): string {
  return JSON.stringify({ nftables: batches.flatMap((b) => (JSON.parse(b) as { nftables: unknown[] }).nftables) });
}

/**
 * The same batch with each `add` made a `create`: it fails with EEXIST when an element is
 * there already (NLM_F_EXCL), so a caller learns whether it was missing.
 */
export function asCreate(json: string): string {
  const cmds = (JSON.parse(json) as { nftables: Array<Record<string, unknown>> }).nftables;
  return JSON.stringify({ nftables: cmds.map((c) => ('add' in c ? { create: c.add } : c)) });
}

/**
 * The firewall of one host netns. The driver is resolved lazily, so a host without
 * nftables only fails (EnvironmentError NFT_MISSING) when rules are needed.
 *
 * `ensureBase()` installs the base ruleset once per instance and hands every caller the
 * same promise; a failure clears it, and so does a batch that finds our tables gone
 * (`noticeFailure`). It first looks whether our tables are there (one cheap list of a
 * chain per family): when they are not — someone ran `nft flush ruleset`, a firewall
 * reload — the base goes in together with every element the state knows (`setRestore`,
 * given by topology), in one transaction, so nothing published is silently lost.
 */
export class Firewall {
  #driver: FirewallDriver | undefined;
  #base: Promise<void> | undefined;
  #restore: (() => readonly string[]) | undefined;
  #settle: (() => Promise<void>) | undefined;
  readonly #opts: FirewallOptions;
  readonly ns: NsRef;
  readonly ruleOpts: RulesetOptions;

  constructor(opts: FirewallOptions = {}) {
    this.#opts = opts;
    this.ns = opts.ns ?? { self: true };
    this.ruleOpts = opts.ipv6 === false ? { ipv6: false } : {};
  }

  /** The driver in use (resolving 'auto' on first call; may throw EnvironmentError). */
  get driver(): FirewallDriver {
    if (this.#driver === undefined) {
      const { backend, hasNftCommand } = this.#opts;
      const nftAvailable = this.#opts.nftAvailable ?? (backend?.nftAvailable !== undefined ? () => backend.nftAvailable?.() ?? { ok: false } : undefined);
      const name = pickFirewallBackend(this.#opts.firewall ?? 'auto', {
        ...(backend !== undefined ? { backend } : {}),
        ...(nftAvailable !== undefined ? { nftAvailable } : {}),
        ...(hasNftCommand !== undefined ? { hasNftCommand } : {}),
      });
      this.#driver = firewallDriver(name, backend);
    }
    return this.#driver;
  }

  /** The driver's name (resolving 'auto'; may throw EnvironmentError). */
  get backendName(): FirewallBackendName {
    return this.driver.name;
  }

  /** Whether rules are applied at all (false for 'none'; resolving 'auto' may throw EnvironmentError). */
  get active(): boolean {
    return this.driver.active;
  }

  /** Apply a JSON batch as is, on its own. */
  apply(json: string): Promise<void> {
    return this.driver.apply(json, this.ns);
  }

  /**
   * What applying `json` adds to a caller's plan: the driver's steps when its batches ride
   * in plans (an attach with published ports stays one crossing), otherwise no steps and an
   * `applyRest` that applies the batch on its own. `undefined` contributes nothing. An
   * ElementBatch carries the native form of its elements too (native-elements.ts).
   */
  contribute(batch: string | ElementBatch | undefined, label: string): FirewallContribution {
    if (batch === undefined) return NOTHING;
    const { json, native } = typeof batch === 'string' ? { json: batch, native: undefined } : batch;
    const steps = this.driver.steps(json, this.ns, label, native);
    if (steps !== undefined) return { steps, applyRest: () => Promise.resolve() };
    return { steps: [], applyRest: () => this.apply(json) };
  }

  /**
   * Where every element the state knows comes from (topology: each network's elements and
   * each published port), for restoring our tables after someone removed them. `settle`
   * runs after such a restore: the state may have changed between its read and the apply
   * (a network removed meanwhile, issue 10 item 5), and it takes back what no longer belongs.
   */
  setRestore(fn: () => readonly string[], settle?: () => Promise<void>): void {
    this.#restore = fn;
    this.#settle = settle;
  }

  /** Install/refresh the base ruleset once for this instance (one promise shared by every caller). */
  ensureBase(): Promise<void> {
    if (this.#base === undefined) {
      const p = this.#installBase();
      this.#base = p;
      p.catch(() => { if (this.#base === p) this.#base = undefined; });
    }
    return this.#base;
  }

  async #installBase(): Promise<void> {
    const base = baseRuleset(this.ruleOpts);
    if (this.#restore === undefined || await this.tablesPresent()) return this.apply(base);
    await this.apply(joinBatches([base, ...this.#restore()]));
    await this.#settle?.();
  }

  /**
   * Whether our tables are there: one `list chain` per table of ours (`ip`, `ip6` and the
   * anti-spoofing `bridge ctnet`), each its own call (a chain lists its few rules, never the
   * sets' elements). False when a table is missing; other failures throw.
   */
  async tablesPresent(): Promise<boolean> {
    const chains: Array<[TableFamily, string]> = [...(this.ruleOpts.ipv6 === false ? ['ip' as const] : FAMILIES)
      .map((f): [TableFamily, string] => [f, CHAIN.forward]), ['bridge', GUARD_CHAIN]];
    // one list per call: libnftables 1.0.6 answers ENOENT to a second list in the same batch
    for (const [family, name] of chains) {
      try {
        await this.apply(JSON.stringify({ nftables: [{ list: { chain: { family, table: TABLE, name } } }] }));
      } catch (e) {
        if (isMissingTable(e)) return false;
        throw e;
      }
    }
    return true;
  }

  /**
   * The anti-spoofing elements in our `bridge ctnet` table (one `list set` per guard set):
   * for gc, to remove those of endpoints that no longer exist. Empty when the table is gone.
   */
  async guardElements(): Promise<GuardEndpoint[]> {
    const out: GuardEndpoint[] = [];
    for (const [name, key] of [[SET.guard4, 'ip'], [SET.guard6, 'ip6']] as const) {
      let text: string;
      try {
        text = await this.driver.query(JSON.stringify({ nftables: [{ list: { set: { family: 'bridge', table: TABLE, name } } }] }), this.ns);
      } catch (e) {
        if (isMissingTable(e)) return [];
        throw e;
      }
      const objs = text === '' ? [] : (JSON.parse(text) as { nftables?: Array<{ set?: { name?: string; elem?: unknown[] } }> }).nftables ?? [];
      for (const o of objs) {
        if (o.set?.name !== name) continue;
        for (const e of o.set.elem ?? []) {
          // an element is {concat: [...]}, or {elem: {val: {concat: [...]}}} when it carries options
          const c = ((e as { concat?: unknown }).concat ?? (e as { elem?: { val?: { concat?: unknown } } }).elem?.val?.concat) as unknown[] | undefined;
          if (!Array.isArray(c) || c.length !== 3 || !c.every((x) => typeof x === 'string')) continue;
          const [hostIfname, mac, addr] = c as [string, string, string];
          out.push({ hostIfname, mac, [key]: addr } as GuardEndpoint);
        }
      }
    }
    return out;
  }

  /**
   * For resident processes: are our tables still there? If not, install the base with every
   * element the state knows (see ensureBase). Returns true when it restored them.
   */
  async restoreIfVanished(): Promise<boolean> {
    if (!this.active || await this.tablesPresent()) return false;
    this.forgetBase();
    await this.ensureBase();
    return true;
  }

  /** Forget that the base ruleset is installed (another process may have removed our tables). */
  forgetBase(): void {
    this.#base = undefined;
  }

  /** Called with the failure of a batch of ours: a missing table means the base must be installed again. */
  noticeFailure(e: unknown): void {
    if (isMissingTable(e)) this.forgetBase();
  }

  /** Publish `mappings` of endpoint `ep` (one transaction; nothing with 'none' or no mappings). */
  async publish(ep: FirewallEndpoint, mappings: readonly PortMapping[]): Promise<void> {
    if (mappings.length === 0 || !this.active) return;
    await this.#applyOverBase(publishElements(ep, mappings, this.ruleOpts));
  }

  /** Remove exactly these mappings of `ep` (idempotent; never someone else's). */
  async unpublish(ep: FirewallEndpoint, mappings: readonly PortMapping[]): Promise<void> {
    if (mappings.length === 0 || !this.active) return;
    await this.#applyOverBase(unpublishElements(ep, mappings, this.ruleOpts));
  }

  /** Apply `json` over the base; when our tables vanished since, install the base again and retry once. */
  async #applyOverBase(json: string): Promise<void> {
    await this.ensureBase();
    try {
      await this.apply(json);
    } catch (e) {
      if (!isMissingTable(e)) throw e;
      this.forgetBase();
      await this.ensureBase();
      await this.apply(json);
    }
  }

  /** Delete our tables (every element with them). Idempotent. */
  async removeAll(): Promise<void> {
    if (!this.active) return;
    await this.apply(removeAllRuleset(this.ruleOpts));
    this.#base = undefined;
  }
}
