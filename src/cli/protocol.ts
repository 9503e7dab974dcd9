/**
 * cli/protocol.ts — what both ends of the agent's wire agree on (docs/agent-protocol.md):
 * the protocol versions, the files under STATE_DIR, the line size limit, the message shapes,
 * and how an `attach --from-file` list is read (by the caller: the agent never opens a file a
 * caller names). The server half is cli/daemon/, the CLI's client half bin/ctnet-fast.cjs,
 * which reads these through dist/bundle/table.cjs (bin-table.ts; readListFile is copied there
 * from its source, so it stays a self-contained function: no import, no module-level name).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). No import.
 */

/**
 * The protocol version every line carries (`{"v":1,…}`). A client's hello names the range it
 * speaks (min..max); the agent answers with the highest version both speak, or an EPROTO
 * error naming both ranges.
 */
export const PROTOCOL = 1;
export const PROTOCOL_MIN = 1;
export const PROTOCOL_MAX = 1;
export const SOCKET_NAME = 'agent.sock';
export const PID_NAME = 'agent.pid';
export const LOG_NAME = 'agent.log';
/** Marker of a start under way by CTNET_DAEMON=auto (see bin/ctnet-fast.cjs autoStart). */
export const STARTING_NAME = 'agent.starting';
/** Directory of the named-pipe pairs (free/, busy/, new/): the CLI's fast transport. */
export const PIPES_NAME = 'agent.pipes';
/** The longest line either end accepts (docs/agent-protocol.md: ≤ 4 MiB); a longer one ends the connection. */
export const MAX_REQUEST_BYTES = 4 << 20;
/** The largest `--from-file` list read (in the process or by the client for the agent). */
export const MAX_LIST_BYTES = 16 << 20;

/** The request types of protocol version 1 (docs/agent-protocol.md). */
export const REQUEST_TYPES = ['cli', 'cni', 'attach', 'detach', 'publish', 'check', 'gc', 'network', 'status', 'events', 'stop'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

/** client → agent, first line. */
export interface HelloRequest { readonly v: number; readonly type: 'hello'; readonly min: number; readonly max: number; readonly client?: string }
/** agent → client, answer to the hello. */
export interface HelloReply { readonly v: number; readonly type: 'hello'; readonly version: number; readonly agent: string }
/** agent → client: an agent-level failure (refused peer, bad request, a request that failed). */
export interface ErrorReply { readonly v: number; readonly type: 'error'; readonly id?: number; readonly code: string; readonly message: string }

/**
 * An `attach --from-file` list as read by the caller: its text, or why it could not be read.
 * `kind`: 'type' (not a regular file), 'size' (over the limit), 'errno' (the open/read failed;
 * `code` is its errno name).
 */
export type ListFile =
  | { readonly name: string; readonly text: string }
  | { readonly name: string; readonly error: { readonly kind: 'type' | 'size' | 'errno'; readonly code: string; readonly message: string } };

/** The part of node:fs readListFile uses (passed in: the function must stay self-contained). */
export interface ListFs {
  readonly constants: { readonly O_RDONLY: number; readonly O_NONBLOCK: number; readonly O_NOCTTY: number };
  statSync(p: string): { isFile(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isDirectory(): boolean; dev: number; ino: number };
  fstatSync(fd: number): { isFile(): boolean; isDirectory(): boolean; dev: number; ino: number };
  openSync(p: string, flags: number): number;
  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: null): number;
  closeSync(fd: number): void;
}

/**
 * Read an `attach --from-file` list, at most `max` bytes, never blocking on a file nobody
 * writes and never opening a device:
 *   - "-", /dev/stdin, /dev/fd/N and /proc/self/fd/N are the caller's own input (a pipe, a
 *     terminal, a file: what the caller redirected); they are read as they are;
 *   - any other name (symbolic links followed, with the permissions of whoever reads) must be
 *     a regular file: a FIFO, device, socket or directory is refused before it is opened, and
 *     the file opened is checked to be the one examined (non-blocking, no controlling tty).
 * More than `max` bytes is an error naming the limit. Never throws.
 */
export function readListFile(fsm: ListFs, file: string, max: number): ListFile {
  const own = file === '-' || file === '/dev/stdin' || /^\/(dev|proc\/self)\/fd\/\d+$/.test(file);
  const mib = `${Math.round(max / 1048576)} MiB`;
  let fd: number | undefined;
  try {
    if (file === '-') {
      fd = 0;
    } else if (own) {
      fd = fsm.openSync(file, fsm.constants.O_RDONLY | fsm.constants.O_NOCTTY);
    } else {
      const st = fsm.statSync(file);
      const kind = st.isFile() ? '' : st.isFIFO() ? 'a named pipe' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device'
        : st.isSocket() ? 'a socket' : st.isDirectory() ? 'a directory' : 'not a regular file';
      if (kind !== '') {
        return { name: file, error: { kind: 'type', code: 'EINVAL', message: `${kind}: a list is read from a regular file, or from your own input (-, /dev/stdin, /dev/fd/N)` } };
      }
      fd = fsm.openSync(file, fsm.constants.O_RDONLY | fsm.constants.O_NONBLOCK | fsm.constants.O_NOCTTY);
      const now = fsm.fstatSync(fd);
      if (!now.isFile() || now.dev !== st.dev || now.ino !== st.ino) {
        return { name: file, error: { kind: 'type', code: 'EINVAL', message: 'replaced while it was opened: a list is read from a regular file' } };
      }
    }
    if (fsm.fstatSync(fd).isDirectory()) return { name: file, error: { kind: 'type', code: 'EISDIR', message: 'a directory' } };
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number;
      try {
        n = fsm.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as { code?: string }).code !== 'EAGAIN') throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a non-blocking input not written yet
        continue;
      }
      if (n === 0) break;
      total += n;
      if (total > max) return { name: file, error: { kind: 'size', code: 'EFBIG', message: `larger than the limit of ${mib}` } };
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) { all.set(c, off); off += c.length; }
    return { name: file, text: new TextDecoder().decode(all) };
  } catch (e) {
    return { name: file, error: { kind: 'errno', code: (e as { code?: string }).code ?? 'EIO', message: (e as Error).message } };
  } finally {
    if (fd !== undefined && file !== '-') fsm.closeSync(fd);
  }
}
