/**
 * Anti-spoofing guard elements (issue 10 item 14), wired: detach removes an endpoint's
 * element; gc removes this store's stray elements (never another store's) and adds missing
 * ones back, so an endpoint whose element is missing (all its traffic dropped) talks again;
 * a vanished `table bridge ctnet` is noticed and restored with its elements by gc and by a
 * watching process. Oracles: `nft -j list set bridge ctnet guard4` and ping.
 * Everything is named "wgd-" and removed afterwards; root, sandbox only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Host, type Endpoint, type Network } from '../../src/index.js';
import { watchFirewall } from '../../src/topology/index.js';
import { assertSandbox, backendFor, removeLeftovers } from '../helpers/index.js';
import { ping } from '../helpers/traffic.js';

const run = promisify(execFile);

/** guard4's elements as "HOSTVETH|MAC|IP" (oracle: nft -j). */
async function guard4(): Promise<string[]> {
  try {
    const { stdout } = await run('nft', ['-j', 'list', 'set', 'bridge', 'ctnet', 'guard4'], { encoding: 'utf8' });
    const set = (JSON.parse(stdout) as { nftables: Array<{ set?: { elem?: Array<{ concat: string[] }> } }> }).nftables.find((o) => o.set !== undefined)?.set;
    return (set?.elem ?? []).map((e) => e.concat.join('|')).sort();
  } catch {
    return [];
  }
}

/** Whether `table bridge ctnet` exists (oracle: nft -j list tables). */
async function bridgeTable(): Promise<boolean> {
  const { stdout } = await run('nft', ['-j', 'list', 'tables'], { encoding: 'utf8' });
  return (JSON.parse(stdout) as { nftables: Array<{ table?: { family: string; name: string } }> }).nftables
    .some((o) => o.table?.family === 'bridge' && o.table.name === 'ctnet');
}

const elem = (e: Endpoint): string => `${e.hostIfname}|${e.mac.toLowerCase()}|${e.ip}`;

async function nftElem(verb: 'add' | 'delete', hostIfname: string, mac: string, addr: string): Promise<void> {
  await run('nft', [verb, 'element', 'bridge', 'ctnet', 'guard4', `{ "${hostIfname}" . ${mac} . ${addr} }`]);
}

describe('wire: anti-spoofing guard elements through detach, gc and a vanished bridge table [native]', function () {
  this.timeout(90000);
  let dir = '';
  let host: Host;
  let net: Network;
  let c1: Endpoint;
  let c2: Endpoint;
  let c3: Endpoint;

  before(async () => {
    assertSandbox();
    await removeLeftovers('wgd-');
    await run('nft', ['flush', 'ruleset']);
    dir = mkdtempSync(path.join(tmpdir(), 'wgd-state-'));
    host = await Host.open({ stateDir: dir, backendInstance: await backendFor('native'), warn: () => undefined });
    net = await host.network({ name: 'wgd-n', subnet: '10.83.0.0/24', bridge: 'wgd-br' });
    c1 = await net.attach({ netns: 'wgd-c1' });
    c2 = await net.attach({ netns: 'wgd-c2' });
    c3 = await net.attach({ netns: 'wgd-c3' });
  });
  after(async () => {
    await host?.close().catch(() => undefined);
    await removeLeftovers('wgd-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('detach removes exactly the endpoint\'s guard element (just after it returns: src/topology/after-detach.ts)', async () => {
    assert.deepEqual(await guard4(), [elem(c1), elem(c2), elem(c3)].sort());
    await c2.detach();
    // the detach's window (50 ms) removes it; give it a second on a loaded machine
    for (let i = 0; i < 20 && (await guard4()).length > 2; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await guard4(), [elem(c1), elem(c3)].sort());
    assert.ok(await ping('wgd-c1', c3.ip), 'the others still talk');
  });

  it('gc removes this store\'s stray guard elements, keeps another store\'s, and adds a missing one back', async () => {
    const tag = c1.hostIfname.slice(3, 6);
    const stray = `ctv${tag}zz9`;
    const other = `ctv${tag === 'qqq' ? 'ppp' : 'qqq'}zz9`;
    await nftElem('add', stray, '02:00:00:00:00:09', '10.83.0.99');
    await nftElem('add', other, '02:00:00:00:00:0a', '10.83.0.98');
    // c1's element missing (an endpoint made before the guard existed): all its traffic is dropped
    await nftElem('delete', c1.hostIfname, c1.mac, c1.ip);
    assert.equal(await ping('wgd-c1', c3.ip), false, 'without its element c1 reaches nothing');
    const report = await host.gc();
    assert.ok(report.actions.some((a) => a.includes(stray)), `gc reported the stray: ${report.actions.join('; ')}`);
    assert.ok(!report.actions.some((a) => a.includes(other)), 'nothing about another store\'s element');
    assert.deepEqual(await guard4(), [elem(c1), elem(c3), `${other}|02:00:00:00:00:0a|10.83.0.98`].sort());
    assert.ok(await ping('wgd-c1', c3.ip), 'c1 talks again');
    await nftElem('delete', other, '02:00:00:00:00:0a', '10.83.0.98');
    const again = await host.gc();
    assert.deepEqual(again.actions, [], `nothing left to repair: ${again.actions.join('; ')}`);
  });

  it('a vanished table bridge ctnet is restored with its elements, by gc and by a watching process', async () => {
    await run('nft', ['delete', 'table', 'bridge', 'ctnet']);
    assert.equal(await bridgeTable(), false);
    const report = await host.gc();
    assert.ok(report.actions.some((a) => /firewall tables/.test(a)), report.actions.join('; '));
    assert.ok(await bridgeTable());
    assert.deepEqual(await guard4(), [elem(c1), elem(c3)].sort());
    let restored = 0;
    const stop = watchFirewall(host, (e) => { if (e === undefined) restored++; });
    try {
      await run('nft', ['delete', 'table', 'bridge', 'ctnet']);
      for (let i = 0; i < 30 && (await guard4()).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await guard4(), [elem(c1), elem(c3)].sort(), 'restored within 3 s');
      assert.equal(restored, 1);
      assert.ok(await ping('wgd-c1', c3.ip), 'c1 → c3 through the restored guard');
      assert.ok(await ping('wgd-c3', c1.ip), 'c3 → c1');
    } finally {
      stop();
    }
  });
});
