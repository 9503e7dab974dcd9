/**
 * Detach by the netns cookie (issue 10 item 11; src/topology/netns-identity.ts): our netns
 * deleted behind our back and another made under its name, once the old one is freed — so
 * the kernel usually hands the new one the old inode number, which the inode alone cannot
 * tell apart — is left alone by detach and gc: the new netns and a link inside it survive
 * (ip netns list, ip -j link), our row is gone, our address released once our veth is gone.
 * Also: our own host veth deleted, then detach unmounts our netns anyway (the cookie proves
 * it ours). Native backend (the iproute2 backend has no cookie: detach-identity.test.ts).
 * Inside test/sandbox.mjs only; names start with "gcs-".
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { openStore } from '../../src/state/index.js';
import { assertSandbox, backendFor, ip, link, netnsList, removeLeftovers } from '../helpers/index.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the store holds of endpoint `id` and its leases. */
function stored(dir: string, id: string): { row: { data?: unknown } | undefined; leases: string[] } {
  const s = openStore(dir);
  try {
    return { row: s.getEndpoint(id), leases: s.listLeases().map((l) => l.ip) };
  } finally {
    s.close();
  }
}

/** Wait (bounded) until a link of that name is gone from the host: the kernel freed its netns. */
async function linkGone(name: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await link(name) === undefined) return true;
    await sleep(50);
  }
  return false;
}

describe('detach by the netns cookie: a stranger under our netns name is left alone [native]', function () {
  this.timeout(90000);
  let stateDir: string;
  let host: Host;
  const warnings: string[] = [];
  const open = async (): Promise<Host> => Host.open({ stateDir, backendInstance: await backendFor('native'), warn: (m) => warnings.push(m) });

  before(async () => {
    assertSandbox();
    await removeLeftovers('gcs-');
    stateDir = mkdtempSync(path.join(tmpdir(), 'gcs-state-'));
    host = await open();
    await host.network({ name: 'gcs-a', subnet: '10.82.0.0/24', bridge: 'gcs-bra' });
  });
  after(async () => {
    await host?.close().catch(() => undefined);
    await removeLeftovers('gcs-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  it('ip netns del c1; ip netns add c1 (old one freed first): detach and gc leave the new c1 and its link, release our row and lease', async () => {
    const net = await host.getNetwork('gcs-a');
    const ep = await net.attach({ netns: 'gcs-c1' });
    const { id, ip: addr, hostIfname } = ep;
    const oldIno = statSync('/run/netns/gcs-c1').ino;
    await host.close(); // the ready mark, with the identity the attach's plan answered, is written
    host = await open(); // detach reads it from the store, as another process would
    const d = stored(stateDir, id).row?.data as { netnsCookie?: string; netnsInode?: number } | undefined;
    assert.match(d?.netnsCookie ?? '', /^[1-9][0-9]*$/, `the row records the cookie: ${JSON.stringify(d)}`);
    assert.equal(d?.netnsInode, oldIno, 'and the inode');

    await ip(['netns', 'del', 'gcs-c1']);
    assert.ok(await linkGone(hostIfname), 'the kernel freed our old netns (its veth went with it)');
    await ip(['netns', 'add', 'gcs-c1']);
    await ip(['link', 'add', 'gcs-keep', 'type', 'bridge'], 'gcs-c1');
    const newIno = statSync('/run/netns/gcs-c1').ino;
    console.log(`      inode of gcs-c1: ${oldIno} attached, ${newIno} now (${oldIno === newIno ? 'reused' : 'different'})`);

    warnings.length = 0;
    const again = await host.findEndpoint('gcs-c1');
    assert.ok(again !== undefined, 'our row is still there before the detach');
    await again.detach();
    assert.ok(warnings.some((w) => w.includes('/run/netns/gcs-c1') && w.includes('not the one attached') && w.includes(d?.netnsCookie ?? '?')), `warned: ${warnings.join('; ')}`);
    assert.ok((await netnsList()).includes('gcs-c1'), 'ip netns list still has the new gcs-c1');
    assert.equal(statSync('/run/netns/gcs-c1').ino, newIno, 'still the new netns');
    assert.ok(await link('gcs-keep', 'gcs-c1'), 'the link put in the new gcs-c1 survives');
    assert.equal(await host.findEndpoint('gcs-c1'), undefined, 'our row is released');
    assert.equal(stored(stateDir, id).row, undefined);

    // our veth is gone: the lease goes at the latest with gc, which leaves the stranger alone too
    const report = await host.gc();
    assert.ok(!stored(stateDir, id).leases.includes(addr), `lease ${addr} released (gc: ${report.actions.join('; ')})`);
    assert.ok((await netnsList()).includes('gcs-c1'), 'gc left the new gcs-c1');
    assert.ok(await link('gcs-keep', 'gcs-c1'));
    await ip(['netns', 'del', 'gcs-c1']);
  });

  it('gc forgets an endpoint whose netns name a stranger took, and leaves the stranger alone', async () => {
    const net = await host.getNetwork('gcs-a');
    const ep = await net.attach({ netns: 'gcs-g1' });
    const { id, ip: addr, hostIfname } = ep;
    await sleep(200); // the ready mark
    await ip(['netns', 'del', 'gcs-g1']);
    assert.ok(await linkGone(hostIfname));
    await ip(['netns', 'add', 'gcs-g1']);
    await ip(['link', 'add', 'gcs-keep', 'type', 'bridge'], 'gcs-g1');
    const report = await host.gc();
    assert.ok(report.actions.some((a) => a.includes(id) && a.includes('another netns took its name')), `gc: ${report.actions.join('; ')}`);
    assert.ok((await netnsList()).includes('gcs-g1'), 'the new gcs-g1 is still there');
    assert.ok(await link('gcs-keep', 'gcs-g1'), 'with its link');
    const after = stored(stateDir, id);
    assert.equal(after.row, undefined, 'our row is gone');
    for (let i = 0; i < 20 && after.leases.includes(addr); i++) { await sleep(100); after.leases = stored(stateDir, id).leases; }
    assert.ok(!after.leases.includes(addr), `lease ${addr} released`);
    await ip(['netns', 'del', 'gcs-g1']);
  });

  it('our host veth deleted behind our back: detach still unmounts our own netns (the cookie proves it ours)', async () => {
    const net = await host.getNetwork('gcs-a');
    const ep = await net.attach({ netns: 'gcs-v1' });
    await sleep(200); // the ready mark
    await ip(['link', 'del', 'dev', ep.hostIfname]);
    warnings.length = 0;
    await ep.detach();
    assert.equal(existsSync('/run/netns/gcs-v1'), false, 'our netns is unmounted');
    assert.ok(!(await netnsList()).includes('gcs-v1'));
    assert.ok(!warnings.some((w) => w.includes('left alone')), `no "left alone": ${warnings.join('; ')}`);
    await host.removeNetwork('gcs-a', { force: true });
  });
});
