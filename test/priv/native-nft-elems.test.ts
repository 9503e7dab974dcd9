/**
 * Privileged: the addon's own nftables element messages (native/nft_elems.h, an nft step's
 * `elems`) against `nft -j` as the oracle: what they add is exactly what libnftables adds for
 * the same JSON element (same encoding: one deletes what the other added), the delete is
 * exact and idempotent, a missing table is ENOENT with op "nft", one step is one transaction,
 * and a malformed `elems` is refused before anything is sent. Everything happens in a netns
 * of this suite ("ctne-…"), removed afterwards.
 */
import assert from 'node:assert/strict';
import { backendFor } from '../helpers/backends.js';
import { assertSandbox, ip, removeLeftovers } from '../helpers/index.js';
import { readTable } from '../fixtures/firewall/nft.js';
import { attachBatch, baseRuleset, guardElements, publishBatchOf, SET, TABLE, removeGuardBatch, unpublishBatchOf, type GuardEndpoint } from '../../src/firewall/index.js';
import type { PortMapping } from '../../src/model/types.js';
import type { Backend, NftElemOp, NsRef, Step, StepResult } from '../../src/model/plan.js';

const NS = 'ctne-fw';
const REF: NsRef = { path: `/run/netns/${NS}` };
/** An endpoint's guard elements in their native form: what an attach adds, or what removes them. */
const guardOps = (ep: GuardEndpoint, del: boolean): readonly NftElemOp[] => (del ? removeGuardBatch(ep) : attachBatch(ep, [])).native ?? [];
const A = { hostIfname: 'ctvaaaa1', mac: '02:42:AC:12:00:02', ip: '172.18.0.2', ip6: 'fd00::2' };
const B = { hostIfname: 'ctvbbbb2', mac: '02:42:ac:12:00:03', ip: '172.18.0.3' };

/** The guard sets' elements as `nft -j list table bridge ctnet` shows them: "IF MAC IP". */
async function guardSet(): Promise<string[]> {
  const doc = await readTable('bridge', REF);
  const out: string[] = [];
  for (const o of doc.nftables) {
    const s = o.set as { name?: string; elem?: Array<{ concat?: string[] }> } | undefined;
    if (s?.name !== SET.guard4 && s?.name !== SET.guard6) continue;
    for (const e of s.elem ?? []) out.push((e.concat ?? []).join(' '));
  }
  return out.sort();
}

describe('native nft element steps (privileged, against nft -j)', function () {
  this.timeout(30000);
  let b: Backend;
  const run = async (steps: Step[]): Promise<StepResult[]> => b.run({ steps, stopOnError: false });
  const elems = (ops: readonly NftElemOp[]): Step => ({ kind: 'nft', ns: REF, json: '{"nftables":[]}', elems: ops });

  before(async () => {
    assertSandbox();
    await removeLeftovers('ctne-');
    b = await backendFor('native');
    await ip(['netns', 'add', NS]);
    const [r] = await run([{ kind: 'nft', ns: REF, json: baseRuleset({}) }]);
    assert.equal(r?.ok, true, JSON.stringify(r));
  });
  after(async () => { await removeLeftovers('ctne-'); });

  it('adds the guard elements nft itself lists, as [ifname, mac, address]', async () => {
    const [r] = await run([elems(guardOps(A, false))]);
    assert.equal(r?.ok, true, JSON.stringify(r));
    assert.deepEqual(await guardSet(), ['ctvaaaa1 02:42:ac:12:00:02 172.18.0.2', 'ctvaaaa1 02:42:ac:12:00:02 fd00::2']);
    // adding again is a no-op, not EEXIST
    const [again] = await run([elems(guardOps(A, false))]);
    assert.equal(again?.ok, true, JSON.stringify(again));
    assert.equal((await guardSet()).length, 2);
  });

  it('deletes exactly its own element, and deleting what is gone is not an error', async () => {
    await run([{ kind: 'nft', ns: REF, json: guardElements(B) }]); // added by libnftables from JSON
    assert.equal((await guardSet()).length, 3);
    const [r] = await run([elems(guardOps(B, true))]); // removed natively: same encoding
    assert.equal(r?.ok, true, JSON.stringify(r));
    assert.deepEqual(await guardSet(), ['ctvaaaa1 02:42:ac:12:00:02 172.18.0.2', 'ctvaaaa1 02:42:ac:12:00:02 fd00::2']);
    const [twice] = await run([elems(guardOps(B, true))]);
    assert.equal(twice?.ok, true, JSON.stringify(twice));
    // and the reverse: libnftables' JSON removal finds what the native add put there
    const [json] = await run([{ kind: 'nft', ns: REF, json: removeGuardBatch(A).json }]);
    assert.equal(json?.ok, true, JSON.stringify(json));
    assert.deepEqual(await guardSet(), []);
  });

  it('is one transaction: a failing op leaves nothing of the others', async () => {
    const ops = [...guardOps(A, false), { family: 'bridge', table: TABLE, set: 'no-such-set', keys: [new Uint8Array(28)] } as NftElemOp];
    const [r] = await run([elems(ops)]);
    assert.equal(r?.ok, false);
    assert.ok(r !== undefined && !r.ok && 'error' in r);
    assert.equal(r.error.code, 'ENOENT');
    assert.equal(r.error.op, 'nft');
    assert.match(r.error.message ?? '', /no-such-set/, 'the error names the set');
    assert.deepEqual(await guardSet(), [], 'the guard elements of the same step were not added');
  });

  it('a missing table is ENOENT, op nft (what the firewall treats as "our tables are gone")', async () => {
    await ip(['netns', 'exec', NS, 'nft', 'delete', 'table', 'bridge', TABLE]);
    for (const del of [false, true]) {
      const [r] = await run([elems(guardOps(A, del))]);
      assert.ok(r !== undefined && !r.ok && 'error' in r, JSON.stringify(r));
      assert.equal(r.error.code, 'ENOENT');
      assert.equal(r.error.op, 'nft');
    }
  });

  it('publishes the same DNAT map elements as libnftables, removes them exactly, and never overwrites another container\'s', async () => {
    const ep = { ip: '172.18.0.2', ip6: 'fd00::2' };
    const maps: PortMapping[] = [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostIp: '127.0.0.1', hostPort: 9000, hostPortEnd: 9001, containerPort: 90, containerPortEnd: 91, protocol: 'udp' },
      { hostIp: 'fd00::1', hostPort: 7000, containerPort: 70, protocol: 'tcp' },
    ];
    const pub = publishBatchOf(ep, maps);
    assert.ok(pub.native !== undefined && pub.native.length > 0, 'published ports have a native form');
    const snapshot = async (): Promise<string> => JSON.stringify(await Promise.all((['ip', 'ip6'] as const).map(async (f) =>
      (await readTable(f, REF)).nftables.flatMap((o) => {
        const m = o.map as { name?: string; elem?: unknown[] } | undefined;
        return m?.name?.startsWith('pub_') === true ? [[m.name, JSON.stringify(m.elem ?? [])]] : [];
      }).sort())));
    const empty = await snapshot();
    const [j] = await run([{ kind: 'nft', ns: REF, json: pub.json }]);
    assert.equal(j?.ok, true, JSON.stringify(j));
    const byJson = await snapshot();
    assert.notEqual(byJson, empty);
    const [nativeDel] = await run([elems(unpublishBatchOf(ep, maps).native ?? [])]); // removes what libnftables added
    assert.equal(nativeDel?.ok, true, JSON.stringify(nativeDel));
    assert.equal(await snapshot(), empty);
    const [n] = await run([elems(pub.native)]);
    assert.equal(n?.ok, true, JSON.stringify(n));
    assert.equal(await snapshot(), byJson, 'the native add leaves exactly what the JSON add left');
    // another container asking for the same host port: the batch fails and nothing of it stays
    const other = publishBatchOf({ ip: '172.18.0.9' }, [{ hostPort: 8080, containerPort: 81, protocol: 'tcp' }, { hostPort: 8181, containerPort: 81, protocol: 'tcp' }]);
    const [clash] = await run([elems(other.native ?? [])]);
    assert.equal(clash?.ok, false, 'a key mapped to another container is not overwritten');
    assert.equal(await snapshot(), byJson, 'the clashing batch left nothing');
    const [del] = await run([{ kind: 'nft', ns: REF, json: '{}', elems: unpublishBatchOf(ep, maps).native }]);
    assert.equal(del?.ok, true, JSON.stringify(del));
    assert.equal(await snapshot(), empty);
  });

  it('refuses a malformed elems before sending anything', async () => {
    const bad: unknown[] = [
      [{ family: 'arp', table: TABLE, set: SET.guard4, keys: [new Uint8Array(4)] }],
      [{ family: 'bridge', table: '', set: SET.guard4, keys: [new Uint8Array(4)] }],
      [{ family: 'bridge', table: TABLE, set: SET.guard4, keys: ['not bytes'] }],
      [{ family: 'bridge', table: TABLE, set: SET.guard4, keys: [new Uint8Array(0)] }],
      [{ family: 'bridge', table: TABLE, set: SET.guard4, keys: [new Uint8Array(65)] }],
      [{ family: 'bridge', table: TABLE, set: SET.guard4, keys: [new Uint8Array(4)], data: [] }],
      'nope',
    ];
    for (const e of bad) {
      const [r] = await run([{ kind: 'nft', ns: REF, json: '{}', elems: e as NftElemOp[] }]);
      assert.ok(r !== undefined && !r.ok && 'error' in r, `accepted ${JSON.stringify(e)}`);
      assert.equal(r.error.code, 'EINVAL', JSON.stringify(r));
    }
  });
});
