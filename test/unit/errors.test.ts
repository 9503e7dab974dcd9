import assert from 'node:assert/strict';
import { NetlinkError, errnoName, CtnetError } from '../../src/errors.js';

describe('errors', () => {
  it('names errnos the way the kernel headers do', () => {
    assert.equal(errnoName(17), 'EEXIST');
    assert.equal(errnoName(54), 'EXFULL');
    assert.equal(errnoName(4242), 'E4242');
  });
  it('NetlinkError carries code, errno, op and the extended-ack text, and takes context', () => {
    const e = new NetlinkError({ errno: 17, op: 'RTM_NEWLINK', extack: 'veth name exists' });
    assert.ok(e instanceof CtnetError);
    assert.equal(e.code, 'EEXIST');
    assert.equal(e.op, 'RTM_NEWLINK');
    e.withContext('create veth vethA→eth0 in netns0');
    assert.equal(e.message, 'create veth vethA→eth0 in netns0: EEXIST: veth name exists (RTM_NEWLINK)');
  });
});
