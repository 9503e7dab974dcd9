/**
 * bench/cli.ts — `npm run bench:cli [-- OPTIONS]`: what a `ctnet-fast` command costs from a
 * shell, against the issue's budgets, with Node's own start-up (`node -e 0`) as the yardstick.
 *
 * Runs inside test/sandbox.mjs (fresh net+mount namespace, private tmpfs on /run): every
 * netns, bridge, firewall rule and the daemon's socket live and die with it.
 *
 * Single commands — interleaved round by round (the order rotates each round, so drift of
 * the VM hits every variant alike), each attach on a fresh netns name:
 *   node -e 0                               the baseline
 *   ctnet-fast version                      budget ≤ 1.3 × node -e 0
 *   ctnet-fast attach NS --network N        run in the process (CTNET_DAEMON=off)
 *   ctnet-fast attach NS --network N        sent to a running daemon (`daemon start` first)
 *                                           budget for a single attach: ≤ node -e 0 + 5 ms
 * each with NODE_EXTRA_CA_CERTS unset and set to the system CA bundle (Node loads the
 * bundle at start-up, before any of our code: the machines here set it).
 * The local and the daemon attaches use separate state dirs and networks: a write by another
 * process makes the daemon re-check its cached kernel facts (Host.refresh), a cost a script
 * that sends everything through the daemon never pays.
 *
 * Bulk — `ctnet-fast attach --network N --from-file LIST` with 100 netns in one process
 * (CTNET_DAEMON=off) against the library doing the same in this process (Host.open →
 * network → attachMany → close, the module already loaded), plus node -e 0 in each round;
 * budget: CLI ≤ 2 × library + one start-up. Everything detached (netns deleted) between runs.
 *
 * Besides (untimed): a few --verbose attaches each way, for the split the CLI reports itself
 * (start-up → CLI ready, Host.open, the attach; the attach inside the daemon).
 *
 * Options: --rounds R (30) --warmup W (3) --diagnostics N (10) --bulk-rounds R (5) --bulk-n N (100) --out DIR
 * Writes DIR/cli.json (default bench/results); table on stdout, progress on stderr.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertSandbox } from '../test/helpers/sandbox.js';
import { wholeNumberAfter } from './lib/args.js';
import { describeMachine, loadAvg } from './lib/machine.js';
import { sleep } from './lib/proc.js';
import { fmt, get, num } from './lib/report.js';
import { median, round, summarize, type Summary } from './lib/stats.js';

assertSandbox();

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const BIN = path.join(ROOT, 'bin', 'ctnet-fast.cjs');
const BUNDLE = path.join(ROOT, 'dist', 'bundle', 'cli.cjs');
const CA_FILE = '/etc/ssl/certs/ca-certificates.crt';

/** One state dir for the bench, a sub-dir per writer (see the header). 10.244.0.0/16 is used nowhere else in bench/. */
const STATE = '/run/ctnet-bench-cli';
interface Side {
  readonly stateDir: string;
  readonly network: string;
  readonly subnet: string;
  /** The environment of this side's commands. */
  env(ca: Ca): NodeJS.ProcessEnv;
  /** The netns attached on this side so far (all detached at the end). */
  readonly names: string[];
}
const LOCAL: Side = {
  stateDir: `${STATE}/local`, network: 'cli-local', subnet: '10.244.0.0/17', names: [],
  env: (ca) => childEnv(ca, { CTNET_DAEMON: 'off', CTNET_STATE_DIR: LOCAL.stateDir }),
};
const DAEMON: Side = {
  stateDir: `${STATE}/daemon`, network: 'cli-daemon', subnet: '10.244.128.0/17', names: [],
  env: (ca) => childEnv(ca, { CTNET_STATE_DIR: DAEMON.stateDir }),
};

/** Budgets (issue): ratios and differences against node -e 0 measured in the same run. */
const VERSION_RATIO = 1.3;
const ATTACH_EXTRA_MS = 5;
const BULK_LIB_FACTOR = 2;

interface Options {
  rounds: number;
  diagnostics: number;
  warmup: number;
  bulkRounds: number;
  bulkN: number;
  outDir: string;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { rounds: 30, diagnostics: 10, warmup: 3, bulkRounds: 5, bulkN: 100, outDir: path.join(BENCH, 'results') };
  const whole = (i: number, name: string): number => wholeNumberAfter(argv, i, name);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--rounds': o.rounds = Math.max(1, whole(i++, a)); break;
      case '--warmup': o.warmup = whole(i++, a); break;
      case '--diagnostics': o.diagnostics = whole(i++, a); break;
      case '--bulk-rounds': o.bulkRounds = whole(i++, a); break;
      case '--bulk-n': o.bulkN = Math.max(1, whole(i++, a)); break;
      case '--out': o.outDir = path.resolve(argv[++i] ?? ''); break;
      case '--help':
        process.stdout.write('usage: npm run bench:cli -- [--rounds R] [--warmup W] [--diagnostics N] [--bulk-rounds R] [--bulk-n N] [--out DIR]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a} (try --help)`);
    }
  }
  return o;
}

function progress(msg: string): void {
  process.stderr.write(`bench:cli: ${msg}\n`);
}

// ---------------------------------------------------------------------------------------
// Running commands

type Ca = 'unset' | 'set';
const CA_LABEL: Record<Ca, string> = { unset: 'NODE_EXTRA_CA_CERTS unset', set: `NODE_EXTRA_CA_CERTS=${CA_FILE}` };

/** The children's environment: ours minus anything that changes Node's start-up or the CLI, plus the variant's. */
function childEnv(ca: Ca, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'CTNET_DAEMON', 'CTNET_STATE_DIR', 'CTNET_BACKEND', 'FORCE_COLOR']) delete env[k];
  env.NO_COLOR = '1';
  if (ca === 'set') env.NODE_EXTRA_CA_CERTS = CA_FILE;
  return { ...env, ...extra };
}

interface Ran { ms: number; stdout: string; stderr: string }

/**
 * Run `node ARGS…` and wait for it (spawnSync: no event-loop round trips in the timing);
 * the time is the caller's wall clock from spawn to exit. Any failure aborts the run.
 */
function node(args: readonly string[], env: NodeJS.ProcessEnv): Ran {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - t0;
  if (r.error) throw new Error(`node ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`node ${args.join(' ')}: exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

function cli(args: readonly string[], env: NodeJS.ProcessEnv): Ran {
  return node([BIN, ...args], env);
}

/**
 * `ctnet-fast attach NETNS --network N [extra…]` on one side; it must have printed its
 * endpoint on our network, whatever path it took. Records NETNS for the detach at the end.
 */
function attach(side: Side, netns: string, ca: Ca, extra: readonly string[] = []): Ran {
  const r = cli(['attach', netns, '--network', side.network, ...extra], side.env(ca));
  if (!r.stdout.includes(netns) || !r.stdout.includes('10.244.')) {
    throw new Error(`attach ${netns}: unexpected output: ${r.stdout.trim().slice(0, 300)}`);
  }
  side.names.push(netns);
  return r;
}

interface DaemonCounts { pid: number; served: number; declined: number }
function daemonCounts(): DaemonCounts {
  const s = JSON.parse(cli(['daemon', 'status', '--json'], DAEMON.env('unset')).stdout) as DaemonCounts;
  return { pid: s.pid, served: s.served, declined: s.declined };
}

let daemonRunning = false;
function stopDaemon(): void {
  if (!daemonRunning) return;
  daemonRunning = false;
  try {
    cli(['daemon', 'stop'], DAEMON.env('unset'));
  } catch (err) {
    progress(`daemon stop: ${(err as Error).message}`);
  }
}

/**
 * The kernel reaps deleted netns in the background (cleanup_net, under the rtnl lock): the
 * longest pause bench/run.ts uses, so the next timed command does not pay for the last
 * hundred (with 650 ms the in-process attachMany of 100 still varied 150–270 ms).
 */
const SETTLE_MS = 2000;

/** Detach (and so delete) these netns on the side that attached them, in one untimed CLI process per 200. */
function detach(side: Side, names: readonly string[]): void {
  for (let i = 0; i < names.length; i += 200) {
    cli(['detach', ...names.slice(i, i + 200), '--network', side.network, '--quiet'], side.env('unset'));
  }
}

/** Detach in the process, then let the kernel reap them. */
async function detachAll(names: readonly string[]): Promise<void> {
  detach(LOCAL, names);
  await sleep(SETTLE_MS);
}

function ourNetnsLeft(prefixes: readonly string[]): string[] {
  let names: string[] = [];
  try { names = readdirSync('/run/netns'); } catch { names = []; }
  return names.filter((n) => prefixes.some((p) => n.startsWith(p)));
}

// ---------------------------------------------------------------------------------------
// Single commands

type SingleName = 'node' | 'version' | 'attach-local' | 'attach-daemon';
const SINGLE: readonly SingleName[] = ['node', 'version', 'attach-local', 'attach-daemon'];
const SINGLE_LABEL: Record<SingleName, string> = {
  node: 'node -e 0 (baseline)',
  version: 'ctnet-fast version',
  'attach-local': 'attach, in-process (CTNET_DAEMON=off)',
  'attach-daemon': 'attach, through the daemon',
};
type Variant = `${SingleName}/${Ca}`;

function runSingle(v: SingleName, ca: Ca, tag: string): Ran {
  switch (v) {
    case 'node':
      return node(['-e', '0'], childEnv(ca));
    case 'version': {
      const r = cli(['version'], childEnv(ca));
      if (!r.stdout.startsWith('ctnet-fast ')) throw new Error(`version: unexpected output ${r.stdout.trim()}`);
      return r;
    }
    case 'attach-local':
      return attach(LOCAL, `cbl-${tag}`, ca);
    case 'attach-daemon':
      return attach(DAEMON, `cbd-${tag}`, ca);
  }
}

async function singles(o: Options, cas: readonly Ca[]): Promise<{ samples: Map<Variant, number[]>; verbose: Record<string, string>; daemon: Record<string, unknown>; split: Record<string, unknown> }> {
  const variants: Variant[] = cas.flatMap((ca) => SINGLE.map((s) => `${s}/${ca}` as Variant));
  const samples = new Map<Variant, number[]>(variants.map((v) => [v, []]));

  // what each attach path reports about itself (untimed): backend, firewall, where it ran
  const verbose: Record<string, string> = {};
  const vl = attach(LOCAL, 'cbl-verbose', 'unset', ['--verbose']);
  verbose['attach-local'] = vl.stderr.split('\n').filter((l) => l.includes('backend')).join(' | ');
  const vd = attach(DAEMON, 'cbd-verbose', 'unset', ['--verbose']);
  verbose['attach-daemon'] = vd.stderr.split('\n').filter((l) => l.includes('daemon')).join(' | ');

  const before = daemonCounts();
  const sentBefore = DAEMON.names.length;
  for (let w = 0; w < o.warmup; w++) {
    for (const v of variants) {
      const [s, ca] = v.split('/') as [SingleName, Ca];
      runSingle(s, ca, `w${w}-${ca[0]}`);
    }
  }
  progress(`single: ${o.warmup} untimed warm-up rounds done; ${o.rounds} rounds of ${variants.length} variants`);
  for (let r = 0; r < o.rounds; r++) {
    const order = variants.map((_, j) => variants[(j + r) % variants.length]!);
    for (const v of order) {
      const [s, ca] = v.split('/') as [SingleName, Ca];
      samples.get(v)!.push(runSingle(s, ca, `${r}-${ca[0]}`).ms);
    }
    if ((r + 1) % 10 === 0 || r + 1 === o.rounds) {
      progress(`single: round ${r + 1}/${o.rounds}: ${cas.map((ca) => `[${ca}] ${SINGLE.map((s) => `${s} ${fmt(median(samples.get(`${s}/${ca}`)!))}`).join(', ')}`).join(' ')} ms so far`);
    }
  }
  const split = splitDiagnostics(o.diagnostics);
  const after = daemonCounts();
  // every attach meant for the daemon must have been run by it, none handed back to the caller
  const expected = DAEMON.names.length - sentBefore;
  const daemon = {
    pid: after.pid,
    attachesSent: expected,
    served: after.served - before.served,
    declined: after.declined - before.declined,
    samePid: before.pid === after.pid,
  };
  if (daemon.served !== expected || daemon.declined !== 0 || !daemon.samePid) {
    throw new Error(`the daemon did not serve every daemon attach: ${JSON.stringify(daemon)}`);
  }
  return { samples, verbose, daemon, split };
}

/**
 * Untimed diagnostics: where an attach's time goes, as the CLI itself reports it with
 * --verbose (NODE_EXTRA_CA_CERTS unset): in the process, start-up → CLI ready, Host.open and
 * the attach; through the daemon, the attach inside the daemon (the rest of the caller's
 * time is Node's start-up, the client and the socket round trip).
 */
function splitDiagnostics(n: number): Record<string, unknown> {
  const num = (text: string, re: RegExp): number => {
    const m = re.exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  const local = { wallMs: [] as number[], cliReadyMs: [] as number[], hostOpenMs: [] as number[], attachMs: [] as number[], closeMs: [] as number[] };
  const daemon = { wallMs: [] as number[], attachInDaemonMs: [] as number[] };
  for (let i = 0; i < n; i++) {
    const lr = attach(LOCAL, `cbl-v${i}`, 'unset', ['--verbose']);
    const l = lr.stderr;
    local.wallMs.push(lr.ms);
    local.cliReadyMs.push(num(l, /CLI ready ([\d.]+) ms/));
    local.hostOpenMs.push(num(l, /host opened in ([\d.]+) ms/));
    local.attachMs.push(num(l, /attach took ([\d.]+) ms, close/));
    local.closeMs.push(num(l, /, close ([\d.]+) ms/));
    const dr = attach(DAEMON, `cbd-v${i}`, 'unset', ['--verbose']);
    daemon.wallMs.push(dr.ms);
    daemon.attachInDaemonMs.push(num(dr.stderr, /took ([\d.]+) ms in the daemon/));
  }
  const med = (v: number[]): number | null => (v.every(Number.isFinite) && v.length ? round(median(v), 2) : null);
  const meds = (o: Record<string, number[]>): Record<string, number | null> => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, med(v)]));
  const raw = (o: Record<string, number[]>): Record<string, number[]> => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.map((x) => round(x, 3))]));
  return {
    note: `${n} untimed --verbose attaches each way (alternating), NODE_EXTRA_CA_CERTS unset; figures as the CLI prints them, wallMs as timed by the bench; medians in ms, null: the CLI did not print that figure`,
    local: meds(local),
    daemon: meds(daemon),
    samples: { local: raw(local), daemon: raw(daemon) },
  };
}

// ---------------------------------------------------------------------------------------
// Bulk

type BulkName = 'node' | 'cli' | 'library';
type BulkItem = `${BulkName}/${Ca}` | 'library';

async function bulk(o: Options, cas: readonly Ca[]): Promise<{ samples: Record<string, number[]>; libraryParts: Record<string, number[]>; library: Record<string, string> }> {
  const { Host } = await import('../src/topology/host.js');
  const items: BulkItem[] = ['library', ...cas.flatMap((ca) => [`cli/${ca}`, `node/${ca}`] as BulkItem[])];
  const samples: Record<string, number[]> = Object.fromEntries(items.map((i) => [i, []]));
  const libraryParts: Record<string, number[]> = { open: [], network: [], attachMany: [], close: [] };
  const library: Record<string, string> = {};
  const listFile = `${STATE}/bulk-list.txt`;
  const names = (kind: string, r: number): string[] => Array.from({ length: o.bulkN }, (_, i) => `cbb${kind}${r}-${i}`);

  const runItem = async (item: BulkItem, r: number, timed: boolean): Promise<void> => {
    if (item === 'library') {
      const list = names('l', r);
      const t0 = performance.now();
      const host = await Host.open({ stateDir: LOCAL.stateDir });
      const t1 = performance.now();
      const net = await host.network({ name: LOCAL.network, subnet: LOCAL.subnet });
      const t2 = performance.now();
      const eps = await net.attachMany(list.map((netns) => ({ netns })));
      const t3 = performance.now();
      library.backend = host.backendName;
      library.firewall = host.firewallName;
      await host.close();
      const t4 = performance.now();
      if (eps.length !== list.length) throw new Error(`library attachMany: ${eps.length} of ${list.length}`);
      if (timed) {
        samples.library!.push(t4 - t0);
        libraryParts.open!.push(t1 - t0); libraryParts.network!.push(t2 - t1); libraryParts.attachMany!.push(t3 - t2); libraryParts.close!.push(t4 - t3);
      }
      await detachAll(list);
      return;
    }
    const [kind, ca] = item.split('/') as ['node' | 'cli', Ca];
    if (kind === 'node') {
      const ms = node(['-e', '0'], childEnv(ca)).ms;
      if (timed) samples[item]!.push(ms);
      return;
    }
    const list = names(`c${ca[0]}`, r);
    writeFileSync(listFile, `${list.join('\n')}\n`);
    const res = cli(['attach', '--network', LOCAL.network, '--from-file', listFile], LOCAL.env(ca));
    const got = list.filter((n) => res.stdout.includes(`${n} `)).length;
    if (got !== list.length) throw new Error(`cli attach --from-file: ${got} of ${list.length} endpoints in its output`);
    if (timed) samples[item]!.push(res.ms);
    await detachAll(list);
  };

  // one untimed pass (the library's first Host.open in this process, the page cache)
  for (const item of items) await runItem(item, -1, false);
  for (let r = 0; r < o.bulkRounds; r++) {
    const order = items.map((_, j) => items[(j + r) % items.length]!);
    for (const item of order) await runItem(item, r, true);
    progress(`bulk: round ${r + 1}/${o.bulkRounds}: ${items.map((i) => `${i} ${fmt(samples[i]!.at(-1))}`).join(', ')} ms`);
  }
  return { samples, libraryParts, library };
}

// ---------------------------------------------------------------------------------------
// Report

interface Row {
  readonly section: string;
  readonly name: string;
  readonly summary: Summary;
  /** e.g. "1.12× (+4.9 ms)" */
  readonly vsBaseline: string;
  readonly budget: string;
  /** the budget's limit in ms for this run, from this run's baseline */
  readonly limitMs: number | null;
  readonly pass: boolean | null;
}

function vs(mine: Summary, base: Summary): { ratio: number; diffMs: number; text: string } {
  const ratio = round(mine.medianMs / base.medianMs, 3);
  const diffMs = round(mine.medianMs - base.medianMs, 2);
  return { ratio, diffMs, text: `${fmt(ratio, 2)}× (${diffMs >= 0 ? '+' : ''}${fmt(diffMs, 1)} ms)` };
}

/** Median over rounds of (variant − baseline) in the same round: drift between rounds cancels out. */
function pairedDiff(a: readonly number[], b: readonly number[]): number {
  const d = a.map((v, i) => v - (b[i] ?? Number.NaN)).filter(Number.isFinite);
  return round(median(d), 2);
}

function renderTable(rows: readonly Row[]): string {
  const head = ['', 'median ms', 'p90', 'vs node -e 0', 'budget', ''];
  const w = [46, 10, 8, 20, 36, 6];
  const pad = (s: string, i: number): string => (i === 0 || i === 4 ? s.padEnd(w[i]!) : s.padStart(w[i]!));
  const out: string[] = [];
  let section = '';
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      out.push('', section, head.map(pad).join(' '), '-'.repeat(w.reduce((a, b) => a + b + 1, 0)));
    }
    const verdict = r.pass === null ? '' : r.pass ? 'ok' : 'MISSED';
    out.push([`  ${r.name}`, fmt(r.summary.medianMs), fmt(r.summary.p90Ms), r.vsBaseline, r.budget, verdict].map(pad).join(' '));
  }
  return out.join('\n');
}


function sha(file: string): string {
  try { return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16); } catch { return 'missing'; }
}
function git(args: readonly string[]): string {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}
/** The newest .ts under src/, to say whether the bundle the bin loads is older than its sources. */
function newestSource(dir: string): number {
  let m = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) m = Math.max(m, newestSource(p));
    else if (e.name.endsWith('.ts')) m = Math.max(m, statSync(p).mtimeMs);
  }
  return m;
}
function codeState(): Record<string, unknown> {
  return {
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommitted: git(['status', '--porcelain', '--', 'bin', 'src', 'native']).split('\n').filter(Boolean),
    binSha256: sha(BIN),
    bundleSha256: sha(BUNDLE),
    bundleOlderThanSources: existsSync(BUNDLE) ? statSync(BUNDLE).mtimeMs < newestSource(path.join(ROOT, 'src')) : null,
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = performance.now();
  if (!existsSync(BUNDLE)) throw new Error(`${path.relative(ROOT, BUNDLE)} is missing: run npm run build first`);
  const machine = describeMachine();
  const code = codeState();
  const cas: Ca[] = existsSync(CA_FILE) ? ['unset', 'set'] : ['unset'];
  const caInfo = existsSync(CA_FILE)
    ? { file: CA_FILE, bytes: statSync(CA_FILE).size, certificates: (readFileSync(CA_FILE, 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length }
    : { file: CA_FILE, missing: true };
  progress(`${o.rounds} single rounds (+${o.warmup} warm-up), ${o.bulkRounds} bulk rounds of ${o.bulkN}; ${cas.map((c) => CA_LABEL[c]).join(' / ')}`);

  mkdirSync(STATE, { recursive: true, mode: 0o700 });
  for (const w of [LOCAL, DAEMON]) {
    cli(['network', 'create', w.network, '--subnet', w.subnet], childEnv('unset', { CTNET_DAEMON: 'off', CTNET_STATE_DIR: w.stateDir }));
  }
  cli(['daemon', 'start', '--idle-timeout', '600'], DAEMON.env('unset')); // idle exit: a safety net should we die without stopping it
  daemonRunning = true;

  let single: Awaited<ReturnType<typeof singles>>;
  try {
    single = await singles(o, cas);
    // detach through the daemon, as a script using it would
    detach(DAEMON, DAEMON.names);
  } finally {
    stopDaemon();
  }
  await detachAll(LOCAL.names);
  const leftAfterSingles = ourNetnsLeft(['cbl-', 'cbd-']);
  progress(`single: done; ${LOCAL.names.length + DAEMON.names.length} netns detached, ${leftAfterSingles.length} left`);

  const b = o.bulkRounds > 0 ? await bulk(o, cas) : null;
  const leftAfterBulk = ourNetnsLeft(['cbb']);

  // ---- summaries and verdicts
  const rows: Row[] = [];
  const verdicts: Array<{ name: string; budget: string; value: number; limit: number; unit: string; pass: boolean }> = [];
  const singleOut: Record<string, unknown> = {};
  for (const ca of cas) {
    const s = (v: SingleName): number[] => single.samples.get(`${v}/${ca}`)!;
    const base = summarize(s('node'));
    const section = `single commands, ${CA_LABEL[ca]} (${o.rounds} rounds)`;
    rows.push({ section, name: SINGLE_LABEL.node, summary: base, vsBaseline: '—', budget: '', limitMs: null, pass: null });
    const per: Record<string, unknown> = { baseline: base };
    for (const v of ['version', 'attach-local', 'attach-daemon'] as const) {
      const sum = summarize(s(v));
      const d = vs(sum, base);
      let budget: string, limit: number, value: number, pass: boolean, unit: string;
      if (v === 'version') {
        budget = `≤ ${VERSION_RATIO}× node -e 0`;
        limit = round(base.medianMs * VERSION_RATIO, 2); value = d.ratio; unit = '×'; pass = d.ratio <= VERSION_RATIO;
      } else {
        budget = `≤ node -e 0 + ${ATTACH_EXTRA_MS} ms`;
        limit = round(base.medianMs + ATTACH_EXTRA_MS, 2); value = d.diffMs; unit = 'ms over node -e 0'; pass = d.diffMs <= ATTACH_EXTRA_MS;
      }
      rows.push({ section, name: SINGLE_LABEL[v], summary: sum, vsBaseline: d.text, budget: `${budget} (${fmt(limit)} ms)`, limitMs: limit, pass });
      verdicts.push({ name: `${SINGLE_LABEL[v]}, ${CA_LABEL[ca]}`, budget, value, limit, unit, pass });
      per[v] = { ...sum, ratioToBaseline: d.ratio, diffToBaselineMs: d.diffMs, pairedDiffToBaselineMs: pairedDiff(s(v), s('node')), budget, limitMs: limit, pass };
    }
    singleOut[ca] = { env: CA_LABEL[ca], ...per };
  }

  const bulkOut: Record<string, unknown> = {};
  if (b) {
    const lib = summarize(b.samples.library!);
    bulkOut.library = { ...lib, backend: b.library.backend, firewall: b.library.firewall, partsMedianMs: Object.fromEntries(Object.entries(b.libraryParts).map(([k, v]) => [k, round(median(v), 3)])) };
    for (const ca of cas) {
      const section = `bulk: ${o.bulkN} netns in one process, ${CA_LABEL[ca]} (${o.bulkRounds} rounds)`;
      const base = summarize(b.samples[`node/${ca}`]!);
      const c = summarize(b.samples[`cli/${ca}`]!);
      const limit = round(BULK_LIB_FACTOR * lib.medianMs + base.medianMs, 2);
      const budget = `≤ ${BULK_LIB_FACTOR} × library + node -e 0`;
      const pass = c.medianMs <= limit;
      rows.push({ section, name: SINGLE_LABEL.node, summary: base, vsBaseline: '—', budget: '', limitMs: null, pass: null });
      rows.push({ section, name: `library: open, network, attachMany(${o.bulkN}), close`, summary: lib, vsBaseline: vs(lib, base).text, budget: '', limitMs: null, pass: null });
      rows.push({ section, name: `ctnet-fast attach --from-file (${o.bulkN}), local`, summary: c, vsBaseline: vs(c, base).text, budget: `${budget} (${fmt(limit)} ms)`, limitMs: limit, pass });
      verdicts.push({ name: `bulk attach of ${o.bulkN}, ${CA_LABEL[ca]}`, budget, value: c.medianMs, limit, unit: 'ms', pass });
      bulkOut[ca] = {
        env: CA_LABEL[ca], baseline: base, cli: c, limitMs: limit, budget, pass,
        cliOverLibraryMs: round(c.medianMs - lib.medianMs, 2),
        cliOverLibraryAndStartupMs: round(c.medianMs - lib.medianMs - base.medianMs, 2),
        cliPerAttachMs: round(c.medianMs / o.bulkN, 3),
        libraryPerAttachMs: round(lib.medianMs / o.bulkN, 3),
      };
    }
  }

  const result = {
    schema: 'ctnet-fast-bench-cli/1',
    command: `npm run bench:cli -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: o.outDir === path.join(BENCH, 'results') ? { ...o, outDir: 'bench/results' } : o,
    machine,
    code,
    caBundle: caInfo,
    method: [
      'inside test/sandbox.mjs (fresh net+mount namespace, tmpfs /run); every command a fresh `node` process (process.execPath) run with spawnSync, timed by the caller from spawn to exit (performance.now)',
      'children get NO_COLOR=1 and neither NODE_OPTIONS nor CTNET_* from the caller beyond what each variant sets; NODE_EXTRA_CA_CERTS unset or set per variant',
      `single: ${o.warmup} untimed warm-up rounds, then ${o.rounds} rounds of all variants (both CA settings) in an order rotated each round; each attach on a fresh netns name, all detached at the end`,
      `attach in-process: CTNET_DAEMON=off, state ${LOCAL.stateDir}, network ${LOCAL.network} ${LOCAL.subnet}; through the daemon: \`daemon start\` before, \`daemon stop\` after, state ${DAEMON.stateDir}, network ${DAEMON.network} ${DAEMON.subnet} (separate, so no other writer makes the daemon re-check its cached kernel facts)`,
      `bulk: one untimed pass, then ${o.bulkRounds} rounds of [library, cli and node -e 0 per CA setting] rotated; each ${o.bulkN}-netns run is detached by an untimed CLI process and followed by a ${SETTLE_MS} ms pause for the kernel to reap the netns; library = Host.open → network → attachMany → close in the bench process with the module already imported (src via tsx), the CLI = bin/ctnet-fast.cjs → dist/bundle/cli.cjs`,
      `attachSplit: after the timed rounds, ${o.diagnostics} untimed attaches each way with --verbose, the figures the CLI prints about itself`,
      'verdicts on medians; ratios and differences only against node -e 0 of the same run',
    ],
    verboseLines: single.verbose,
    daemon: single.daemon,
    attachSplit: single.split,
    single: singleOut,
    bulk: b ? bulkOut : null,
    verdicts,
    cleanup: { netnsLeftAfterSingles: leftAfterSingles.length, netnsLeftAfterBulk: leftAfterBulk.length },
    samples: {
      single: Object.fromEntries([...single.samples].map(([k, v]) => [k, v.map((x) => round(x, 3))])),
      bulk: b ? Object.fromEntries(Object.entries(b.samples).map(([k, v]) => [k, v.map((x) => round(x, 3))])) : null,
      bulkLibraryParts: b ? Object.fromEntries(Object.entries(b.libraryParts).map(([k, v]) => [k, v.map((x) => round(x, 3))])) : null,
    },
    codeAtEnd: { binSha256: sha(BIN), bundleSha256: sha(BUNDLE) },
    wallSeconds: round((performance.now() - started) / 1000, 1),
    loadAvgAtEnd: loadAvg(),
  };
  mkdirSync(o.outDir, { recursive: true });
  const outFile = path.join(o.outDir, 'cli.json');
  writeFileSync(outFile, `${JSON.stringify(result, null, 1)}\n`);

  const changed = result.codeAtEnd.binSha256 !== code.binSha256 || result.codeAtEnd.bundleSha256 !== code.bundleSha256;
  const lines = [
    '',
    `ctnet-fast CLI start-up — ${machine.cpus}× ${machine.cpuModel}, Linux ${machine.kernel}, node ${machine.node}, commit ${String(code.commit)}${(code.uncommitted as string[]).length ? ' (+ uncommitted changes)' : ''}`,
    'times in ms, caller wall clock from spawn to exit; verdicts on medians against node -e 0 of the same run',
    renderTable(rows),
    '',
    `daemon: ${single.daemon.served} attaches served, ${single.daemon.declined} handed back; attach paths: ${Object.entries(single.verbose).map(([k, v]) => `${k}: ${v.replace(/^\[verbose\] /, '')}`).join(' · ')}`,
    `where a single attach goes (untimed --verbose runs, NODE_EXTRA_CA_CERTS unset, medians): in the process ${fmt(num(get(single.split, 'local', 'wallMs')))} ms = start-up → CLI ready ${fmt(num(get(single.split, 'local', 'cliReadyMs')))} ms, Host.open ${fmt(num(get(single.split, 'local', 'hostOpenMs')))} ms, attach ${fmt(num(get(single.split, 'local', 'attachMs')))} ms, …; through the daemon ${fmt(num(get(single.split, 'daemon', 'wallMs')))} ms, of it the attach inside the daemon ${fmt(num(get(single.split, 'daemon', 'attachInDaemonMs')))} ms`,
    b ? `library in the bench process: backend ${b.library.backend}, firewall ${b.library.firewall}` : 'bulk: not run',
    `netns left behind: ${leftAfterSingles.length + leftAfterBulk.length}`,
    ...(changed ? ['WARNING: bin/ctnet-fast.cjs or dist/bundle/cli.cjs changed during the run: the numbers mix two versions'] : []),
    ...(code.bundleOlderThanSources ? ['WARNING: dist/bundle/cli.cjs is older than src/: run npm run build'] : []),
    `load average at start ${machine.loadAvgAtStart}, at end ${result.loadAvgAtEnd}`,
    '',
    `budgets: ${verdicts.filter((v) => v.pass).length} of ${verdicts.length} met`,
    `wrote ${path.relative(process.cwd(), outFile)} in ${result.wallSeconds} s`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

process.on('SIGINT', () => { stopDaemon(); process.exit(130); });
process.on('SIGTERM', () => { stopDaemon(); process.exit(143); });
main().catch((err: unknown) => {
  stopDaemon();
  process.stderr.write(`bench:cli: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
