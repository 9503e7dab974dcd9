/**
 * backend/iproute2/errors.ts — turn what an `ip`/`nsenter`/`sysctl` process printed on stderr
 * into the contract's KernelError, so the iproute2 backend fails in the same shape as the
 * native one.
 *
 * Layer: backend (iproute2) (pure: no I/O).
 *
 * A quirk to know: iproute2 prints EITHER "RTNETLINK answers: <strerror>" (no extended ack)
 * OR "Error: <extack text>" (the kernel sent NLMSGERR_ATTR_MSG) — never the errno with the
 * extack. In the second case the errno is inferred from the text (a table of the messages
 * the kernel is known to send with their errno, then keywords, then EINVAL). The native
 * backend reports the exact errno; tests comparing both backends compare codes only where
 * iproute2 prints strerror text.
 */
import { errnoFromStrerror, errnoName } from '../../model/errors.js';
import type { KernelError } from '../../model/plan.js';

/** Extended-ack texts the kernel sends, with the errno it sends them with. */
const EXTACK: ReadonlyArray<readonly [RegExp, number]> = [
  [/Address already assigned/i, 17],
  [/Address not found/i, 99],
  [/Nexthop has invalid gateway/i, 101],
  [/Unknown device type/i, 95],
  [/FIB table does not exist/i, 2],
  [/Device does not exist|Cannot find device|does not exist\./i, 19],
  [/already exists|already in use|exists/i, 17],
  [/not supported|unsupported/i, 95],
  [/not permitted/i, 1],
  [/Permission denied/i, 13],
  [/No such process/i, 3],
  [/not found|No such/i, 2],
  [/out of range|too (large|big|long)/i, 34],
];

/** First meaningful lines of a process's stderr, joined with " | ". */
export function stderrText(stderr: string): string {
  return stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').slice(0, 4).join(' | ');
}

/**
 * Map stderr of a failed process to a KernelError. `op` is the kernel request the command
 * stands for (RTM_NEWLINK…); namespace-open failures become op "setns".
 */
export function kernelErrorFromStderr(stderr: string, op: string, exitCode?: number): KernelError {
  const text = stderrText(stderr);
  let errno: number | undefined;
  let theOp = op;
  if (/Cannot open network namespace|reassociate with namespace|setns/i.test(text)) theOp = 'setns';
  else if (/Cannot create namespace file|Cannot remove namespace file/i.test(text)) theOp = op === 'mount' ? 'open' : op;
  if (/Cannot find device|Device "[^"]*" does not exist|Device does not exist/.test(text)) errno = 19;
  const answers = /RTNETLINK answers: (.*)/.exec(text);
  if (errno === undefined && answers?.[1] !== undefined) errno = errnoFromStrerror(answers[1]);
  const extack = /Error: (.*)/.exec(text);
  if (errno === undefined && extack?.[1] !== undefined) {
    for (const [re, n] of EXTACK) if (re.test(extack[1])) { errno = n; break; }
    errno ??= 22;
  }
  errno ??= errnoFromStrerror(text);
  if (errno === undefined) {
    for (const [re, n] of EXTACK) if (re.test(text)) { errno = n; break; }
  }
  errno ??= 22;
  return {
    errno,
    code: errnoName(errno),
    op: theOp,
    message: text !== '' ? text : `exited with status ${exitCode ?? '?'}`,
  };
}

/** A KernelError from a Node fs/system error (ENOENT…); op is the failing syscall when Node says. */
export function kernelErrorFromNode(err: unknown, op: string): KernelError {
  const e = err as { errno?: number; code?: string; message?: string; syscall?: string };
  const errno = typeof e.errno === 'number' ? Math.abs(e.errno) : 5;
  return {
    errno,
    code: typeof e.code === 'string' ? e.code : errnoName(errno),
    op: typeof e.syscall === 'string' ? e.syscall : op,
    message: e.message ?? String(err),
  };
}
