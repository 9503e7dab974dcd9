/**
 * Detach and gc by identity, not by name (issue 10 item 11), and detach of a container
 * whose netns a process still holds (item 12). Checked with ip -j, /run/netns and the state.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { openStore } from '../../src/state/index.js';
import { ownerAlive, processStartTime } from '../../src/util/proc.js';
import { assertSandbox, backendFor, ip, ipJson, link, removeLeftovers, BACKENDS } from '../helpers/index.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const backend of BACKENDS) {
  describe(`detach and gc by identity; detach of a held netns [${backend}]`, function () {
    this.timeout(90000);
    let stateDir: string;
    let host: Host;
    const warnings: string[] = [];
    const holders: ChildProcess[] = [];

    before(async () => {
      assertSandbox();
      await removeLeftovers('gcd-');
      stateDir = mkdtempSync(path.join(tmpdir(), 'gcd-state-'));
      host = await Host.open({ stateDir, backendInstance: await backendFor(backend), warn: (m) => warnings.push(m) });
    });
    after(async () => {
      for (const h of holders) h.kill('SIGKILL');
      await host?.close().catch(() => undefined);
      await removeLeftovers('gcd-');
      await run('nft', ['flush', 'ruleset']).catch(() => undefined);
      if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    });

    it('item 11: a netns deleted and made again under the same name (someone else\'s now) is not deleted by detach', async () => {
      const net = await host.network({ name: 'gcd-a', subnet: '10.81.0.0/24', bridge: 'gcd-bra' });
      const ep = await net.attach({ netns: 'gcd-d1' });
      await sleep(100); // the ready mark (with the netns identity) is written
      await ip(['netns', 'del', 'gcd-d1']);
      await ip(['netns', 'add', 'gcd-d1']);
      warnings.length = 0;
      await ep.detach();
      assert.ok(existsSync('/run/netns/gcd-d1'), 'the new netns gcd-d1 is still there');
      assert.ok((await run('ip', ['netns', 'list'])).stdout.includes('gcd-d1'));
      assert.ok(warnings.some((w) => /gcd-d1.*not the one attached/.test(w)), `warned: ${warnings.join('; ')}`);
      assert.equal(await host.findEndpoint('gcd-d1'), undefined, 'our record is released');
      await ip(['netns', 'del', 'gcd-d1']);
    });

    it('item 11: a foreign veth that took our old host-veth name is not deleted by detach', async () => {
      const net = await host.getNetwork('gcd-a');
      await ip(['netns', 'add', 'gcd-x1']);
      const ep = await net.attach({ netns: 'gcd-x1' });
      const name = ep.hostIfname;
      await ip(['link', 'del', name]);
      await ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', 'gcd-peer']);
      warnings.length = 0;
      await ep.detach();
      await host.close(); // waits for the background veth deletion
      host = await Host.open({ stateDir, backendInstance: await backendFor(backend), warn: (m) => warnings.push(m) });
      assert.ok(await link(name), `the foreign ${name} is still there`);
      await ip(['link', 'del', name]);
      await ip(['netns', 'del', 'gcd-x1']);
    });

    it('item 11: an owner is its pid and start time: a live pid with another start time has ended', async () => {
      const start = processStartTime(process.pid);
      assert.ok(start !== undefined);
      assert.equal(ownerAlive(process.pid, start), true);
      assert.equal(ownerAlive(1, -5), false, 'pid 1 runs, but it is not the process recorded');
      // a pending attach "owned" by pid 1 with another start time is undone by gc
      const s = openStore(stateDir);
      const rec = s.beginAttach({ network: 'gcd-a', netns: '/run/netns/gcd-p1', ownsNetns: true, data: { pid: 1, start: -5 } });
      s.close();
      const report = await host.gc();
      assert.ok(report.actions.some((a) => a.includes(rec.id)), `gc undid it: ${report.actions.join('; ')}`);
      const s2 = openStore(stateDir);
      assert.equal(s2.getEndpoint(rec.id), undefined);
      s2.close();
    });

    it('item 12: detach of a held netns takes the host end down and off the bridge, and keeps its address until the netns is gone', async () => {
      const net = await host.getNetwork('gcd-a');
      const ep = await net.attach({ netns: 'gcd-h1' });
      const holder = spawn('ip', ['netns', 'exec', 'gcd-h1', 'sleep', '60'], { stdio: 'ignore' });
      holders.push(holder);
      await sleep(300); // the holder is inside
      const oldIp = ep.ip;
      const name = ep.hostIfname;
      await ep.detach();
      assert.equal(existsSync('/run/netns/gcd-h1'), false, 'unmounted');
      const [l] = await ipJson<{ ifname: string; flags: string[]; master?: string }>(['link', 'show', 'dev', name]);
      assert.ok(l, 'the host veth lives on while the netns is held');
      assert.ok(!l.flags.includes('UP'), `down: ${l.flags.join(',')}`);
      assert.equal(l.master, undefined, 'off the bridge');
      assert.deepEqual(await ipJson(['link', 'show', 'master', 'gcd-bra']), [], 'the bridge has no port left');
      const next = await net.attach({ netns: 'gcd-h2' });
      assert.notEqual(next.ip, oldIp, 'the next attach gets another address');
      await assert.rejects(net.attach({ netns: 'gcd-h3', ip: oldIp }), (e: Error & { code?: string }) => e.code === 'EADDRINUSE');
      assert.ok(openStoreLeases(stateDir).includes(oldIp), 'still leased');
      holder.kill('SIGKILL');
      for (let i = 0; i < 50 && await link(name) !== undefined; i++) await sleep(100);
      assert.equal(await link(name), undefined, 'the kernel reaped the netns and its veth');
      const report = await host.gc();
      assert.ok(!openStoreLeases(stateDir).includes(oldIp), `released (gc: ${report.actions.join('; ')})`);
      const again = await net.attach({ netns: 'gcd-h3', ip: oldIp });
      assert.equal(again.ip, oldIp);
      await again.detach();
      await next.detach();
      await host.removeNetwork('gcd-a', { force: true });
    });
  });
}

function openStoreLeases(dir: string): string[] {
  const s = openStore(dir);
  try {
    return s.listLeases().map((l) => l.ip);
  } finally {
    s.close();
  }
}
