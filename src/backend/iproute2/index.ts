/**
 * backend/iproute2/index.ts — the iproute2 backend: executes a whole Plan by running `ip` (and
 * `nsenter`, `sysctl`, `umount`, `nft`, `conntrack`) processes with argument arrays, never a shell.
 *
 * Layer: backend (iproute2) (the fallback when the addon cannot load, and the baseline every
 * benchmark compares against). It chooses no names and applies no policy: each op runs
 * exactly the `ip` command documented on it in model/plan.ts, and answers in exactly
 * the contract's result shapes, so one test suite checks both backends.
 *
 * Namespaces: `/run/netns/NAME` → `ip -n NAME …`; any other nsfs path → `nsenter --net=PATH
 * ip …`; `{self}` → plain `ip …` (this process's netns).
 *
 * Known differences from the native backend (documented, tested where it matters):
 *  - errno is inferred from iproute2's text when the kernel sent an extended ack (see
 *    iproute2-errors.ts);
 *  - the kernel refuses IFLA_AF_SPEC (addrgenmode) and ignores IFLA_IFALIAS in a create, so
 *    `alias`/`noIpv6LinkLocal` are a follow-up `ip link set` (and the link is deleted again if
 *    that fails), and `up` is then applied after `addrgenmode none`;
 *  - iproute2 6.1 applies a veth `peer … index N` only when the host end has an index too;
 *  - ops naming links by ifindex first list the links to find the name (`ip` wants names).
 */
import { promises as fs } from 'node:fs';
import { EnvironmentError, InvalidInputError, NetlinkError, errnoName, CODE } from '../../model/errors.js';
import { runNftProcess } from '../nft-process.js';
import { NETNS_RUN_DIR, runNetnsName } from '../../validate/netns.js';
import type {
  Backend, KernelError, LinkAddOp, LinkRef, LinkSetOp, NsRef, OpResult, Plan, RtnlOp, Step, StepResult,
  AddrOp, RouteOp, Family,
} from '../../model/plan.js';
import { checkSysctlKey } from '../../validate/kernel.js';
import { kernelErrorFromNode, kernelErrorFromStderr } from './errors.js';
import { decodeAddrs, decodeLinks, decodeRoutes, nameIndex } from './decode.js';
import { ConntrackFailure, conntrackDelete } from './conntrack.js';

/** `/run/netns/NAME` → NAME (what `ip -n` / `ip netns` take); anything else (also "." and "..") → undefined. */
function ipNetnsName(path: string): string | undefined {
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
function netnsArg(nsPath: string | undefined): string {
  if (nsPath === undefined) return `/proc/${process.pid}/ns/net`;
  return ipNetnsName(nsPath) ?? nsPath;
}

type Exec = { ok: true; stdout: string } | { ok: false; stderr: string; exitCode: number | undefined };

async function exec(file: string, args: readonly string[], input?: string): Promise<Exec> {
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

class OpFailure extends Error {
  constructor(readonly kerr: KernelError) { super(kerr.message ?? kerr.code); }
}

function fail(errno: number, op: string, message: string): never {
  throw new OpFailure({ errno, code: errnoName(errno), op, message });
}

/** Run `ip ARGS` in a netns; a failure throws OpFailure carrying the mapped KernelError. */
async function ip(nsPath: string | undefined, args: readonly string[], op: string): Promise<string> {
  const [file, argv] = ipCommand(nsPath, args);
  const r = await exec(file, argv);
  if (!r.ok) throw new OpFailure(kernelErrorFromStderr(r.stderr, op, r.exitCode));
  return r.stdout;
}

async function ipJson(nsPath: string | undefined, args: readonly string[], op: string): Promise<unknown[]> {
  const out = await ip(nsPath, ['-j', ...args], op);
  if (out.trim() === '') return [];
  const parsed: unknown = JSON.parse(out);
  return Array.isArray(parsed) ? parsed : [];
}

/** Name ↔ index of the links of one netns, fetched lazily, dropped after an op that `renames`. */
class LinkNames {
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
function renames(op: RtnlOp): boolean {
  return op.op === 'linkAdd' || op.op === 'linkDel' || (op.op === 'linkSet' && (op.name !== undefined || op.ns !== undefined));
}

const RTM = {
  linkAdd: 'RTM_NEWLINK', linkSet: 'RTM_NEWLINK', linkDel: 'RTM_DELLINK', linkGet: 'RTM_GETLINK', linkList: 'RTM_GETLINK',
  addrAdd: 'RTM_NEWADDR', addrDel: 'RTM_DELADDR', addrList: 'RTM_GETADDR',
  routeAdd: 'RTM_NEWROUTE', routeDel: 'RTM_DELROUTE', routeList: 'RTM_GETROUTE',
} as const satisfies Record<RtnlOp['op'], string>;

export class Iproute2Backend implements Backend {
  readonly name = 'iproute2' as const;

  async run(plan: Plan): Promise<readonly StepResult[]> {
    const stopOnError = plan.stopOnError ?? true;
    const slots = new Map<number, string>();
    const results: StepResult[] = [];
    let failed = false;
    for (const [i, step] of plan.steps.entries()) {
      if (failed && stopOnError) {
        results.push({ ok: false, kind: step.kind, skipped: true });
        continue;
      }
      const r = await this.step(step, slots);
      if (r.ok && (step.kind === 'netnsCreate' || step.kind === 'netnsOpen')) slots.set(i, step.path);
      if (!r.ok) failed = true;
      results.push(r);
    }
    return results;
  }

  async close(): Promise<void> {
    // Nothing held: every request is its own process.
  }

  private async step(step: Step, slots: ReadonlyMap<number, string>): Promise<StepResult> {
    try {
      switch (step.kind) {
        case 'netnsCreate': await netnsCreate(step.path, step.from); return { ok: true, kind: step.kind };
        case 'netnsOpen': await netnsOpen(step.path); return { ok: true, kind: step.kind };
        case 'netnsDelete': await netnsDelete(step.path); return { ok: true, kind: step.kind };
        case 'rtnl': return await this.rtnlStep(step.ns, step.ops, slots);
        case 'sysctl': {
          const nsPath = resolveNs(step.ns, slots, 'sysctl');
          const value = await sysctl(nsPath, step.key, step.value);
          return value === undefined ? { ok: true, kind: step.kind } : { ok: true, kind: step.kind, value };
        }
        case 'nft': {
          const nsPath = resolveNs(step.ns, slots, 'nft');
          try {
            const out = await runNftProcess(step.json, nsPath);
            // Always a value (nft's output, often ''), as the native backend answers.
            return { ok: true, kind: step.kind, value: out };
          } catch (e) {
            if (e instanceof NetlinkError) fail(e.errno, 'nft', e.extack ?? e.message);
            throw e;
          }
        }
        case 'conntrackDelete': {
          const nsPath = resolveNs(step.ns, slots, 'conntrackDelete');
          try {
            return { ok: true, kind: step.kind, deleted: await conntrackDelete(nsPath, step.filter) };
          } catch (e) {
            if (e instanceof ConntrackFailure) throw new OpFailure(e.kerr);
            throw e;
          }
        }
      }
    } catch (e) {
      if (e instanceof OpFailure) return { ok: false, kind: step.kind, error: e.kerr };
      throw e;
    }
  }

  private async rtnlStep(ns: NsRef, ops: readonly RtnlOp[], slots: ReadonlyMap<number, string>): Promise<StepResult> {
    let nsPath: string | undefined;
    try {
      nsPath = resolveNs(ns, slots, 'setns');
    } catch (e) {
      if (!(e instanceof OpFailure)) throw e;
      return { ok: false, kind: 'rtnl', error: e.kerr, failedOp: 0, ops: ops.map(() => ({ ok: false, error: e.kerr })) };
    }
    const names = new LinkNames(nsPath);
    const results: OpResult[] = [];
    let firstFailed: number | undefined;
    // Sequential, and a failed op does not stop the later ones: the kernel treats a batch the same way.
    for (const [i, op] of ops.entries()) {
      try {
        results.push(await runOp(op, nsPath, names, slots));
      } catch (e) {
        if (!(e instanceof OpFailure)) throw e;
        results.push({ ok: false, error: e.kerr });
        firstFailed ??= i;
      } finally {
        if (renames(op)) names.invalidate();
      }
    }
    if (firstFailed === undefined) return { ok: true, kind: 'rtnl', ops: results };
    const first = results[firstFailed];
    const error = first !== undefined && !first.ok ? first.error : { errno: 5, code: 'EIO', op: 'rtnl' };
    return { ok: false, kind: 'rtnl', error, failedOp: firstFailed, ops: results };
  }
}

/** NsRef → nsfs path (undefined: this process's netns). */
function resolveNs(ref: NsRef, slots: ReadonlyMap<number, string>, op: string): string | undefined {
  if ('self' in ref) return undefined;
  if ('path' in ref) return ref.path;
  if ('fd' in ref) return `/proc/${process.pid}/fd/${ref.fd}`;
  const p = slots.get(ref.slot);
  if (p === undefined) fail(9, op, `slot ${ref.slot} is not an earlier successful netnsCreate/netnsOpen step of this plan`);
  return p;
}

async function runOp(op: RtnlOp, nsPath: string | undefined, names: LinkNames, slots: ReadonlyMap<number, string>): Promise<OpResult> {
  const rtm = RTM[op.op];
  switch (op.op) {
    case 'linkAdd': await linkAdd(op, nsPath, names, slots); return { ok: true };
    case 'linkSet': await linkSet(op, nsPath, names, slots); return { ok: true };
    case 'linkDel': await ip(nsPath, ['link', 'del', 'dev', await names.name(op.link, rtm)], rtm); return { ok: true };
    case 'linkGet': {
      const raw = await ipJson(nsPath, ['-d', 'link', 'show', 'dev', await names.name(op.link, rtm)], rtm);
      if (raw.length === 0) fail(19, rtm, `Device "${String(op.link)}" does not exist.`);
      const needsNames = raw.some((r) => typeof (r as { master?: unknown }).master === 'string' || typeof (r as { link?: unknown }).link === 'string');
      const links = decodeLinks(raw, needsNames ? await names.byName(rtm) : nameIndex(raw));
      const link = links[0];
      if (link === undefined) return fail(19, rtm, `Device "${String(op.link)}" does not exist.`);
      return { ok: true, value: link };
    }
    case 'linkList': return { ok: true, value: decodeLinks(await ipJson(nsPath, ['-d', 'link', 'show'], rtm)) };
    case 'addrAdd':
    case 'addrDel': await addr(op, nsPath, names); return { ok: true };
    case 'addrList': {
      const args = ['-N', ...(op.family !== undefined ? [`-${op.family}`] : []), 'addr', 'show'];
      if (op.link !== undefined) args.push('dev', await names.name(op.link, rtm));
      return { ok: true, value: decodeAddrs(await ipJson(nsPath, args, rtm)) };
    }
    case 'routeAdd':
    case 'routeDel': await route(op, nsPath, names); return { ok: true };
    case 'routeList': {
      const families: Family[] = op.family !== undefined ? [op.family] : [4, 6];
      const routes = [];
      for (const f of families) {
        let raw: unknown[];
        try {
          raw = await ipJson(nsPath, ['-N', '-d', `-${f}`, 'route', 'show', 'table', String(op.table ?? 254)], rtm);
        } catch (e) {
          // A table with no route of this family does not exist yet (strict dump: ENOENT):
          // that is an empty list, as a plain dump filtered by table gives.
          if (e instanceof OpFailure && /FIB table does not exist/.test(e.kerr.message ?? '')) continue;
          throw e;
        }
        const byName = raw.some((r) => typeof (r as { dev?: unknown }).dev === 'string') ? await names.byName(rtm) : new Map<string, number>();
        routes.push(...decodeRoutes(raw, f, byName, op.table ?? 254));
      }
      return { ok: true, value: routes };
    }
  }
}

/**
 * `ip link add NAME [index I] [address MAC] [mtu N] [txqlen N] [master M] [up] type KIND
 *   [bridge opts] [peer name P [netns NS] [index I] [mtu N] [address MAC]]`
 * then `ip link set dev NAME [alias A] [addrgenmode none]` (+ `up` after addrgenmode) and the
 * same for the peer inside its netns, because the kernel does not take those in a create.
 */
async function linkAdd(op: LinkAddOp, nsPath: string | undefined, names: LinkNames, slots: ReadonlyMap<number, string>): Promise<void> {
  const rtm = 'RTM_NEWLINK';
  const args = ['link', 'add', op.name];
  if (op.index !== undefined && op.index !== 0) args.push('index', String(op.index));
  if (op.mac !== undefined) args.push('address', op.mac);
  if (op.mtu !== undefined) args.push('mtu', String(op.mtu));
  if (op.txqlen !== undefined) args.push('txqlen', String(op.txqlen));
  if (op.master !== undefined) args.push('master', await names.name(op.master, rtm));
  const upLater = op.up === true && op.noIpv6LinkLocal === true;
  if (op.up === true && !upLater) args.push('up');
  args.push('type', op.kind);
  if (op.kind === 'bridge' && op.bridge !== undefined) {
    const b = op.bridge;
    if (b.forwardDelay !== undefined) args.push('forward_delay', String(b.forwardDelay));
    if (b.stp !== undefined) args.push('stp_state', b.stp ? '1' : '0');
    if (b.mcastSnooping !== undefined) args.push('mcast_snooping', b.mcastSnooping ? '1' : '0');
    if (b.vlanFiltering !== undefined) args.push('vlan_filtering', b.vlanFiltering ? '1' : '0');
  }
  let peerPath = nsPath;
  if (op.kind === 'veth' && op.peer !== undefined) {
    const p = op.peer;
    args.push('peer', 'name', p.name);
    if (p.ns !== undefined) {
      peerPath = resolveNs(p.ns, slots, 'setns');
      args.push('netns', netnsArg(peerPath));
    }
    if (p.index !== undefined && p.index !== 0) args.push('index', String(p.index));
    if (p.mtu !== undefined) args.push('mtu', String(p.mtu));
    if (p.mac !== undefined) args.push('address', p.mac);
  }
  await ip(nsPath, args, rtm);
  try {
    const post: string[] = [];
    if (op.alias !== undefined) post.push('alias', op.alias);
    if (op.noIpv6LinkLocal === true) post.push('addrgenmode', 'none');
    if (op.hairpin !== undefined) post.push('type', 'bridge_slave', 'hairpin', op.hairpin ? 'on' : 'off');
    if (post.length > 0) await ip(nsPath, ['link', 'set', 'dev', op.name, ...post], rtm);
    if (upLater) await ip(nsPath, ['link', 'set', 'dev', op.name, 'up'], rtm);
    if (op.kind === 'veth' && op.peer !== undefined) {
      const pp: string[] = [];
      if (op.peer.alias !== undefined) pp.push('alias', op.peer.alias);
      if (op.peer.noIpv6LinkLocal === true) pp.push('addrgenmode', 'none');
      if (pp.length > 0) await ip(peerPath, ['link', 'set', 'dev', op.peer.name, ...pp], rtm);
    }
  } catch (e) {
    // Nothing half-made: the follow-up failed, so the link we just created goes again.
    await ip(nsPath, ['link', 'del', 'dev', op.name], 'RTM_DELLINK').catch(() => undefined);
    throw e;
  }
}

/** `ip link set dev LINK [up|down] [master M|nomaster] [netns NS] [mtu N] [name NEW] [address MAC] [alias A]` */
async function linkSet(op: LinkSetOp, nsPath: string | undefined, names: LinkNames, slots: ReadonlyMap<number, string>): Promise<void> {
  const rtm = 'RTM_NEWLINK';
  const args = ['link', 'set', 'dev', await names.name(op.link, rtm)];
  if (op.up !== undefined) args.push(op.up ? 'up' : 'down');
  if (op.master !== undefined) {
    if (op.master === 0) args.push('nomaster');
    else args.push('master', await names.name(op.master, rtm));
  }
  if (op.ns !== undefined) args.push('netns', netnsArg(resolveNs(op.ns, slots, 'setns')));
  if (op.mtu !== undefined) args.push('mtu', String(op.mtu));
  if (op.name !== undefined) args.push('name', op.name);
  if (op.mac !== undefined) args.push('address', op.mac);
  if (op.alias !== undefined) args.push('alias', op.alias);
  if (op.noIpv6LinkLocal === true) args.push('addrgenmode', 'none');
  if (op.hairpin !== undefined) args.push('type', 'bridge_slave', 'hairpin', op.hairpin ? 'on' : 'off');
  await ip(nsPath, args, rtm);
}

/** `ip addr add|del LOCAL/PREFIX [broadcast B] [nodad] dev LINK` */
async function addr(op: AddrOp, nsPath: string | undefined, names: LinkNames): Promise<void> {
  const rtm = RTM[op.op];
  const args = ['addr', op.op === 'addrAdd' ? 'add' : 'del', `${op.local}/${op.prefixLen}`];
  if (op.broadcast !== undefined) args.push('broadcast', op.broadcast);
  if (op.nodad === true && op.op === 'addrAdd') args.push('nodad');
  args.push('dev', await names.name(op.link, rtm));
  await ip(nsPath, args, rtm);
}

/** `ip -4|-6 route add|del DST/LEN|default [via GW] [dev LINK] [metric M] [table T] [onlink] [src S]` */
async function route(op: RouteOp, nsPath: string | undefined, names: LinkNames): Promise<void> {
  const rtm = RTM[op.op];
  const dst = op.dst === undefined ? 'default' : `${op.dst}/${op.dstLen ?? (op.family === 4 ? 32 : 128)}`;
  const args = [`-${op.family}`, 'route', op.op === 'routeAdd' ? 'add' : 'del', dst];
  if (op.gateway !== undefined) args.push('via', op.gateway);
  if (op.link !== undefined) args.push('dev', await names.name(op.link, rtm));
  if (op.metric !== undefined) args.push('metric', String(op.metric));
  if (op.table !== undefined) args.push('table', String(op.table));
  if (op.onlink === true) args.push('onlink');
  if (op.src !== undefined) args.push('src', op.src);
  await ip(nsPath, args, rtm);
}

/** `ip netns add NAME` — only /run/netns/NAME: that is the one directory iproute2 knows. */
async function netnsCreate(path: string, from?: string): Promise<void> {
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
async function netnsOpen(path: string): Promise<void> {
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
async function netnsDelete(path: string): Promise<void> {
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
async function sysctl(nsPath: string | undefined, key: string, value?: string): Promise<string | undefined> {
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
