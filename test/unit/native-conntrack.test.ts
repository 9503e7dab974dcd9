/**
 * test/unit/native-conntrack.test.ts — the conntrackDelete step's input, no privileges:
 * the `conntrack -D` argument lists of the iproute2 backend for each filter, and both
 * backends refusing the same bad filters with EINVAL before any kernel work (the addon
 * checks once on the JS thread, native/conntrack_js.cc). The deletes themselves are in
 * test/priv/native-conntrack.test.ts.
 */
import assert from 'node:assert/strict';
import { conntrackDeleteArgs } from '../../src/backend/iproute2/conntrack.js';
import { Iproute2Backend } from '../../src/backend/iproute2/index.js';
import { loadNative } from '../../src/backend/native.js';
import type { ConntrackFilter, StepResult } from '../../src/model/plan.js';
import { CODE, EnvironmentError } from '../../src/model/errors.js';

const BAD: ReadonlyArray<[string, unknown]> = [
  ['not an object', 'addr'],
  ['unknown match', { match: 'port' }],
  ['addr with prefix', { match: 'addr', addr: '10.0.0.1/32' }],
  ['addr with zone', { match: 'addr', addr: 'fe80::1%eth0' }],
  ['addr missing', { match: 'addr' }],
  ['proto icmp', { match: 'mapping', proto: 'icmp', port: 80, replySrc: '10.0.0.2' }],
  ['port 0', { match: 'mapping', proto: 'udp', port: 0, replySrc: '10.0.0.2' }],
  ['port 65536', { match: 'mapping', proto: 'udp', port: 65536, replySrc: '10.0.0.2' }],
  ['port not an integer', { match: 'mapping', proto: 'udp', port: 80.5, replySrc: '10.0.0.2' }],
  ['range upside down', { match: 'mapping', proto: 'tcp', port: 90, portEnd: 80, replySrc: '10.0.0.2' }],
  ['mixed families', { match: 'mapping', proto: 'tcp', port: 80, dst: 'fd00::1', replySrc: '10.0.0.2' }],
  ['replySrc missing', { match: 'mapping', proto: 'tcp', port: 80 }],
];

function errCode(r: StepResult | undefined): string {
  return r !== undefined && !r.ok && 'error' in r ? r.error.code : JSON.stringify(r);
}

describe('conntrackDelete input (unit)', () => {
  it('iproute2: an address filter is four deletes (original/reply source and destination)', () => {
    assert.deepEqual(conntrackDeleteArgs({ match: 'addr', addr: '172.18.0.2' }), [
      ['-D', '-f', 'ipv4', '-s', '172.18.0.2'],
      ['-D', '-f', 'ipv4', '-d', '172.18.0.2'],
      ['-D', '-f', 'ipv4', '-r', '172.18.0.2'],
      ['-D', '-f', 'ipv4', '-q', '172.18.0.2'],
    ]);
    assert.equal(conntrackDeleteArgs({ match: 'addr', addr: 'fd00::2' })[0]?.[2], 'ipv6');
  });

  it('iproute2: a mapping is one delete per port, with the host IP when it has one', () => {
    assert.deepEqual(conntrackDeleteArgs({ match: 'mapping', proto: 'udp', port: 53, portEnd: 54, dst: '192.0.2.1', replySrc: '172.18.0.2' }), [
      ['-D', '-f', 'ipv4', '-p', 'udp', '--orig-port-dst', '53', '--orig-dst', '192.0.2.1', '--reply-src', '172.18.0.2'],
      ['-D', '-f', 'ipv4', '-p', 'udp', '--orig-port-dst', '54', '--orig-dst', '192.0.2.1', '--reply-src', '172.18.0.2'],
    ]);
    assert.deepEqual(conntrackDeleteArgs({ match: 'mapping', proto: 'tcp', port: 8080, replySrc: 'fd00::2' }), [
      ['-D', '-f', 'ipv6', '-p', 'tcp', '--orig-port-dst', '8080', '--reply-src', 'fd00::2'],
    ]);
  });

  it('iproute2 without conntrack installed: an environment error naming the package', async () => {
    const saved = process.env['PATH'];
    process.env['PATH'] = '/nonexistent-ctnet-test';
    try {
      await assert.rejects(new Iproute2Backend().run({ steps: [{ kind: 'conntrackDelete', ns: { self: true }, filter: { match: 'addr', addr: '10.0.0.1' } }] }),
        (e: unknown) => e instanceof EnvironmentError && e.code === CODE.noTool && /apt-get install conntrack/.test(e.message));
    } finally {
      process.env['PATH'] = saved;
    }
  });

  for (const [name, filter] of BAD) {
    it(`both backends refuse ${name} with EINVAL`, async () => {
      const step = { kind: 'conntrackDelete', ns: { self: true }, filter: filter as ConntrackFilter } as const;
      const [ir] = await new Iproute2Backend().run({ steps: [step] });
      assert.equal(errCode(ir), 'EINVAL', `iproute2: ${JSON.stringify(ir)}`);
      const addon = loadNative().addon;
      assert.ok(addon, 'the addon is built (npx node-gyp build)');
      const [nr] = await addon.run({ steps: [step] });
      assert.equal(errCode(nr), 'EINVAL', `native: ${JSON.stringify(nr)}`);
      assert.ok(nr !== undefined && !nr.ok && 'error' in nr && /conntrack/.test(nr.error.message ?? ''), 'the message names the filter');
    });
  }
});
