import assert from 'node:assert/strict';
import { NetlinkError, errnoName, CtnetError, describeErrno, errnoFromStrerror, InvalidInputError, CODE, codeKind } from '../../src/model/errors.js';

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
    const w = e.withContext('create veth vethA→eth0 in netns0');
    assert.equal(w.message, 'create veth vethA→eth0 in netns0: EEXIST: veth name exists (RTM_NEWLINK)');
  });
  it('context wraps: a new error of the same class, code, errno and op, with the original as cause, left unchanged', () => {
    const e = new NetlinkError({ errno: 17, op: 'RTM_NEWLINK', extack: 'veth name exists' });
    const a = e.withContext('attach c1');
    const b = e.withContext('attach c2');
    assert.ok(a instanceof NetlinkError && b instanceof NetlinkError);
    assert.equal(a.code, 'EEXIST'); assert.equal(a.errno, 17); assert.equal(a.op, 'RTM_NEWLINK'); assert.equal(a.extack, 'veth name exists');
    assert.equal(a.cause, e);
    assert.equal(e.message, 'EEXIST: veth name exists (RTM_NEWLINK)', 'the original is not rewritten');
    assert.equal(b.message, 'attach c2: EEXIST: veth name exists (RTM_NEWLINK)', 'one shared error never collects two prefixes');
    assert.match(String(a.stack), /^NetlinkError: attach c1: EEXIST/);
    const v = new InvalidInputError('bad name').withContext('create network x');
    assert.ok(v instanceof InvalidInputError);
    assert.equal(v.code, CODE.invalidInput);
  });
  it('one code registry decides the kind of every code we throw', () => {
    assert.equal(codeKind(CODE.notFound), 'notFound');
    assert.equal(codeKind(CODE.invalidInput), 'usage');
    assert.equal(codeKind(CODE.noTool), 'environment');
    assert.equal(codeKind('EEXIST'), 'conflict');
    assert.equal(codeKind('EWHATEVER'), 'failure');
    assert.equal(new Set(Object.values(CODE)).size, Object.values(CODE).length, 'no code spelled twice');
  });
});
