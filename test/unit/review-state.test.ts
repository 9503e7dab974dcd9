/**
 * test/unit/review-state.test.ts — new-user review: a state.db (or its -wal/-shm) that is a
 * symbolic link is refused naming it, and a store that is not ours (empty, corrupt,
 * foreign) has its own code (EBADSTORE, a failure: exit 1), not ESCHEMA (environment: exit 4).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, STATE_FILE } from '../../src/state/index.js';
import { CODE, CtnetError, codeKind } from '../../src/model/errors.js';
import { describeError, EXIT } from '../../src/cli/output.js';

describe('review: the state file', () => {
  let dir: string;
  let other: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ctnet-review-'));
    other = mkdtempSync(path.join(os.tmpdir(), 'ctnet-review-other-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  });

  it('a state.db that is a symbolic link to a real store is refused, naming it', () => {
    const s = openStore(other);
    s.putNetwork({ name: 'elsewhere', subnet: '10.77.0.0/16' });
    s.close();
    const target = path.join(other, STATE_FILE);
    const before = readFileSync(target);
    symlinkSync(target, path.join(dir, STATE_FILE));
    assert.throws(() => openStore(dir), (e: unknown) => e instanceof CtnetError && e.code === CODE.badStore &&
      e.message.includes(path.join(dir, STATE_FILE)) && /symbolic link/.test(e.message));
    assert.deepEqual(readFileSync(target), before, 'the target was not touched');
  });

  for (const suffix of ['-wal', '-shm']) {
    it(`a state.db${suffix} that is a symbolic link is refused, naming it`, () => {
      openStore(dir).close();
      const victim = path.join(other, 'victim');
      writeFileSync(victim, 'keep');
      symlinkSync(victim, path.join(dir, `${STATE_FILE}${suffix}`));
      assert.throws(() => openStore(dir), (e: unknown) => e instanceof CtnetError && e.code === CODE.badStore &&
        e.message.includes(`${STATE_FILE}${suffix}`) && /symbolic link/.test(e.message));
      assert.equal(readFileSync(victim, 'utf8'), 'keep');
    });
  }

  it('an empty or corrupt state.db is a failure (exit 1), not a missing privilege (exit 4)', () => {
    for (const content of ['', 'not a database at all, but long enough to be read as a header by anyone'.repeat(3)]) {
      writeFileSync(path.join(dir, STATE_FILE), content);
      let caught: unknown;
      try { openStore(dir).close(); } catch (e) { caught = e; }
      assert.ok(caught instanceof CtnetError, String(caught));
      assert.equal(caught.code, CODE.badStore);
      assert.equal(codeKind(caught.code), 'failure');
      assert.equal(describeError(caught).exitCode, EXIT.FAILURE);
    }
    assert.equal(codeKind(CODE.schema), 'environment', 'a newer schema stays an environment problem');
  });
});
