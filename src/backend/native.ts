/**
 * backend/native.ts — loads the C++ addon (ctnet_native.node) and wraps it as a Backend.
 *
 * Layer: backend (above model/, validate/). It only finds, loads and
 * forwards: no policy, no retries, no names chosen. When the addon cannot be loaded,
 * `loadNative()` says which paths it tried and why, so the caller can fall back to the
 * iproute2 backend and tell the user.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, NativeAddon, Plan, StepResult } from '../model/plan.js';

/** The ABI version this TypeScript expects the addon to export. */
export const NATIVE_ABI_VERSION = 1;

export interface NativeLoad {
  readonly addon?: NativeAddon;
  /** Every path tried, in order. */
  readonly tried: string[];
  /** Why no addon was loaded (last failure), when `addon` is absent. */
  readonly error?: string;
}

/**
 * The package root: this file is src/backend/native.ts (run from source) or
 * dist/src/backend/native.js (compiled); walk up until package.json is found.
 */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  // Fallback by layout: the folder holding dist/ (dist/src/backend, dist/bundle), else src/backend → two up.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parts = here.split(path.sep);
  const dist = parts.lastIndexOf('dist');
  return dist > 0 ? parts.slice(0, dist).join(path.sep) : path.resolve(here, '../..');
}

function isAddon(x: unknown): x is NativeAddon {
  if (typeof x !== 'object' || x === null) return false;
  const a = x as Record<string, unknown>;
  return typeof a['run'] === 'function' && typeof a['encode'] === 'function' && typeof a['decode'] === 'function' &&
    typeof a['nftAvailable'] === 'function' && typeof a['shutdown'] === 'function' && typeof a['abiVersion'] === 'number';
}

let cached: NativeLoad | undefined;

/**
 * Load the addon from (in order) $CTNET_NATIVE_PATH (relative paths resolve against the
 * package root), build/Release/ctnet_native.node, build/Debug/ctnet_native.node.
 * The result is cached for the process (`fresh: true` looks again, e.g. in tests).
 */
export function loadNative(opts: { readonly fresh?: boolean } = {}): NativeLoad {
  if (cached && opts.fresh !== true) return cached;
  const root = packageRoot();
  const require = createRequire(import.meta.url);
  const candidates: string[] = [];
  const env = process.env['CTNET_NATIVE_PATH'];
  if (env !== undefined && env !== '') candidates.push(path.resolve(root, env));
  candidates.push(path.join(root, 'build', 'Release', 'ctnet_native.node'));
  candidates.push(path.join(root, 'build', 'Debug', 'ctnet_native.node'));
  const tried: string[] = [];
  const errors: string[] = [];
  for (const file of candidates) {
    tried.push(file);
    if (!existsSync(file)) {
      errors.push(`${file}: not found`);
      continue;
    }
    try {
      const mod: unknown = require(file);
      if (!isAddon(mod)) {
        errors.push(`${file}: not a ctnet_native addon (missing exports)`);
        continue;
      }
      if (mod.abiVersion !== NATIVE_ABI_VERSION) {
        errors.push(`${file}: abiVersion ${mod.abiVersion}, expected ${NATIVE_ABI_VERSION} (rebuild with npx node-gyp rebuild)`);
        continue;
      }
      cached = { addon: mod, tried };
      return cached;
    } catch (e) {
      errors.push(`${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  cached = { tried, error: `ctnet_native addon not loaded: ${errors.join('; ')}` };
  return cached;
}

/** The native Backend: each plan crosses into the addon once. */
export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly #addon: NativeAddon;

  constructor(addon: NativeAddon) {
    this.#addon = addon;
  }

  /** The native backend, or undefined with the loader's explanation. */
  static tryCreate(): { backend?: NativeBackend; load: NativeLoad } {
    const load = loadNative();
    return load.addon ? { backend: new NativeBackend(load.addon), load } : { load };
  }

  run(plan: Plan): Promise<readonly StepResult[]> {
    return this.#addon.run(plan);
  }

  close(): Promise<void> {
    this.#addon.shutdown();
    return Promise.resolve();
  }

  /** Whether libnftables can be used in-process. */
  nftAvailable(): { ok: boolean; reason?: string } {
    return this.#addon.nftAvailable();
  }
}
