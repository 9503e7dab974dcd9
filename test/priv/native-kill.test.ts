/**
 * test/priv/native-kill.test.ts — the addon's crash-test hook (native/kill_hook.h): a child
 * process running a 3-step plan with CTNET_TEST_KILL_AT_STEP=N (or _AFTER_STEP=N) dies by
 * SIGKILL, the steps before N (through N for AFTER) took effect and the later ones did not.
 * Oracle: `ip -j netns list` / `ip -j link show`. Root, sandbox only (issue 10, kill -9 at
 * each step; docs/ARCHITECTURE.md, State model).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Step } from '../../src/model/plan.js';
import { packageRoot } from '../../src/backend/native.js';
import { assertSandbox, link, netnsList, removeLeftovers } from '../helpers/index.js';

const P = 'ctkl-';
const NS = `${P}n1`;
const STEPS: readonly Step[] = [
  { kind: 'netnsCreate', path: `/run/netns/${NS}` },
  { kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'bridge', name: `${P}d1` }] },
  { kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'bridge', name: `${P}d2` }] },
];

// The child loads the addon itself (no TypeScript) and prints the results: one plan of the
// three steps, or ('split') three plans of one step each, one after the other.
const CHILD = `
const addon = require(process.argv[1]);
const steps = JSON.parse(process.argv[2]);
const plans = process.argv[3] === 'split' ? steps.map((s) => [s]) : [steps];
(async () => {
  const out = [];
  for (const p of plans) out.push(...await addon.run({ steps: p }));
  console.log(JSON.stringify(out));
  process.exit(0);
})();
`;

function runChild(env: Record<string, string>, split = false): { signal: NodeJS.Signals | null; status: number | null; stdout: string } {
  const addon = path.join(packageRoot(), 'build', 'Release', 'ctnet_native.node');
  const r = spawnSync(process.execPath, ['-e', CHILD, addon, JSON.stringify(STEPS), split ? 'split' : 'one'], {
    encoding: 'utf8',
    env: { ...process.env, CTNET_TEST_KILL_AT_STEP: '', CTNET_TEST_KILL_AFTER_STEP: '', ...env },
  });
  return { signal: r.signal, status: r.status, stdout: r.stdout };
}

/** Which of the 3 steps took effect, by the oracle. */
async function effects(): Promise<boolean[]> {
  return [(await netnsList()).includes(NS), (await link(`${P}d1`)) !== undefined, (await link(`${P}d2`)) !== undefined];
}

describe('native addon (privileged): the kill-at-step hook of the crash tests', function () {
  this.timeout(60_000);

  before(() => assertSandbox());
  beforeEach(() => removeLeftovers(P));
  after(() => removeLeftovers(P));

  for (const n of [1, 2, 3]) {
    it(`CTNET_TEST_KILL_AT_STEP=${n}: SIGKILL before step ${n}; only the steps before it took effect`, async () => {
      const r = runChild({ CTNET_TEST_KILL_AT_STEP: String(n) });
      assert.equal(r.signal, 'SIGKILL', JSON.stringify(r));
      assert.equal(r.stdout, '', 'no results reached JS');
      assert.deepEqual(await effects(), [0, 1, 2].map((i) => i < n - 1));
    });

    it(`CTNET_TEST_KILL_AFTER_STEP=${n}: SIGKILL after step ${n}; steps 1..${n} took effect, no later one`, async () => {
      const r = runChild({ CTNET_TEST_KILL_AFTER_STEP: String(n) });
      assert.equal(r.signal, 'SIGKILL', JSON.stringify(r));
      assert.equal(r.stdout, '', 'no results reached JS (also after the last step)');
      assert.deepEqual(await effects(), [0, 1, 2].map((i) => i < n));
    });
  }

  it('counts steps across all the plans of the process (three plans of one step, N=2 and AFTER=2)', async () => {
    let r = runChild({ CTNET_TEST_KILL_AT_STEP: '2' }, true);
    assert.equal(r.signal, 'SIGKILL', JSON.stringify(r));
    assert.deepEqual(await effects(), [true, false, false]);
    await removeLeftovers(P);
    r = runChild({ CTNET_TEST_KILL_AFTER_STEP: '2' }, true);
    assert.equal(r.signal, 'SIGKILL', JSON.stringify(r));
    assert.deepEqual(await effects(), [true, true, false]);
  });

  it('is inert when unset, invalid, or past the last step: the plan completes', async () => {
    for (const env of [{}, { CTNET_TEST_KILL_AT_STEP: 'x1' }, { CTNET_TEST_KILL_AT_STEP: '0' }, { CTNET_TEST_KILL_AT_STEP: '4' }, { CTNET_TEST_KILL_AFTER_STEP: '4' }]) {
      await removeLeftovers(P);
      const r = runChild(env);
      assert.equal(r.signal, null, `${JSON.stringify(env)}: ${JSON.stringify(r)}`);
      assert.equal(r.status, 0);
      const results = JSON.parse(r.stdout) as Array<{ ok: boolean }>;
      assert.deepEqual(results.map((s) => s.ok), [true, true, true]);
      assert.deepEqual(await effects(), [true, true, true]);
    }
  });
});
