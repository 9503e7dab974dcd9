import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { InvalidInputError } from '../../src/model/errors.js';
import { checkNetnsName, resolveNetns, inHostMountNamespace, outerNamespace, toNsRef } from '../../src/netns/index.js';

describe('netns names and resolution', () => {
  it('names: not empty, no / or .., at most 255 bytes, no NUL', () => {
    assert.equal(checkNetnsName('ctr-ns1'), 'ctr-ns1');
    assert.equal(checkNetnsName('x'.repeat(255)), 'x'.repeat(255));
    for (const bad of ['', 'a/b', '..', '.', 'a..b', 'x'.repeat(256), 'a\0b', 'a\nb']) {
      assert.throws(() => checkNetnsName(bad), InvalidInputError, JSON.stringify(bad));
    }
    assert.throws(() => checkNetnsName('../etc'), /"\.\.\/etc"/);
  });

  it('resolves names, absolute paths and pid:N', () => {
    assert.deepEqual(resolveNetns('ctr-ns1'), { path: '/run/netns/ctr-ns1', name: 'ctr-ns1' });
    assert.deepEqual(resolveNetns('/run/netns/ctr-ns1'), { path: '/run/netns/ctr-ns1', name: 'ctr-ns1' });
    assert.deepEqual(resolveNetns('/var/run/other/ns'), { path: '/var/run/other/ns' });
    assert.deepEqual(resolveNetns('pid:1234'), { path: '/proc/1234/ns/net' });
    assert.deepEqual(resolveNetns('1234'), { path: '/run/netns/1234', name: '1234' });
    assert.throws(() => resolveNetns('pid:x'), InvalidInputError);
    assert.throws(() => resolveNetns('/run/netns/../x'), InvalidInputError);
  });

  it('inHostMountNamespace compares our mount namespace with the host (PID 1 or outermost readable ancestor)', () => {
    const outer = outerNamespace('mnt');
    assert.match(outer ?? 'mnt:[0]', /^mnt:\[\d+\]$/);
    assert.equal(inHostMountNamespace(), outer === undefined || readlinkSync('/proc/self/ns/mnt') === outer);
    // The sandbox (test/sandbox.mjs) runs in a private mount namespace: there it must say so.
    if (process.env.CTNET_SANDBOX === '1') assert.equal(inHostMountNamespace(), false);
  });
});

describe('netns resolution refuses non-strings (issue 10 item 13)', () => {
  it('resolveNetns and toNsRef throw InvalidInputError for anything but a string or an NsRef', () => {
    for (const v of [5, null, undefined, true, Symbol('n')]) {
      assert.throws(() => resolveNetns(v), InvalidInputError);
      assert.throws(() => toNsRef(v as string), InvalidInputError);
    }
    assert.deepEqual(toNsRef({ self: true }), { self: true });
    assert.deepEqual(toNsRef('ctr-ns1'), { path: '/run/netns/ctr-ns1' });
    assert.throws(() => resolveNetns('/run/netns/..'), InvalidInputError);
  });
});
