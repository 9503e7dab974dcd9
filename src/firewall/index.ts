/**
 * firewall/index.ts — choose an nftables backend and apply ctnet-fast's JSON batches.
 *
 * Layer: firewall (below topology, beside ipam). The rules themselves are pure functions in
 * rules.ts (the topology may embed them into its own plans as `{kind:'nft', ns, json}`
 * steps); this module is the small stateful wrapper for callers that apply them directly:
 * backend choice, "base installed once per netns", listing and removing our tables.
 * It must not touch tables that are not ours, nor decide networks, addresses or ports.
 *
 * Backends:
 *   'libnftables'  in-process through the native backend: `backend.run({steps:[{kind:'nft', ns, json}]})`
 *                  (~0.1 ms a batch, DESIGN.md §3)
 *   'nft'          `nft -j -f FILE` (through `nsenter --net=PATH` for another netns), ~2.5 ms
 *   'none'         rules are not applied (the caller takes care of the firewall itself)
 */
import { accessSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import { EnvironmentError, InvalidInputError, NetlinkError, CODE } from '../model/errors.js';
import type { Backend, NsRef, StepResult } from '../model/plan.js';
import { SKIPPED, toNetlinkError } from '../backend/result.js';
import type { PortMapping } from '../model/types.js';
import { nftErrno, runNftArgs, runNftProcess } from '../backend/nft-process.js';
import {
  FAMILIES, TABLE, addNetworkElements, baseRuleset, publishElements, removeAllRuleset, removeNetworkElements,
  unpublishElements, type FirewallEndpoint, type FirewallNetwork, type NftFamily, type RulesetOptions,
} from './rules.js';

export * from './rules.js';
export * from '../validate/ports.js';
export { runNftProcess, runNftArgs, nftErrno } from '../backend/nft-process.js';

export type FirewallBackendName = 'libnftables' | 'nft' | 'none';
export type FirewallChoice = 'auto' | FirewallBackendName;

export const NFT_MISSING = 'nftables is not installed: apt-get install nftables';

/** What the choice depends on (all optional: absent means "not available"). */
export interface FirewallEnv {
  /** The kernel backend in use (its `name` says whether it is the native addon). */
  readonly backend?: Pick<Backend, 'name'>;
  /** The addon's `nftAvailable()` (whether libnftables.so.1 loaded). */
  readonly nftAvailable?: () => { ok: boolean; reason?: string };
  /** Override PATH lookup of `nft` (tests). Default: search $PATH for an executable `nft`. */
  readonly hasNftCommand?: () => boolean;
}

/** Whether an executable `nft` is on $PATH (no process is started). */
export function nftOnPath(envPath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): boolean {
  for (const dir of envPath.split(':')) {
    if (dir === '') continue;
    try {
      accessSync(path.join(dir, 'nft'), fsc.X_OK);
      return true;
    } catch { /* next */ }
  }
  return false;
}

/**
 * Resolve a firewall choice to a backend name.
 *   'auto' → 'libnftables' when the native backend is in use and libnftables loads,
 *            else 'nft' when `nft` is on PATH, else EnvironmentError (NFT_MISSING).
 *   'libnftables' → EnvironmentError (with the addon's reason) when it cannot be used.
 *   'nft' → EnvironmentError (NFT_MISSING) when `nft` is not on PATH.
 *   'none' → 'none'.
 */
export function pickFirewallBackend(choice: FirewallChoice, env: FirewallEnv = {}): FirewallBackendName {
  if (choice === 'none') return 'none';
  const native = env.backend?.name === 'native';
  const lib = native && env.nftAvailable !== undefined ? env.nftAvailable() : undefined;
  const hasNft = env.hasNftCommand ?? (() => nftOnPath());
  switch (choice) {
    case 'libnftables':
      if (!native) throw new EnvironmentError('firewall "libnftables" needs the native backend (the addon is not in use)', CODE.noLibnft);
      if (lib?.ok !== true) {
        throw new EnvironmentError(`firewall "libnftables" is not available: ${lib?.reason ?? 'libnftables.so.1 could not be loaded'} (apt-get install libnftables1)`, CODE.noLibnft);
      }
      return 'libnftables';
    case 'nft':
      if (!hasNft()) throw new EnvironmentError(NFT_MISSING, CODE.noTool);
      return 'nft';
    case 'auto':
      if (lib?.ok === true) return 'libnftables';
      if (hasNft()) return 'nft';
      throw new EnvironmentError(NFT_MISSING, CODE.noTool);
    default:
      throw new InvalidInputError(`invalid firewall backend "${String(choice)}": expected auto, libnftables, nft or none`);
  }
}

/** The nsfs path `nft`/`nsenter` needs for a NsRef (undefined: our own netns). */
export function nsPathOf(ns: NsRef): string | undefined {
  if ('self' in ns) return undefined;
  if ('path' in ns) return ns.path;
  throw new InvalidInputError('the nft process backend needs a netns path (a plan slot or fd cannot be entered by a process)');
}

function stepError(r: StepResult | undefined): Error | undefined {
  if (r === undefined) return new NetlinkError({ errno: 5, op: 'nft', extack: 'the backend returned no result for the nft step' });
  if (r.ok) return undefined;
  const err = 'skipped' in r ? SKIPPED : r.error;
  // libnftables gives only text (the addon reports EINVAL): recover the errno from it
  const errno = err.errno === 22 && err.message !== undefined ? nftErrno(err.message, 22) : err.errno;
  return toNetlinkError({ ...err, errno, code: errno === err.errno ? err.code : '', op: err.op || 'nft' });
}

/** Apply one JSON batch in `ns` through the named backend ('none' does nothing). */
export async function applyNft(name: FirewallBackendName, json: string, ns: NsRef, backend?: Backend): Promise<void> {
  switch (name) {
    case 'none':
      return;
    case 'nft':
      await runNftProcess(json, nsPathOf(ns));
      return;
    case 'libnftables': {
      if (backend === undefined) throw new EnvironmentError('firewall "libnftables" needs a native backend to run on', CODE.noLibnft);
      const [r] = await backend.run({ steps: [{ kind: 'nft', ns, json }] });
      const err = stepError(r);
      if (err !== undefined) throw err;
      return;
    }
  }
}

export interface FirewallOptions extends RulesetOptions {
  /** Default 'auto'. */
  readonly firewall?: FirewallChoice;
  /** The kernel backend (needed for 'libnftables'). */
  readonly backend?: Backend;
  /** The addon's nftAvailable (needed for 'auto' to pick 'libnftables'). */
  readonly nftAvailable?: () => { ok: boolean; reason?: string };
  /** Where the rules live (the host netns). Default: our own netns. */
  readonly ns?: NsRef;
  /** PATH lookup override (tests). */
  readonly hasNftCommand?: () => boolean;
}

/**
 * The stateful wrapper: one per host netns. The backend is resolved lazily, so a host
 * without nftables only fails (EnvironmentError NFT_MISSING) when rules are needed.
 * `ensureBase()` installs the base ruleset once per instance (the batch is idempotent).
 */
export class Firewall {
  private resolved: FirewallBackendName | undefined;
  private baseDone: Promise<void> | undefined;
  readonly ns: NsRef;
  readonly ruleOpts: RulesetOptions;

  constructor(private readonly opts: FirewallOptions = {}) {
    this.ns = opts.ns ?? { self: true };
    this.ruleOpts = opts.ipv6 === false ? { ipv6: false } : {};
  }

  /** The backend in use (resolving 'auto' on first call; may throw EnvironmentError). */
  get backendName(): FirewallBackendName {
    if (this.resolved === undefined) {
      this.resolved = pickFirewallBackend(this.opts.firewall ?? 'auto', {
        ...(this.opts.backend !== undefined ? { backend: this.opts.backend } : {}),
        ...(this.opts.nftAvailable !== undefined ? { nftAvailable: this.opts.nftAvailable } : {}),
        ...(this.opts.hasNftCommand !== undefined ? { hasNftCommand: this.opts.hasNftCommand } : {}),
      });
    }
    return this.resolved;
  }

  /** Apply a JSON batch as is. */
  apply(json: string): Promise<void> {
    return applyNft(this.backendName, json, this.ns, this.opts.backend);
  }

  /** Install/refresh the base ruleset once for this instance. */
  ensureBase(): Promise<void> {
    if (this.baseDone === undefined) {
      const p = this.apply(baseRuleset(this.ruleOpts));
      this.baseDone = p;
      p.catch(() => { if (this.baseDone === p) this.baseDone = undefined; });
    }
    return this.baseDone;
  }

  /** Forget that the base ruleset is installed (another process may have removed our tables). */
  forgetBase(): void {
    this.baseDone = undefined;
  }

  async addNetwork(net: FirewallNetwork): Promise<void> {
    const json = addNetworkElements(net, this.ruleOpts);
    await this.ensureBase();
    await this.apply(json);
  }

  async removeNetwork(net: FirewallNetwork): Promise<void> {
    const json = removeNetworkElements(net, this.ruleOpts);
    await this.ensureBase();
    await this.apply(json);
  }

  async publish(ep: FirewallEndpoint, mappings: readonly PortMapping[]): Promise<void> {
    if (mappings.length === 0) return;
    const json = publishElements(ep, mappings, this.ruleOpts);
    await this.ensureBase();
    await this.apply(json);
  }

  async unpublish(ep: FirewallEndpoint, mappings: readonly PortMapping[]): Promise<void> {
    if (mappings.length === 0) return;
    const json = unpublishElements(ep, mappings, this.ruleOpts);
    await this.ensureBase();
    await this.apply(json);
  }

  /** Delete our tables (every element with them). Idempotent. */
  async removeAll(): Promise<void> {
    if (this.backendName === 'none') return;
    await this.apply(removeAllRuleset(this.ruleOpts));
    this.baseDone = undefined;
  }

  /**
   * Our tables present in the netns, e.g. ["ip ctnet", "ip6 ctnet"] — read with
   * `nft -j list tables` (an independent oracle; needs the `nft` command).
   */
  listOwnTables(): Promise<string[]> {
    return listOwnTables(this.ns);
  }
}

/** `nft -j list tables` in `ns`, filtered to ctnet-fast's tables ("FAMILY NAME"). */
export async function listOwnTables(ns: NsRef = { self: true }): Promise<string[]> {
  const out = await runNftArgs(['-j', 'list', 'tables'], nsPathOf(ns));
  return tablesOf(out).filter((t) => t.name === TABLE && (FAMILIES as readonly string[]).includes(t.family))
    .map((t) => `${t.family} ${t.name}`);
}

/** Every table `nft -j list tables|ruleset` output names: [{family, name}]. */
export function tablesOf(nftJson: string): Array<{ family: string; name: string }> {
  const doc = JSON.parse(nftJson === '' ? '{"nftables":[]}' : nftJson) as { nftables?: Array<Record<string, unknown>> };
  const out: Array<{ family: string; name: string }> = [];
  for (const o of doc.nftables ?? []) {
    const t = o.table as { family?: unknown; name?: unknown } | undefined;
    if (t !== undefined && typeof t.family === 'string' && typeof t.name === 'string') out.push({ family: t.family, name: t.name });
  }
  return out;
}

/** For tests and debugging: `nft -j list table FAMILY ctnet`, parsed. */
export async function readTable(family: NftFamily, ns: NsRef = { self: true }): Promise<{ nftables: Array<Record<string, unknown>> }> {
  return JSON.parse(await runNftArgs(['-j', 'list', 'table', family, TABLE], nsPathOf(ns))) as { nftables: Array<Record<string, unknown>> };
}
