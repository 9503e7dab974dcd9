/**
 * Races (issue 10, item 5): two identical `network create r` at once (documented as
 * idempotent: both must succeed and leave one network), and `network rm --force` racing 10
 * attaches to the same network (rm must succeed; each attach succeeds or fails cleanly with
 * no stack trace). Nothing is killed, so no `gc` runs: after each trial the full oracle
 * (test/helpers/break-oracle.ts) must find state and kernel in agreement at once. All CLI
 * runs are in-process (CTNET_DAEMON=off). BREAK_SCALE=N runs N× the 30 trials.
 * Inside test/sandbox.mjs only; names start with "brk-r".
 */
import assert from 'node:assert/strict';
import { assertSandbox } from '../helpers/sandbox.js';
import { SCALE, SEED, cli, cliOk, describeRun, ensureBuilt, hasStackTrace, newStateDir, resetWorld, rng } from '../helpers/break-env.js';
import { settledProblems } from '../helpers/break-oracle.js';

const P = 'brk-r';
const TRIALS = 30 * SCALE;
const CREATE = ['network', 'create', 'brk-rn', '--subnet', '10.253.0.0/24', '--bridge', 'brk-rbr'];

describe('break: racing network create / rm against each other and attaches (privileged)', function () {
  this.timeout(30 * 60_000);

  before(async () => {
    assertSandbox();
    ensureBuilt();
    await resetWorld(P);
  });
  after(async () => {
    await resetWorld(P);
  });

  it(`two identical \`network create\` at once, ${TRIALS} trials: both succeed, one network, state = kernel`, async () => {
    const failures: string[] = [];
    let bad = 0;
    for (let t = 0; t < TRIALS; t++) {
      const state = newStateDir(P);
      try {
        const [a, b] = await Promise.all([cli(state, CREATE), cli(state, CREATE)]);
        const p: string[] = [];
        for (const r of [a, b]) if (r?.code !== 0) p.push(describeRun(r as NonNullable<typeof r>));
        p.push(...await settledProblems({ stateDir: state, netnsPrefix: P }));
        if (p.length > 0) { bad++; failures.push(`trial ${t}: ${p.join('; ')}`); }
      } finally {
        await resetWorld(P, state);
      }
    }
    console.log(`    [break-races] network create ×2: ${TRIALS} trials, ${bad} went wrong`);
    assert.deepEqual(failures, [], `${bad} of ${TRIALS} trials went wrong`);
  });

  it(`\`network rm --force\` racing 10 attaches, ${TRIALS} trials: rm succeeds, attaches succeed or fail cleanly, state = kernel (seed ${SEED})`, async () => {
    const rand = rng(SEED);
    const failures: string[] = [];
    let bad = 0;
    let attached = 0;
    for (let t = 0; t < TRIALS; t++) {
      const state = newStateDir(P);
      try {
        await cliOk(state, CREATE);
        // rm starts at a random point among the attaches (0–300 ms after them)
        const delay = Math.floor(rand() * 300);
        const attaches = Array.from({ length: 10 }, (_, i) => cli(state, ['attach', `brk-r${t}x${i}`, '--network', 'brk-rn']));
        const rm = new Promise<void>((r) => setTimeout(r, delay)).then(() => cli(state, ['network', 'rm', '--force', 'brk-rn']));
        const [rmRun, ...runs] = await Promise.all([rm, ...attaches]);
        const p: string[] = [];
        if (rmRun === undefined || rmRun.code !== 0) p.push(`rm: ${rmRun === undefined ? '?' : describeRun(rmRun)}`);
        for (const r of runs) {
          if (r.code === 0) attached++;
          else if (r.signal !== null || hasStackTrace(r) || r.stderr.trim() === '') p.push(`attach failed badly: ${describeRun(r)}`);
        }
        p.push(...await settledProblems({ stateDir: state, netnsPrefix: P }));
        if (p.length > 0) { bad++; failures.push(`trial ${t} (rm after ${delay} ms): ${p.join('; ')}`); }
      } finally {
        await resetWorld(P, state);
      }
    }
    console.log(`    [break-races] network rm --force vs 10 attaches: ${TRIALS} trials (${attached} attaches succeeded before the rm), ${bad} went wrong`);
    assert.deepEqual(failures, [], `${bad} of ${TRIALS} trials went wrong`);
  });
});
