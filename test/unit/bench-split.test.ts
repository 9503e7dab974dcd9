/**
 * The bench's report of where the attach time goes and how far the headline ratio moves
 * from round to round (bench/lib/split.ts, bench/lib/report.ts), and its options
 * (bench/lib/options.ts): pure functions over numbers, checked with hand-made inputs. No timings are asserted here (those live in bench/).
 */
import assert from 'node:assert/strict';
import { addPhases, emptyPhases, hasPhases, headlineLine, layersOf, phaseMedians, phasesOf, phaseSummaries, PHASES, ratioSpread, splitLines, splitReport, type HeadlineRow } from '../../bench/lib/split.js';
import { parseArgs, WARMUP } from '../../bench/lib/options.js';
import { extraLines, rangeText, table, type PathReport } from '../../bench/lib/report.js';
import { attachTracer } from '../../bench/paths/ctnet.js';

const summary = (medianMs: number): NonNullable<PathReport['attach']> => ({
  n: 10, medianMs, p90Ms: medianMs * 1.2, p99Ms: medianMs * 1.5, p25Ms: medianMs * 0.9, p75Ms: medianMs * 1.1, meanMs: medianMs, minMs: medianMs * 0.8, maxMs: medianMs * 2,
});

function report(name: string, attachMs: number, extra: Partial<PathReport> = {}): PathReport {
  return {
    name, label: name, status: 'ok', n: 10, attach: summary(attachMs), detach: summary(attachMs / 2), perSecond: 1000 / attachMs,
    vsCtnet: null, vsFloor: null, vsFloorRounds: null, roundMediansMs: { attach: [], detach: [] }, ...extra,
  };
}

describe('bench/lib/split', () => {
  it('splits one attach at the hook\'s four boundaries into five phases that add up to the call', () => {
    const p = phasesOf({ start: 100, validated: 100.05, recorded: 100.2, planned: 100.25, ran: 101.05, end: 101.1 });
    assert.ok(p);
    const expect = { validation: 0.05, state: 0.15, plan: 0.05, crossingKernel: 0.8, finish: 0.05 };
    for (const k of PHASES) assert.ok(Math.abs(p[k] - expect[k]) < 1e-9, `${k}: ${p[k]}`);
    assert.ok(Math.abs(PHASES.reduce((s, k) => s + p[k], 0) - 1.1) < 1e-9);
    // a boundary not reported (another code path, a failed attach): no phases, not a wrong split
    assert.equal(phasesOf({ start: 0, validated: 1, recorded: 2, ran: 3, end: 4 }), null);
  });

  it('takes per-phase medians (not shares of the total), and none while a phase has no sample', () => {
    const s = emptyPhases();
    assert.equal(phaseMedians(s), null);
    assert.equal(phaseSummaries(s), null);
    for (const v of [1, 2, 3]) addPhases(s, { validation: v, state: 10 * v, plan: 0.1, crossingKernel: 100 + v, finish: v / 10 });
    addPhases(s, { validation: [50], state: [0], plan: [0.1], crossingKernel: [1], finish: [0] });
    assert.deepEqual(s.validation, [1, 2, 3, 50]);
    assert.deepEqual(phaseMedians(s), { validation: 2.5, state: 15, plan: 0.1, crossingKernel: 101.5, finish: 0.15 });
    assert.equal(phaseSummaries(s)?.crossingKernel.n, 4);
    assert.equal(phaseSummaries(s)?.validation.maxMs, 50);
    const partial = emptyPhases();
    addPhases(partial, { validation: 1 });
    assert.equal(phaseMedians(partial), null);
  });

  it('gives the per-round ratios of two paths and their range, pairing rounds by index', () => {
    const s = ratioSpread([1.2, 1.5, 1.1, 2.0], [1.0, 1.0, 1.0]);
    assert.deepEqual(s, { perRound: [1.2, 1.5, 1.1], min: 1.1, max: 1.5 });
    // rounds with a missing or non-positive median are skipped, not counted as 0 or ∞
    assert.deepEqual(ratioSpread([1, Number.NaN, 3], [1, 1, 0]), { perRound: [1], min: 1, max: 1 });
    assert.equal(ratioSpread([], [1]), null);
    assert.equal(ratioSpread([1], [0]), null);
    assert.equal(ratioSpread([1.337], [1])?.perRound[0], 1.34);
    assert.equal(rangeText(s), '1.10–1.50');
    assert.equal(rangeText({ perRound: [1.28], min: 1.28, max: 1.28 }), '1.28');
    assert.equal(rangeText(null), '—');
  });

  it('splits ctnet-fast into kernel (floor), crossing (plan − floor) and library (ctnet − plan)', () => {
    assert.deepEqual(layersOf(1.0, 1.13, 1.34), { kernelMs: 1, crossingMs: 0.13, libraryMs: 0.21, totalMs: 1.34 });
    assert.equal(layersOf(1.0, undefined, 1.34), null);
    assert.equal(layersOf(undefined, 1.1, 1.34), null);
  });

  it('prints one split line per path that ran: phases, the floor\'s kernel steps, or the total only', () => {
    const rows = [
      report('floor', 1.0, { info: { stepsMedianMs: { unshare: 0.4, vethNewlink: 0.5 } } }),
      report('ctnet', 1.34, { phasesMedianMs: { validation: 0.05, state: 0.12, plan: 0.02, crossingKernel: 1.1, finish: 0.03 } }),
      report('ctnet-plan', 1.13),
      report('iproute2', 12.5),
      { ...report('cni', 30), status: 'unavailable' as const, attach: null, error: 'no plugins' },
    ];
    const lines = splitLines(rows, layersOf(1.0, 1.13, 1.34));
    assert.equal(lines.length, 1 + 4 + 1, lines.join('\n'));
    assert.match(lines[1]!, /floor\s+1\.000 {2}kernel: unshare 0\.400 · vethNewlink 0\.500$/);
    assert.match(lines[2]!, /ctnet\s+1\.340 {2}validation 0\.050 · state 0\.120 · plan 0\.020 · crossing\+kernel 1\.100 · finish 0\.030$/);
    assert.match(lines[3]!, /ctnet-plan\s+1\.130 {2}the library's plan through the backend alone/);
    assert.match(lines[4]!, /iproute2\s+12\.5 {2}total only$/);
    assert.ok(!lines.some((l) => l.includes('cni')));
    assert.equal(lines[5], '  ctnet-fast in layers: kernel (floor) 1.000 · crossing (plan − floor) 0.130 · library (ctnet − plan) 0.210 = 1.340 ms');
    assert.deepEqual(splitLines([], null), []);
  });

  it('puts the per-round range beside the headline ratio, on stdout and in the JSON', () => {
    const a = ratioSpread([1.3, 1.2, 1.4], [1, 1, 1]);
    const d = ratioSpread([1.1], [1]);
    assert.equal(headlineLine(1.28, 1.1, a, d), 'ctnet-fast ÷ floor: attach 1.28× (per round 1.20–1.40, 3 rounds) · detach 1.10× (per round 1.10, 1 round)');
    assert.equal(headlineLine(null, null, null, null), null);
    const rows: HeadlineRow[] = [
      report('floor', 1.0),
      report('ctnet', 1.28, { vsFloor: { attach: 1.28, detach: 1.1 }, vsFloorRounds: { attach: a, detach: d } }),
    ];
    const r = splitReport(rows);
    assert.deepEqual(r.headline?.attach, { ratio: 1.28, perRound: [1.3, 1.2, 1.4], min: 1.2, max: 1.4 });
    assert.deepEqual(r.headline?.detach, { ratio: 1.1, perRound: [1.1], min: 1.1, max: 1.1 });
    assert.equal(r.lines[0], headlineLine(1.28, 1.1, a, d));
    assert.equal((r.attachSplit as { layers: unknown }).layers, null); // no plan-only path in this run
    assert.deepEqual(Object.keys((r.attachSplit as { paths: object }).paths), ['floor', 'ctnet']);
    assert.equal(splitReport([report('floor', 1)]).headline, null);
  });

  it('shows the per-round range in the table\'s last column', () => {
    const t = table([report('ctnet', 1.28, { vsFloor: { attach: 1.28, detach: 1.1 }, vsFloorRounds: { attach: ratioSpread([1.3, 1.2], [1, 1]), detach: null } })]);
    const [head, , row] = t.split('\n');
    assert.match(head!, /×floor\s+per round$/);
    assert.match(row!, /1\.28×\s+1\.20–1\.30$/);
  });

  it('the ctnet path\'s tracer keeps the phases of the attaches it timed, and only asks for the ones named', async () => {
    const tr = attachTracer();
    assert.ok(hasPhases(tr));
    assert.ok(!hasPhases({ attach: () => undefined }));
    const fake = async (): Promise<string> => {
      for (const b of ['validated', 'recorded', 'planned'] as const) tr.hook(b);
      await new Promise((r) => setImmediate(r));
      tr.hook('ran');
      return 'ep';
    };
    assert.equal(await tr.timed(0, fake), 'ep'); // a warm-up
    assert.equal(await tr.timed(1, fake), 'ep');
    assert.equal(await tr.timed(2, async () => 'no hook'), 'no hook'); // no boundaries reported: no phases
    const s = tr.attachPhases([1, 2]);
    for (const p of PHASES) assert.equal(s[p].length, 1, p);
    assert.ok(s.crossingKernel[0]! >= 0 && s.validation[0]! >= 0);
    assert.equal(tr.attachPhases([0, 1]).crossingKernel.length, 2);
  });
});

describe('bench/lib/options', () => {
  const defaults = { mainPaths: ['floor', 'ctnet'] as const, outDir: '/tmp/out' };
  it('warms every worker the same in quick and full runs, unless told otherwise', () => {
    const quick = parseArgs(['--quick'], defaults), full = parseArgs([], defaults);
    assert.equal(quick.warmup, WARMUP);
    assert.equal(full.warmup, WARMUP);
    assert.ok(WARMUP >= 20, 'enough cycles that the cold first attaches are not timed');
    assert.equal(parseArgs(['--quick', '--warmup', '0'], defaults).warmup, 0);
    assert.deepEqual([quick.n, quick.rounds, full.n, full.rounds], [50, 2, 500, 5]);
    assert.deepEqual(parseArgs(['--paths', 'floor,ctnet-plan', '--out', '/tmp/x'], defaults).paths, ['floor', 'ctnet-plan']);
    assert.throws(() => parseArgs(['--paths', 'nope'], defaults), /unknown path nope/);
    assert.throws(() => parseArgs(['--warmup', '-1'], defaults), /--warmup needs a whole number/);
  });
});

describe('bench/lib/report extraLines', () => {
  it('prints only the extra runs that ran, errors as errors', () => {
    assert.deepEqual(extraLines({ scale: null, nftStep: null }), []);
    const lines = extraLines({ nftStep: { process: { medianMs: 24.9 }, inProcess: { medianMs: 0.292 } }, churn: { error: 'no nft' } });
    assert.deepEqual(lines, ['', 'nft step (one set element): nft process 24.9 ms median · in-process 0.292 ms', 'churn: no nft']);
  });
});
