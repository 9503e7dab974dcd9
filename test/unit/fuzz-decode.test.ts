/**
 * test/unit/fuzz-decode.test.ts — property-based fuzzing of the addon's rtnetlink decoder
 * (`decode`, loaded through src/backend/native.ts loadNative()): random buffers, and real
 * kernel replies (test/fixtures/native/kernel-replies.json) with bits flipped, bytes changed,
 * truncated, spliced, and their nlmsg_len / nla_len fields rewritten. decode() must return
 * { messages } or { error }, or throw an Error — never abort the process. The run happens in a
 * child process (fuzz-decode.child.ts) so an abort is seen as a signal, with the seed to replay.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SEED, counted, seeded } from './fuzz-support.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUNS = process.env.FC_RUNS !== undefined && process.env.FC_RUNS !== '' ? Number(process.env.FC_RUNS) : undefined;

describe(seeded('fuzz: native decode'), () => {
  it('random buffers and mutated real kernel messages: a value or an error, never an abort', function () {
    const env = { ...process.env, FC_SEED: String(SEED), FUZZ_RANDOM_RUNS: String(RUNS ?? 1500), FUZZ_MUTATED_RUNS: String(RUNS ?? 2500) };
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'fuzz-decode.child.ts')], { env, encoding: 'utf8', timeout: 120_000 });
    const replay = `replay: FC_SEED=${SEED}${RUNS !== undefined ? ` FC_RUNS=${RUNS}` : ''} npx mocha test/unit/fuzz-decode.test.ts`;
    assert.equal(r.error, undefined, `${String(r.error)} (${replay})`);
    assert.equal(r.signal, null, `the decoder killed the process with ${String(r.signal)}; ${replay}\n${r.stderr}`);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${replay}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { cases?: number; skipped?: string };
    if (out.skipped !== undefined) this.skip();
    assert.ok((out.cases ?? 0) > 0, r.stdout);
    counted.cases += out.cases ?? 0;
  });
});
