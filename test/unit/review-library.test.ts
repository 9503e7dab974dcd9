/**
 * test/unit/review-library.test.ts — new-user review: library misuse gets typed errors
 * naming the cause (publish not an array, a bogus backend, a closed Host), and `publish`
 * prints the container address of the mapping's family. No privileges.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CtnetError, InvalidInputError } from '../../src/model/errors.js';
import { normalizeMappings, parsePortSpec } from '../../src/validate/ports.js';
import { Host } from '../../src/topology/host.js';
import { mappingTarget } from '../../src/cli/verbs/publish.js';

describe('review: library errors are typed', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'ctnet-review-lib-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('publish that is not an array: InvalidInputError naming publish', () => {
    assert.throws(() => normalizeMappings('80:80' as never), (e: unknown) => e instanceof InvalidInputError && /publish/.test(e.message) && /array/.test(e.message));
    assert.deepEqual(normalizeMappings(['8080:80']), [parsePortSpec('8080:80')]);
  });

  it('Host.open refuses a bogus backend or firewall', async () => {
    await assert.rejects(Host.open({ stateDir: dir, backend: 'bogus' as never }), (e: unknown) => e instanceof InvalidInputError && /backend "bogus"/.test(e.message));
    await assert.rejects(Host.open({ stateDir: dir, firewall: 'bogus' as never }), (e: unknown) => e instanceof InvalidInputError && /firewall "bogus"/.test(e.message));
  });

  it('a closed Host says so', async () => {
    const host = await Host.open({ stateDir: dir, backend: 'iproute2', firewall: 'none' });
    assert.deepEqual(await host.networks(), []);
    await host.close();
    await assert.rejects(host.networks(), (e: unknown) => e instanceof CtnetError && !(e instanceof TypeError) && /host is closed/.test(e.message));
    await assert.rejects(host.getNetwork('x'), (e: unknown) => e instanceof CtnetError && /host is closed/.test(e.message));
    await host.close(); // twice is fine
  });

  it('publish prints the address of the mapping family', () => {
    const ep = { ip: '10.1.0.2', ip6: 'fd00:1::2' };
    assert.equal(mappingTarget(parsePortSpec('[fd00:1::99]:8083:80'), ep), 'fd00:1::2');
    assert.equal(mappingTarget(parsePortSpec('127.0.0.1:8083:80'), ep), '10.1.0.2');
    assert.equal(mappingTarget(parsePortSpec('8083:80'), ep), '10.1.0.2');
    assert.equal(mappingTarget(parsePortSpec('[fd00:1::99]:8083:80'), { ip: '10.1.0.2' }), '10.1.0.2');
  });
});
