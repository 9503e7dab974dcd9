/**
 * kill -9 at random instants (issue 10): attach --publish, detach, publish, unpublish,
 * network create and network rm --force, each run in-process (CTNET_DAEMON=off) and SIGKILLed
 * after a random delay; after each, `gc` and the full oracle (test/helpers/break-oracle.ts).
 * Half the trials kill within 0–60 ms of the spawn (mostly Node's start-up and the store's
 * opening), half anywhere within the command's measured unkilled run time, so the kernel work
 * is hit too. BREAK_SCALE=N runs N× more trials; BREAK_SEED=S replays a run (the seed is
 * printed). Inside test/sandbox.mjs only; names start with "brk-k".
 */
import assert from 'node:assert/strict';
import { assertSandbox } from '../helpers/sandbox.js';
import { SCALE, SEED, ensureBuilt, resetWorld, rng } from '../helpers/break-env.js';
import { PREFIX, SCENARIOS, trial } from '../helpers/break-kill.js';

const TRIALS = 8 * SCALE;

describe('break: kill -9 at random instants, then gc, then state = kernel (privileged)', function () {
  this.timeout(30 * 60_000);

  before(async () => {
    assertSandbox();
    ensureBuilt();
    await resetWorld(PREFIX);
  });
  after(async () => {
    await resetWorld(PREFIX);
  });

  SCENARIOS.forEach((sc, i) => {
    it(`${sc.name}: ${TRIALS} random kills, gc repairs all (seed ${SEED + i})`, async () => {
      const rand = rng(SEED + i);
      // one unkilled run: how long the whole command takes here (and it must work)
      const base = await trial(sc, {});
      const span = base.run.ms;
      assert.deepEqual(base.problems, [], `unkilled \`${sc.cmd.join(' ')}\` is not clean`);
      const failures: string[] = [];
      let killed = 0;
      for (let k = 0; k < TRIALS; k++) {
        const delay = Math.floor(k % 2 === 0 ? rand() * 60 : rand() * span);
        const t = await trial(sc, { killAfterMs: delay });
        if (t.killed) killed++;
        for (const p of t.problems) failures.push(`kill after ${delay} ms${t.killed ? '' : ' (finished first)'}: ${p}`);
      }
      console.log(`    [break-kill-random] ${sc.name}: ${TRIALS} trials (${killed} killed, delays 0–60 ms and 0–${span} ms, seed ${SEED + i}); ${failures.length} problems`);
      assert.deepEqual(failures, [], `\`${sc.cmd.join(' ')}\` killed at random left state and kernel apart after gc:\n${failures.join('\n')}`);
    });
  });
});
