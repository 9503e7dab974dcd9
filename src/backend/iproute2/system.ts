/**
 * backend/iproute2/system.ts — netns create/open/delete (as `ip netns`) and sysctl read/write.
 *
 * Layer: backend (iproute2). Processes run with argument arrays, never a shell.
 */
import { promises as fs } from 'node:fs';
import { InvalidInputError } from '../../model/errors.js';
import { NETNS_RUN_DIR } from '../../validate/netns.js';
import { checkSysctlKey } from '../../validate/kernel.js';
import { kernelErrorFromNode, kernelErrorFromStderr } from './errors.js';
import { OpFailure, exec, fail, ipNetnsName } from './run.js';

/** `ip netns add NAME` — only /run/netns/NAME: that is the one directory iproute2 knows. */
export async function netnsCreate(path: string, from?: string): Promise<void> {
  if (from !== undefined) {
    fail(95, 'mount', `the iproute2 backend cannot adopt a pre-created netns (${from}); \`ip netns add\` always makes a new one`);
  }
  const name = ipNetnsName(path);
  if (name === undefined) {
    fail(95, 'mount', `the iproute2 backend creates netns only under ${NETNS_RUN_DIR}/ (\`ip netns add NAME\`), not at ${path}`);
  }
  const r = await exec('ip', ['netns', 'add', name]);
  if (!r.ok) throw new OpFailure(kernelErrorFromStderr(r.stderr, 'mount', r.exitCode));
}

/**
 * Check that `path` is a network namespace: it exists, it lives on nsfs (same st_dev as our
 * own /proc/self/ns/net — an empty file means a netns made in another mount namespace), and
 * `nsenter --net=PATH true` can enter it (refuses other namespace types).
 */
export async function netnsOpen(path: string): Promise<void> {
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
}

/** `ip netns del NAME`, or for other paths `umount -l PATH` + unlink: returns at once, the kernel reaps later. */
export async function netnsDelete(path: string): Promise<void> {
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

