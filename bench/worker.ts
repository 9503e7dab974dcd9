/**
 * bench/worker.ts — measures one job inside its own fresh net+mount namespace.
 *
 * Started by bench/run.ts through test/sandbox.mjs (fresh netns with only lo, private
 * tmpfs on /run), it refuses to run anywhere else. Prints progress on stderr and its
 * answer as one JSON line on stdout (lib/protocol.ts). Whatever it creates dies with its
 * namespace; it still detaches what it attached, because that is what is being timed.
 *
 * Usage: node --import tsx bench/worker.ts '<job JSON>'
 */
import { readFileSync } from 'node:fs';
import { inSandbox } from '../test/helpers/sandbox.js';
import { census, memory, newFdTargets, type Census } from './lib/census.js';
import { run, sleep } from './lib/proc.js';
import { ANSWER_MARKER, type AttachJob, type AttachResult, type ChurnJob, type ConcurrencyJob, type Job, type NftJob, type PublishJob, type WorkerAnswer } from './lib/protocol.js';
import { hasPhases } from './lib/split.js';
import { round } from './lib/stats.js';
import { cniPath } from './paths/cni.js';
import { cniCtnetPath } from './paths/cni-ctnet.js';
import { cniChainPath } from './paths/cni-chain.js';
import { ctnetByPathPath } from './paths/ctnet-bypath.js';
import type { Endpoint, Host } from '../src/index.js';
import { backendsOf, ctnetPath, ctnetPlanPath, openLibrary } from './paths/ctnet.js';
import { runFloor } from './paths/floor.js';
import { iproute2Path } from './paths/iproute2.js';
import { nftElementCount, nftProcessApply, nftSetup, nftVersion, timeElementAdds } from './paths/nft.js';
import type { ContainerPath } from './paths/types.js';
import { Unavailable } from './paths/unavailable.js';

function progress(msg: string): void {
  process.stderr.write(`  [worker ${process.pid}] ${msg}\n`);
}

/** Safety: only ever work in a namespace the sandbox just made (not the machine's, and empty). */
function checkFresh(): void {
  if (!inSandbox()) throw new Error('worker: not inside test/sandbox.mjs (or still in the machine\'s netns); refusing to touch this namespace');
  const links = JSON.parse(run('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
  const others = links.map((l) => l.ifname).filter((n) => n !== 'lo');
  if (others.length > 0) throw new Error(`worker: this netns is not fresh (links: ${others.join(', ')}); refusing to run`);
  const runMount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f[4] === '/run').pop();
  if (!runMount || !runMount.includes('tmpfs')) throw new Error('worker: /run is not the sandbox tmpfs; refusing to run');
}

function nodePath(name: AttachJob['path'], count: number): ContainerPath {
  switch (name) {
    case 'iproute2': return iproute2Path();
    case 'cni': return cniPath({ ipMasq: false });
    case 'cni-masq': return cniPath({ ipMasq: true });
    case 'cni-ctnet': return cniCtnetPath({ agent: true });
    case 'cni-ctnet-self': return cniCtnetPath({ agent: false });
    case 'cni-chain': return cniChainPath();
    case 'ctnet-bypath': return ctnetByPathPath();
    case 'ctnet': return ctnetPath({ prewarm: false, count });
    case 'ctnet-prewarm': return ctnetPath({ prewarm: true, count });
    case 'ctnet-plan': return ctnetPlanPath();
    default: throw new Error(`no Node path named ${name}`);
  }
}

async function runAttach(job: AttachJob): Promise<AttachResult> {
  if (job.path === 'floor' || job.path === 'floor-ipv6') return runFloor(job);
  const p = nodePath(job.path, job.n + job.prepopulate);
  await p.setup();
  try {
    let i = 0;
    for (let w = 0; w < job.warmup; w++, i++) {
      await p.prepare?.(i);
      await p.attach(i);
      await p.detach(i);
      await p.cleanup?.(i);
    }
    const pre: number[] = [];
    for (let k = 0; k < job.prepopulate; k++, i++) {
      await p.prepare?.(i);
      await p.attach(i);
      pre.push(i);
      if (k % 250 === 249) progress(`${p.name}: ${k + 1}/${job.prepopulate} pre-populated`);
    }
    if (job.settleMs) await sleep(job.settleMs);
    const ids: number[] = [];
    const attach: number[] = [];
    for (let k = 0; k < job.n; k++, i++) {
      await p.prepare?.(i);
      const t0 = performance.now();
      await p.attach(i);
      attach.push(performance.now() - t0);
      ids.push(i);
    }
    const detach: number[] = [];
    for (const id of ids) {
      const t0 = performance.now();
      await p.detach(id);
      detach.push(performance.now() - t0);
      await p.cleanup?.(id);
    }
    for (const id of pre) { await p.detach(id); await p.cleanup?.(id); }
    return { attach, detach, info: p.info(), ...(hasPhases(p) ? { phases: p.attachPhases(ids) } : {}) };
  } finally {
    await p.close();
  }
}

/**
 * Publish cost at each size: fill up to `size` published ports (untimed), then time
 * `samples` one-port publishes. 'one': every port on the timed container (cost that grows
 * with a container's own ports); 'spread': 10 per filler container and the timed ones on a
 * fresh container (cost that grows with the host's published ports: map size, store size).
 */
async function runPublish(job: PublishJob): Promise<unknown> {
  const { host, net } = await openLibrary();
  try {
    const spec = (k: number): string => `${10000 + k}:80/tcp`;
    let published = 0;
    let fillers = 0;
    const one = await net.attach({ netns: 'bp-one' });
    const out: Array<{ ports: number; samples: number[] }> = [];
    for (const size of [...job.sizes].sort((a, b) => a - b)) {
      while (published < size) {
        const chunk: string[] = [];
        const per = job.layout === 'one' ? 500 : 10;
        for (let k = 0; k < per && published < size; k++) chunk.push(spec(published++));
        const target = job.layout === 'one' ? one : await net.attach({ netns: `bp-fill${fillers++}` });
        await target.publish(chunk);
      }
      const timed = job.layout === 'one' ? one : await net.attach({ netns: `bp-timed${size}` });
      const samples: number[] = [];
      for (let s = 0; s < job.samples; s++) {
        const t0 = performance.now();
        await timed.publish([spec(published++)]);
        samples.push(performance.now() - t0);
      }
      out.push({ ports: size, samples });
      progress(`publish (${job.layout}): timed at ${size} ports`);
    }
    return { layout: job.layout, sizes: out, ...backendsOf(host) };
  } finally {
    await host.close();
  }
}

/** The nft step alone: an `nft` process (the library's fallback) vs the library's in-process call. */
async function runNft(job: NftJob): Promise<unknown> {
  await nftSetup();
  const processSamples = await timeElementAdds(nftProcessApply, job.n, 3, 0);
  const landed = nftElementCount();
  if (landed !== job.n + 3) throw new Error(`nft: expected ${job.n + 3} elements in the set, found ${landed}`);
  const inProcess = await nftInProcess(job.n);
  return {
    nftVersion: nftVersion(),
    process: { runner: 'src/firewall/nft-process.ts: execa nft -j -f FILE', samples: processSamples },
    inProcess,
  };
}

/**
 * The same element add through the library's in-process libnftables: the native backend's
 * `run()` with a one-step plan (src/native/contract.ts), as the topology embeds it.
 */
async function nftInProcess(n: number): Promise<Record<string, unknown>> {
  let lib: { host: Host };
  try {
    lib = await openLibrary();
  } catch (err) {
    return { unavailable: (err as Error).message };
  }
  const { host } = lib;
  try {
    const apply = async (json: string): Promise<void> => {
      const [r] = await host.backend.run({ steps: [{ kind: 'nft', ns: { self: true }, json }] });
      if (!r?.ok) throw new Error(`in-process nft step failed: ${JSON.stringify(r)}`);
    };
    const samples = await timeElementAdds(apply, n, 3, 100000);
    return { runner: `Host.backend.run(): one nft step (${JSON.stringify(backendsOf(host))})`, samples };
  } finally {
    await host.close();
  }
}

function diff(a: Census, b: Census): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(a)) if (typeof v === 'number') out[k] = (b[k as keyof Census] as number) - v;
  return out;
}

/** A census without the fd list (kept out of the JSON; only new fds are named). */
function counts(c: Census): Omit<Census, 'fdTargets'> {
  const { fdTargets: _, ...rest } = c;
  return rest;
}

/** Churn: N attach(+publish)/detach cycles; then everything must be back where it was. */
async function runChurn(job: ChurnJob): Promise<unknown> {
  const { host, net } = await openLibrary();
  try {
    let withPublish = true;
    const cycle = async (i: number): Promise<void> => {
      const ep: Endpoint = await net.attach({ netns: `bz${i}`, ...(withPublish ? { publish: [`${20000 + (i % 20000)}:80/tcp`] } : {}) });
      await ep.detach();
    };
    // Warm-up, so lazily made things (nft table, contexts, state db pages) are in the baseline.
    try {
      await cycle(0);
    } catch (err) {
      withPublish = false;
      progress(`churn: attach with publish failed (${(err as Error).message}); churning without publish`);
      await cycle(0);
    }
    for (let i = 1; i < 50; i++) await cycle(i);
    await settle();
    (globalThis as { gc?: () => void }).gc?.();
    const before = census();
    const times: number[] = [];
    const memorySeries: Array<{ cycles: number; rssBytes: number; heapUsedBytes: number }> = [];
    // A census half-way too: a leak grows with the cycles, a lazily cached handle does not.
    let mid: Census | undefined;
    let paused = 0;
    const t0 = performance.now();
    for (let i = 50; i < 50 + job.cycles; i++) {
      const c0 = performance.now();
      await cycle(i);
      times.push(performance.now() - c0);
      const done = i - 49;
      if (done === Math.floor(job.cycles / 2)) {
        const p0 = performance.now();
        await settle();
        (globalThis as { gc?: () => void }).gc?.();
        mid = census();
        paused += performance.now() - p0;
      }
      if (done % 1000 === 0 || done === job.cycles) {
        (globalThis as { gc?: () => void }).gc?.();
        const m = memory();
        memorySeries.push({ cycles: done, rssBytes: m.rssBytes, heapUsedBytes: m.heapUsedBytes });
        progress(`churn: ${done}/${job.cycles} cycles, RSS ${(m.rssBytes / 1048576).toFixed(1)} MiB, heap ${(m.heapUsedBytes / 1048576).toFixed(1)} MiB`);
      }
    }
    const wallMs = performance.now() - t0 - paused;
    await settle();
    (globalThis as { gc?: () => void }).gc?.();
    const after = census();
    return { ...backendsOf(host), cycles: job.cycles, withPublish, wallMs: round(wallMs, 1), cycleMs: times,
      before: counts(before), after: counts(after), delta: diff(before, after), newFds: newFdTargets(before.fdTargets, after.fdTargets), memorySeries,
      ...(mid ? { secondHalfDelta: diff(mid, after), secondHalfNewFds: newFdTargets(mid.fdTargets, after.fdTargets) } : {}) };
  } finally {
    await host.close();
  }
}

/** Wait (bounded) until the kernel has reaped detached netns and their veths. */
async function settle(): Promise<void> {
  let last = -1;
  for (let t = 0; t < 100; t++) {
    const links = (JSON.parse(run('ip', ['-j', 'link', 'show'])) as unknown[]).length;
    if (links === last) return;
    last = links;
    await sleep(200);
  }
}

/** Throughput with C attaches in flight (the library's own concurrency). */
async function runConcurrency(job: ConcurrencyJob): Promise<unknown> {
  const { host, net } = await openLibrary();
  try {
    const levels: Array<Record<string, unknown>> = [];
    let next = 0;
    // untimed warm-up, as the attach jobs have (the first attaches of a process are cold)
    for (const end = next + (job.warmup ?? 0); next < end; next++) await (await net.attach({ netns: `bq${next}` })).detach();
    if (job.warmup) await settle();
    for (const c of job.levels) {
      const eps: Endpoint[] = [];
      const lat: number[] = [];
      let issued = 0;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: c }, async () => {
        while (issued < job.n) {
          issued++;
          const a0 = performance.now();
          eps.push(await net.attach({ netns: `bq${next++}` }));
          lat.push(performance.now() - a0);
        }
      }));
      const wallMs = performance.now() - t0;
      for (const ep of eps) await ep.detach();
      levels.push({ inFlight: c, n: job.n, wallMs: round(wallMs, 2), perSecond: round((job.n * 1000) / wallMs, 1), latency: lat });
      progress(`concurrency ${c}: ${round((job.n * 1000) / wallMs, 1)} attaches/s`);
      await settle();
    }
    return { levels, ...backendsOf(host) };
  } finally {
    await host.close();
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as Job;
  let answer: WorkerAnswer;
  try {
    checkFresh();
    let result: unknown;
    switch (job.kind) {
      case 'attach': result = await runAttach(job); break;
      case 'publish': result = await runPublish(job); break;
      case 'nft': result = await runNft(job); break;
      case 'churn': result = await runChurn(job); break;
      case 'concurrency': result = await runConcurrency(job); break;
    }
    answer = { ok: true, result };
  } catch (err) {
    const e = err as Error;
    answer = { ok: false, unavailable: e instanceof Unavailable, error: e.message };
  }
  process.stdout.write(`${ANSWER_MARKER}${JSON.stringify(answer)}\n`);
}

await main();
// The library may keep handles (threads, sockets) open; the answer is out, so leave.
process.exit(0);
