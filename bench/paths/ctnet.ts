/**
 * bench/paths/ctnet.ts — ctnet-fast through its library, as a user would call it:
 *   const host = await Host.open({ stateDir })
 *   const net  = await host.network({ name: 'bench', subnet: '172.18.0.0/16' })
 *   const ep   = await net.attach({ netns: 'bcI' })      (creates the netns)
 *   await ep.detach()
 * The library is loaded with a dynamic import so that a library that cannot load here
 * (e.g. better-sqlite3 not built) is reported as unavailable, with the import's error,
 * instead of breaking the whole run; only its types are imported statically.
 *
 * The library paths open their Host with the timing hook (HostOptions.trace): each attach
 * notes the clock at the hook's phase boundaries, and the worker asks for the phases of the
 * timed attaches (lib/split.ts). The hook costs four clock reads per attach.
 */
import type { AttachPhase, Endpoint, Host, Network, Step, StepResult } from '../../src/index.js';
import type { NetworkView } from '../../src/topology/plans.js';
import { addPhases, emptyPhases, phasesOf, type AttachMarks, type PhaseName, type PhaseSamples, type PhaseSource } from '../lib/split.js';
import type { ContainerPath } from './types.js';
import { containerIp, SUBNET } from './types.js';
import { Unavailable } from './unavailable.js';

export const STATE_DIR = '/run/ctnet-bench/state';

/**
 * Load the library and open a Host in this (fresh) netns, or throw Unavailable. The native
 * backend is required: the library would fall back to `ip` processes when the addon is
 * missing (e.g. while someone rebuilds it), and that must not be reported as ctnet-fast.
 */
export async function openLibrary(trace?: (phase: AttachPhase) => void): Promise<{ host: Host; net: Network }> {
  let mod: typeof import('../../src/index.js');
  try {
    mod = await import('../../src/index.js');
  } catch (err) {
    throw new Unavailable(`cannot import the library (src/index.ts): ${(err as Error).message}`);
  }
  let host: Host;
  try {
    host = await mod.Host.open({ stateDir: STATE_DIR, backend: 'native', ...(trace ? { trace } : {}) });
  } catch (err) {
    throw new Unavailable(`Host.open with the native backend: ${(err as Error).message}`);
  }
  const net = await host.network({ name: 'bench', subnet: SUBNET });
  return { host, net };
}

/** Which backends the library picked (printed beside the numbers). */
export function backendsOf(host: Host | undefined): Record<string, unknown> {
  let firewall: string | undefined;
  try {
    // throws when no firewall backend can be resolved here
    firewall = host?.firewallName;
  } catch (err) {
    firewall = `unavailable (${(err as Error).message})`;
  }
  return { backend: host?.backendName ?? 'unknown', firewall: firewall ?? 'unknown' };
}

/**
 * The attach's clock at each boundary the library's hook reports, kept per container for the
 * worker to ask about the timed ones (the warm-ups and pre-populated ones are left out).
 */
export function attachTracer(): PhaseSource & { readonly hook: (phase: AttachPhase) => void; timed<T>(i: number, attach: () => Promise<T>): Promise<T> } {
  let marks: Partial<Record<AttachPhase, number>> = {};
  const phases = new Map<number, Record<PhaseName, number>>();
  return {
    hook(phase) { marks[phase] = performance.now(); },
    async timed(i, attach) {
      marks = {};
      const start = performance.now();
      const out = await attach();
      const m: AttachMarks = { ...marks, start, end: performance.now() };
      const p = phasesOf(m);
      if (p) phases.set(i, p);
      return out;
    },
    attachPhases(ids): PhaseSamples {
      const s = emptyPhases();
      for (const id of ids) addPhases(s, phases.get(id) ?? {});
      return s;
    },
  };
}

export function ctnetPath(opts: { readonly prewarm: boolean; readonly count: number }): ContainerPath & PhaseSource {
  let host: Host | undefined;
  let net: Network | undefined;
  let prewarmUsed = 'none';
  const eps = new Map<number, Endpoint>();
  const tracer = attachTracer();

  return {
    name: opts.prewarm ? 'ctnet-prewarm' : 'ctnet',
    attachPhases: (ids) => tracer.attachPhases(ids),
    async setup() {
      ({ host, net } = await openLibrary(tracer.hook));
      if (opts.prewarm) {
        await host.prewarm(opts.count);
        prewarmUsed = `host.prewarm(${opts.count})`;
      }
    },
    async attach(i) {
      eps.set(i, await tracer.timed(i, () => net!.attach({ netns: `bc${i}` })));
    },
    async detach(i) {
      const ep = eps.get(i);
      if (!ep) throw new Error(`no endpoint ${i}`);
      eps.delete(i);
      await ep.detach();
    },
    async close() {
      await host?.close();
    },
    info() {
      return { library: 'in-process (src/index.ts via tsx)', ...backendsOf(host), prewarm: prewarmUsed, trace: 'HostOptions.trace: 4 clock reads per attach' };
    },
  };
}

/**
 * ctnet-plan — a diagnostic, not a product path: the library's own attach plan
 * (src/topology/plans.ts attachSteps) run straight through the native backend, without
 * the state store, IPAM, names or firewall around it. floor → ctnet-plan → ctnet splits
 * ctnet-fast's cost into the kernel, the addon crossing and the TypeScript/SQLite layers.
 * Detach is the library's detach plan (plans.ts detachSteps: the host end down and off the
 * bridge, the unmount checked against the identity the attach plan answered).
 */
export function ctnetPlanPath(): ContainerPath {
  let host: Host | undefined;
  /** The library's internal plan builder, loaded only by this path. */
  let plans: typeof import('../../src/topology/plans.js') | undefined;
  let records: typeof import('../../src/topology/records.js') | undefined;
  let netRec: NetworkView | undefined;
  let bridgeIndex: number | undefined;

  /** The identity each attach plan's netnsCreate answered, for its detach plan. */
  const ids = new Map<number, { cookie?: string; inode?: number }>();
  const run = async (steps: readonly Step[], what: string): Promise<readonly StepResult[]> => {
    const results = await host!.backend.run({ steps });
    const bad = results.find((r) => !r.ok);
    if (bad) throw new Error(`${what}: ${JSON.stringify(bad)}`);
    return results;
  };

  return {
    name: 'ctnet-plan',
    async setup() {
      let net: Network;
      ({ host, net } = await openLibrary());
      try {
        plans = await import('../../src/topology/plans.js');
        records = await import('../../src/topology/records.js');
      } catch (err) {
        throw new Unavailable(`cannot import src/topology/plans.ts or records.ts: ${(err as Error).message}`);
      }
      const info = net.info;
      // the view the library's own attach hands its plans (records.ts networkView), from the network as stored
      netRec = records.networkView({ id: '', ...info, spec: { name: info.name } });
      const [r] = await host.backend.run({ steps: [{ kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkGet', link: info.bridge }] }] }) as ReadonlyArray<{ ok: boolean; ops?: Array<{ value?: { index?: number } }> }>;
      bridgeIndex = r?.ops?.[0]?.value?.index;
    },
    async attach(i) {
      const ip = containerIp(i);
      const [, , c, d] = ip.split('.').map(Number) as [number, number, number, number];
      const hex = (v: number): string => v.toString(16).padStart(2, '0');
      const steps = plans!.attachSteps({ self: true }, netRec!, bridgeIndex, {
        id: `bp${i}`, netnsPath: `/run/netns/bp${i}`, createNetns: true, ifname: 'eth0', hostIfname: `bp${i}`,
        ip, mac: `02:42:ac:12:${hex(c)}:${hex(d)}`, routes: [],
      });
      const [created] = await run(steps.map((s) => s.step), `attach plan ${i}`);
      if (created?.ok === true) ids.set(i, { ...(created.cookie !== undefined ? { cookie: created.cookie } : {}), ...(created.inode !== undefined ? { inode: created.inode } : {}) });
    },
    async detach(i) {
      // the library's own detach plan (topology/detach.ts): host end down and off the bridge, the identity-checked unmount
      const steps = plans!.detachSteps({ netnsPath: `/run/netns/bp${i}`, ownsNetns: true, host: { self: true }, hostIfname: `bp${i}`, netns: ids.get(i) ?? {} });
      ids.delete(i);
      await run(steps.map((s) => s.step), `detach plan ${i}`);
    },
    async close() {
      await host?.close();
    },
    info() {
      return { runner: 'Host.backend.run(attachSteps(…)): the library plan alone, no store/IPAM/firewall', ...backendsOf(host) };
    },
  };
}
