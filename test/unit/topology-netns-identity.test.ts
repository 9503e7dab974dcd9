/**
 * The netns identity an endpoint records and every netnsDelete of it carries
 * (src/topology/netns-identity.ts; issue 10 item 11). No privileges.
 */
import assert from 'node:assert/strict';
import { describeIdentity, identityData, identityOf, provesStranger, recordedNetns } from '../../src/topology/netns-identity.js';
import { detachSteps } from '../../src/topology/plans.js';

describe('topology: netns identity', () => {
  it('is taken from a netnsCreate/netnsOpen ok result only', () => {
    assert.deepEqual(identityOf({ ok: true, kind: 'netnsCreate', cookie: '4097', inode: 4026532300 }), { cookie: '4097', inode: 4026532300 });
    assert.deepEqual(identityOf({ ok: true, kind: 'netnsOpen', inode: 4026532300 }), { inode: 4026532300 }, 'iproute2: the inode only');
    assert.deepEqual(identityOf({ ok: false, kind: 'netnsCreate', error: { errno: 17, code: 'EEXIST', op: 'mount' } }), {});
    assert.deepEqual(identityOf(undefined), {});
  });

  it('round-trips through the endpoint data; older rows ("DEV:INODE") give the inode; junk gives nothing', () => {
    const id = { cookie: '18446744073709551615', inode: 4026532300 };
    assert.deepEqual(recordedNetns({ pid: 1, start: 2, ...identityData(id) }), id);
    assert.deepEqual(recordedNetns(identityData({ inode: 7 })), { inode: 7 });
    assert.deepEqual(recordedNetns({ netnsId: '4:4026532301' }), { inode: 4026532301 });
    assert.deepEqual(recordedNetns({ netnsId: '4:4026532301', netnsInode: 9 }), { inode: 9 }, 'the new key wins');
    for (const junk of [undefined, null, 5, 'x', [], { netnsCookie: 12 }, { netnsCookie: '0' }, { netnsCookie: '1e3' }, { netnsInode: -1 }, { netnsInode: 1.5 }, { netnsId: 'a:b' }, { netnsId: '4:0' }]) {
      assert.deepEqual(recordedNetns(junk), {}, JSON.stringify(junk));
    }
  });

  it('a stranger is proven by a different cookie, else by a different inode; a match or an unknown proves nothing', () => {
    assert.equal(provesStranger({ cookie: '5', inode: 9 }, { cookie: '6', inode: 9 }), true, 'inode reused, cookie not');
    assert.equal(provesStranger({ cookie: '5', inode: 9 }, { cookie: '5', inode: 9 }), false);
    assert.equal(provesStranger({ inode: 9 }, { cookie: '6', inode: 8 }), true);
    assert.equal(provesStranger({ inode: 9 }, { inode: 9 }), false);
    assert.equal(provesStranger({}, { cookie: '6', inode: 8 }), false, 'nothing recorded: taken to be ours');
    assert.equal(describeIdentity({ cookie: '5', inode: 9 }), 'cookie 5, inode 9');
    assert.equal(describeIdentity({}), 'identity unknown');
  });

  it("detach's netnsDelete carries the recorded identity", () => {
    const steps = detachSteps({ netnsPath: '/run/netns/c1', ownsNetns: true, host: { self: true }, hostIfname: 'ctv0', netns: { cookie: '5', inode: 9 } });
    assert.deepEqual(steps.map((s) => s.step.kind), ['rtnl', 'netnsDelete']);
    assert.deepEqual(steps[1]?.step, { kind: 'netnsDelete', path: '/run/netns/c1', cookie: '5', inode: 9 });
    assert.deepEqual(detachSteps({ netnsPath: '/run/netns/c1', ownsNetns: true })[0]?.step, { kind: 'netnsDelete', path: '/run/netns/c1' });
  });
});
