/**
 * The library's store checks its state directory as the daemon does (issue 10 item 7,
 * state/dir.ts ensureStateDir): a directory, or a parent we create in, that another user
 * owns or others can write is refused with an error naming it and the fix, and nothing is
 * created; private directories under /tmp (sticky) are fine.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore } from '../../src/state/index.js';
import { CODE } from '../../src/model/errors.js';

describe('state: the library refuses an untrusted state directory', () => {
  let top = '';
  beforeEach(() => { top = mkdtempSync(path.join(tmpdir(), 'wsd-')); });
  afterEach(() => { chmodSync(top, 0o700); rmSync(top, { recursive: true, force: true }); });

  const refused = (dir: RegExp | string, fix: RegExp) => (e: unknown): boolean => {
    const err = e as { code?: string; message: string };
    assert.equal(err.code, CODE.environment, err.message);
    assert.match(err.message, typeof dir === 'string' ? new RegExp(dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) : dir);
    assert.match(err.message, fix);
    return true;
  };

  it('a private temp directory (and a new one under it) opens', () => {
    const s = openStore(path.join(top, 'a', 'b'));
    try {
      assert.ok(existsSync(path.join(top, 'a', 'b', 'state.db')));
    } finally {
      s.close();
    }
  });

  it('a state directory writable by others is refused, naming it and the fix; nothing is created in it', () => {
    const dir = path.join(top, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    assert.throws(() => openStore(dir), refused(dir, /writable by group and others.*chmod go-w/));
    assert.deepEqual(readdirSync(dir), []);
    chmodSync(dir, 0o702);
    assert.throws(() => openStore(dir), refused(dir, /writable by others/));
  });

  it('a non-sticky parent writable by others is refused before anything is created under it', () => {
    chmodSync(top, 0o777);
    const dir = path.join(top, 'new', 'state');
    assert.throws(() => openStore(dir), refused(top, /chmod go-w/));
    assert.equal(existsSync(path.join(top, 'new')), false, 'nothing created under it');
    chmodSync(top, 0o1777); // sticky, as /tmp: fine
    openStore(dir).close();
  });

  it('a state directory owned by another user is refused (root only)', function () {
    if (process.geteuid?.() !== 0) this.skip();
    const dir = path.join(top, 'theirs');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    assert.throws(() => openStore(dir), refused(dir, /owned by uid 65534.*chown/));
    assert.deepEqual(readdirSync(dir), []);
  });
});
