/**
 * A netns delete is umount + unlink; a process killed between the two (the crash suite's
 * rm --force sweep hit it once) leaves an empty plain file in /run/netns. gc finishing that
 * detach removes the file (it names no netns), and never a mounted netns.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { Host } from '../../src/index.js';
import { assertSandbox, removeLeftovers } from '../helpers/index.js';

const run = promisify(execFile);

describe('gc: a detach killed between unmount and unlink', function () {
  this.timeout(60000);
  let stateDir: string;
  before(async () => {
    assertSandbox();
    await removeLeftovers('chd-');
    stateDir = mkdtempSync(path.join(tmpdir(), 'chd-state-'));
  });
  after(async () => {
    rmSync(stateDir, { recursive: true, force: true });
    await removeLeftovers('chd-');
  });

  it('gc removes the empty file left in /run/netns and the row; a live netns beside it is kept', async () => {
    const host = await Host.open({ stateDir, warn: () => {} });
    const net = await host.network({ name: 'chd-n', subnet: '10.253.0.0/24', bridge: 'chd-br' });
    await net.attach({ netns: 'chd-a' });
    await net.attach({ netns: 'chd-b' });
    await host.close();
    // chd-a: detach began (row 'detaching'), the unmount happened, the unlink did not
    const db = new Database(path.join(stateDir, 'state.db'));
    db.prepare("UPDATE endpoints SET state = 'detaching' WHERE netns = '/run/netns/chd-a'").run();
    db.close();
    await run('umount', ['/run/netns/chd-a']);
    assert.ok(existsSync('/run/netns/chd-a'), 'the half-deleted file is there');
    const h2 = await Host.open({ stateDir, warn: () => {} });
    const report = await h2.gc();
    assert.ok(report.actions.some((a) => a.includes('finish detach of /run/netns/chd-a')), report.actions.join('\n'));
    assert.equal(existsSync('/run/netns/chd-a'), false, 'the empty file is removed');
    assert.ok(existsSync('/run/netns/chd-b'), 'the live netns stays');
    const { stdout } = await run('ip', ['netns', 'list']);
    assert.match(stdout, /chd-b/);
    assert.deepEqual((await h2.endpoints()).map((e) => e.netns), ['/run/netns/chd-b']);
    await (await h2.network({ name: 'chd-n', subnet: '10.253.0.0/24', bridge: 'chd-br' })).remove({ force: true });
    await h2.close();
  });
});
