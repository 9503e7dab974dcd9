/**
 * gc heals ready endpoints whose kernel objects were changed behind our back (issue 10 item
 * 6; src/topology/heal.ts): a veth pair deleted while the container's netns lives is
 * re-created into that netns with the same MAC and address (under a new host name when the
 * old one is taken, the row and the guard element following it); a missing address, default
 * route, extra route or bridge gateway address is added back; `gc --dry-run` lists the same
 * repairs and changes nothing; a second gc finds nothing. Checked with ip -j, nft -j and ping.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { openStore } from '../../src/state/index.js';
import { addrs, assertSandbox, backendFor, ip, link, removeLeftovers, routes } from '../helpers/index.js';
import { ping } from '../helpers/traffic.js';
import { readNft } from '../helpers/break-oracle.js';

const run = promisify(execFile);

/** Action lines of heal.ts (the firewall's own lines differ between a dry run and a real one). */
const healLines = (actions: readonly string[]): string[] => actions.filter((a) => /^(re-create veth|repair |re-add the gateway)/.test(a));

/** "HOSTVETH . MAC . IP" elements of the guard set (table bridge ctnet). */
async function guards(): Promise<string[]> {
  return (await readNft('bridge')).sets.get('guard4') ?? [];
}

for (const backend of ['native', 'iproute2'] as const) describe(`gc: heal endpoints and bridges damaged behind our back [${backend}]`, function () {
  this.timeout(120000);
  const dirs: string[] = [];
  const hosts: Host[] = [];
  const open = async (): Promise<{ h: Host; dir: string }> => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gch-state-'));
    dirs.push(dir);
    const h = await Host.open({ stateDir: dir, backendInstance: await backendFor(backend), warn: () => undefined });
    hosts.push(h);
    return { h, dir };
  };

  before(async () => {
    assertSandbox();
    await removeLeftovers('gch-');
    await run('nft', ['flush', 'ruleset']);
  });
  after(async () => {
    for (const h of hosts) await h.close().catch(() => undefined);
    await removeLeftovers('gch-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a deleted veth pair is re-created into the living netns (same name, MAC, address, default route); dry run first changes nothing', async () => {
    const { h } = await open();
    const net = await h.network({ name: 'gch-v', subnet: '10.81.0.0/24', bridge: 'gch-brv' });
    const a = await net.attach({ netns: 'gch-v1' });
    const b = await net.attach({ netns: 'gch-v2' });
    assert.ok(await ping('gch-v1', b.ip));
    await ip(['link', 'del', 'dev', a.hostIfname]);
    await ip(['link', 'del', 'dev', 'eth0'], 'gch-v2');
    assert.equal(await ping('gch-v1', b.ip), false, 'the damage broke it');
    const dry = await h.gc({ dryRun: true });
    assert.deepEqual(healLines(dry.actions).sort(), [
      `re-create veth ${a.hostIfname} for endpoint ${a.id} in /run/netns/gch-v1`,
      `re-create veth ${b.hostIfname} for endpoint ${b.id} in /run/netns/gch-v2`,
    ].sort());
    assert.equal(await link(a.hostIfname), undefined, 'the dry run changed nothing');
    const report = await h.gc();
    assert.deepEqual(healLines(report.actions).sort(), healLines(dry.actions).sort(), 'the dry run listed the same repairs');
    assert.deepEqual(report.errors, []);
    for (const [ep, ns] of [[a, 'gch-v1'], [b, 'gch-v2']] as const) {
      const hv = await link(ep.hostIfname);
      assert.equal(hv?.master, 'gch-brv', `${ep.hostIfname} is on the bridge`);
      assert.ok(hv?.flags.includes('UP'));
      assert.equal(hv?.ifalias, `ctnet:ep:${ep.id}`);
      const c = await link('eth0', ns);
      assert.equal(c?.address, ep.mac, 'same MAC');
      assert.ok(c?.flags.includes('UP'));
      assert.deepEqual((await addrs(ns)).get('eth0'), [`${ep.ip}/24`], 'same address');
      assert.ok((await routes(ns)).some((r) => r.dst === 'default' && r.gateway === '10.81.0.1' && r.dev === 'eth0'), 'default route back');
    }
    assert.ok(await ping('gch-v1', b.ip), 'v1 → v2 again');
    assert.ok(await ping('gch-v2', a.ip), 'v2 → v1 again');
    assert.deepEqual((await h.gc()).actions, [], 'a second gc finds nothing');
  });

  it('when the old host name is taken, the veth gets a new name: the row and the guard element follow, the stranger is left alone', async () => {
    const { h, dir } = await open();
    const net = await h.network({ name: 'gch-n', subnet: '10.82.0.0/24', bridge: 'gch-brn' });
    const a = await net.attach({ netns: 'gch-n1' });
    const b = await net.attach({ netns: 'gch-n2' });
    const old = a.hostIfname;
    assert.ok((await guards()).some((g) => g.startsWith(`${old} . `)), 'guarded before');
    await ip(['link', 'del', 'dev', old]);
    await ip(['link', 'add', old, 'type', 'bridge']); // a stranger takes the name
    const report = await h.gc();
    assert.deepEqual(report.errors, []);
    const s = openStore(dir);
    const renamed = s.getEndpoint(a.id)?.hostIfname ?? '';
    s.close();
    assert.notEqual(renamed, old, 'a new name in the row');
    assert.ok(report.actions.includes(`re-create veth ${renamed} for endpoint ${a.id} in /run/netns/gch-n1 (a new name: ${old} is taken)`), report.actions.join('; '));
    assert.equal((await link(old))?.linkinfo?.info_kind, 'bridge', 'the stranger is still there, untouched');
    assert.equal((await link(renamed))?.master, 'gch-brn');
    assert.equal((await link('eth0', 'gch-n1'))?.address, a.mac);
    const g = await guards();
    assert.ok(g.includes(`${renamed} . ${a.mac} . ${a.ip}`), `the guard follows the new name (${g.join(', ')})`);
    assert.ok(!g.some((x) => x.startsWith(`${old} . `)), 'no guard element of the old name');
    assert.ok(await ping('gch-n1', b.ip), 'n1 → n2 through the new veth (its guard lets it out)');
    assert.deepEqual((await h.gc()).actions, [], 'a second gc finds nothing');
    await ip(['link', 'del', 'dev', old]);
  });

  it('address, default route, extra route and bridge gateway are added back; a second network adds no default route', async () => {
    const { h } = await open();
    const n1 = await h.network({ name: 'gch-a', subnet: '10.83.0.0/24', bridge: 'gch-bra' });
    const n2 = await h.network({ name: 'gch-b', subnet: '10.84.0.0/24', bridge: 'gch-brb' });
    const peer = await n1.attach({ netns: 'gch-a2' });
    const e1 = await n1.attach({ netns: 'gch-a1' });
    const e2 = await n2.attach({ netns: 'gch-a1', routes: [{ dst: '198.51.100.0/24', via: '10.84.0.1' }] });
    assert.equal(e2.info.ifname, 'eth1');
    const before = await routes('gch-a1');
    assert.ok(before.some((r) => r.dst === '198.51.100.0/24' && r.dev === 'eth1'), 'the extra route is there');
    // damage: e2's address (its extra route goes with it), e1's default route, n1's gateway
    await ip(['addr', 'del', `${e2.ip}/24`, 'dev', 'eth1'], 'gch-a1');
    await ip(['route', 'del', 'default'], 'gch-a1');
    await ip(['addr', 'del', '10.83.0.1/24', 'dev', 'gch-bra']);
    assert.equal(await ping('gch-a1', '10.83.0.1'), false);
    const report = await h.gc();
    assert.deepEqual(report.errors, []);
    assert.deepEqual(healLines(report.actions).sort(), [
      're-add the gateway address 10.83.0.1/24 to bridge gch-bra of network gch-a',
      `repair eth0 of endpoint ${e1.id} in /run/netns/gch-a1: add the default route via 10.83.0.1`,
      `repair eth1 of endpoint ${e2.id} in /run/netns/gch-a1: add ${e2.ip}/24, add the route 198.51.100.0/24 via 10.84.0.1`,
    ].sort());
    assert.ok((await addrs()).get('gch-bra')?.includes('10.83.0.1/24'), 'the gateway is back');
    assert.ok((await addrs('gch-a1')).get('eth1')?.includes(`${e2.ip}/24`));
    const after = await routes('gch-a1');
    assert.deepEqual(after.filter((r) => r.dst === 'default').map((r) => `${r.gateway ?? ''} ${r.dev ?? ''}`), ['10.83.0.1 eth0'], 'one default route, the first network\'s');
    assert.ok(after.some((r) => r.dst === '198.51.100.0/24' && r.gateway === '10.84.0.1' && r.dev === 'eth1'), 'the extra route is back');
    assert.ok(await ping('gch-a1', '10.83.0.1'), 'the gateway answers');
    assert.ok(await ping('gch-a1', peer.ip), 'a1 → a2');
    assert.ok(await ping('gch-a1', '10.84.0.1'), 'the second network works');
    assert.deepEqual((await h.gc()).actions, [], 'a second gc finds nothing');
  });
});
