/**
 * state/dir.ts — where the state lives by default. Its own module (no SQLite behind it) so
 * that the CLI can name the directory without loading the store.
 *
 * Layer: state. (bin/ctnet-fast.cjs repeats the rule: it must not load the library.)
 */

export const DEFAULT_STATE_DIR = '/run/ctnet-fast';

/** $CTNET_STATE_DIR (of `env`), else /run/ctnet-fast. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['CTNET_STATE_DIR'];
  return dir !== undefined && dir !== '' ? dir : DEFAULT_STATE_DIR;
}
