/**
 * cli/verbs/network.ts — `network create | rm | ls | inspect`.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"): check arguments with src/validate (naming the
 * bad one), call Host, print.
 */
import type { Context } from '../context.js';
import type { NetworkSpec } from '../../model/types.js';
import { UsageError, checkOption, stringOption } from '../args.js';
import { checkIfname, checkMtu } from '../../validate/kernel.js';
import { withHost } from '../lib.js';
import { endpointsTable, networkFields, networksTable } from '../format.js';
import { throwFailures } from '../../model/errors.js';

/** Validate the arguments of `network create` without touching the kernel. Exported for unit tests. */
export async function networkSpecFrom(name: string, o: Readonly<Record<string, string | boolean | string[]>>): Promise<NetworkSpec> {
  const { parseCidr, parseIp } = await import('../../util/ip.js');
  const s = (k: string): string | undefined => stringOption(o, k);
  const named = (opt: string, f: () => unknown): void => {
    try { f(); } catch (e) { throw new UsageError(`network create: --${opt}: ${(e as Error).message}`, 'network create'); }
  };
  const subnet = s('subnet');
  const subnet6 = s('subnet6');
  // --subnet6 alone: an IPv6-only network
  if (subnet === undefined && subnet6 === undefined) throw new UsageError('network create: missing --subnet CIDR (e.g. --subnet 172.18.0.0/16) or --subnet6 CIDR (IPv6-only)', 'network create');
  if (subnet !== undefined) named('subnet', () => parseCidr(subnet, 'subnet', { requireNetwork: true, family: 4 }));
  const spec: { -readonly [K in keyof NetworkSpec]: NetworkSpec[K] } = { name, ...(subnet !== undefined ? { subnet } : {}) };
  if (subnet6 !== undefined) { named('subnet6', () => parseCidr(subnet6, 'subnet6', { requireNetwork: true, family: 6 })); spec.subnet6 = subnet6; }
  const gateway = s('gateway');
  if (gateway !== undefined) {
    if (subnet === undefined) throw new UsageError('network create: --gateway needs --subnet (for IPv6 use --gateway6)', 'network create');
    named('gateway', () => { if (parseIp(gateway, 'gateway').family !== 4) throw new Error(`"${gateway}" is not an IPv4 address`); });
    spec.gateway = gateway;
  }
  const gateway6 = s('gateway6');
  if (gateway6 !== undefined) {
    if (subnet6 === undefined) throw new UsageError('network create: --gateway6 needs --subnet6', 'network create');
    named('gateway6', () => { if (parseIp(gateway6, 'gateway6').family !== 6) throw new Error(`"${gateway6}" is not an IPv6 address`); });
    spec.gateway6 = gateway6;
  }
  const bridge = s('bridge');
  if (bridge !== undefined) spec.bridge = checkOption('network create', () => checkIfname(bridge, '--bridge'));
  const mtu = s('mtu');
  if (mtu !== undefined) {
    if (!/^\d+$/.test(mtu)) throw new UsageError(`network create: --mtu "${mtu}": expected a number 68..65535`, 'network create');
    spec.mtu = checkOption('network create', () => checkMtu(Number(mtu), '--mtu'));
  }
  if (o.internal === true) { spec.internal = true; spec.masquerade = false; }
  if (o['no-masquerade'] === true) spec.masquerade = false;
  if (o['ignore-host-routes'] === true) spec.ignoreHostRoutes = true;
  const allow = o['allow-host-port'];
  const allowed = Array.isArray(allow) ? allow : typeof allow === 'string' ? [allow] : [];
  if (o['block-host'] === true) spec.blockHost = true;
  if (allowed.length > 0) {
    if (spec.blockHost !== true) throw new UsageError('network create: --allow-host-port needs --block-host (without it every host port is reachable)', 'network create');
    const bad = allowed.find((p) => !/^\d{1,5}(\/(tcp|udp))?$/.test(p) || Number(p.split('/')[0]) < 1 || Number(p.split('/')[0]) > 65535);
    if (bad !== undefined) throw new UsageError(`network create: --allow-host-port "${bad}": expected PORT[/tcp|udp] with PORT 1-65535`, 'network create');
    spec.allowHostPorts = allowed;
  }
  return spec;
}

export async function create(ctx: Context): Promise<number> {
  const name = ctx.positionals[0] ?? '';
  const spec = await networkSpecFrom(name, ctx.options);
  const info = await withHost(ctx, async (host) => (await host.network(spec)).info);
  ctx.out.result(info, () => (ctx.out.quiet ? info.name : networkFields(info)));
  return 0;
}

export async function rm(ctx: Context): Promise<number> {
  const force = ctx.options.force === true;
  const removed: string[] = [];
  const errors: Error[] = [];
  await withHost(ctx, async (host) => {
    for (const name of ctx.positionals) {
      try {
        await host.removeNetwork(name, { force });
        removed.push(name);
        if (!ctx.out.json && ctx.positionals.length > 1) ctx.out.info(`removed ${name}`);
      } catch (e) {
        errors.push(e as Error);
      }
    }
  });
  throwFailures('network rm', removed, errors, 'removed');
  ctx.out.result({ removed }, () => (ctx.out.quiet ? '' : removed.map((n) => `removed network ${n}`).join('\n')));
  return 0;
}

export async function ls(ctx: Context): Promise<number> {
  const nets = await withHost(ctx, (host) => host.networks(), { privileged: false });
  ctx.out.result(nets, () => (ctx.out.quiet ? nets.map((n) => n.name).join('\n') : networksTable(ctx.out, nets)));
  return 0;
}

export async function inspect(ctx: Context): Promise<number> {
  const name = ctx.positionals[0] ?? '';
  const { network, endpoints } = await withHost(ctx, async (host) => {
    const net = await host.getNetwork(name);
    return { network: net.info, endpoints: await host.endpoints({ network: name }) };
  }, { privileged: false });
  ctx.out.result({ network, endpoints }, () => {
    if (ctx.out.quiet) return network.name;
    return `${networkFields(network)}\n${endpoints.length === 0 ? '(no endpoints)\n' : endpointsTable(ctx.out, endpoints, false)}`;
  });
  return 0;
}
