/**
 * backend/iproute2/system.ts — netns create/open/delete (as `ip netns`) and sysctl read/write.
 *
 * Layer: backend (iproute2). Processes run with argument arrays, never a shell.
 */
import { promises as fs } from 'node:fs';
import { InvalidInputError } from '../../model/errors.js';
import type { NetnsIdentity } from '../../model/plan.js';
import { NETNS_RUN_DIR } from '../../validate/netns.js';
import { checkSysctlKey } from '../../validate/kernel.js';
import { kernelErrorFromNode, kernelErrorFromStderr } from './errors.js';
import { OpFailure, exec, fail, ipNetnsName } from './run.js';

/** The nsfs inode of the netns at `path` (`stat -L`), as netnsCreate/netnsOpen answer it. */
async function nsInode(path: string, op: string): Promise<number> {
  try {
    return (await fs.stat(path)).ino;
  } catch (e) {
    throw new OpFailure(kernelErrorFromNode(e, op));
  }
}

/** `ip netns add NAME` — only /run/netns/NAME: that is the one directory iproute2 knows. Answers the new netns's inode. */
export async function netnsCreate(path: string, from?: string): Promise<number> {
  if (from !== undefined) {
    fail(95, 'mount', `the iproute2 backend cannot adopt a pre-created netns (${from}); \`ip netns add\` always makes a new one`);
  }
  const name = ipNetnsName(path);
  if (name === undefined) {
    fail(95, 'mount', `the iproute2 backend creates netns only under ${NETNS_RUN_DIR}/ (\`ip netns add NAME\`), not at ${path}`);
  }
  const r = await exec('ip', ['netns', 'add', name]);
  if (!r.ok) throw new OpFailure(kernelErrorFromStderr(r.stderr, 'mount', r.exitCode));
  return nsInode(path, 'stat');
}

/**
 * Check that `path` is a network namespace: it exists, it lives on nsfs (same st_dev as our
 * own /proc/self/ns/net — an empty file means a netns made in another mount namespace), and
 * `nsenter --net=PATH true` can enter it (refuses other namespace types). Answers its inode.
 */
export async function netnsOpen(path: string): Promise<number> {
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    throw new OpFailure(kernelErrorFromNode(e, 'open'));
  }
  const own = await fs.stat('/proc/self/ns/net');
  if (st.dev !== own.dev) {
    fail(22, 'setns', `${path} is not a namespace file (an empty file here: was the netns created in another mount namespace?)`);
  }
  const r = await exec('nsenter', [`--net=${path}`, '--', 'true']);
  if (!r.ok) fail(22, 'setns', `${path} is not a network namespace: ${r.stderr.trim()}`);
  return st.ino;
}

/** A netns cookie as a step carries it: a u64 in canonical decimal (no sign, blank or leading zero). */
export function isNetnsCookie(v: unknown): v is string {
  return typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v) && BigInt(v) <= 0xffff_ffff_ffff_ffffn;
}

/** netnsDelete's identity fields, checked as the addon checks them (EINVAL before any work). */
export function checkNetnsIdentity(id: NetnsIdentity): void {
  if (id.cookie !== undefined && !isNetnsCookie(id.cookie)) {
    fail(22, 'netnsDelete', `netnsDelete: 'cookie' must be a netns cookie as a decimal string (0..18446744073709551615), not ${JSON.stringify(id.cookie).slice(0, 42)}`);
  }
  if (id.inode !== undefined && !(Number.isSafeInteger(id.inode) && id.inode >= 1)) {
    fail(22, 'netnsDelete', `field 'inode' must be an integer in 1..${Number.MAX_SAFE_INTEGER}`);
  }
}

/**
 * Whether `path` still names the netns of `id.inode`: a live nsfs file (same st_dev as our
 * own netns) with that inode, else ESTALE naming the path and both inodes. A cookie cannot be
 * read from here (no process answers SO_NETNS_COOKIE), so without `inode` nothing is checked.
 * Weaker than the addon's check: the kernel reuses a freed netns's inode number at once, so a
 * netns deleted and re-created by someone else may pass.
 */
async function checkInode(path: string, id: NetnsIdentity): Promise<void> {
  if (id.inode === undefined) return;
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    throw new OpFailure(kernelErrorFromNode(e, 'umount'));
  }
  const nsfs = (await fs.stat('/proc/self/ns/net')).dev;
  if (st.dev !== nsfs || st.ino !== id.inode) {
    const what = st.dev !== nsfs ? 'is not a mounted netns' : `has inode ${st.ino}`;
    fail(116, 'netnsDelete', `netns ${path} ${what}, expected inode ${id.inode}: not deleted (deleted and re-created by someone else?)`);
  }
}

/**
 * `ip netns del NAME`, or for other paths `umount -l PATH` + unlink: returns at once, the kernel
 * reaps later. With `id.inode`, only after checkInode() (`id.cookie` is checked for form only).
 */
export async function netnsDelete(path: string, id: NetnsIdentity = {}): Promise<void> {
  checkNetnsIdentity(id);
  await checkInode(path, id);
  const name = ipNetnsName(path);
  if (name !== undefined) {
    const r = await exec('ip', ['netns', 'del', name]);
    if (!r.ok) throw new OpFailure(kernelErrorFromStderr(r.stderr, 'umount', r.exitCode));
    return;
  }
  try {
    await fs.lstat(path);
  } catch (e) {
    throw new OpFailure(kernelErrorFromNode(e, 'umount'));
  }
  // Not mounted (a plain file left over) is fine: the unlink below still removes it.
  await exec('umount', ['-l', path]);
  try {
    await fs.unlink(path);
  } catch (e) {
    throw new OpFailure(kernelErrorFromNode(e, 'unlink'));
  }
}

/**
 * A sysctl key with slashes, by the same rule as Batch (`checkSysctlKey`): a plan built by
 * hand reaches the backend unchecked, and a bad key is then this step's EINVAL.
 */
export function sysctlPath(key: string): string {
  try {
    return checkSysctlKey(key);
  } catch (e) {
    if (e instanceof InvalidInputError) fail(22, 'sysctl', e.message);
    throw e;
  }
}

/**
 * Read (value undefined) or write /proc/sys/KEY. Our own netns: node:fs directly. Another:
 * `nsenter --net=PATH sysctl -n KEY` / `sysctl -q -w KEY=VALUE` (procps takes the slash form
 * literally, so interface names with dots stay intact).
 */
export async function sysctl(nsPath: string | undefined, key: string, value?: string): Promise<string | undefined> {
  const k = sysctlPath(key);
  if (nsPath === undefined) {
    try {
      if (value === undefined) return (await fs.readFile(`/proc/sys/${k}`, 'utf8')).trim();
      await fs.writeFile(`/proc/sys/${k}`, value);
      return undefined;
    } catch (e) {
      throw new OpFailure(kernelErrorFromNode(e, value === undefined ? 'open' : 'write'));
    }
  }
  const args = value === undefined ? ['-n', k] : ['-q', '-w', `${k}=${value}`];
  const r = await exec('nsenter', [`--net=${nsPath}`, '--', 'sysctl', ...args]);
  if (!r.ok) {
    // Name the syscall that failed, as the native backend does: open (missing key) or write.
    const op = value === undefined || /cannot stat|No such file/.test(r.stderr) ? 'open' : 'write';
    throw new OpFailure(kernelErrorFromStderr(r.stderr, op, r.exitCode));
  }
  return value === undefined ? r.stdout.trim() : undefined;
}

