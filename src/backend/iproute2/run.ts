/**
 * backend/iproute2/run.ts — running `ip`/`nsenter` processes, their errors, and link name lookup.
 *
 * Layer: backend (iproute2). Processes run with argument arrays, never a shell.
 */
import { EnvironmentError, errnoName, CODE } from '../../model/errors.js';
import { runNetnsName } from '../../validate/netns.js';
import type {
   KernelError,  LinkRef,     RtnlOp } from '../../model/plan.js';
import { kernelErrorFromStderr } from './errors.js';
import { nameIndex } from './decode.js';

/** `/run/netns/NAME` → NAME (what `ip -n` / `ip netns` take); anything else (also "." and "..") → undefined. */
export function ipNetnsName(path: string): string | undefined {
  const name = runNetnsName(path);
  return name !== '.' && name !== '..' ? name : undefined;
}

/** The argv (file + args) running `ip ARGS` in the netns at `nsPath` (undefined: ours). */
export function ipCommand(nsPath: string | undefined, args: readonly string[]): [string, string[]] {
  if (nsPath === undefined) return ['ip', [...args]];
  const name = ipNetnsName(nsPath);
  if (name !== undefined) return ['ip', ['-n', name, ...args]];
  return ['nsenter', [`--net=${nsPath}`, '--', 'ip', ...args]];
}

/** How a netns is named in an `ip … netns NS` argument (a name under /run/netns, or a path). */
export function netnsArg(nsPath: string | undefined): string {
  if (nsPath === undefined) return `/proc/${process.pid}/ns/net`;
  return ipNetnsName(nsPath) ?? nsPath;
}

type Exec = { ok: true; stdout: string } | { ok: false; stderr: string; exitCode: number | undefined };

export async function exec(file: string, args: readonly string[], input?: string): Promise<Exec> {
  // execa costs ~50 ms to import: load it only when this fallback backend runs a process
  const { execa } = await import('execa');
  const r = await execa(file, [...args], { reject: false, stripFinalNewline: true, ...(input !== undefined ? { input } : {}) });
  const code = (r as { code?: string }).code;
  if (code === 'ENOENT' || (r.exitCode === 127 && r.stderr === '')) {
    throw new EnvironmentError(`${file} not found: the iproute2 backend needs iproute2 and util-linux (apt-get install iproute2 util-linux)`, CODE.noTool);
  }
  if (r.failed) return { ok: false, stderr: String(r.stderr || r.shortMessage), exitCode: r.exitCode };
  return { ok: true, stdout: String(r.stdout) };
}

export class OpFailure extends Error {
  constructor(readonly kerr: KernelError) { super(kerr.message ?? kerr.code); }
}

export function fail(errno: number, op: string, message: string): never {
  throw new OpFailure({ errno, code: errnoName(errno), op, message });
}

/** Run `ip ARGS` in a netns; a failure throws OpFailure carrying the mapped KernelError. */
export async function ip(nsPath: string | undefined, args: readonly string[], op: string): Promise<string> {
  const [file, argv] = ipCommand(nsPath, args);
  const r = await exec(file, argv);
  if (!r.ok) throw new OpFailure(kernelErrorFromStderr(r.stderr, op, r.exitCode));
  return r.stdout;
}

export async function ipJson(nsPath: string | undefined, args: readonly string[], op: string): Promise<unknown[]> {
  const out = await ip(nsPath, ['-j', ...args], op);
  if (out.trim() === '') return [];
  const parsed: unknown = JSON.parse(out);
  return Array.isArray(parsed) ? parsed : [];
}

/** Name ↔ index of the links of one netns, fetched lazily, dropped after an op that `renames`. */
export class LinkNames {
  private map: Map<string, number> | undefined;
  constructor(private readonly nsPath: string | undefined) {}
  invalidate(): void { this.map = undefined; }
  async byName(op: string): Promise<Map<string, number>> {
    this.map ??= nameIndex(await ipJson(this.nsPath, ['link', 'show'], op));
    return this.map;
  }
  /** The name `ip` needs for a LinkRef. */
  async name(ref: LinkRef, op: string): Promise<string> {
    if (typeof ref === 'string') return ref;
    for (const [n, i] of await this.byName(op)) if (i === ref) return n;
    return fail(19, op, `Cannot find device with ifindex ${ref}`);
  }
}

/**
 * Whether an op can change which link a name or ifindex stands for in its netns (create,
 * delete, rename, move away). Only these drop LinkNames: an address, a route or an "up" does
 * not, so a step naming its links by ifindex lists them once, not once per op.
 */
export function renames(op: RtnlOp): boolean {
  return op.op === 'linkAdd' || op.op === 'linkDel' || (op.op === 'linkSet' && (op.name !== undefined || op.ns !== undefined));
}

export const RTM = {
  linkAdd: 'RTM_NEWLINK', linkSet: 'RTM_NEWLINK', linkDel: 'RTM_DELLINK', linkGet: 'RTM_GETLINK', linkList: 'RTM_GETLINK',
  addrAdd: 'RTM_NEWADDR', addrDel: 'RTM_DELADDR', addrList: 'RTM_GETADDR',
  routeAdd: 'RTM_NEWROUTE', routeDel: 'RTM_DELROUTE', routeList: 'RTM_GETROUTE',
} as const satisfies Record<RtnlOp['op'], string>;
