/**
 * cli/lib.ts — how the CLI reaches the library: open a Host from the global options (lazily
 * importing the topology module only now), report backends and timings with --verbose,
 * and always close it.
 *
 * Layer: CLI front door. It only calls the public Host/Network/Endpoint API.
 */
import type { Context } from './context.js';
import type { HostOptions } from '../model/types.js';
import type { Host } from '../topology/host.js';
import { checkPrivilege } from './privilege.js';
import { resolveNetns } from './ns.js';
import { existsSync } from 'node:fs';
import { CtnetError, CODE } from '../model/errors.js';

export type { Host };

export function hostOptions(ctx: Context): HostOptions {
  const g = ctx.global;
  const o: { -readonly [K in keyof HostOptions]: HostOptions[K] } = { warn: (m: string) => ctx.out.warn(m) };
  if (g.hostNetns !== undefined) o.netns = g.hostNetns;
  if (g.stateDir !== undefined) o.stateDir = g.stateDir;
  if (g.backend !== undefined) o.backend = g.backend;
  if (g.firewall !== undefined) o.firewall = g.firewall;
  return o;
}

/** Open a Host for this command, run `fn`, close the Host (even on error). */
export async function withHost<T>(ctx: Context, fn: (host: Host) => Promise<T>, opts: { privileged?: boolean } = {}): Promise<T> {
  // (the daemon checked its own privileges when it started)
  if (opts.privileged !== false && ctx.hosts === undefined) checkPrivilege(ctx.verb.name);
  if (ctx.global.hostNetns !== undefined) {
    const ref = resolveNetns(ctx.global.hostNetns, ctx.verb.name);
    if (!existsSync(ref.path)) {
      throw new CtnetError(`${ctx.verb.name}: host netns (--host-netns) ${ref.name !== undefined
        ? `"${ref.name}" not found (${ref.path}): create it with ctnet-fast netns add ${ref.name}`
        : `path "${ref.path}" does not exist`}`, CODE.notFound);
    }
  }
  if (ctx.hosts !== undefined) {
    // the daemon: a Host kept open between commands, checked against changes by others
    const t0 = performance.now();
    const host = await ctx.hosts.get(hostOptions(ctx));
    host.refresh();
    const r = await fn(host);
    ctx.out.debug(`${ctx.verb.name} took ${ms(performance.now() - t0)} in the daemon (pid ${process.pid}; backend ${host.backendName}, firewall ${firewallName(host)})`);
    return r;
  }
  const t0 = performance.now();
  const { Host: HostClass } = await import('../topology/host.js');
  const t1 = performance.now();
  const host = await HostClass.open(hostOptions(ctx));
  const t2 = performance.now();
  ctx.out.debug(`process start → CLI ready ${ms(t0)}, library loaded in ${ms(t1 - t0)}, host opened in ${ms(t2 - t1)} (backend ${host.backendName}, firewall ${firewallName(host)}${ctx.global.hostNetns !== undefined ? `, host netns ${ctx.global.hostNetns}` : ''})`);
  let failed = true;
  try {
    const r = await fn(host);
    failed = false;
    return r;
  } finally {
    const t3 = performance.now();
    try {
      await host.close();
    } catch (e) {
      if (!failed) throw e;
    }
    ctx.out.debug(`${ctx.verb.name} took ${ms(t3 - t2)}, close ${ms(performance.now() - t3)}`);
  }
}

function firewallName(host: Host): string {
  try { return host.firewallName; } catch (e) { return `unavailable: ${(e as Error).message}`; }
}

export function ms(v: number): string {
  return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}
