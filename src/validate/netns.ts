/**
 * validate/netns.ts — netns names and paths: validation and resolution (pure, no I/O).
 *
 * Layer: validate (pure; docs/ARCHITECTURE.md "Layers"). For any input a check returns a valid
 * value or throws InvalidInputError (test/unit/fuzz-validate.test.ts). Used by rtnl/ (Rtnl bound to a netns named by string), netns/ and topology/.
 */
import { InvalidInputError } from '../model/errors.js';
import type { NsRef } from '../model/plan.js';
import { shown } from './kernel.js';

/** Where iproute2 (and we) keep named network namespaces. */
export const NETNS_RUN_DIR = '/run/netns';
/** NAME_MAX: a file name of at most 255 bytes. */
export const NETNS_NAME_MAX = 255;

/**
 * A netns name as `ip netns add NAME` takes it: 1..255 bytes, no '/', no "..", not ".",
 * no NUL or other control characters. Throws InvalidInputError naming it.
 */
export function checkNetnsName(name: unknown, what = 'netns name'): string {
  if (typeof name !== 'string') throw new InvalidInputError(`invalid ${what}: expected a string, got ${typeof name}`);
  if (name === '') throw new InvalidInputError(`invalid ${what} "": must not be empty`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > NETNS_NAME_MAX) throw new InvalidInputError(`invalid ${what} "${name.slice(0, 32)}…": ${bytes} bytes, at most ${NETNS_NAME_MAX}`);
  if (name.includes('/')) throw new InvalidInputError(`invalid ${what} "${name}": must not contain '/' (give an absolute path to use a file elsewhere)`);
  if (name === '.' || name.includes('..')) throw new InvalidInputError(`invalid ${what} "${name}": must not be "." or contain ".."`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/u.test(name)) throw new InvalidInputError(`invalid ${what} "${JSON.stringify(name).slice(1, -1)}": must not contain NUL or control characters`);
  return name;
}

export interface ResolvedNetns {
  /** The nsfs file: /run/netns/NAME, /proc/PID/ns/net, or the absolute path given. */
  readonly path: string;
  /** Set for /run/netns/NAME (what `ip netns list` shows). */
  readonly name?: string;
}

/**
 * NAME when `path` is exactly /run/netns/NAME, else undefined. NAME is not validated here
 * ("." and ".." come back as they are): callers decide what such a path means.
 */
export function runNetnsName(path: string): string | undefined {
  const prefix = `${NETNS_RUN_DIR}/`;
  if (!path.startsWith(prefix)) return undefined;
  const name = path.slice(prefix.length);
  return name !== '' && !name.includes('/') ? name : undefined;
}

/** /run/netns/NAME for a valid name. */
export function netnsPath(name: string): string {
  return `${NETNS_RUN_DIR}/${checkNetnsName(name)}`;
}

/**
 * Resolve how a user names a netns:
 *  - "NAME" → /run/netns/NAME (validated as a name);
 *  - "/abs/path" → kept (a /run/netns/NAME path also gets its name);
 *  - "pid:1234" → /proc/1234/ns/net (a bare number is a NAME, as in iproute2).
 */
export function resolveNetns(nameOrPath: unknown): ResolvedNetns {
  if (typeof nameOrPath !== 'string') throw new InvalidInputError('invalid netns: expected a name, an absolute path or pid:N');
  const pid = /^pid:(\d+)$/.exec(nameOrPath);
  if (pid?.[1] !== undefined) {
    const n = Number(pid[1]);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidInputError(`invalid netns "${nameOrPath}": not a process id`);
    return { path: `/proc/${n}/ns/net` };
  }
  if (nameOrPath.startsWith('pid:')) throw new InvalidInputError(`invalid netns "${nameOrPath}": expected pid:NUMBER`);
  if (nameOrPath.startsWith('/')) {
    if (nameOrPath.includes('\0')) throw new InvalidInputError('invalid netns path: contains NUL');
    if (nameOrPath.split('/').some((s) => s === '..')) throw new InvalidInputError(`invalid netns path "${nameOrPath}": must not contain ".."`);
    const name = runNetnsName(nameOrPath);
    return name !== undefined ? { path: nameOrPath, name: checkNetnsName(name) } : { path: nameOrPath };
  }
  return { path: netnsPath(nameOrPath), name: nameOrPath };
}

/** An NsRef for a name, path, pid:N, or an NsRef given as is. */
export function toNsRef(ns: NsRef | string): NsRef {
  if (typeof ns === 'string') return { path: resolveNetns(ns).path };
  if (ns === null || typeof ns !== 'object') throw new InvalidInputError(`invalid netns ${shown(ns)}: expected a name, an absolute path, pid:N or an NsRef`);
  return ns;
}
