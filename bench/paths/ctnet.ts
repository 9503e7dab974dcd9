/**
 * bench/paths/ctnet.ts — ctnet-fast through its library, as a user would call it:
 *   const host = await Host.open({ stateDir })
 *   const net  = await host.network({ name: 'bench', subnet: '172.18.0.0/16' })
 *   const ep   = await net.attach({ netns: 'bcI' })      (creates the netns)
 *   await ep.detach()
 * The library is loaded with a dynamic import so that, while it is still being written,
 * the path is reported as unavailable (with the import's error) instead of breaking
 * the whole run.
 */
import type { ContainerPath } from './types.js';
import { containerIp, SUBNET } from './types.js';
import { Unavailable } from './unavailable.js';

/** The slice of the library's API the benchmark uses (src/topology). */
export interface LibEndpoint {
  readonly address?: string;
  readonly hostIfname?: string;
  detach(): Promise<unknown>;
  publish?(ports: ReadonlyArray<string>): Promise<unknown>;
  unpublish?(ports: ReadonlyArray<string>): Promise<unknown>;
}
export interface LibNetwork {
  attach(opts: { readonly netns: string; readonly publish?: ReadonlyArray<string> }): Promise<LibEndpoint>;
  [extra: string]: unknown;
}
export interface LibHost {
  network(spec: { readonly name: string; readonly subnet: string }): Promise<LibNetwork>;
  close?(): Promise<unknown>;
  /** 'native' | 'iproute2' */
  readonly backendName?: string;
  /** 'libnftables' | 'nft' | 'none' */
  readonly firewallName?: string;
  /** The kernel backend, for composing plans (the nft step alone). */
  readonly backend?: { run(plan: unknown): Promise<ReadonlyArray<{ readonly ok: boolean }>> };
  [extra: string]: unknown;
}
interface LibModule {
  Host?: { open(opts: { readonly stateDir?: string; readonly backend?: string }): Promise<LibHost> };
}

export const STATE_DIR = '/run/ctnet-bench/state';

/**
 * Load the library and open a Host in this (fresh) netns, or throw Unavailable. The native
 * backend is required: the library would fall back to `ip` processes when the addon is
 * missing (e.g. while someone rebuilds it), and that must not be reported as ctnet-fast.
 */
export async function openLibrary(): Promise<{ host: LibHost; net: LibNetwork }> {
  let mod: LibModule;
  try {
    mod = (await import('../../src/index.js')) as unknown as LibModule;
  } catch (err) {
    throw new Unavailable(`cannot import the library (src/index.ts): ${(err as Error).message}`);
  }
  if (typeof mod.Host?.open !== 'function') {
    throw new Unavailable('src/index.ts does not export Host (src/topology not landed yet)');
  }
  let host: LibHost;
  try {
    host = await mod.Host.open({ stateDir: STATE_DIR, backend: 'native' });
  } catch (err) {
    throw new Unavailable(`Host.open with the native backend: ${(err as Error).message}`);
  }
  const net = await host.network({ name: 'bench', subnet: SUBNET });
  return { host, net };
}

/** Which backends the library picked (printed beside the numbers). */
export function backendsOf(host: LibHost | undefined): Record<string, unknown> {
  let firewall: string | undefined;
  try {
    firewall = host?.firewallName;
  } catch (err) {
    firewall = `unavailable (${(err as Error).message})`;
  }
  return { backend: host?.backendName ?? 'unknown', firewall: firewall ?? 'unknown' };
}

/** Names under which the library might offer pre-warming, checked on the network then the host. */
const PREWARM_NAMES = ['prewarm', 'prepare', 'warm'] as const;

export function ctnetPath(opts: { readonly prewarm: boolean; readonly count: number }): ContainerPath {
  let host: LibHost | undefined;
  let net: LibNetwork | undefined;
  let prewarmUsed = 'none';
  const eps = new Map<number, LibEndpoint>();

  return {
    name: opts.prewarm ? 'ctnet-prewarm' : 'ctnet',
    async setup() {
      ({ host, net } = await openLibrary());
      if (opts.prewarm) {
        for (const target of [net, host] as Array<Record<string, unknown>>) {
          for (const name of PREWARM_NAMES) {
            const fn = target[name];
            if (typeof fn === 'function') {
              await (fn as (n: number) => Promise<unknown>).call(target, opts.count);
              prewarmUsed = `${target === net ? 'network' : 'host'}.${name}(${opts.count})`;
              return;
            }
          }
        }
        throw new Unavailable(`the library offers no pre-warming (looked for ${PREWARM_NAMES.join('/')} on Network and Host)`);
      }
    },
    async attach(i) {
      eps.set(i, await net!.attach({ netns: `bc${i}` }));
    },
    async detach(i) {
      const ep = eps.get(i);
      if (!ep) throw new Error(`no endpoint ${i}`);
      eps.delete(i);
      await ep.detach();
    },
    async close() {
      await host?.close?.();
    },
    info() {
      return { library: 'in-process (src/index.ts via tsx)', ...backendsOf(host), prewarm: prewarmUsed };
    },
  };
}

/** The library's internal plan builder (src/topology/plans.ts), loaded only by ctnet-plan. */
interface PlansModule {
  attachSteps(host: unknown, net: unknown, bridgeIndex: number | undefined, ep: unknown, nftJson?: string): ReadonlyArray<{ readonly step: unknown; readonly label: string }>;
}

/**
 * ctnet-plan — a diagnostic, not a product path: the library's own attach plan
 * (src/topology/plans.ts attachSteps) run straight through the native backend, without
 * the state store, IPAM, names or firewall around it. floor → ctnet-plan → ctnet splits
 * ctnet-fast's cost into the kernel, the addon crossing and the TypeScript/SQLite layers.
 * Detach is the plan's `netnsDelete` step.
 */
export function ctnetPlanPath(): ContainerPath {
  let host: LibHost | undefined;
  let plans: PlansModule | undefined;
  let netRec: Record<string, unknown> = {};
  let bridgeIndex: number | undefined;

  const run = async (steps: readonly unknown[], what: string): Promise<void> => {
    const results = await host!.backend!.run({ steps });
    const bad = results.find((r) => !r.ok);
    if (bad) throw new Error(`${what}: ${JSON.stringify(bad)}`);
  };

  return {
    name: 'ctnet-plan',
    async setup() {
      let net: LibNetwork;
      ({ host, net } = await openLibrary());
      try {
        plans = (await import('../../src/topology/plans.js')) as unknown as PlansModule;
      } catch (err) {
        throw new Unavailable(`cannot import src/topology/plans.ts: ${(err as Error).message}`);
      }
      if (!host.backend || typeof plans.attachSteps !== 'function') throw new Unavailable('no Host.backend or attachSteps to run the plan with');
      const info = net.info as { subnet: string; gateway: string; bridge: string; bridgeMac: string; mtu: number; internal: boolean; masquerade: boolean };
      netRec = { name: 'bench', subnet: info.subnet, prefixLen: Number(info.subnet.split('/')[1]), gateway: info.gateway, bridge: info.bridge, bridgeMac: info.bridgeMac, mtu: info.mtu, internal: info.internal, masquerade: info.masquerade };
      const [r] = await host.backend.run({ steps: [{ kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkGet', link: info.bridge }] }] }) as ReadonlyArray<{ ok: boolean; ops?: Array<{ value?: { index?: number } }> }>;
      bridgeIndex = r?.ops?.[0]?.value?.index;
    },
    async attach(i) {
      const ip = containerIp(i);
      const [, , c, d] = ip.split('.').map(Number) as [number, number, number, number];
      const hex = (v: number): string => v.toString(16).padStart(2, '0');
      const steps = plans!.attachSteps({ self: true }, netRec, bridgeIndex, {
        id: `bp${i}`, netnsPath: `/run/netns/bp${i}`, createNetns: true, ifname: 'eth0', hostIfname: `bp${i}`,
        ip, mac: `02:42:ac:12:${hex(c)}:${hex(d)}`, routes: [],
      });
      await run(steps.map((s) => s.step), `attach plan ${i}`);
    },
    async detach(i) {
      await run([{ kind: 'netnsDelete', path: `/run/netns/bp${i}` }], `detach plan ${i}`);
    },
    async close() {
      await host?.close?.();
    },
    info() {
      return { runner: 'Host.backend.run(attachSteps(…)): the library plan alone, no store/IPAM/firewall', ...backendsOf(host) };
    },
  };
}
