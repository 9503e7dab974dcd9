/**
 * Host.prewarm: pre-created namespaces adopted by attaches (native backend), checked with
 * ip -j, /run/netns, real traffic, and the pool directory; nothing left after close/gc.
 */
import assert from 'node:assert/strict';
import { readdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { assertSandbox, ipJson, removeLeftovers, backendFor } from '../helpers/index.js';
import { ping } from '../helpers/traffic.js';

const run = promisify(execFile);
const list = (dir: string): string[] => { try { return readdirSync(dir).sort(); } catch { return []; } };

describe('topology: prewarmed namespaces [native]', function () {
  this.timeout(60000);
  let stateDir: string;

  before(async () => {
    assertSandbox();
    await removeLeftovers('ctp-');
    stateDir = mkdtempSync(path.join(tmpdir(), 'ctp-state-'));
  });
  after(async () => {
    await removeLeftovers('ctp-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    for (const f of list(path.join(stateDir, 'pool'))) await run('umount', ['-l', path.join(stateDir, 'pool', f)]).catch(() => undefined);
    // like /run/netns under iproute2, the pool directory became a (shared) mount point
    await run('umount', ['-l', path.join(stateDir, 'pool')]).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('attaches adopt pre-created namespaces; the containers work; close removes the unused ones', async () => {
    const host = await Host.open({ stateDir, backendInstance: await backendFor('native') });
    const pool = path.join(stateDir, 'pool');
    try {
      assert.equal(await host.prewarm(3), 3);
      assert.equal(list(pool).length, 3);
      const net = await host.network({ name: 'ctp-net', subnet: '172.23.0.0/16', bridge: 'ctp-br0' });
      const a = await net.attach({ netns: 'ctp-a' });
      const b = await net.attach({ netns: 'ctp-b' });
      assert.equal(list(pool).length, 1, 'two pool entries used up');
      assert.ok(list('/run/netns').includes('ctp-a') && list('/run/netns').includes('ctp-b'));
      const addr = await ipJson<{ addr_info: Array<{ local: string; family: string }> }>(['addr', 'show', 'eth0'], 'ctp-a');
      assert.deepEqual(addr[0]?.addr_info.filter((x) => x.family === 'inet').map((x) => x.local), [a.ip]);
      assert.ok(await ping('ctp-a', b.ip), 'a → b');
      assert.ok(await ping(undefined, a.ip), 'host → a');
      await a.detach();
      await b.detach();
      await net.remove();
    } finally {
      await host.close();
    }
    assert.deepEqual(list(pool), [], 'close removed the unused entry');
    assert.ok(!existsSync('/run/netns/ctp-a'));
  });

  it('gc removes the pool entries of a process that ended without close()', async () => {
    const pool = path.join(stateDir, 'pool');
    // a child process prewarms 2 and exits without closing
    const script = `import('${path.resolve('src/index.ts')}').then(async ({ Host }) => { const h = await Host.open({ stateDir: '${stateDir}', backend: 'native' }); await h.prewarm(2); process.exit(0); })`;
    await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    assert.equal(list(pool).length, 2);
    const host = await Host.open({ stateDir, backendInstance: await backendFor('native') });
    try {
      const report = await host.gc();
      assert.equal(report.actions.filter((x) => x.includes('pre-created netns')).length, 2, report.actions.join('; '));
      assert.deepEqual(list(pool), []);
    } finally {
      await host.close();
    }
  });
});
