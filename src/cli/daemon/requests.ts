/**
 * cli/daemon/requests.ts — the agent's typed requests (docs/agent-protocol.md): attach,
 * detach, publish, check, gc, network, status, stop, cni and events, each checked against
 * who asks (access.ts) and run on the agent's open Host through the public library API.
 * Every request answers one `reply` (or `error`) line; `events` then streams one `event`
 * line per attach, detach, publish, network, gc or cni the agent serves, until the client
 * closes. The `cli` relay (argv and stdout) is relay.ts.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers", "Life of an attach").
 */
import { existsSync, statSync } from 'node:fs';
import type { HostCache } from '../context.js';
import type { Message } from './channel.js';
import { checkNetnsAccess, isRoot, type Peer } from './access.js';
import { CtnetError, CODE, InvalidInputError } from '../../model/errors.js';
import type { AttachOptions, NetworkSpec, PortMapping } from '../../model/types.js';
import type { Host } from '../../topology/host.js';
import { Rtnl } from '../../rtnl/index.js';
import { inflightBegin, ownerOf, setOwner, type AttachmentKey, type InflightRecord } from './ledger.js';

/** What the requests need from the server. */
export interface AgentServices {
  readonly stateDir: string;
  readonly ownUid: number;
  readonly hosts: HostCache;
  emit(kind: string, data: Readonly<Record<string, unknown>>): void;
  status(): object;
  stop(why: string): void;
}

/**
 * An ADD being served (attach, cni ADD): the handler records it (ledger.ts) once the access
 * checks passed, and says how to undo it; the session undoes it when the reply cannot be
 * written (the client is gone), then drops the record.
 */
export interface Undo { file?: string; run?: () => Promise<void> }

/** A `cni` request's answer (handleCni of src/cni/index.ts): the plugin's exit code and output. */
export interface CniAnswer { readonly exitCode: number; readonly stdout: string; readonly stderr?: string }

const str = (m: Message, k: string, required = false): string | undefined => {
  const v = m[k];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '') throw new InvalidInputError(`${String(m.type)}: "${k}" must be a non-empty string`);
  return v;
};

/** The netns a request names, checked for a non-root peer (access.ts) and never /proc/self (that is the agent). */
function netnsOf(m: Message, peer: Peer, svc: AgentServices): string {
  const netns = str(m, 'netns', true) as string;
  if (/^\/proc\/(self|thread-self)\//.test(netns)) throw new InvalidInputError(`${String(m.type)}: netns ${netns}: /proc/self names the agent, not you: give /proc/PID/ns/net`);
  return isRoot(peer, svc.ownUid) ? netns : checkNetnsAccess(peer, netns);
}

function rootOnly(peer: Peer, svc: AgentServices, what: string): void {
  if (!isRoot(peer, svc.ownUid)) throw new CtnetError(`${what}: only root may ask for this (you are uid ${peer.uid})`, 'EPERM');
}

async function hostOf(svc: AgentServices): Promise<Host> {
  const host = await svc.hosts.get({});
  host.refresh();
  return host;
}

function ports(m: Message, k: string): Array<string | PortMapping> | undefined {
  const v = m[k];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new InvalidInputError(`${String(m.type)}: "${k}" must be an array of port specs ("8080:80/tcp") or mappings`);
  return v as Array<string | PortMapping>;
}

async function attach(m: Message, peer: Peer, svc: AgentServices, undo?: Undo): Promise<object> {
  const netns = netnsOf(m, peer, svc);
  if (m.skipHostPortChecks === true) rootOnly(peer, svc, 'attach: skipHostPortChecks');
  const network = str(m, 'network', true) as string;
  if (undo !== undefined) {
    const rec: InflightRecord = { kind: 'attach', netns, network, uid: peer.uid };
    undo.file = inflightBegin(svc.stateDir, rec);
    undo.run = () => undoAdd(rec, svc);
  }
  const opts: { -readonly [K in keyof AttachOptions]: AttachOptions[K] } = { netns };
  for (const k of ['ifname', 'ip', 'ip6', 'mac', 'name', 'containerId'] as const) {
    const v = str(m, k);
    if (v !== undefined) opts[k] = v;
  }
  const publish = ports(m, 'publish');
  if (publish !== undefined) opts.publish = publish;
  const host = await hostOf(svc);
  const ep = await (await host.getNetwork(network)).attach(opts);
  const info = ep.info;
  svc.emit('attach', { endpoint: info });
  return info;
}

async function detach(m: Message, peer: Peer, svc: AgentServices): Promise<object> {
  const netns = netnsOf(m, peer, svc);
  const network = str(m, 'network');
  const host = await hostOf(svc);
  const ep = await host.findEndpoint(netns, network);
  if (ep === undefined) throw new CtnetError(`detach: ${netns} is not attached${network !== undefined ? ` to network ${network}` : ''}`, CODE.notFound);
  const info = ep.info;
  await ep.detach();
  svc.emit('detach', { endpoint: info });
  return { detached: [info] };
}

async function publish(m: Message, peer: Peer, svc: AgentServices): Promise<object> {
  const netns = netnsOf(m, peer, svc);
  if (m.skipHostPortChecks === true) rootOnly(peer, svc, 'publish: skipHostPortChecks');
  const specs = ports(m, 'ports');
  if (specs === undefined || specs.length === 0) throw new InvalidInputError('publish: "ports" must list at least one port');
  const host = await hostOf(svc);
  const ep = await host.findEndpoint(netns, str(m, 'network'));
  if (ep === undefined) throw new CtnetError(`publish: ${netns} is not attached`, CODE.notFound);
  if (m.unpublish === true) {
    await ep.unpublish(specs);
    svc.emit('publish', { netns, endpoint: ep.id, unpublished: specs });
    return { unpublished: specs, ports: ep.info.ports };
  }
  const added = await ep.publish(specs);
  svc.emit('publish', { netns, endpoint: ep.id, published: added });
  return { published: added, ports: ep.info.ports };
}

/**
 * Is the endpoint whole? Its state row, its netns, the host veth on the network's bridge,
 * and inside the netns its interface with its address (one rtnetlink dump each, from the
 * agent's loaded backend): what CNI CHECK asks, for any endpoint.
 */
async function check(m: Message, peer: Peer, svc: AgentServices): Promise<object> {
  const netns = netnsOf(m, peer, svc);
  const host = await hostOf(svc);
  const ep = await host.findEndpoint(netns, str(m, 'network'));
  if (ep === undefined) throw new CtnetError(`check: ${netns} is not attached`, CODE.notFound);
  const info = ep.info;
  const problems: string[] = [];
  const rtnl = new Rtnl(host.backend, host.netnsPath ?? { self: true });
  if (!existsSync(info.netns)) problems.push(`netns ${info.netns} is gone`);
  else if (info.mode === 'bridge') {
    const inside = rtnl.at(info.netns);
    const link = await inside.link.find(info.ifname).catch(() => undefined);
    if (link === undefined) problems.push(`${info.ifname} is gone from ${info.netns}`);
    else {
      const addrs = (await inside.addr.list({ link: info.ifname })).map((a) => `${a.local}/${a.prefixLen}`);
      for (const want of [info.address, info.address6]) if (want !== undefined && want !== '' && !addrs.includes(want)) problems.push(`${info.ifname} in ${info.netns} lacks ${want}`);
    }
  }
  if (info.mode === 'bridge') {
    const bridgeName = (await host.networks()).find((n) => n.name === info.network)?.bridge;
    const veth = await rtnl.link.find(info.hostIfname);
    const bridge = bridgeName !== undefined ? await rtnl.link.find(bridgeName) : undefined;
    if (veth === undefined) problems.push(`host veth ${info.hostIfname} is gone`);
    else if (bridge === undefined) problems.push(`bridge ${bridgeName ?? '?'} is gone`);
    else if (veth.master !== bridge.index) problems.push(`host veth ${info.hostIfname} is ${veth.master === undefined ? 'on no bridge' : `on ifindex ${veth.master}`}, not on ${bridge.name}`);
  }
  return { ok: problems.length === 0, problems, endpoint: info };
}

async function gc(m: Message, peer: Peer, svc: AgentServices): Promise<object> {
  const dryRun = m.dryRun === true;
  if (!dryRun) rootOnly(peer, svc, 'gc (without dryRun)');
  const report = await (await hostOf(svc)).gc({ dryRun });
  if (!dryRun) svc.emit('gc', { actions: report.actions.length, errors: report.errors.length });
  return report;
}

async function network(m: Message, peer: Peer, svc: AgentServices): Promise<object> {
  const spec = m.spec;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new InvalidInputError('network: "spec" must be a network spec object ({name, subnet, …})');
  const s = spec as NetworkSpec;
  // skipping a host check (the host's routes) is root's decision
  if (s.ignoreHostRoutes === true) rootOnly(peer, svc, 'network: ignoreHostRoutes');
  const info = (await (await hostOf(svc)).network(s)).info;
  svc.emit('network', { network: info });
  return info;
}

/** The CNI core (src/cni/index.ts), loaded when the first `cni` request comes; undefined when missing from the build. */
type HandleCni = typeof import('../../cni/index.js').handleCni;
let cniModule: Promise<HandleCni | undefined> | undefined;

function loadCni(): Promise<HandleCni | undefined> {
  cniModule ??= import('../../cni/index.js').then((m) => m.handleCni, (e: { code?: string }) => {
    if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') return undefined;
    throw e;
  });
  return cniModule;
}

/** The attachment a CNI ADD/DEL/CHECK names, as the CNI core reads the config; undefined when it cannot (the core then fails alike). */
async function attachmentOf(e: Readonly<Record<string, string>>, stdin: string): Promise<AttachmentKey | undefined> {
  const cmd = e.CNI_COMMAND;
  if (cmd !== 'ADD' && cmd !== 'DEL' && cmd !== 'CHECK') return undefined;
  try {
    const c = await import('../../cni/config.js');
    const name = c.parseConfig(c.decodeConfig(stdin), c.parseCniArgs(e.CNI_ARGS)).name;
    return { network: name, containerId: e.CNI_CONTAINERID ?? '', ifname: e.CNI_IFNAME ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * A non-root member's CNI call: never GC (it would remove everyone's), and an ADD, DEL or
 * CHECK only of an attachment the member made through this agent (ledger.ts), or of one that
 * does not exist (yet).
 */
async function checkCniMember(e: Readonly<Record<string, string>>, key: AttachmentKey | undefined, peer: Peer, svc: AgentServices): Promise<void> {
  const cmd = e.CNI_COMMAND;
  if (cmd === 'GC') throw new CtnetError(`cni GC: only root may collect attachments (you are uid ${peer.uid}): GC removes every attachment of the network not in cni.dev/valid-attachments, whoever made it`, 'EPERM');
  // a non-root runtime names only a netns it could open itself (a DEL of a netns already gone is left to the state)
  if (e.CNI_NETNS !== undefined && e.CNI_NETNS !== '' && (cmd !== 'DEL' || existsSync(e.CNI_NETNS))) checkNetnsAccess(peer, e.CNI_NETNS);
  if (key === undefined) return;
  const host = await hostOf(svc);
  const there = (await host.endpoints({ network: key.network }).catch(() => [])).some((x) => x.containerId === key.containerId && x.ifname === key.ifname);
  if (there && ownerOf(svc.stateDir, key) !== peer.uid) {
    throw new CtnetError(`cni ${cmd ?? ''}: container ${key.containerId} (${key.ifname}) on network ${key.network} was not attached by uid ${peer.uid}: a member may only touch its own attachments`, 'EPERM');
  }
}

/** The CNI core's view of the state directories, for a peer (root may name another one). */
function cniHosts(root: boolean, svc: AgentServices): { open(stateDir: string): Promise<Host> } {
  return {
    open: async (stateDir: string): Promise<Host> => {
      if (!stateDir.startsWith('/')) throw new InvalidInputError(`cni: ctnetStateDir "${stateDir}" must be an absolute path`);
      if (!root && statSync(stateDir, { throwIfNoEntry: false })?.ino !== statSync(svc.stateDir).ino) {
        throw new CtnetError(`cni: only root may use another state directory (${stateDir}) than the agent's (${svc.stateDir})`, 'EPERM');
      }
      const host = await svc.hosts.get({ stateDir });
      host.refresh();
      return host;
    },
  };
}

async function cni(m: Message, peer: Peer, svc: AgentServices, undo?: Undo): Promise<CniAnswer> {
  const env = m.env;
  if (typeof env !== 'object' || env === null || Array.isArray(env) || !Object.values(env).every((v) => typeof v === 'string')) {
    throw new InvalidInputError('cni: "env" must be an object of strings (the CNI_* variables)');
  }
  if (typeof m.stdin !== 'string') throw new InvalidInputError('cni: "stdin" must be the network config text');
  const e = env as Record<string, string>;
  const root = isRoot(peer, svc.ownUid);
  const key = await attachmentOf(e, m.stdin);
  if (!root) await checkCniMember(e, key, peer, svc);
  const handleCni = await loadCni();
  if (handleCni === undefined) throw new CtnetError('cni: this agent was built without the CNI core (src/cni/index.ts): rebuild ctnet-fast (npm run build)', CODE.environment);
  if (undo !== undefined && e.CNI_COMMAND === 'ADD') {
    const rec: InflightRecord = { kind: 'cni', env: e, stdin: m.stdin, uid: peer.uid, pid: peer.pid };
    undo.file = inflightBegin(svc.stateDir, rec);
    undo.run = () => undoAdd(rec, svc);
  }
  const r = await handleCni(cniHosts(root, svc), { env: e, stdin: m.stdin }, { uid: peer.uid, pid: peer.pid });
  if (r.exitCode === 0 && key !== undefined && e.CNI_COMMAND !== 'CHECK') setOwner(svc.stateDir, key, e.CNI_COMMAND === 'ADD' && !root ? peer.uid : undefined);
  svc.emit('cni', { command: e.CNI_COMMAND ?? '', containerId: e.CNI_CONTAINERID ?? '', netns: e.CNI_NETNS ?? '', ifname: e.CNI_IFNAME ?? '', exitCode: r.exitCode });
  return r;
}

/**
 * Undo an ADD whose client got an error (the reply could not be written, or the agent died
 * before it): the CNI DEL of the same call, or the detach of the attach. Throws naming what
 * could not be undone.
 */
export async function undoAdd(rec: InflightRecord, svc: AgentServices): Promise<void> {
  if (rec.kind === 'cni') {
    const handleCni = await loadCni();
    if (handleCni === undefined) throw new CtnetError('cni: no CNI core in this build to undo an ADD with', CODE.environment);
    const env = { ...rec.env, CNI_COMMAND: 'DEL' };
    const r = await handleCni(cniHosts(true, svc), { env, stdin: rec.stdin });
    if (r.exitCode !== 0) throw new CtnetError(`undo of CNI ADD ${rec.env.CNI_CONTAINERID ?? ''} ${rec.env.CNI_IFNAME ?? ''}: ${r.stdout.trim()}`, CODE.failure);
    const key = await attachmentOf(env, rec.stdin);
    if (key !== undefined) setOwner(svc.stateDir, key, undefined);
    svc.emit('cni', { command: 'DEL', containerId: rec.env.CNI_CONTAINERID ?? '', netns: rec.env.CNI_NETNS ?? '', ifname: rec.env.CNI_IFNAME ?? '', exitCode: 0, undone: true });
    return;
  }
  const host = await hostOf(svc);
  const ep = await host.findEndpoint(rec.netns, rec.network).catch(() => undefined);
  if (ep === undefined) return; // never made (or already gone)
  const info = ep.info;
  await ep.detach();
  svc.emit('detach', { endpoint: info, undone: true });
}

/** Typed requests by type (not cli and events: the session serves those itself). */
export const HANDLERS: Readonly<Record<string, (m: Message, peer: Peer, svc: AgentServices, undo?: Undo) => Promise<object>>> = {
  attach, detach, publish, check, gc, network, cni,
  status: async (_m, _peer, svc) => svc.status(),
  stop: async (_m, peer, svc) => {
    rootOnly(peer, svc, 'stop');
    svc.stop('asked to stop');
    return { stopping: process.pid };
  },
};
