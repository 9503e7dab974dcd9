/**
 * cli/verbs/attach.ts — `attach`, `detach` and `ls` (endpoints).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"); options are checked by src/validate. `attach` takes many NETNS (arguments and/or --from-file) and does
 * them in ONE process through Network.attachMany, so a script wiring many containers pays
 * Node's start-up once.
 */
import fs from 'node:fs';
import type { Context } from '../context.js';
import type { AttachOptions, EndpointInfo } from '../../model/types.js';
import { UsageError, checkOption, parseFromFileLine, stringOption, type FromFileLine } from '../args.js';
import { checkIfname, checkMac } from '../../validate/kernel.js';
import { withHost } from '../lib.js';
import { endpointsTable, netnsLabel } from '../format.js';
import { resolveNetns } from '../ns.js';
import { CtnetError, throwFailures, CODE } from '../../model/errors.js';
import { MAX_LIST_BYTES, readListFile, type ListFile } from '../protocol.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The text of an --from-file list: the one the caller read (`given`, set when the daemon runs
 * the command: the daemon never opens a file a caller names), else read here with the same
 * rules (protocol.ts readListFile: regular files or the caller's own input, 16 MiB at most).
 */
export function readList(file: string, given?: ListFile): string {
  const r = given !== undefined && given.name === file ? given : readListFile(fs, file, MAX_LIST_BYTES);
  if ('text' in r) return r.text;
  const { kind, code, message } = r.error;
  throw new CtnetError(`attach --from-file ${file}: cannot read: ${message}`,
    kind !== 'errno' ? CODE.invalidInput : code === 'ENOENT' ? CODE.notFound : code);
}

/** Turn the command line (and --from-file) into AttachOptions, validating before any kernel work. */
export async function attachTargets(ctx: Pick<Context, 'options' | 'positionals'>, readFile: (f: string) => string = readList): Promise<{
  network: string; targets: AttachOptions[]; many: boolean;
}> {
  const verb = 'attach';
  const o = ctx.options;
  const s = (k: string): string | undefined => stringOption(o, k);
  const network = s('network');
  if (network === undefined) throw new UsageError('attach: missing --network NAME', verb);
  const publish = Array.isArray(o.publish) ? o.publish : [];
  const lines: FromFileLine[] = ctx.positionals.map((netns) => ({ netns, publish: [] }));
  const fromFile = s('from-file');
  if (fromFile !== undefined) {
    const text = readFile(fromFile);
    text.split('\n').forEach((line, i) => {
      const l = parseFromFileLine(line, i + 1);
      if (l !== undefined) lines.push(l);
    });
  }
  if (lines.length === 0) {
    throw new UsageError(fromFile !== undefined ? `attach: --from-file ${fromFile} lists no NETNS` : 'attach: missing NETNS', verb);
  }
  const many = lines.length > 1 || fromFile !== undefined;
  for (const k of ['ip', 'ip6', 'mac'] as const) {
    if (s(k) !== undefined && lines.length > 1) {
      throw new UsageError(`attach: --${k} applies to one NETNS, got ${lines.length} (give per-container values in --from-file lines)`, verb);
    }
  }
  if (publish.length > 0 && lines.length > 1) {
    throw new UsageError(`attach: --publish with ${lines.length} NETNS would publish the same host port twice (give --publish per line in --from-file)`, verb);
  }
  // the port grammar module is loaded only when there are ports to check
  const parsePortSpec = lines.some((l) => l.publish.length > 0) || publish.length > 0
    ? (await import('../../validate/ports.js')).parsePortSpec : undefined;
  const seen = new Set<string>();
  const targets = lines.map((l) => {
    resolveNetns(l.netns, verb);
    if (seen.has(l.netns)) throw new UsageError(`attach: NETNS "${l.netns}" given twice`, verb);
    seen.add(l.netns);
    const t: Mutable<AttachOptions> = { netns: l.netns };
    const ifname = l.ifname ?? s('ifname');
    if (ifname !== undefined) t.ifname = checkOption(verb, () => checkIfname(ifname, '--ifname'));
    const ip = l.ip ?? s('ip');
    if (ip !== undefined) t.ip = ip;
    const ip6 = l.ip6 ?? s('ip6');
    if (ip6 !== undefined) t.ip6 = ip6;
    const mac = l.mac ?? s('mac');
    if (mac !== undefined) t.mac = checkOption(verb, () => checkMac(mac, '--mac'));
    const specs = [...l.publish, ...(lines.length === 1 ? publish : [])];
    if (specs.length > 0) {
      for (const spec of specs) {
        try { parsePortSpec?.(spec); } catch (e) { throw new UsageError(`attach: --publish ${(e as Error).message}`, verb); }
      }
      t.publish = specs;
    }
    return t;
  });
  return { network, targets, many };
}

export async function attach(ctx: Context): Promise<number> {
  const { network, targets, many } = await attachTargets(ctx, (f) => readList(f, ctx.fromFile));
  const onProgress = ctx.out.progress(`attach to ${network}`);
  const eps = await withHost(ctx, async (host): Promise<EndpointInfo[]> => {
    if (network === 'host' || network === 'none') {
      const out: EndpointInfo[] = [];
      for (const t of targets) {
        if (t.ip !== undefined || t.publish !== undefined || t.mac !== undefined) {
          throw new UsageError(`attach: --ip, --mac and --publish do not apply to --network ${network}`, 'attach');
        }
        out.push(network === 'host' ? await host.attachHostMode(t.netns) : await host.attachNoneMode(t.netns));
        onProgress(out.length, targets.length);
      }
      return out;
    }
    const net = await host.getNetwork(network);
    const t0 = performance.now();
    const r: EndpointInfo[] = [];
    try {
      // one at a time (as Network.attachMany does) so a failure can say what is already attached
      for (const t of targets) {
        r.push((await net.attach(t)).info);
        onProgress(r.length, targets.length);
      }
    } catch (e) {
      if (r.length > 0 && e instanceof Error) {
        const names = r.map(netnsLabel);
        e.message += ` (${r.length} of ${targets.length} attached before this stay attached: ${names.length > 4 ? `${names.slice(0, 2).join(', ')} … ${names[names.length - 1] ?? ''}` : names.join(', ')})`;
        Object.assign(e, { details: { attached: r } });
      }
      throw e;
    }
    ctx.out.debug(`attached ${r.length} in ${(performance.now() - t0).toFixed(2)} ms`);
    return r;
  });
  const doc = many ? eps : eps[0];
  ctx.out.result(doc, () => {
    if (ctx.out.quiet) return eps.map((e) => (e.ip === '' ? netnsLabel(e) : e.ip)).join('\n');
    return endpointsTable(ctx.out, eps);
  });
  return 0;
}

export async function detach(ctx: Context): Promise<number> {
  const network = stringOption(ctx.options, 'network');
  const paths = ctx.positionals.map((n) => resolveNetns(n, 'detach').path);
  const onProgress = ctx.out.progress('detach');
  const detached: EndpointInfo[] = [];
  const errors: Error[] = [];
  await withHost(ctx, async (host) => {
    // Without --network a netns on several networks is ambiguous: one listing serves every NETNS.
    const all = network === undefined ? await host.endpoints() : [];
    for (const [i, netns] of ctx.positionals.entries()) {
      try {
        if (network === undefined) {
          const on = all.filter((e) => e.netns === paths[i]);
          if (on.length > 1) {
            throw new UsageError(`detach: ${netns} is attached to ${on.length} networks (${on.map((e) => e.network || e.mode).join(', ')}): say which with --network`, 'detach');
          }
        }
        const ep = await host.findEndpoint(netns, network);
        if (ep === undefined) {
          throw new CtnetError(`detach: ${netns} is not attached${network !== undefined ? ` to network ${network}` : ''}`, CODE.notFound);
        }
        await ep.detach();
        detached.push(ep.info);
      } catch (e) {
        errors.push(e as Error);
      }
      onProgress(detached.length + errors.length, ctx.positionals.length);
    }
  });
  throwFailures('detach', detached.map(netnsLabel), errors, 'detached');
  ctx.out.result({ detached }, () => (ctx.out.quiet ? '' : detached.map((e) => `detached ${netnsLabel(e)} ${e.network !== '' ? `from ${e.network}` : `(mode ${e.mode})`}${e.address !== '' ? ` (${e.address})` : ''}`).join('\n')));
  return 0;
}

export async function ls(ctx: Context): Promise<number> {
  const network = stringOption(ctx.options, 'network');
  const eps = await withHost(ctx, async (host) => {
    if (network !== undefined) await host.getNetwork(network);
    return host.endpoints(network !== undefined ? { network } : undefined);
  }, { privileged: false });
  ctx.out.result(eps, () => (ctx.out.quiet ? eps.map(netnsLabel).join('\n') : endpointsTable(ctx.out, eps)));
  return 0;
}
