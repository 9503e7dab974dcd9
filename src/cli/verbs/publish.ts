/**
 * cli/verbs/publish.ts — `publish NETNS SPEC...` and `unpublish NETNS SPEC...`.
 *
 * Layer: CLI front door.
 */
import type { Context } from '../context.js';
import type { PortMapping } from '../../model/types.js';
import { UsageError, stringOption } from '../args.js';
import { withHost, type Host } from '../lib.js';
import { portText } from '../format.js';
import { resolveNetns } from '../ns.js';
import { CtnetError, CODE } from '../../model/errors.js';

const ANY = new Set([undefined, '0.0.0.0', '::']);

/** Whether a requested mapping names a published one (no host address = the any-address). */
export function samePorts(want: PortMapping, have: PortMapping): boolean {
  const ipOk = want.hostIp === undefined ? ANY.has(have.hostIp) : want.hostIp === have.hostIp;
  return ipOk && want.protocol === have.protocol && want.hostPort === have.hostPort && want.containerPort === have.containerPort
    && (want.hostPortEnd ?? want.hostPort) === (have.hostPortEnd ?? have.hostPort)
    && (want.containerPortEnd ?? want.containerPort) === (have.containerPortEnd ?? have.containerPort);
}

async function specsOf(ctx: Context): Promise<{ netns: string; specs: string[]; mappings: PortMapping[] }> {
  const [netns, ...specs] = ctx.positionals;
  if (netns === undefined) throw new UsageError(`${ctx.verb.name}: missing NETNS`, ctx.verb.name);
  resolveNetns(netns, ctx.verb.name);
  const { parsePortSpec } = await import('../../validate/ports.js');
  const mappings = specs.map((spec) => {
    try { return parsePortSpec(spec); } catch (e) { throw new UsageError(`${ctx.verb.name}: ${(e as Error).message}`, ctx.verb.name); }
  });
  return { netns, specs, mappings };
}

async function endpointOf(ctx: Context, host: Host, netns: string) {
  const network = stringOption(ctx.options, 'network');
  const ep = await host.findEndpoint(netns, network);
  if (ep === undefined) {
    throw new CtnetError(`${ctx.verb.name}: ${netns} is not attached${network !== undefined ? ` to network ${network}` : ''}: attach it first (ctnet-fast attach ${netns} --network NAME)`, CODE.notFound);
  }
  return ep;
}

/** The container address a mapping reaches: its IPv6 one for an IPv6 host address, else its IPv4 one. */
export function mappingTarget(p: PortMapping, ep: { readonly ip: string; readonly ip6?: string }): string {
  return p.hostIp?.includes(':') === true && ep.ip6 !== undefined ? ep.ip6 : ep.ip;
}

export async function publish(ctx: Context): Promise<number> {
  const { netns, specs } = await specsOf(ctx);
  const { ports, info } = await withHost(ctx, async (host) => {
    const ep = await endpointOf(ctx, host, netns);
    return { ports: await ep.publish(specs), info: ep.info };
  });
  ctx.out.result(ports, () => (ctx.out.quiet ? '' : ports.map((p) => `published ${portText(p)} → ${netns} (${mappingTarget(p, info)})`).join('\n')));
  return 0;
}

export async function unpublish(ctx: Context): Promise<number> {
  const { netns, mappings } = await specsOf(ctx);
  await withHost(ctx, async (host) => {
    const ep = await endpointOf(ctx, host, netns);
    const published = ep.info.ports;
    const missing = mappings.filter((m) => !published.some((p) => samePorts(m, p)));
    if (missing.length > 0) {
      throw new CtnetError(`unpublish: ${missing.map(portText).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not published by ${netns} (published: ${published.length === 0 ? 'none' : published.map(portText).join(', ')})`, CODE.notFound);
    }
    await ep.unpublish(published.filter((p) => mappings.some((m) => samePorts(m, p))));
  });
  ctx.out.result({ unpublished: mappings }, () => (ctx.out.quiet ? '' : mappings.map((p) => `unpublished ${portText(p)} from ${netns}`).join('\n')));
  return 0;
}
