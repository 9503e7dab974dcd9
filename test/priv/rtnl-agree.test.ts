/**
 * Privileged: the two backends answer the same reads with the same values (same shapes, same
 * field meanings), and report the same error codes where iproute2 prints the kernel's
 * strerror text. Needs both backends: fails when the addon cannot load.
 */
import assert from 'node:assert/strict';
import type { Backend, RtnlOp } from '../../src/model/plan.js';
import { Rtnl, ops } from '../../src/rtnl/index.js';
import { createNetns, deleteNetns } from '../../src/netns/index.js';
import { assertSandbox, backendFor, link, removeLeftovers } from '../helpers/index.js';

const P = 'ctra';
const NS = `${P}-ns1`;

describe('iproute2 and native backends agree', function () {
  this.timeout(60_000);
  let ipr: Backend;
  let nat: Backend;

  before(async () => {
    assertSandbox();
    ipr = await backendFor('iproute2');
    nat = await backendFor('native');
    await removeLeftovers(P);
    const host = new Rtnl(nat);
    await createNetns(NS, nat);
    await host.link.addBridge(`${P}-br0`, { up: true });
    await host.link.addVeth(`${P}-v0`, { name: 'eth0', ns: NS }, { master: `${P}-br0`, up: true, alias: 'ctnet:agree' });
    await host.link.addVeth(`${P}-p0`, { name: `${P}-p1` });
    await host.addr.add(`${P}-br0`, '10.66.0.1/24', { broadcast: true });
    await host.addr.add(`${P}-br0`, 'fd66::1/64');
    const n = host.at(NS);
    await n.link.set('lo', { up: true });
    await n.link.set('eth0', { up: true });
    await n.addr.add('eth0', '10.66.0.2/24');
    await n.addr.add('eth0', 'fd66::2/64');
    await n.route.add({ via: '10.66.0.1' });
    await n.route.add({ dst: '10.67.0.0/16', dev: 'eth0', metric: 9, table: 100 });
    await n.route.add({ via: 'fd66::1' });
    // Let operstate and IPv6 link-local addresses settle before comparing snapshots.
    for (let i = 0; i < 40; i++) {
      const v = await link(`${P}-v0`);
      if (v?.operstate === 'UP') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
  });

  after(async () => {
    await deleteNetns(NS, { backend: nat, missingOk: true }).catch(() => undefined);
    await removeLeftovers(P);
    await nat?.close();
  });

  const reads: Array<[string, RtnlOp]> = [
    ['link list', ops.linkList()],
    ['link get', ops.linkGet(`${P}-v0`)],
    ['addr list', ops.addrList()],
    ['addr list -6 dev', ops.addrList({ family: 6, link: `${P}-br0` })],
    ['route list', ops.routeList()],
    ['route list -4', ops.routeList({ family: 4 })],
  ];
  for (const [what, op] of reads) {
    it(`${what}: same value in the current netns`, async () => {
      const a = await new Rtnl(ipr).exec([op]);
      const b = await new Rtnl(nat).exec([op]);
      assert.deepEqual(a, b);
    });
  }

  it('link list, addr list, route lists (main and table 100): same values inside a named netns', async () => {
    for (const op of [ops.linkList(), ops.addrList(), ops.routeList(), ops.routeList({ table: 100 })]) {
      const a = await new Rtnl(ipr, NS).exec([op]);
      const b = await new Rtnl(nat, NS).exec([op]);
      assert.deepEqual(a, b, op.op);
    }
  });

  it('sysctl and nft steps: same result shapes, values and error codes', async () => {
    const nsRef = { path: `/run/netns/${NS}` };
    const table = JSON.stringify({ nftables: [{ add: { table: { family: 'inet', name: 'ctra_t' } } }] });
    const bad = JSON.stringify({ nftables: [{ add: { chain: { family: 'inet', table: 'ctra_nope', name: 'c' } } }] });
    for (const ns of [{ self: true } as const, nsRef]) {
      const plan = {
        stopOnError: false,
        steps: [
          { kind: 'sysctl' as const, ns, key: 'net/ipv4/conf/all/forwarding', value: '1' },
          { kind: 'sysctl' as const, ns, key: 'net/ipv4/conf/all/forwarding' },
          { kind: 'sysctl' as const, ns, key: 'net/ipv4/conf/all/forwarding', value: '0' },
          { kind: 'sysctl' as const, ns, key: 'net/ipv4/conf/ctra-none/forwarding' },
          { kind: 'nft' as const, ns, json: table },
          { kind: 'nft' as const, ns, json: bad },
          { kind: 'nft' as const, ns, json: JSON.stringify({ nftables: [{ delete: { table: { family: 'inet', name: 'ctra_t' } } }] }) },
        ],
      };
      const a = await ipr.run(plan);
      const b = await nat.run(plan);
      assert.deepEqual(a.slice(0, 3), b.slice(0, 3), 'sysctl results');
      assert.equal(a[1]?.ok && a[1].value, '1');
      const ea = a[3];
      const eb = b[3];
      assert.ok(ea && !ea.ok && 'error' in ea && eb && !eb.ok && 'error' in eb);
      assert.deepEqual([ea.error.code, ea.error.op], [eb.error.code, eb.error.op], 'missing sysctl');
      assert.deepEqual(a[4], b[4], 'nft ok');
      assert.deepEqual(a[6], b[6], 'nft ok');
      const na = a[5];
      const nb = b[5];
      assert.ok(na && !na.ok && 'error' in na && nb && !nb.ok && 'error' in nb);
      assert.deepEqual([na.error.code, na.error.op], [nb.error.code, nb.error.op], 'nft failure');
    }
  });

  it('same error codes and ops for failures iproute2 reports with strerror', async () => {
    const cases: RtnlOp[] = [
      ops.vethAdd(`${P}-v0`, { name: 'eth5' }),     // EEXIST
      ops.linkDel(`${P}-nope`),                     // ENODEV
      ops.linkGet(`${P}-nope`),                     // ENODEV
      ops.routeDel({ dst: '10.99.0.0/16', dev: `${P}-br0` }), // ESRCH
      ops.vethAdd(`${P}-u0`, { name: `${P}-u1` }, { master: `${P}-p0` }), // master not a bridge
    ];
    for (const op of cases) {
      const [ra] = await ipr.run({ steps: [{ kind: 'rtnl', ns: { self: true }, ops: [op] }] });
      const [rb] = await nat.run({ steps: [{ kind: 'rtnl', ns: { self: true }, ops: [op] }] });
      assert.ok(ra && !ra.ok && 'error' in ra && rb && !rb.ok && 'error' in rb, JSON.stringify(op));
      if (op.op === 'linkAdd' && op.master !== undefined) continue; // extack-only text: errno inferred by iproute2
      assert.equal(ra.error.code, rb.error.code, JSON.stringify(op));
      assert.equal(ra.error.op, rb.error.op, JSON.stringify(op));
    }
    assert.equal(await link(`${P}-u0`), undefined);
  });
});
