/**
 * kill -9 at every plan step (issue 10, "make the suite that tries to break it part of the
 * project"). For attach --publish, detach, publish, unpublish, network create and network rm
 * --force, run the CLI in-process (CTNET_DAEMON=off) with CTNET_TEST_KILL_AT_STEP=N and then
 * CTNET_TEST_KILL_AFTER_STEP=N for N = 1, 2, … (the process SIGKILLs itself before/after
 * the N-th plan step it runs, counted across all its plans) until the command completes
 * unkilled; after each kill `gc`, then the full oracle (test/helpers/break-oracle.ts): nothing
 * leaked or missing, no duplicate address, no row left half-done. Then everything is removed.
 * A missing hook fails the test: a sweep that kills nothing proves nothing.
 * Inside test/sandbox.mjs only; names start with "brk-k".
 */
import assert from 'node:assert/strict';
import { assertSandbox } from '../helpers/sandbox.js';
import { describeRun, ensureBuilt, resetWorld } from '../helpers/break-env.js';
import { PREFIX, SCENARIOS, trial } from '../helpers/break-kill.js';

const MAX_STEPS = 200;
const HOOKS = ['CTNET_TEST_KILL_AT_STEP', 'CTNET_TEST_KILL_AFTER_STEP'] as const;

describe('break: kill -9 at each plan step, then gc, then state = kernel (privileged)', function () {
  this.timeout(15 * 60_000);
  let addonNote: string | undefined;

  before(async () => {
    assertSandbox();
    addonNote = ensureBuilt();
    await resetWorld(PREFIX);
  });
  after(async () => {
    await resetWorld(PREFIX);
  });

  for (const sc of SCENARIOS) {
    it(`${sc.name}: killed before and after every step, gc repairs all`, async () => {
      const failures: string[] = [];
      const counts: string[] = [];
      for (const hook of HOOKS) {
        let points = 0;
        for (let n = 1; n <= MAX_STEPS; n++) {
          const t = await trial(sc, { env: { [hook]: String(n) } });
          if (!t.killed) {
            if (n === 1) {
              assert.fail(`the kill-at-step hook is missing: ${hook}=1 did not kill \`${describeRun(t.run)}\`${addonNote !== undefined ? ` (${addonNote})` : ''}`);
            }
            // the sweep is over: the command ran to its end and must have succeeded cleanly
            for (const p of t.problems) failures.push(`${hook}=${n} (completed): ${p}`);
            break;
          }
          points++;
          for (const p of t.problems) failures.push(`${hook}=${n}: ${p}`);
          if (n === MAX_STEPS) failures.push(`${hook}: still killed at step ${MAX_STEPS}: the sweep never reached the end`);
        }
        counts.push(`${hook}: ${points} kill points`);
      }
      console.log(`    [break-kill-step] ${sc.name}: ${counts.join(', ')}; ${failures.length} problems`);
      assert.deepEqual(failures, [], `\`${sc.cmd.join(' ')}\` killed at a step left state and kernel apart after gc:\n${failures.join('\n')}`);
    });
  }
});
