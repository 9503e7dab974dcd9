/**
 * firewall/driver.ts — the firewall driver interface, its three drivers and the choice
 * between them (docs/ARCHITECTURE.md, "Firewall model").
 *
 * Layer: firewall. This is the one place that knows which kernel backend runs nftables
 * how; the topology only asks a driver for its steps (see Firewall.contribute), so it never
 * names a backend. A driver applies JSON batches built by ruleset.ts/elements.ts; it does
 * not decide networks, addresses or ports.
 *
 * Drivers:
 *   'libnftables'  in-process through the native backend's `nft` plan step (~0.1 ms a
 *                  batch, docs/ARCHITECTURE.md "Kernel facts"): its batches ride in the
 *                  caller's plan, so an attach with published ports stays ONE crossing.
 *   'nft'          `nft -j -f FILE` processes (backend/nft-process.ts), ~2.5 ms. When the
 *                  kernel backend is iproute2 its `nft` plan step is exactly that process,
 *                  so the batch rides in the plan too; beside the native backend (whose
 *                  `nft` step would be libnftables) it is applied separately.
 *   'none'         rules are not applied (the caller takes care of the firewall itself).
 */
import { accessSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import { EnvironmentError, InvalidInputError, NetlinkError, CODE } from '../model/errors.js';
import type { Backend, NftElemOp, NsRef, StepResult } from '../model/plan.js';
import { SKIPPED, toNetlinkError, type Labelled } from '../backend/result.js';
import { nftErrno, runNftProcess } from '../backend/nft-process.js';

export type FirewallBackendName = 'libnftables' | 'nft' | 'none';
export type FirewallChoice = 'auto' | FirewallBackendName;

/** One nftables backend behind one interface. */
export interface FirewallDriver {
  readonly name: FirewallBackendName;
  /** false for 'none': no batch is built, nothing is applied. */
  readonly active: boolean;
  /**
   * The plan steps that apply `json` in `ns` as part of a caller's plan, or undefined when
   * this driver cannot ride in the caller's plan (then `apply` it on its own). `native` is
   * the same batch's elements in the kernel's encoding (native-elements.ts), which the
   * libnftables driver hands the addon to send itself; the others ignore it.
   */
  steps(json: string, ns: NsRef, label: string, native?: readonly NftElemOp[]): Labelled[] | undefined;
  /** Apply one JSON batch in `ns` on its own (one transaction). */
  apply(json: string, ns: NsRef): Promise<void>;
  /** Run one JSON batch of `list` commands in `ns`; its JSON output ('' for 'none'). */
  query(json: string, ns: NsRef): Promise<string>;
}

export const NFT_MISSING = 'nftables is not installed: apt-get install nftables';

/** What the choice depends on (all optional: absent means "not available"). */
export interface FirewallEnv {
  /** The kernel backend in use (its `name` says whether it is the native addon). */
  readonly backend?: Pick<Backend, 'name'>;
  /** Whether libnftables loaded in the kernel backend (Backend.nftAvailable). */
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
 * Resolve a firewall choice to a driver name.
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

/** The error of an `nft` step run on its own (libnftables reports text only: its errno is recovered). */
function nftStepError(r: StepResult | undefined): Error | undefined {
  if (r === undefined) return new NetlinkError({ errno: 5, op: 'nft', extack: 'the backend returned no result for the nft step' });
  if (r.ok) return undefined;
  const err = 'skipped' in r ? SKIPPED : r.error;
  // libnftables gives only text (the addon reports EINVAL): recover the errno from it
  const errno = err.errno === 22 && err.message !== undefined ? nftErrno(err.message, 22) : err.errno;
  return toNetlinkError({ ...err, errno, code: errno === err.errno ? err.code : '', op: err.op || 'nft' });
}

function nftStep(json: string, ns: NsRef, label: string, native?: readonly NftElemOp[]): Labelled[] {
  return [{ step: { kind: 'nft', ns, json, ...(native !== undefined && native.length > 0 ? { elems: native } : {}) }, label }];
}

const NONE: FirewallDriver = {
  name: 'none',
  active: false,
  steps: () => [],
  apply: () => Promise.resolve(),
  query: () => Promise.resolve(''),
};

/** In-process: the kernel backend's `nft` step (libnftables, one context per host netns). */
function libnftablesDriver(backend: Backend | undefined): FirewallDriver {
  const query = async (json: string, ns: NsRef): Promise<string> => {
    if (backend === undefined) throw new EnvironmentError('firewall "libnftables" needs a native backend to run on', CODE.noLibnft);
    const [r] = await backend.run({ steps: [{ kind: 'nft', ns, json }] });
    const err = nftStepError(r);
    if (err !== undefined) throw err;
    return r?.ok === true ? r.value ?? '' : '';
  };
  return {
    name: 'libnftables',
    active: true,
    steps: nftStep,
    async apply(json, ns) { await query(json, ns); },
    query,
  };
}

/** `nft` processes; in the plan only when the kernel backend runs its `nft` steps as such processes. */
function nftProcessDriver(backend: Pick<Backend, 'name'> | undefined): FirewallDriver {
  const inPlan = backend?.name === 'iproute2';
  return {
    name: 'nft',
    active: true,
    steps: (json, ns, label) => (inPlan ? nftStep(json, ns, label) : undefined),
    async apply(json, ns) {
      await runNftProcess(json, nsPathOf(ns));
    },
    query: (json, ns) => runNftProcess(json, nsPathOf(ns)),
  };
}

/** The driver of a resolved name, over the kernel backend in use. */
export function firewallDriver(name: FirewallBackendName, backend?: Backend): FirewallDriver {
  switch (name) {
    case 'none': return NONE;
    case 'libnftables': return libnftablesDriver(backend);
    case 'nft': return nftProcessDriver(backend);
  }
}

