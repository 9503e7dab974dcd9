/**
 * errors.ts — the typed errors every layer throws.
 *
 * Layer: model (the bottom). It must not import any other module of ours.
 *
 * One NetlinkError carries what the kernel said (errno, its name, the rtnetlink
 * operation and the kernel's extended-ack text). Each layer above adds context by
 * wrapping with `withContext`, so a user reads
 *   "create veth vethA→eth0 in netns0: EEXIST: File exists (RTM_NEWLINK)".
 */

/**
 * errno → [name, glibc strerror() text] (x86-64/arm64 Linux numbering), for the codes the
 * kernel answers rtnetlink, nftables and our syscalls with. The one errno table: names,
 * descriptions and the iproute2 backend's reading of strerror text all come from here.
 */
export const ERRNOS: Readonly<Record<number, readonly [name: string, text: string]>> = {
  1: ['EPERM', 'Operation not permitted'], 2: ['ENOENT', 'No such file or directory'],
  3: ['ESRCH', 'No such process'], 4: ['EINTR', 'Interrupted system call'],
  5: ['EIO', 'Input/output error'], 6: ['ENXIO', 'No such device or address'],
  7: ['E2BIG', 'Argument list too long'], 9: ['EBADF', 'Bad file descriptor'],
  11: ['EAGAIN', 'Resource temporarily unavailable'], 12: ['ENOMEM', 'Cannot allocate memory'],
  13: ['EACCES', 'Permission denied'], 14: ['EFAULT', 'Bad address'],
  16: ['EBUSY', 'Device or resource busy'], 17: ['EEXIST', 'File exists'],
  19: ['ENODEV', 'No such device'], 20: ['ENOTDIR', 'Not a directory'], 21: ['EISDIR', 'Is a directory'],
  22: ['EINVAL', 'Invalid argument'], 23: ['ENFILE', 'Too many open files in system'],
  24: ['EMFILE', 'Too many open files'], 28: ['ENOSPC', 'No space left on device'],
  31: ['EMLINK', 'Too many links'], 33: ['EDOM', 'Numerical argument out of domain'],
  34: ['ERANGE', 'Numerical result out of range'], 36: ['ENAMETOOLONG', 'File name too long'],
  38: ['ENOSYS', 'Function not implemented'], 39: ['ENOTEMPTY', 'Directory not empty'],
  40: ['ELOOP', 'Too many levels of symbolic links'], 52: ['EBADE', 'Invalid exchange'],
  54: ['EXFULL', 'Exchange full'], 61: ['ENODATA', 'No data available'], 71: ['EPROTO', 'Protocol error'],
  74: ['EBADMSG', 'Bad message'], 75: ['EOVERFLOW', 'Value too large for defined data type'],
  90: ['EMSGSIZE', 'Message too long'], 93: ['EPROTONOSUPPORT', 'Protocol not supported'],
  95: ['EOPNOTSUPP', 'Operation not supported'],
  97: ['EAFNOSUPPORT', 'Address family not supported by protocol'],
  98: ['EADDRINUSE', 'Address already in use'], 99: ['EADDRNOTAVAIL', 'Cannot assign requested address'],
  100: ['ENETDOWN', 'Network is down'], 101: ['ENETUNREACH', 'Network is unreachable'],
  105: ['ENOBUFS', 'No buffer space available'], 107: ['ENOTCONN', 'Transport endpoint is not connected'],
  110: ['ETIMEDOUT', 'Connection timed out'], 111: ['ECONNREFUSED', 'Connection refused'],
  113: ['EHOSTUNREACH', 'No route to host'],
};

/** errno numbers → names (from ERRNOS). */
export const ERRNO_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ERRNOS).map(([errno, [name]]) => [errno, name]),
);

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/**
 * The errno whose strerror() text `text` contains. ERRNOS is walked in ascending errno order,
 * which puts each text before any shorter one it contains ("Too many open files in system"
 * 23 before "Too many open files" 24, "No such device or address" 6 before "No such device" 19).
 */
export function errnoFromStrerror(text: string): number | undefined {
  for (const [errno, [, msg]] of Object.entries(ERRNOS)) if (text.includes(msg)) return Number(errno);
  return undefined;
}

/** Base class: every error ctnet-fast throws on purpose is a CtnetError. */
export class CtnetError extends Error {
  /** Short machine-readable code: an errno name (EEXIST) or one of ours (EINVALID_INPUT…). */
  code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CtnetError';
    this.code = code;
  }
  /** Prefix the message with what the caller was doing: "attach netns0 to demo: …". */
  withContext(context: string): this {
    this.message = `${context}: ${this.message}`;
    return this;
  }
}

/** A kernel answer (rtnetlink ack, syscall) that was an error. */
export class NetlinkError extends CtnetError {
  readonly errno: number;
  /** The request that failed, in kernel vocabulary: RTM_NEWLINK, setns, mount… */
  readonly op: string;
  /** The kernel's extended-ack message, if it sent one. */
  readonly extack: string | undefined;
  constructor(init: { errno: number; op: string; extack?: string | undefined; message?: string | undefined }) {
    const code = errnoName(init.errno);
    const text = init.message ?? `${code}: ${init.extack ?? describeErrno(init.errno)} (${init.op})`;
    super(text, code);
    this.name = 'NetlinkError';
    this.errno = init.errno;
    this.op = init.op;
    this.extack = init.extack;
  }
}

/** Input that we refuse before any kernel work: bad names, CIDRs, ports… */
export class InvalidInputError extends CtnetError {
  constructor(message: string) {
    super(message, 'EINVALID_INPUT');
    this.name = 'InvalidInputError';
  }
}

/** Something the product needs is missing: privilege, a tool, a kernel feature. */
export class EnvironmentError extends CtnetError {
  constructor(message: string, code = 'ENVIRONMENT') {
    super(message, code);
    this.name = 'EnvironmentError';
  }
}

/** Several failures at once (best-effort teardown reports all of them together). */
export class AggregateCtnetError extends CtnetError {
  readonly errors: readonly Error[];
  constructor(context: string, errors: readonly Error[]) {
    super(`${context}: ${errors.length} failure(s): ${errors.map((e) => e.message).join('; ')}`, 'EMULTIPLE');
    this.name = 'AggregateCtnetError';
    this.errors = errors;
  }
}

/**
 * The end of a command over several objects: nothing failed → return; exactly one object,
 * and it failed → that error as is; otherwise one AggregateCtnetError "CONTEXT (DONE): …"
 * that carries the first error's code (so the exit code says what kind of failure it was).
 */
export function throwFailures(context: string, done: readonly string[], errors: readonly Error[], doneWord = 'done'): void {
  if (errors.length === 0) return;
  if (errors.length === 1 && done.length === 0) throw errors[0];
  const agg = new AggregateCtnetError(`${context} (${doneWord}: ${done.join(', ') || 'none'})`, errors);
  const code = (errors[0] as { code?: unknown }).code;
  if (typeof code === 'string') agg.code = code;
  throw agg;
}

export function describeErrno(errno: number): string {
  return ERRNOS[errno]?.[1] ?? `errno ${errno}`;
}
