/**
 * bench/run.ts — `npm run bench [-- OPTIONS]`: ctnet-fast beside the iproute2 path, the
 * CNI bridge plugin and the kernel floor, in one run, on one machine.
 *
 * Every measurement runs in a worker (bench/worker.ts) inside its own fresh net+mount
 * namespace made by test/sandbox.mjs, so no path sees another's bridge, netns files,
 * firewall or the kernel's reaping backlog, and nothing touches the machine's network.
 * The paths are interleaved round by round (the order rotates each round) so drift of
 * the VM spreads over all of them alike; ratios are only ever taken inside one run.
 *
 * Options:
 *   --quick              small N, 2 rounds, no scale/publish/churn runs (< 1 minute)
 *   --n N                containers per path (default 500; --quick 50)
 *   --rounds R           rounds the N are split into (default 5; --quick 2)
 *   --warmup W           untimed attach/detach cycles per worker, then a 250 ms pause (default 30,
 *                        quick and full alike: the first attaches of a process are cold)
 *   --paths a,b,…        among floor,ctnet,ctnet-plan,ctnet-prewarm,iproute2,cni,cni-masq,floor-ipv6,
 *                        cni-ctnet,cni-ctnet-self (our CNI plugin through the agent / self-contained),
 *                        cni-chain (reference bridge+host-local+portmap), ctnet-bypath (library, netns by path)
 *   --only a,b,…         run only these parts: compare,nft,concurrency,scale,publish,churn
 *   --no-scale --no-publish --no-churn --no-concurrency --no-nft
 *   --churn-cycles N     (default 10000)
 *   --out DIR            (default bench/results)
 *   --save-sample        also write sample.json + sample.svg (the committed example)
 *   --render FILE.json   only redraw FILE.svg from the samples in a results file, then exit
 * Writes DIR/latest.json and DIR/latest.svg; prints the table on stdout, progress on stderr.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, loadAvg } from './lib/machine.js';
import { run, sleep } from './lib/proc.js';
import { parseArgs, type Options } from './lib/options.js';
import { ANSWER_MARKER, type AttachResult, type Job, type PathName, type WorkerAnswer } from './lib/protocol.js';
import { extraLines, fmt, get, num, table, targetsTable, type PathReport, type Target } from './lib/report.js';
import { addPhases, emptyPhases, phaseMedians, phaseSummaries, ratioSpread, splitReport, type PhaseSamples } from './lib/split.js';
import { median, perSecond, round, summarize, type Summary } from './lib/stats.js';
import { renderSvg } from './lib/svg.js';
import { FLOOR_BIN, FLOOR_DIR } from './paths/floor.js';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const SANDBOX = path.join(ROOT, 'test', 'sandbox.mjs');
const WORKER = path.join(BENCH, 'worker.ts');

const LABELS: Record<PathName, string> = {
  floor: 'floor (C, syscalls only)',
  ctnet: 'ctnet-fast (library)',
  'ctnet-prewarm': 'ctnet-fast, pre-warmed',
  'ctnet-plan': 'ctnet plan only (diagnostic)',
  iproute2: 'iproute2 (9 ip processes)',
  cni: 'CNI bridge + host-local',
  'cni-masq': 'CNI bridge, ipMasq',
  'floor-ipv6': 'floor, IPv6 link-local on',
  'cni-ctnet': 'ctnet-cni via the agent',
  'cni-ctnet-self': 'ctnet-cni self-contained',
  'cni-chain': 'CNI bridge+host-local+portmap',
  'ctnet-bypath': 'ctnet-fast, netns by path',
};
const MAIN_PATHS: readonly PathName[] = ['floor', 'ctnet', 'ctnet-plan', 'ctnet-prewarm', 'iproute2', 'cni', 'cni-masq'];

function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

/** cc -O2 the floor program; on failure the floor is reported unavailable (with why). */
function compileFloor(): string | null {
  try {
    run('cc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', FLOOR_BIN, path.join(FLOOR_DIR, 'floor.c')]);
    return null;
  } catch (err) {
    return `cannot compile bench/floor/floor.c: ${(err as Error).message}`;
  }
}

/** One job in one fresh net+mount namespace; resolves with the worker's answer. */
function worker(job: Job): Promise<WorkerAnswer> {
  const env = { ...process.env };
  delete env.CTNET_SANDBOX; // so test/sandbox.mjs makes fresh namespaces for this worker
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SANDBOX, process.execPath, '--expose-gc', '--import', 'tsx', WORKER, JSON.stringify(job)], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => { out += d; });
    child.on('error', (err) => resolve({ ok: false, unavailable: false, error: `cannot start worker: ${err.message}` }));
    child.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith(ANSWER_MARKER));
      if (line) {
        resolve(JSON.parse(line.slice(ANSWER_MARKER.length)) as WorkerAnswer);
        return;
      }
      const tail = out.trim().split('\n').slice(-3).join(' | ');
      resolve({ ok: false, unavailable: false, error: `worker exited ${code ?? signal} without an answer${tail ? `: ${tail}` : ''}` });
    });
  });
}

/**
 * The kernel reaps a worker's namespaces after it exits (cleanup_net), stalling netns
 * creation and rtnetlink meanwhile: let that finish before the next worker starts, longer
 * after workers that made more containers.
 */
const SETTLE_MS = 250;
function settleAfter(containers: number): Promise<void> {
  return sleep(Math.min(2000, SETTLE_MS + 4 * containers));
}

/** After the warm-up cycles (lib/options.ts WARMUP), a pause for the kernel to reap their namespaces before timing starts. */
const WARM_SETTLE_MS = 250;

interface Acc {
  attach: number[];
  detach: number[];
  roundAttach: number[];
  roundDetach: number[];
  /** the library paths: each timed attach's phases (lib/split.ts) */
  phases: PhaseSamples;
  status: 'ok' | 'unavailable' | 'failed';
  error?: string;
  info?: Record<string, unknown>;
}

function emptyAcc(o: Options): Map<PathName, Acc> {
  return new Map(o.paths.map((p) => [p, { attach: [], detach: [], roundAttach: [], roundDetach: [], phases: emptyPhases(), status: 'unavailable', error: 'not run (--only)' }]));
}

async function comparePaths(o: Options, floorError: string | null): Promise<Map<PathName, Acc>> {
  const acc = new Map<PathName, Acc>();
  for (const p of o.paths) acc.set(p, { attach: [], detach: [], roundAttach: [], roundDetach: [], phases: emptyPhases(), status: 'ok' });
  if (floorError) {
    for (const p of ['floor', 'floor-ipv6'] as const) {
      const a = acc.get(p);
      if (a) Object.assign(a, { status: 'unavailable', error: floorError });
    }
  }
  const perRound = Math.ceil(o.n / o.rounds);
  for (let r = 0; r < o.rounds; r++) {
    const order = o.paths.map((_, j) => o.paths[(j + r) % o.paths.length]!);
    for (const p of order) {
      const a = acc.get(p)!;
      if (a.status !== 'ok') continue;
      const t0 = performance.now();
      const ans = await worker({ kind: 'attach', path: p, n: perRound, warmup: o.warmup, prepopulate: 0, ...(o.warmup > 0 ? { settleMs: WARM_SETTLE_MS } : {}) });
      if (!ans.ok) {
        a.status = ans.unavailable ? 'unavailable' : 'failed';
        a.error = ans.error;
        progress(`round ${r + 1}/${o.rounds}: ${p} ${a.status}: ${ans.error}`);
        continue;
      }
      const res = ans.result as AttachResult;
      a.attach.push(...res.attach);
      a.detach.push(...res.detach);
      a.roundAttach.push(round(median(res.attach)));
      a.roundDetach.push(round(median(res.detach)));
      if (res.phases) addPhases(a.phases, res.phases);
      if (res.info) a.info = res.info;
      progress(`round ${r + 1}/${o.rounds}: ${p.padEnd(13)} ${perRound} containers, attach median ${fmt(median(res.attach))} ms (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      await settleAfter(perRound + o.warmup);
    }
  }
  return acc;
}

function buildReports(o: Options, acc: Map<PathName, Acc>): PathReport[] {
  const sum = new Map<PathName, { attach: Summary; detach: Summary }>();
  for (const [p, a] of acc) if (a.status === 'ok' && a.attach.length) sum.set(p, { attach: summarize(a.attach), detach: summarize(a.detach) });
  const ratio = (mine: Summary, theirs: Summary | undefined): number => (theirs ? round(mine.medianMs / theirs.medianMs, 2) : Number.NaN);
  const ctnet = sum.get('ctnet');
  const floor = sum.get('floor');
  const fa = acc.get('floor');
  return o.paths.map((p) => {
    const a = acc.get(p)!;
    const s = sum.get(p);
    const pm = phaseMedians(a.phases);
    return {
      name: p,
      label: LABELS[p],
      status: s ? 'ok' : a.status === 'ok' ? 'failed' : a.status,
      ...(a.error ? { error: a.error } : {}),
      n: a.attach.length,
      attach: s?.attach ?? null,
      detach: s?.detach ?? null,
      perSecond: s ? perSecond(a.attach) : null,
      vsCtnet: s && ctnet ? { attach: ratio(s.attach, ctnet.attach), detach: ratio(s.detach, ctnet.detach) } : null,
      vsFloor: s && floor ? { attach: ratio(s.attach, floor.attach), detach: ratio(s.detach, floor.detach) } : null,
      vsFloorRounds: s && floor && fa ? { attach: ratioSpread(a.roundAttach, fa.roundAttach), detach: ratioSpread(a.roundDetach, fa.roundDetach) } : null,
      roundMediansMs: { attach: a.roundAttach, detach: a.roundDetach },
      ...(pm ? { phasesMedianMs: pm, phases: phaseSummaries(a.phases) } : {}),
      ...(a.info ? { info: a.info } : {}),
    };
  });
}

/**
 * Without the pause, the timed attaches that follow 1,000 back-to-back ones pay for kernel
 * work those queued (3× slower for ~2 s, measured with the floor): the pause keeps that out.
 */
const SCALE_SETTLE_MS = 2000;

/** Attach cost with few vs ~1,000 ports on one bridge, each size in its own namespace. */
async function scaleBridge(o: Options): Promise<Record<string, unknown>> {
  const sizes = [10, 1000];
  const timed = 20, reps = 3;
  const paths: PathName[] = ['floor', 'ctnet', 'floor-ipv6'];
  const samples = new Map<string, number[]>();
  const errors: Record<string, string> = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const k of sizes) {
      for (const p of paths) {
        if (errors[p]) continue;
        const ans = await worker({ kind: 'attach', path: p, n: timed, warmup: o.warmup, prepopulate: k, settleMs: SCALE_SETTLE_MS });
        if (!ans.ok) {
          errors[p] = ans.error;
          progress(`scale: ${p} at ${k} ports: ${ans.error}`);
          continue;
        }
        const key = `${p}@${k}`;
        samples.set(key, [...(samples.get(key) ?? []), ...(ans.result as AttachResult).attach]);
        progress(`scale ${rep + 1}/${reps}: ${p} with ${k} ports on the bridge: attach median ${fmt(median((ans.result as AttachResult).attach))} ms`);
        await settleAfter(k + timed);
      }
    }
  }
  const out: Record<string, unknown> = {
    timedPerSize: timed * reps,
    note: `attach of ${timed} more containers with K already on the bridge (max 1023 ports), after a ${SCALE_SETTLE_MS} ms pause for the kernel work the K attaches queued; ${reps} fresh namespaces per size`,
  };
  for (const p of paths) {
    if (errors[p]) {
      out[p] = { error: errors[p] };
      continue;
    }
    const row: Record<string, unknown> = {};
    for (const k of sizes) row[`at${k}`] = summarize(samples.get(`${p}@${k}`) ?? []);
    const at10 = median(samples.get(`${p}@10`) ?? []), at1000 = median(samples.get(`${p}@1000`) ?? []);
    row.growth = round(at1000 / at10, 2);
    out[p] = row;
  }
  return out;
}

function summaryOf(v: unknown): Summary | null {
  return Array.isArray(v) && v.length ? summarize(v as number[]) : null;
}

/** Publish cost at 10 vs 10,000 published ports, spread over containers and all on one. */
async function publishCost(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const layout of ['spread', 'one'] as const) {
    const ans = await worker({ kind: 'publish', sizes: [10, 10000], samples: 50, layout });
    if (!ans.ok) {
      out[layout] = { error: ans.error, unavailable: ans.unavailable };
      continue;
    }
    const r = ans.result as { sizes: Array<{ ports: number; samples: number[] }> };
    const row: Record<string, unknown> = {};
    for (const s of r.sizes) row[`at${s.ports}`] = summaryOf(s.samples);
    const m = (ports: number): number => median(r.sizes.find((s) => s.ports === ports)?.samples ?? []);
    row.growth = round(m(10000) / m(10), 2);
    out[layout] = row;
    await settleAfter(layout === 'spread' ? 1000 : 10);
  }
  out.note = 'one-port publishes timed with 10 / 10,000 ports already published; spread: 10 per container on 1,000 other containers, timed on a fresh one; one: all on the timed container';
  return out;
}

async function nftStep(o: Options): Promise<Record<string, unknown>> {
  const ans = await worker({ kind: 'nft', n: o.quick ? 30 : 200 });
  if (!ans.ok) return { error: ans.error };
  const r = ans.result as { nftVersion: string; process: { runner: string; samples: number[] }; inProcess: { runner?: string; samples?: number[]; unavailable?: string } };
  const proc = summaryOf(r.process.samples);
  const inproc = summaryOf(r.inProcess.samples);
  return {
    nftVersion: r.nftVersion,
    process: { runner: r.process.runner, ...proc },
    inProcess: inproc ? { runner: r.inProcess.runner, ...inproc } : { unavailable: r.inProcess.unavailable },
    ratio: proc && inproc ? round(proc.medianMs / inproc.medianMs, 1) : null,
  };
}

/** Attaches/s with C in flight: ctnet-fast (its own async API) beside the floor (C threads). */
async function concurrency(o: Options): Promise<Record<string, unknown>> {
  const n = o.quick ? 50 : 400;
  const levels: unknown[] = [];
  let ctnetError: string | undefined;
  for (const c of [1, 2, 4, 8]) {
    const row: Record<string, unknown> = { inFlight: c, n };
    const f = await worker({ kind: 'attach', path: 'floor', n, warmup: o.warmup, prepopulate: 0, inFlight: c });
    if (f.ok) {
      const r = f.result as AttachResult;
      const wall = Number(r.info?.attachWallMs);
      row.floor = { perSecond: round((n * 1000) / wall, 1), wallMs: round(wall, 2), latency: summarize(r.attach) };
    } else {
      row.floor = { error: f.error };
    }
    await settleAfter(n);
    if (!ctnetError) {
      const ans = await worker({ kind: 'concurrency', levels: [c], n, warmup: o.warmup });
      if (ans.ok) {
        const l = (ans.result as { levels: Array<Record<string, unknown>> }).levels[0] ?? {};
        row.ctnet = { perSecond: l.perSecond, wallMs: l.wallMs, latency: summaryOf(l.latency) };
      } else {
        ctnetError = ans.error;
      }
      await settleAfter(n);
    }
    if (ctnetError) row.ctnet = { error: ctnetError };
    progress(`concurrency ${c} in flight: floor ${fmt(num(get(row, 'floor', 'perSecond')), 0)}/s, ctnet ${fmt(num(get(row, 'ctnet', 'perSecond')), 0)}/s`);
    levels.push(row);
  }
  return { note: 'n attaches on a fresh bridge with C in flight; perSecond = n / wall time of the attach phase', levels };
}

async function churn(o: Options): Promise<Record<string, unknown>> {
  progress(`churn: ${o.churnCycles} attach/detach cycles`);
  const ans = await worker({ kind: 'churn', cycles: o.churnCycles });
  if (!ans.ok) return { error: ans.error, unavailable: ans.unavailable };
  const r = ans.result as {
    cycles: number; withPublish: boolean; wallMs: number; cycleMs: number[];
    before: Record<string, number>; after: Record<string, number>; delta: Record<string, number>;
    memorySeries: Array<{ cycles: number; rssBytes: number; heapUsedBytes: number }>;
    newFds: string[];
    secondHalfDelta?: Record<string, number>;
    secondHalfNewFds?: string[];
  };
  const mib = (b: number): number => round(b / 1048576, 2);
  const leaks = { links: r.delta.links, netns: r.delta.netnsFiles, netnsMounts: r.delta.netnsMounts, addresses: r.delta.addresses, nftRules: r.delta.nftRules, nftElements: r.delta.nftElements, fds: r.delta.fds };
  return {
    cycles: r.cycles,
    withPublish: r.withPublish,
    wallMs: r.wallMs,
    cycle: summaryOf(r.cycleMs),
    leaks,
    newFds: r.newFds,
    // The same counts over the second half only: a real leak grows there too, a handle cached once does not.
    secondHalfLeaks: r.secondHalfDelta ? { links: r.secondHalfDelta.links, netns: r.secondHalfDelta.netnsFiles, netnsMounts: r.secondHalfDelta.netnsMounts, addresses: r.secondHalfDelta.addresses, nftRules: r.secondHalfDelta.nftRules, nftElements: r.secondHalfDelta.nftElements, fds: r.secondHalfDelta.fds } : null,
    secondHalfNewFds: r.secondHalfNewFds ?? null,
    rssGrowthMiB: mib(r.delta.rssBytes ?? 0),
    heapUsedGrowthMiB: mib(r.delta.heapUsedBytes ?? 0),
    memorySeriesMiB: r.memorySeries.map((m) => ({ cycles: m.cycles, rss: mib(m.rssBytes), heapUsed: mib(m.heapUsedBytes) })),
    before: r.before,
    after: r.after,
  };
}

function targets(reports: readonly PathReport[], extra: Record<string, Record<string, unknown> | null>): Target[] {
  const by = (n: string): PathReport | undefined => reports.find((r) => r.name === n && r.status === 'ok');
  const ctnet = by('ctnet'), floor = by('floor');
  const t = (name: string, target: string, value: number | null, ok: (v: number) => boolean, note?: string): Target => ({
    name, target, value, pass: value === null ? null : ok(value), ...(note ? { note } : {}),
  });
  const slower = (n: string): number | null => {
    const p = by(n);
    return p?.attach && ctnet?.attach ? round(p.attach.medianMs / ctnet.attach.medianMs, 2) : null;
  };
  const ratio = (a: string, b: string, ms: (p: PathReport) => number | undefined): number | null => {
    const x = by(a), y = by(b);
    const va = x && ms(x), vb = y && ms(y);
    return va !== undefined && vb !== undefined && vb > 0 ? round(va / vb, 2) : null;
  };
  const scale = extra.scale;
  const ctnetAt1000 = num(get(scale, 'ctnet', 'at1000', 'medianMs'));
  const floorAt1000 = num(get(scale, 'floor', 'at1000', 'medianMs'));
  const leaks = get(extra.churn, 'leaks') as Record<string, number> | undefined;
  const leakSum = leaks ? Object.values(leaks).reduce((a, v) => a + Math.abs(v), 0) : null;
  const best = (get(extra.concurrency, 'levels') as unknown[] | undefined)?.reduce<number>((m, l) => Math.max(m, num(get(l, 'ctnet', 'perSecond')) ?? 0), 0);
  return [
    t('attach median vs the floor', '≤ 1.25×', ctnet?.attach && floor?.attach ? round(ctnet.attach.medianMs / floor.attach.medianMs, 2) : null, (v) => v <= 1.25),
    t('faster than the iproute2 path', '≥ 30×', slower('iproute2'), (v) => v >= 30),
    t('faster than CNI bridge (no masquerade)', '≥ 12×', slower('cni'), (v) => v >= 12),
    t('faster than CNI bridge with ipMasq', '≥ 25×', slower('cni-masq'), (v) => v >= 25),
    t('CNI ADD: reference chain vs ctnet-cni (agent)', '≥ 5×', ratio('cni-chain', 'cni-ctnet', (p) => p.attach?.medianMs), (v) => v >= 5),
    t('CNI ADD+DEL: reference chain vs ctnet-cni (agent)', '≥ 10×', ratio('cni-chain', 'cni-ctnet', (p) => p.attach && p.detach ? p.attach.medianMs + p.detach.medianMs : undefined), (v) => v >= 10),
    t('CNI ADD (agent) vs the library attach', '≤ 2.5×', ratio('cni-ctnet', 'ctnet-bypath', (p) => p.attach?.medianMs), (v) => v <= 2.5, 'netns by path, made untimed; one published port each'),
    t('detach median', '≤ 0.3 ms', ctnet?.detach?.medianMs ?? null, (v) => v <= 0.3),
    t('attaches per second, one at a time', '≥ 800/s', ctnet?.perSecond ?? null, (v) => v >= 800, '1000 / mean attach of the main comparison'),
    t('attaches per second, best of 1–8 in flight', '≥ 800/s', best ? round(best, 1) : null, (v) => v >= 800, 'n / wall time, fresh bridge'),
    t('publish at 10,000 ports vs at 10 (spread)', '≤ 1.2×', num(get(extra.publish, 'spread', 'growth')), (v) => v <= 1.2, '10 per container'),
    t('publish at 10,000 ports vs at 10 (one ctr)', '≤ 1.2×', num(get(extra.publish, 'one', 'growth')), (v) => v <= 1.2, 'all on the timed container'),
    t('attach at 1,000 ports vs the floor at 1,000', '≤ 1.25×', ctnetAt1000 !== null && floorAt1000 !== null ? round(ctnetAt1000 / floorAt1000, 2) : null, (v) => v <= 1.25),
    t('churn: leaked links/netns/addrs/rules/fds', '= 0', leakSum, (v) => v === 0),
    t('churn: RSS growth (MiB)', '< 10', num(get(extra.churn, 'rssGrowthMiB')), (v) => v < 10),
  ];
}

function svgSubtitle(machine: { cpus: number; cpuModel: string; kernel: string; node: string; date: string }, n: number): string {
  return `${machine.cpus}× ${machine.cpuModel}, Linux ${machine.kernel}, node ${machine.node} · ${n} containers per path · ${machine.date.slice(0, 16)}Z`;
}

/** --render FILE.json: redraw the chart of an earlier run (no namespaces, no root needed). */
function renderOnly(file: string): void {
  const r = JSON.parse(readFileSync(file, 'utf8')) as {
    machine: Parameters<typeof svgSubtitle>[0];
    options: { n: number };
    paths: Array<{ name: PathName }>;
    samples: Record<string, { attach: number[]; detach: number[] }>;
  };
  const series = r.paths.map((p) => ({ name: LABELS[p.name] ?? p.name, attach: r.samples[p.name]?.attach ?? [], detach: r.samples[p.name]?.detach ?? [] }));
  const out = file.replace(/\.json$/, '.svg');
  writeFileSync(out, renderSvg(series, svgSubtitle(r.machine, r.options.n)));
  process.stdout.write(`wrote ${out}\n`);
}

async function main(): Promise<void> {
  const renderAt = process.argv.indexOf('--render');
  if (renderAt > 0) {
    renderOnly(path.resolve(process.argv[renderAt + 1] ?? ''));
    return;
  }
  const o = parseArgs(process.argv.slice(2), { mainPaths: MAIN_PATHS, outDir: path.join(BENCH, 'results') });
  const started = performance.now();
  const machine = describeMachine();
  progress(`${o.quick ? 'quick run' : 'full run'}: ${o.n} containers per path in ${o.rounds} rounds, paths ${o.paths.join(', ')}`);
  const floorError = compileFloor();
  if (floorError) progress(floorError);

  const acc = o.parts.has('compare') ? await comparePaths(o, floorError) : emptyAcc(o);
  const reports = buildReports(o, acc);

  const extra: Record<string, Record<string, unknown> | null> = { scale: null, publish: null, nftStep: null, concurrency: null, churn: null };
  if (o.parts.has('nft')) extra.nftStep = await nftStep(o);
  if (o.parts.has('concurrency')) extra.concurrency = await concurrency(o);
  if (o.parts.has('scale')) extra.scale = await scaleBridge(o);
  if (o.parts.has('publish')) extra.publish = await publishCost();
  if (o.parts.has('churn')) extra.churn = await churn(o);

  const goals = targets(reports, extra);

  const floorSteps = reports.find((r) => r.name === 'floor')?.info?.stepsMedianMs;
  const split = splitReport(reports);
  const result = {
    schema: 'ctnet-fast-bench/1',
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    quick: o.quick,
    options: { n: o.n, rounds: o.rounds, perRound: Math.ceil(o.n / o.rounds), warmupPerWorker: o.warmup, pauseAfterWarmupMs: o.warmup > 0 ? WARM_SETTLE_MS : 0 },
    machine,
    method: 'each path-round in its own fresh net+mount namespace (test/sandbox.mjs), paths interleaved with the order rotating each round; attach = netns + veth on the bridge + address + default route + links up; detach = what a user of that path runs; times from the caller (performance.now / CLOCK_MONOTONIC)',
    headline: split.headline,
    attachSplit: split.attachSplit,
    paths: reports,
    floorStepsMedianMs: floorSteps ?? null,
    ...extra,
    targets: goals,
    samples: Object.fromEntries(o.paths.map((p) => [p, { attach: acc.get(p)!.attach.map((v) => round(v)), detach: acc.get(p)!.detach.map((v) => round(v)) }])),
    wallSeconds: round((performance.now() - started) / 1000, 1),
    loadAvgAtEnd: loadAvg(),
  };

  const svg = renderSvg(o.paths.map((p) => ({ name: LABELS[p], attach: acc.get(p)!.attach, detach: acc.get(p)!.detach })), svgSubtitle(machine, o.n));
  mkdirSync(o.outDir, { recursive: true });
  const outs = [['latest.json', `${JSON.stringify(result, null, 1)}\n`], ['latest.svg', svg]] as const;
  for (const [file, text] of outs) {
    writeFileSync(path.join(o.outDir, file), text);
    if (o.saveSample) writeFileSync(path.join(o.outDir, file.replace('latest', 'sample')), text);
  }

  const lines = [
    '',
    `ctnet-fast benchmark — ${machine.cpus}× ${machine.cpuModel}, Linux ${machine.kernel}, node ${machine.node}, ${machine.iproute2}, ${machine.cniPlugins}`,
    `${o.n} containers per path, ${o.rounds} interleaved rounds, each in a fresh net+mount namespace, after ${o.warmup} untimed attach/detach cycles per worker. Times per container in ms.`,
    '',
    table(reports),
    '',
    ...split.lines,
  ];
  const ctInfo = reports.find((r) => r.name === 'ctnet')?.info;
  if (ctInfo) lines.push('', `ctnet-fast ran with backend ${String(ctInfo.backend)}, firewall ${String(ctInfo.firewall)}`);
  lines.push(`load average at start ${machine.loadAvgAtStart}, at end ${result.loadAvgAtEnd} (other work on the machine widens every distribution)`);
  lines.push(...extraLines(extra));
  lines.push('', 'targets (ratios inside this run):', targetsTable(goals), '', `wrote ${path.relative(process.cwd(), path.join(o.outDir, 'latest.json'))} and latest.svg in ${result.wallSeconds} s`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
