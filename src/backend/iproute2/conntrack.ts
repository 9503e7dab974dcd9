/**
 * backend/iproute2/conntrack.ts — the iproute2 backend's `conntrackDelete` step: one or more
 * `conntrack -D …` processes (Debian package `conntrack`), argument arrays, inside another
 * netns through `nsenter --net=PATH`.
 *
 * Layer: backend (iproute2). The baseline and fallback of the addon's in-process ctnetlink
 * delete (native/conntrack.cc); same filter, same result (`deleted`). See
 * docs/ARCHITECTURE.md, Kernel facts: a changed DNAT map does not move existing flows.
 *
 * - `{match: 'addr'}` runs four deletes (`-s`, `-d`, `-r`, `-q`: original/reply source and
 *   destination); an entry removed by one is not seen by the next, so the counts add up.
 * - `{match: 'mapping'}` runs one delete per port of the range (`--orig-port-dst` takes one
 *   port), which is slow for a wide range: this is the fallback.
 * - conntrack exits 1 when it deleted nothing; its "N flow entries have been deleted" line
 *   is the answer either way.
 */
import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { EnvironmentError, CODE, errnoName } from '../../model/errors.js';
import type { ConntrackFilter, KernelError } from '../../model/plan.js';
import { kernelErrorFromStderr } from './errors.js';

const DELETED = /(\d+) flow entries have been deleted/;

/** A refused or failed delete, as the step's error. */
export class ConntrackFailure extends Error {
  constructor(readonly kerr: KernelError) { super(kerr.message ?? kerr.code); }
}

function invalid(message: string): never {
  throw new ConntrackFailure({ errno: 22, code: errnoName(22), op: 'conntrackDelete', message });
}

function familyOf(addr: unknown, field: string): 4 | 6 {
  const f = typeof addr === 'string' && !addr.includes('%') ? isIP(addr) : 0;
  if (f !== 4 && f !== 6) invalid(`conntrack filter: '${field}' must be an IPv4 or IPv6 address without zone`);
  return f;
}

function checkPort(p: unknown, field: string): number {
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) invalid(`conntrack filter: '${field}' must be a port 1..65535`);
  return p;
}

/**
 * The argument lists of the `conntrack -D` runs for `filter` (checked here as the addon
 * checks it: a plan built by hand reaches the backend unchecked).
 */
export function conntrackDeleteArgs(filter: ConntrackFilter): string[][] {
  if (typeof filter !== 'object' || filter === null) invalid('conntrack filter must be an object');
  if (filter.match === 'addr') {
    const fam = ['-f', familyOf(filter.addr, 'addr') === 4 ? 'ipv4' : 'ipv6'];
    return ['-s', '-d', '-r', '-q'].map((opt) => ['-D', ...fam, opt, filter.addr]);
  }
  if (filter.match !== 'mapping') invalid("conntrack filter: 'match' must be 'addr' or 'mapping'");
  if (!['tcp', 'udp', 'sctp'].includes(filter.proto)) invalid("conntrack filter: 'proto' must be tcp, udp or sctp");
  const fam = familyOf(filter.replySrc, 'replySrc');
  if (filter.dst !== undefined && familyOf(filter.dst, 'dst') !== fam) invalid("conntrack filter: 'dst' and 'replySrc' are of different families");
  const lo = checkPort(filter.port, 'port');
  const hi = filter.portEnd === undefined ? lo : checkPort(filter.portEnd, 'portEnd');
  if (hi < lo) invalid("conntrack filter: 'portEnd' is below 'port'");
  const base = ['-D', '-f', fam === 4 ? 'ipv4' : 'ipv6', '-p', filter.proto];
  const dst = filter.dst !== undefined ? ['--orig-dst', filter.dst] : [];
  const out: string[][] = [];
  for (let p = lo; p <= hi; p++) out.push([...base, '--orig-port-dst', String(p), ...dst, '--reply-src', filter.replySrc]);
  return out;
}

/** One `conntrack ARGS` in `nsPath` (undefined: ours): how many entries it deleted. */
function runConntrack(nsPath: string | undefined, args: readonly string[]): Promise<number> {
  const [file, argv] = nsPath === undefined ? ['conntrack', [...args]] : ['nsenter', [`--net=${nsPath}`, '--', 'conntrack', ...args]];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const m = DELETED.exec(String(stderr));
      if (m?.[1] !== undefined) {
        resolve(Number(m[1]));
        return;
      }
      const e = err as (Error & { code?: unknown }) | null;
      const missing = e?.code === 'ENOENT' || (e?.code === 127 && /conntrack/.test(String(stderr)));
      if (missing) {
        reject(new EnvironmentError(`conntrack is not installed (${file === 'nsenter' ? 'nsenter or conntrack' : 'conntrack'} not found): apt-get install conntrack`, CODE.noTool));
        return;
      }
      reject(new ConntrackFailure(kernelErrorFromStderr(String(stderr || stdout || e?.message || 'conntrack failed'), 'IPCTNL_MSG_CT_DELETE', typeof e?.code === 'number' ? e.code : undefined)));
    });
  });
}

/** Run the deletes of `filter` in `nsPath`, in order; the total number of entries deleted. */
export async function conntrackDelete(nsPath: string | undefined, filter: ConntrackFilter): Promise<number> {
  let total = 0;
  for (const args of conntrackDeleteArgs(filter)) total += await runConntrack(nsPath, args);
  return total;
}
