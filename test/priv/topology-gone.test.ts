/**
 * Teardown of what is already gone: each "already gone" rule of src/topology (detach.ts,
 * network.ts, attach.ts) and the firewall's notice of vanished tables (firewall/index.ts),
 * recognised by step and code. The thing is removed behind the library's back with `ip`/`nft`,
 * then the library must succeed (or fail once and recover), checked with ip -j and nft -j.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { BACKENDS, assertSandbox, backendFor, ip, link, removeLeftovers } from '../helpers/index.js';
import { ping } from '../helpers/traffic.js';
import { listOwnTables, publishedPorts } from '../fixtures/firewall/nft.js';

const run = promisify(execFile);

/** Delete our tables as a firewall reload or `nft flush ruleset` would. */
async function dropOurTables(): Promise<void> {
  for (const t of await listOwnTables()) await run('nft', ['delete', 'table', ...t.split(' ')]);
  assert.deepEqual(await listOwnTables(), []);
}

for (const backend of BACKENDS) {
  describe(`topology: teardown of what is already gone [${backend}]`, function () {
    this.timeout(60000);
    let stateDir: string;
    let host: Host;
    const warnings: string[] = [];

    before(async () => {
      assertSandbox();
      await removeLeftovers('ctg-');
      await run('nft', ['flush', 'ruleset']);
      stateDir = mkdtempSync(path.join(tmpdir(), 'ctg-state-'));
      host = await Host.open({ stateDir, backendInstance: await backendFor(backend), warn: (m) => warnings.push(m) });
    });
    after(async () => {
      await host?.close().catch(() => undefined);
      await removeLeftovers('ctg-');
      await run('nft', ['flush', 'ruleset']).catch(() => undefined);
      if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    });

    it('detach of a netns we do not own whose host veth is gone already: no failure, no warning (linkDel ENODEV)', async () => {
      const net = await host.network({ name: 'ctg-a', subnet: '10.61.0.0/24', bridge: 'ctg-bra' });
      await ip(['netns', 'add', 'ctg-x']);
      const ep = await net.attach({ netns: 'ctg-x' });
      assert.ok(await link(ep.hostIfname), 'the host veth exists');
      await ip(['link', 'del', 'dev', ep.hostIfname]);
      warnings.length = 0;
      await ep.detach();
      // close waits for the background veth deletion, whose ENODEV must not be a warning
      try {
        await host.close();
      } finally {
        host = await Host.open({ stateDir, backendInstance: await backendFor(backend), warn: (m) => warnings.push(m) });
      }
      assert.deepEqual(warnings, []);
      assert.deepEqual(await host.endpoints({ network: 'ctg-a' }), []);
      assert.ok(existsSync('/run/netns/ctg-x'), 'a netns we do not own is left alone');
      await ip(['netns', 'del', 'ctg-x']);
      await host.removeNetwork('ctg-a');
    });

    it('detach of an owned netns that was deleted already succeeds (netnsDelete ENOENT)', async () => {
      const net = await host.network({ name: 'ctg-b', subnet: '10.62.0.0/24', bridge: 'ctg-brb' });
      const ep = await net.attach({ netns: 'ctg-y' });
      await ip(['netns', 'del', 'ctg-y']);
      await ep.detach();
      assert.deepEqual(await host.endpoints({ network: 'ctg-b' }), []);
      await host.removeNetwork('ctg-b');
    });

    it('detach with published ports after our tables vanished succeeds, and the next attach installs them again (nft ENOENT)', async () => {
      const net = await host.network({ name: 'ctg-c', subnet: '10.63.0.0/24', bridge: 'ctg-brc' });
      const ep = await net.attach({ netns: 'ctg-z', publish: ['18080:80'] });
      assert.deepEqual(await publishedPorts(), [18080]);
      await dropOurTables();
      await ep.detach();
      assert.ok(!existsSync('/run/netns/ctg-z'));
      // the firewall noticed: this attach's ports land in freshly installed tables
      const ep2 = await net.attach({ netns: 'ctg-z2', publish: ['18082:80'] });
      assert.deepEqual(await publishedPorts(), [18082]);
      await ep2.detach();
      await host.removeNetwork('ctg-c');
    });

    it('publish after our tables vanished installs them again and publishes', async () => {
      const net = await host.network({ name: 'ctg-d', subnet: '10.64.0.0/24', bridge: 'ctg-brd' });
      const ep = await net.attach({ netns: 'ctg-w', publish: ['18083:80'] });
      await dropOurTables();
      await ep.publish(['18084:80']);
      // the tables come back with every port the state knows (issue 10 item 6), not only the new one
      assert.deepEqual(await publishedPorts(), [18083, 18084]);
      await ep.detach();
      assert.deepEqual(await publishedPorts(), []);
      await host.removeNetwork('ctg-d');
    });

    it('removing a network whose bridge is gone already succeeds (linkDel ENODEV)', async () => {
      await host.network({ name: 'ctg-e', subnet: '10.65.0.0/24', bridge: 'ctg-bre' });
      await ip(['link', 'del', 'dev', 'ctg-bre']);
      await host.removeNetwork('ctg-e');
      assert.deepEqual((await host.networks()).map((n) => n.name).filter((n) => n === 'ctg-e'), []);
      assert.equal(await link('ctg-bre'), undefined);
    });

    it('removing a network after our tables vanished succeeds (nft ENOENT)', async () => {
      await host.network({ name: 'ctg-f', subnet: '10.66.0.0/24', bridge: 'ctg-brf' });
      await dropOurTables();
      await host.removeNetwork('ctg-f');
      assert.equal(await link('ctg-brf'), undefined);
      assert.deepEqual(await listOwnTables(), []);
    });

    it('a bridge re-created behind our back (new ifindex): the attach finds the new bridge (one retry inside it)', async () => {
      const net = await host.network({ name: 'ctg-g', subnet: '10.67.0.0/24', bridge: 'ctg-brg' });
      const a = await net.attach({ netns: 'ctg-g1' });
      const old = (await link('ctg-brg'))?.ifindex;
      await a.detach();
      await ip(['link', 'del', 'dev', 'ctg-brg']);
      await ip(['link', 'add', 'ctg-brg', 'type', 'bridge']);
      await ip(['link', 'set', 'ctg-brg', 'up']);
      const now = (await link('ctg-brg'))?.ifindex;
      assert.notEqual(now, old);
      const b = await net.attach({ netns: 'ctg-g2' });
      assert.equal((await link(b.hostIfname))?.master, 'ctg-brg', 'on the new bridge');
      await b.detach();
      await host.removeNetwork('ctg-g');
    });

    it('a long-lived Host whose tables were flushed and whose bridge was deleted: the next attach repairs what it needs and succeeds', async () => {
      const net = await host.network({ name: 'ctg-h', subnet: '10.68.0.0/24', bridge: 'ctg-brh' });
      const a = await net.attach({ netns: 'ctg-h1', publish: ['18090:80'] });
      await run('nft', ['flush', 'ruleset']);
      assert.deepEqual(await listOwnTables(), []);
      const b = await net.attach({ netns: 'ctg-h2' });
      assert.deepEqual(await listOwnTables(), ['ip ctnet', 'ip6 ctnet'], 'our tables are back');
      assert.deepEqual(await publishedPorts(), [18090], 'with every element the state knows');
      assert.ok(await ping('ctg-h2', a.ip), 'the new container reaches the old one (guard elements restored)');
      await ip(['link', 'del', 'dev', 'ctg-brh']);
      const c = await net.attach({ netns: 'ctg-h3' });
      const br = await link('ctg-brh');
      assert.ok(br !== undefined, 'the bridge was re-created');
      assert.equal((await link(c.hostIfname))?.master, 'ctg-brh');
      assert.ok(await ping('ctg-h3', c.info.gateway ?? ''), 'the new container reaches its gateway on the re-created bridge');
      for (const ep of [a, b, c]) await ep.detach();
      await host.removeNetwork('ctg-h');
    });
  });
}
