/**
 * test/unit/native-netns-identity.test.ts — netnsDelete's identity fields (model/plan.ts
 * NetnsIdentity), no privileges: both backends refuse a `cookie` that is not a u64 in
 * canonical decimal, and an `inode` that is not a positive safe integer, with EINVAL before
 * any kernel work (the addon on the JS thread, native/js_conv.cc), and accept the edges
 * (then the missing file is ENOENT). The deletes themselves: test/priv/native-netns-identity.test.ts.
 */
import assert from 'node:assert/strict';
import { Iproute2Backend } from '../../src/backend/iproute2/index.js';
import { isNetnsCookie } from '../../src/backend/iproute2/system.js';
import { loadNative } from '../../src/backend/native.js';
import type { Backend, NativeAddon, Step, StepResult } from '../../src/model/plan.js';

const PATH = '/nonexistent-ctnet-unit/netns-identity';

const BAD: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['an empty cookie', { cookie: '' }],
  ['a cookie that is not a number', { cookie: 'abc' }],
  ['a negative cookie', { cookie: '-1' }],
  ['a cookie with a leading zero', { cookie: '01' }],
  ['a cookie with a blank', { cookie: ' 1' }],
  ['a cookie with a fraction', { cookie: '1.5' }],
  ['a cookie in exponent form', { cookie: '1e3' }],
  ['a cookie in hex', { cookie: '0x10' }],
  ['a cookie above 2^64-1', { cookie: '18446744073709551616' }],
  ['a cookie of 21 digits', { cookie: '100000000000000000000' }],
  ['a cookie as a number', { cookie: 42 }],
  ['inode 0', { inode: 0 }],
  ['a negative inode', { inode: -5 }],
  ['a fractional inode', { inode: 1.5 }],
  ['an inode above 2^53-1', { inode: 2 ** 53 }],
  ['an inode as a string', { inode: '4026531840' }],
];

function errCode(r: StepResult | undefined): string {
  return r !== undefined && !r.ok && 'error' in r ? r.error.code : JSON.stringify(r);
}
function errMsg(r: StepResult | undefined): string {
  return r !== undefined && !r.ok && 'error' in r ? r.error.message ?? '' : '';
}
function addon(): NativeAddon {
  const a = loadNative().addon;
  assert.ok(a, 'the addon is built (npx node-gyp build)');
  return a;
}
async function both(step: Step): Promise<Array<[string, StepResult | undefined]>> {
  const backends: Array<[string, Backend | NativeAddon]> = [['iproute2', new Iproute2Backend()], ['native', addon()]];
  const out: Array<[string, StepResult | undefined]> = [];
  for (const [name, b] of backends) out.push([name, (await b.run({ steps: [step] }))[0]]);
  return out;
}

describe('netnsDelete identity fields (unit)', () => {
  for (const [name, fields] of BAD) {
    it(`both backends refuse ${name} with EINVAL`, async () => {
      const step = { kind: 'netnsDelete', path: PATH, ...fields } as unknown as Step;
      for (const [backend, r] of await both(step)) {
        assert.equal(errCode(r), 'EINVAL', `${backend}: ${JSON.stringify(r)}`);
        assert.match(errMsg(r), /cookie|inode/, `${backend}: the message names the field`);
      }
    });
  }

  it('accept the edges (0, 2^64-1, inode 1 and 2^53-1): the missing file is then ENOENT', async () => {
    for (const fields of [{ cookie: '0' }, { cookie: '18446744073709551615' }, { inode: 1 }, { cookie: '7', inode: Number.MAX_SAFE_INTEGER }]) {
      for (const [backend, r] of await both({ kind: 'netnsDelete', path: PATH, ...fields })) {
        assert.equal(errCode(r), 'ENOENT', `${backend} ${JSON.stringify(fields)}: ${JSON.stringify(r)}`);
      }
    }
  });

  it('isNetnsCookie is the same rule', () => {
    for (const good of ['0', '1', '4026531840', '18446744073709551615']) assert.ok(isNetnsCookie(good), good);
    for (const [, f] of BAD) if ('cookie' in f) assert.ok(!isNetnsCookie(f['cookie']), JSON.stringify(f));
  });
});
