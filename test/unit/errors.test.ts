import assert from 'node:assert/strict';
import { NetlinkError, errnoName, CtnetError, describeErrno, errnoFromStrerror } from '../../src/model/errors.js';

describe('errors', () => {
  it('names errnos the way the kernel headers do', () => {
    assert.equal(errnoName(17), 'EEXIST');
    assert.equal(errnoName(54), 'EXFULL');
    assert.equal(errnoName(4242), 'E4242');
  });
  it('one errno table gives names, strerror texts, and reads strerror texts back (longest first)', () => {
    assert.equal(describeErrno(17), 'File exists');
    assert.equal(describeErrno(4242), 'errno 4242');
    assert.equal(errnoFromStrerror('RTNETLINK answers: File exists'), 17);
    assert.equal(errnoFromStrerror('Too many open files in system'), 23);
    assert.equal(errnoFromStrerror('Too many open files'), 24);
    assert.equal(errnoFromStrerror('No such device or address'), 6);
    assert.equal(errnoFromStrerror('No such device'), 19);
    assert.equal(errnoFromStrerror('something else'), undefined);
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
