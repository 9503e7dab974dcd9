/**
 * state/dir.ts — where the state lives by default, and whether a state directory can be
 * trusted. Its own module (no SQLite behind it) so that the CLI can name and check the
 * directory without loading the store.
 *
 * Layer: state (docs/ARCHITECTURE.md, "Layers", "State model"). bin/ctnet-fast.cjs must not
 * load the library: dist/bundle/table.cjs carries copies of defaultStateDir and
 * stateDirProblem made from their source by cli/bin-table.ts, so both stay self-contained
 * functions (no import, no module-level name).
 */
import fs from 'node:fs';
import { CtnetError, CODE } from '../model/errors.js';

export const DEFAULT_STATE_DIR = '/run/ctnet-fast';

/** $CTNET_STATE_DIR (of `env`), else /run/ctnet-fast. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['CTNET_STATE_DIR'];
  return dir !== undefined && dir !== '' ? dir : DEFAULT_STATE_DIR;
}

/** The part of node:fs stateDirProblem uses (passed in: the function must stay self-contained). */
export type DirFs = Pick<typeof fs, 'lstatSync' | 'realpathSync' | 'readFileSync'>;

/**
 * Why the absolute directory `dir` must not be trusted by a process of effective uid `euid`
 * as a state directory, or undefined when it may. Whoever can write in the state directory, or
 * rename one of its parents, can plant symbolic links where we create files (ctnetd.log,
 * ctnetd.pid…) or replace the daemon's socket with their own. So:
 *   - the directory itself: owned by `euid` or root, and writable by nobody else (no g/o write bit);
 *   - every parent: owned by `euid` or root, and not writable by group or others unless sticky
 *     (/tmp: others cannot rename or remove what is not theirs);
 *   - a symbolic link on the way: owned by `euid` or root, and the directories it leads to
 *     obey the same rules (in a user namespace, the overflow uid counts as root) (both the path as written and its resolved form are checked).
 * Parts that do not exist yet are fine: we create them, mode 0700. The answer names the
 * directory and the fix.
 */
export function stateDirProblem(dir: string, fsm: DirFs, euid: number): string | undefined {
  // Inside a user namespace (the demo without root), files of uids outside it (the host's
  // root among them) show as the overflow uid: nobody inside can act as it, so it counts as
  // root here. uid_map "0 0 4294967295" is the initial namespace, where it does not.
  let unmapped = -1;
  try {
    const map = String(fsm.readFileSync('/proc/self/uid_map', 'utf8')).trim().split(/\s+/);
    if (map.join(' ') !== '0 0 4294967295') unmapped = Number(String(fsm.readFileSync('/proc/sys/kernel/overflowuid', 'utf8')).trim()) || 65534;
  } catch { /* no /proc: no user namespace to account for */ }
  const trusted = (uid: number): boolean => uid === euid || uid === 0 || uid === unmapped;
  const check = (p: string, self: boolean): string | undefined => {
    let st;
    try {
      st = fsm.lstatSync(p);
    } catch (e) {
      const code = (e as { code?: string }).code;
      return code === 'ENOENT' ? undefined : `cannot check ${p}: ${(e as Error).message}`;
    }
    if (st.isSymbolicLink()) {
      return trusted(st.uid) ? undefined : `${p} is a symbolic link owned by uid ${st.uid}, not by you (uid ${euid}) or root; replace it`;
    }
    if (!st.isDirectory()) return `${p} is not a directory (ENOTDIR)`;
    if (!trusted(st.uid)) return `${p} is owned by uid ${st.uid}, not by you (uid ${euid}) or root; fix: chown ${euid} ${p}`;
    const writable = st.mode & 0o022;
    if (writable !== 0 && (self || (st.mode & 0o1000) === 0)) {
      const who = writable === 0o022 ? 'group and others' : writable === 0o020 ? 'its group' : 'others';
      return `${p} is writable by ${who} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}); fix: chmod go-w ${p}`;
    }
    return undefined;
  };
  const walk = (abs: string): string | undefined => {
    const parts = abs.split('/').filter((x) => x !== '' && x !== '.');
    let p = '';
    for (let i = 0; i < parts.length; i++) {
      p += `/${parts[i]}`;
      const why = check(p, i === parts.length - 1);
      if (why !== undefined) return why;
    }
    return check('/', parts.length === 0);
  };
  if (!dir.startsWith('/') || dir.split('/').includes('..')) return `${dir}: a state directory must be an absolute path without ".."`;
  const lexical = walk(dir);
  if (lexical !== undefined) return lexical;
  // the path as the kernel resolves it: the deepest part that exists, then the rest
  let head = dir;
  let rest = '';
  for (;;) {
    try {
      const real = fsm.realpathSync(head);
      return real === (head.replace(/\/+$/, '') || '/') ? undefined : walk(`${real}${rest}`);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') return `cannot resolve ${head}: ${(e as Error).message}`;
      const slash = head.lastIndexOf('/');
      if (slash <= 0) return undefined;
      rest = `${head.slice(slash)}${rest}`;
      head = head.slice(0, slash);
    }
  }
}

/**
 * Make sure the state directory `dir` (absolute) can be trusted (stateDirProblem) and exists,
 * creating what is missing with mode 0700. Throws CtnetError ENVIRONMENT naming the directory
 * and the fix.
 */
export function ensureStateDir(dir: string): void {
  const euid = process.geteuid?.() ?? 0;
  const why = stateDirProblem(dir, fs, euid);
  if (why !== undefined) throw new CtnetError(`refusing state directory ${dir}: ${why}`, CODE.environment);
  mkdirp(dir);
  const after = stateDirProblem(dir, fs, euid); // a umask or a race cannot leave it open
  if (after !== undefined) throw new CtnetError(`refusing state directory ${dir}: ${after}`, CODE.environment);
}

/**
 * mkdir -p, mode 0700 for what it creates. Not `mkdirSync({ recursive })`, which spins forever
 * where mkdir answers ENOENT under an existing parent (anywhere under /proc).
 */
function mkdirp(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EEXIST') return; // not a directory: stateDirProblem says so
    const parent = dir.slice(0, dir.lastIndexOf('/')) || '/';
    if (code !== 'ENOENT' || parent === dir) throw e;
    mkdirp(parent);
    fs.mkdirSync(dir, { mode: 0o700 });
  }
}
