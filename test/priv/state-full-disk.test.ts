/**
 * Teardown on a full disk (issue 10 item 13): with the state directory's filesystem full,
 * a freshly opened Host (as a CLI process would) can still unpublish, detach and remove the
 * network; the kernel (ip -j, /run/netns) and the state agree afterwards. The state directory
 * is a tiny tmpfs mounted in this test's own mount namespace (test/run.mjs gives it one).
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { openStore, RESERVE_FILE } from '../../src/state/index.js';
import { assertSandbox, ipJson, removeLeftovers, backendFor } from '../helpers/index.js';
import { storeProblems } from '../helpers/state.js';

const run = promisify(execFile);

/** Write zeros into `file` until the filesystem says ENOSPC. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

describe('state: teardown on a full disk', function () {
  this.timeout(60000);
  let mnt: string;
  let mounted = false;

  before(async () => {
    assertSandbox();
    await removeLeftovers('cfd-');
    mnt = mkdtempSync(path.join(tmpdir(), 'cfd-state-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'cfd-state', mnt]);
    mounted = true;
  });
  after(async () => {
    await removeLeftovers('cfd-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (mounted) await run('umount', [mnt]).catch(() => undefined);
    if (mnt !== undefined) rmSync(mnt, { recursive: true, force: true });
  });

  it('unpublish, detach and network rm succeed with the state filesystem full', async () => {
    const backendInstance = await backendFor('native');
    let host = await Host.open({ stateDir: mnt, backendInstance });
    const net = await host.network({ name: 'cfd-net', subnet: '10.97.0.0/24', bridge: 'cfd-br0' });
    await net.attach({ netns: 'cfd-c1', publish: ['18081:80/tcp'] });
    await net.attach({ netns: 'cfd-c2' });
    await host.close();
    assert.ok(existsSync(path.join(mnt, RESERVE_FILE)), 'the store keeps a reserve');

    fill(path.join(mnt, 'filler'));
    // the disk is really full: a building write is refused
    host = await Host.open({ stateDir: mnt, backendInstance });
    try {
      await assert.rejects((await host.getNetwork('cfd-net')).attach({ netns: 'cfd-c3' }), (e: Error) => /full|SQLITE_FULL|ENOSPC/i.test(`${e.message} ${String((e as { code?: string }).code)}`));
      const c1 = await host.findEndpoint('/run/netns/cfd-c1');
      assert.ok(c1, 'endpoint cfd-c1 is known');
      await c1.unpublish(['18081:80/tcp']);
      await c1.detach();
      const c2 = await host.findEndpoint('/run/netns/cfd-c2');
      assert.ok(c2, 'endpoint cfd-c2 is known');
      await c2.detach();
      await host.removeNetwork('cfd-net');
    } finally {
      await host.close();
    }

    // the kernel: no bridge, no netns of ours
    assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'])).filter((l) => l.ifname.startsWith('cfd-')), []);
    const { stdout } = await run('ip', ['netns', 'list']);
    assert.doesNotMatch(stdout, /cfd-c/);
    // the state: empty and healthy (read once the filler is gone, with the room to open it)
    unlinkSync(path.join(mnt, 'filler'));
    const store = openStore(mnt);
    try {
      assert.deepEqual(store.listEndpoints(), []);
      assert.deepEqual(store.listNetworks(), []);
      assert.deepEqual(store.listLeases(), []);
      assert.deepEqual(storeProblems(store), []);
    } finally {
      store.close();
    }
    assert.ok(existsSync(path.join(mnt, RESERVE_FILE)), 'the reserve is back once there is room');
  });
});
