/**
 * backend/select.ts — choose the kernel backend: the native addon, or iproute2 processes.
 *
 * Layer: backend. 'auto' (default; the CTNET_BACKEND env var overrides it) tries the addon and,
 * when it cannot load, warns ONE line naming the paths it tried and falls back to iproute2.
 * 'native' fails with EnvironmentError listing the paths tried. 'iproute2' never loads the addon.
 *
 * The addon loader (./native.js) is imported dynamically so a tree without it (or a
 * build without the compiled addon) still works.
 */
import { EnvironmentError, InvalidInputError, CODE } from '../model/errors.js';
import type { Backend, NativeAddon } from '../model/plan.js';

export type BackendPreference = 'auto' | 'native' | 'iproute2';

interface AddonModule {
  loadNative(): { addon?: NativeAddon; tried: string[]; error?: string };
  NativeBackend: new (addon: NativeAddon) => Backend;
}

/** Where the loader module is, relative to this file (works from src/ under tsx and from dist/). */
const ADDON_MODULE = './native.js';

/** Try to load the native backend; never throws. */
export async function tryNative(): Promise<{ backend?: Backend; tried: string[]; error?: string }> {
  let mod: AddonModule;
  try {
    // a literal specifier, so a bundler (dist/bundle) includes the loader
    mod = (await import('./native.js')) as AddonModule;
  } catch (e) {
    return { tried: [new URL(ADDON_MODULE, import.meta.url).pathname], error: `loader module missing: ${(e as Error).message}` };
  }
  try {
    const r = mod.loadNative();
    if (r.addon === undefined) return r.error !== undefined ? { tried: r.tried, error: r.error } : { tried: r.tried };
    return { backend: new mod.NativeBackend(r.addon), tried: r.tried };
  } catch (e) {
    return { tried: [], error: (e as Error).message };
  }
}

function preference(pref: BackendPreference): BackendPreference {
  if (pref !== 'auto') return pref;
  const env = process.env.CTNET_BACKEND;
  if (env === undefined || env === '') return 'auto';
  if (env === 'auto' || env === 'native' || env === 'iproute2') return env;
  throw new InvalidInputError(`invalid CTNET_BACKEND "${env}": expected auto, native or iproute2`);
}

/**
 * The backend to use. `pref` 'auto' (overridden by $CTNET_BACKEND): native if it loads,
 * else iproute2 with one warning line; 'native': the addon or EnvironmentError; 'iproute2'.
 */
export async function loadBackend(pref: BackendPreference = 'auto', warn: (m: string) => void = (m) => { process.stderr.write(`ctnet-fast: ${m}\n`); }): Promise<Backend> {
  const p = preference(pref);
  if (p === 'iproute2') return iproute2();
  const r = await tryNative();
  if (r.backend !== undefined) return r.backend;
  const where = r.tried.length > 0 ? r.tried.join(', ') : '(no paths)';
  const why = r.error !== undefined ? ` (${r.error.split('\n')[0] ?? ''})` : '';
  if (p === 'native') {
    throw new EnvironmentError(`native backend unavailable: the addon could not be loaded from ${where}${why}; build it with \`npm run build\` or use backend 'iproute2'`, CODE.noAddon);
  }
  warn(`native addon not loaded (tried ${where})${why}; falling back to the iproute2 backend (slower: one process per request)`);
  return iproute2();
}

/** The fallback backend, imported only when used (it pulls in process-spawning code). */
async function iproute2(): Promise<Backend> {
  const { Iproute2Backend } = await import('./iproute2/index.js');
  return new Iproute2Backend();
}

let shared: Promise<Backend> | undefined;

/** The process-wide backend `loadBackend('auto')` picks (loaded once, warnings to stderr). */
export function defaultBackend(): Promise<Backend> {
  shared ??= loadBackend('auto');
  return shared;
}
