/**
 * errors.ts — the typed errors every layer throws.
 *
 * Layer: shared by all layers. It must not import any other module of ours.
 *
 * One NetlinkError carries what the kernel said (errno, its name, the rtnetlink
 * operation and the kernel's extended-ack text). Each layer above adds context by
 * wrapping with `withContext`, so a user reads
 *   "create veth vethA→eth0 in netns0: EEXIST: File exists (RTM_NEWLINK)".
 */

/** errno numbers → names, for the codes the kernel answers rtnetlink and nftables with. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 9: 'EBADF',
  11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV',
  20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 23: 'ENFILE', 24: 'EMFILE', 28: 'ENOSPC', 34: 'ERANGE',
  36: 'ENAMETOOLONG', 38: 'ENOSYS', 39: 'ENOTEMPTY', 40: 'ELOOP', 52: 'EBADE', 54: 'EXFULL', 61: 'ENODATA',
  71: 'EPROTO', 74: 'EBADMSG', 75: 'EOVERFLOW', 90: 'EMSGSIZE', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 100: 'ENETDOWN', 101: 'ENETUNREACH',
  105: 'ENOBUFS', 107: 'ENOTCONN', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
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

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted', ENOENT: 'No such file or directory', EEXIST: 'File exists',
  EINVAL: 'Invalid argument', ENODEV: 'No such device', EBUSY: 'Device or resource busy',
  EXFULL: 'Exchange full', ENOTCONN: 'Transport endpoint is not connected', EOPNOTSUPP: 'Operation not supported',
  EADDRNOTAVAIL: 'Cannot assign requested address', ENETUNREACH: 'Network is unreachable', ENOSPC: 'No space left on device',
  ENOBUFS: 'No buffer space available', EMSGSIZE: 'Message too long', ERANGE: 'Numerical result out of range',
  EACCES: 'Permission denied', ESRCH: 'No such process', EAFNOSUPPORT: 'Address family not supported by protocol',
};

export function describeErrno(errno: number): string {
  return DESCRIPTIONS[errnoName(errno)] ?? `errno ${errno}`;
}
