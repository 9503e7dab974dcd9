/**
 * test/unit/native-fifo.test.ts — the addon's mkfifo (native/fifo.cc), used by the CLI
 * daemon for its named-pipe channel. No privileges: a temp directory only.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadNative } from '../../src/backend/native.js';

type MkFifo = (p: string, mode: number) => void;

describe('native mkfifo', () => {
  let dir = '';
  let mkfifo: MkFifo;
  before(function () {
    const fn = (loadNative().addon as unknown as { mkfifo?: unknown } | undefined)?.mkfifo;
    assert.equal(typeof fn, 'function', 'the addon exports mkfifo (rebuild with npx node-gyp rebuild)');
    mkfifo = fn as MkFifo;
    dir = mkdtempSync(path.join(tmpdir(), 'cfifo-'));
  });
  after(() => { if (dir !== '') rmSync(dir, { recursive: true, force: true }); });

  it('creates a named pipe with the mode asked for', () => {
    const p = path.join(dir, 'req');
    mkfifo(p, 0o600);
    const st = statSync(p);
    assert.ok(st.isFIFO(), 'a FIFO');
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('reports EEXIST and ENOENT with the path, and rejects bad arguments', () => {
    const p = path.join(dir, 'twice');
    mkfifo(p, 0o600);
    assert.throws(() => mkfifo(p, 0o600), (e: Error & { code?: string; errno?: number }) =>
      e.code === 'EEXIST' && e.errno === 17 && e.message.includes(p));
    assert.throws(() => mkfifo(path.join(dir, 'no/such/dir/x'), 0o600), (e: Error & { code?: string }) => e.code === 'ENOENT');
    assert.throws(() => (mkfifo as unknown as (a: unknown) => void)(42), /mkfifo\(path: string, mode: number\)/);
  });
});
