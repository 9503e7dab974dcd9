/**
 * backend/iproute2/ops.ts — one rtnetlink op of a plan as the `ip` command documented on it in model/plan.ts.
 *
 * Layer: backend (iproute2). Processes run with argument arrays, never a shell.
 */
import type {
    LinkAddOp,  LinkSetOp, NsRef, OpResult,  RtnlOp,  
  AddrOp, RouteOp, Family } from '../../model/plan.js';
import { decodeAddrs, decodeLinks, decodeRoutes, nameIndex } from './decode.js';
import { LinkNames, OpFailure, RTM, fail, ip, ipJson, netnsArg } from './run.js';

/** NsRef → nsfs path (undefined: this process's netns). */
export function resolveNs(ref: NsRef, slots: ReadonlyMap<number, string>, op: string): string | undefined {
  if ('self' in ref) return undefined;
  if ('path' in ref) return ref.path;
  if ('fd' in ref) return `/proc/${process.pid}/fd/${ref.fd}`;
  const p = slots.get(ref.slot);
  if (p === undefined) fail(9, op, `slot ${ref.slot} is not an earlier successful netnsCreate/netnsOpen step of this plan`);
  return p;
}

export async function runOp(op: RtnlOp, nsPath: string | undefined, names: LinkNames, slots: ReadonlyMap<number, string>): Promise<OpResult> {
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
  if (op.promisc !== undefined) args.push('promisc', op.promisc ? 'on' : 'off');
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

