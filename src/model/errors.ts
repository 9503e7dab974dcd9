/**
 * errors.ts — the typed errors every layer throws.
 *
 * Layer: model (the bottom). It must not import any other module of ours.
 *
 * One NetlinkError carries what the kernel said (errno, its name, the rtnetlink
 * operation and the kernel's extended-ack text). Each layer above adds context with
 * `withContext`, which returns a NEW error of the same class, code, errno and op whose
 * `cause` is the original (never rewritten in place), so a user reads
 *   "create veth vethA→eth0 in netns0: EEXIST: File exists (RTM_NEWLINK)"
 * and a caller still tests `e instanceof NetlinkError`, `e.code === 'EEXIST'`, `e.errno`.
 *
 * CODE is the one registry of the codes that are ours (not errno names): code → what
 * kind of failure it is. The CLI's exit codes and every `e.code === …` test read it;
 * failures are recognised by code, never by message text.
 */

/** What kind of failure a code is: decides the CLI's exit code (docs/ARCHITECTURE.md, "Errors"). */
export type CodeKind = 'usage' | 'notFound' | 'conflict' | 'environment' | 'failure';

/** The codes we throw ourselves (three are errno names used in their usual sense). */
export const CODE = {
  /** input refused before any kernel work */
  invalidInput: 'EINVALID_INPUT',
  /** a command line that does not parse */
  usage: 'EUSAGE',
  /** a network, endpoint, netns, daemon… that does not exist */
  notFound: 'ENOTFOUND',
  /** a subnet overlaps another network's (or the host's) */
  overlap: 'EOVERLAP',
  /** a host port is already published */
  portInUse: 'EPORTINUSE',
  /** a network, endpoint, bridge name or host ifname that must be unique exists already */
  exists: 'EEXIST',
  /** a network still has endpoints; an endpoint is in the wrong state */
  busy: 'EBUSY',
  /** a static address is leased already */
  addrInUse: 'EADDRINUSE',
  /** the address pool has no free address */
  exhausted: 'EEXHAUSTED',
  /** something the product needs is missing (privilege, kernel feature) */
  environment: 'ENVIRONMENT',
  /** a tool (nft, ip) is not installed */
  noTool: 'ENOTOOL',
  /** libnftables cannot be used */
  noLibnft: 'ENOLIBNFT',
  /** the addon cannot be loaded */
  noAddon: 'ENOADDON',
  /** the state was written by a newer schema */
  schema: 'ESCHEMA',
  /** the state file is not a usable store (empty, corrupt, foreign, a symlink) */
  badStore: 'EBADSTORE',
  /** several failures at once */
  multiple: 'EMULTIPLE',
  /** anything else that failed */
  failure: 'EFAILURE',
  /** a command to exec was not found / cannot be executed */
  noCommand: 'ENOCMD',
  noExecute: 'ENOEXECUTE',
} as const;
export type Code = (typeof CODE)[keyof typeof CODE];

/** code → kind, for our codes and the errno names callers meet. Unlisted codes are 'failure'. */
export const CODE_KINDS: Readonly<Record<string, CodeKind>> = {
  [CODE.invalidInput]: 'usage', [CODE.usage]: 'usage', ERR_INVALID_ARG_VALUE: 'usage',
  [CODE.notFound]: 'notFound', ENOENT: 'notFound',
  [CODE.overlap]: 'conflict', [CODE.portInUse]: 'conflict', [CODE.exhausted]: 'conflict', EEXIST: 'conflict', EBUSY: 'conflict', EADDRINUSE: 'conflict',
  [CODE.environment]: 'environment', [CODE.noTool]: 'environment', [CODE.noLibnft]: 'environment', [CODE.noAddon]: 'environment',
  [CODE.schema]: 'environment',
  EPERM: 'environment', EACCES: 'environment', EPROTONOSUPPORT: 'environment', EAFNOSUPPORT: 'environment',
};

export function codeKind(code: string): CodeKind {
  return CODE_KINDS[code] ?? 'failure';
}

/** The code of any thrown value (undefined when it has none). */
export function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

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
  113: ['EHOSTUNREACH', 'No route to host'], 116: ['ESTALE', 'Stale file handle'],
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
  /**
   * A new error of the same class, whose message starts with what the caller was doing
   * ("attach netns0 to demo: …"), with every field of this one (code, errno, op, extack…)
   * and this one as its `cause`. This error is left as it is: a shared error (one cached
   * promise handed to several callers) never collects two prefixes.
   */
  withContext(context: string): this {
    const copy = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.assign(copy, this);
    const message = `${context}: ${this.message}`;
    Object.defineProperty(copy, 'message', { value: message, writable: true, configurable: true, enumerable: false });
    Object.defineProperty(copy, 'cause', { value: this, writable: true, configurable: true, enumerable: false });
    const frames = (this.stack ?? '').split('\n').slice(1).join('\n');
    Object.defineProperty(copy, 'stack', { value: `${this.name}: ${message}${frames !== '' ? `\n${frames}` : ''}`, writable: true, configurable: true, enumerable: false });
    return copy;
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
    super(message, CODE.invalidInput);
    this.name = 'InvalidInputError';
  }
}

/** Something the product needs is missing: privilege, a tool, a kernel feature. */
export class EnvironmentError extends CtnetError {
  constructor(message: string, code: string = CODE.environment) {
    super(message, code);
    this.name = 'EnvironmentError';
  }
}

/** Several failures at once (best-effort teardown reports all of them together). */
export class AggregateCtnetError extends CtnetError {
  readonly errors: readonly Error[];
  constructor(context: string, errors: readonly Error[]) {
    super(`${context}: ${errors.length} failure(s): ${errors.map((e) => e.message).join('; ')}`, CODE.multiple);
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
