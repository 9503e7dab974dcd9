/**
 * gc across stores and after damage (issue 10 items 1 and 6): another store's bridges are
 * never deleted; after `nft flush ruleset` gc (and the library, and a watching process)
 * restore our tables with every network and published port; after a bridge is deleted, gc
 * re-creates it and puts the host veths back on it. Checked with ip -j, nft -j and traffic.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { watchFirewall } from '../../src/topology/index.js';
import { openStore } from '../../src/state/index.js';
import { assertSandbox, backendFor, ip, ipJson, link, removeLeftovers } from '../helpers/index.js';
import { connect, ping, startServer } from '../helpers/traffic.js';
import { listOwnTables, publishedPorts, readTable } from '../fixtures/firewall/nft.js';

const run = promisify(execFile);

/** Elements of set `name` of `ip ctnet` (nft -j), as JSON text. */
async function setElements(name: string): Promise<string[]> {
  for (const o of (await readTable('ip')).nftables) {
    const s = o.set as { name?: string; elem?: unknown[] } | undefined;
    if (s?.name === name) return (s.elem ?? []).map((e) => JSON.stringify(e));
  }
  return [];
}

describe('gc: other stores, firewall and bridge repair [native]', function () {
  this.timeout(90000);
  const dirs: string[] = [];
  const hosts: Host[] = [];
  const open = async (dir: string): Promise<Host> => {
    const h = await Host.open({ stateDir: dir, backendInstance: await backendFor('native'), warn: () => undefined });
    hosts.push(h);
    return h;
  };
  const mkdir = (): string => { const d = mkdtempSync(path.join(tmpdir(), 'gcr-state-')); dirs.push(d); return d; };

  before(async () => {
    assertSandbox();
    await removeLeftovers('gcr-');
    await run('nft', ['flush', 'ruleset']);
  });
  after(async () => {
    for (const h of hosts) await h.close().catch(() => undefined);
    await removeLeftovers('gcr-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('item 1: gc of store B never deletes store A\'s bridge, nor an old-form alias of another store; it deletes its own orphan', async () => {
    const a = await open(mkdir());
    const dirB = mkdir();
    const b = await open(dirB);
    await a.network({ name: 'gcr-anet', subnet: '10.71.0.0/24', bridge: 'gcr-bra' });
    const alias = (await link('gcr-bra'))?.ifalias ?? '';
    assert.match(alias, /^ctnet:br:[a-z0-9]+:gcr-anet$/, 'the alias names the store');
    // an old-form bridge of some other store, and an orphan of B's own (B's tag, unknown network)
    await ip(['link', 'add', 'gcr-old', 'type', 'bridge']);
    await ip(['link', 'set', 'gcr-old', 'alias', 'ctnet:br:gcr-elsewhere']);
    const s = openStore(dirB);
    const tagB = s.ifnameTag;
    s.close();
    await ip(['link', 'add', 'gcr-orph', 'type', 'bridge']);
    await ip(['link', 'set', 'gcr-orph', 'alias', `ctnet:br:${tagB}:gcr-ghost`]);
    const report = await b.gc();
    assert.ok(await link('gcr-bra'), `A's bridge is still there (gc said: ${report.actions.join('; ')})`);
    assert.ok(await link('gcr-old'), 'an old-form alias of another store is left alone');
    assert.equal(await link('gcr-orph'), undefined, 'B\'s own orphan bridge is deleted');
    assert.deepEqual(report.actions.filter((x) => /gcr-bra|gcr-old/.test(x)), []);
    await a.removeNetwork('gcr-anet');
    await ip(['link', 'del', 'gcr-old']);
  });

  it('item 6: after nft flush ruleset, gc restores NAT, isolation and every published port (nft -j, traffic)', async () => {
    const h = await open(mkdir());
    const net = await h.network({ name: 'gcr-fw', subnet: '10.72.0.0/24', bridge: 'gcr-brf' });
    const c1 = await net.attach({ netns: 'gcr-f1', publish: ['18091:8080'] });
    await net.attach({ netns: 'gcr-f2', publish: ['18092:8080'] });
    const masqBefore = await setElements('masq');
    assert.ok(masqBefore.length > 0);
    await run('nft', ['flush', 'ruleset']);
    assert.deepEqual(await listOwnTables(), []);
    const report = await h.gc();
    assert.ok(report.actions.some((x) => /firewall/.test(x)), `gc reported the repair: ${report.actions.join('; ')}`);
    assert.deepEqual(await publishedPorts(), [18091, 18092]);
    assert.deepEqual(await setElements('masq'), masqBefore, 'masquerade is back');
    assert.ok((await setElements('bridges')).some((e) => e.includes('gcr-brf')), 'the bridge is known again (isolation)');
    const srv = await startServer('gcr-f1', 8080);
    try {
      assert.ok(await connect(undefined, '127.0.0.1', 18091) !== undefined, 'the published port reaches the container again');
    } finally {
      srv.stop();
    }
    // a second gc finds nothing to repair
    const again = await h.gc();
    assert.deepEqual(again.actions, [], `nothing left: ${again.actions.join('; ')}`);
    // the library itself: a publish after a flush restores everything, not only the new port
    await run('nft', ['flush', 'ruleset']);
    await c1.publish(['18093:8080']);
    assert.deepEqual(await publishedPorts(), [18091, 18092, 18093]);
  });

  it('item 6: a port in the state but not in nft (kill -9 between the two) is re-added by gc', async () => {
    const dir = mkdir();
    const h = await open(dir);
    const net = await h.network({ name: 'gcr-k', subnet: '10.73.0.0/24', bridge: 'gcr-brk' });
    const e = await net.attach({ netns: 'gcr-k1' });
    const s = openStore(dir);
    s.addPorts(e.id, [{ hostPort: 18094, containerPort: 80, protocol: 'tcp' }]);
    s.close();
    assert.ok(!(await publishedPorts()).includes(18094));
    const report = await h.gc();
    assert.ok((await publishedPorts()).includes(18094), `re-added (${report.actions.join('; ')})`);
    assert.ok(report.actions.some((x) => /gcr-k1/.test(x)));
  });

  it('item 6: a watching process restores our tables by itself after a flush', async () => {
    const h = await open(mkdir());
    const net = await h.network({ name: 'gcr-w', subnet: '10.74.0.0/24', bridge: 'gcr-brw' });
    await net.attach({ netns: 'gcr-w1', publish: ['18095:80'] });
    let restored = 0;
    const stop = watchFirewall(h, (err) => { if (err === undefined) restored++; });
    try {
      await run('nft', ['flush', 'ruleset']);
      for (let i = 0; i < 40 && restored === 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(restored, 1, 'restored once');
      assert.ok((await publishedPorts()).includes(18095));
    } finally {
      stop();
    }
  });

  it('item 6: a bridge deleted behind our back is re-created by gc with its host veths back on it; containers ping again', async () => {
    const h = await open(mkdir());
    const net = await h.network({ name: 'gcr-b', subnet: '10.75.0.0/24', bridge: 'gcr-brb' });
    const b1 = await net.attach({ netns: 'gcr-b1' });
    const b2 = await net.attach({ netns: 'gcr-b2' });
    assert.ok(await ping('gcr-b1', b2.ip));
    await ip(['link', 'del', 'gcr-brb']);
    assert.equal(await ping('gcr-b1', b2.ip), false);
    await h.gc();
    const ports = await ipJson<{ ifname: string; flags: string[] }>(['link', 'show', 'master', 'gcr-brb']);
    assert.deepEqual(ports.map((p) => p.ifname).sort(), [b1.hostIfname, b2.hostIfname].sort(), 'both host veths are ports again');
    assert.ok(ports.every((p) => p.flags.includes('UP')));
    assert.ok(await ping('gcr-b1', b2.ip), 'b1 → b2 again');
    assert.ok(await ping('gcr-b2', b1.ip), 'b2 → b1 again');
  });
});
