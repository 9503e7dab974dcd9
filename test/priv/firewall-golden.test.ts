/**
 * Privileged: the checked-in golden batches (test/fixtures/firewall/*.json) are accepted by
 * the real nft 1.0.6 / kernel in the order the product sends them, and leave exactly the
 * state they promise (read back with `nft -j list table`, an independent oracle).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Firewall } from '../../src/firewall/index.js';
import { runNftArgs, runNftProcess } from '../../src/backend/nft-process.js';
import { readTable, listOwnTables } from '../fixtures/firewall/nft.js';
import { assertSandbox } from '../fixtures/firewall/lab.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/firewall');
const load = (name: string): string => JSON.stringify(JSON.parse(readFileSync(path.join(dir, name), 'utf8')));

type Obj = Record<string, { name?: string; family?: string; elem?: unknown[] }>;
async function elements(family: 'ip' | 'ip6' | 'bridge'): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const o of (await readTable(family)).nftables as Obj[]) {
    const s = o.set ?? o.map;
    if (s?.name !== undefined) out[s.name] = s.elem?.length ?? 0;
  }
  return out;
}

describe('firewall (privileged): golden batches on the real nft', () => {
  before(async () => {
    assertSandbox();
    await new Firewall({ firewall: 'nft' }).removeAll();
  });
  beforeEach(async () => { await new Firewall({ firewall: 'nft' }).removeAll(); });
  after(async () => { await new Firewall({ firewall: 'nft' }).removeAll(); });

  it('base, networks, publish, unpublish, network removal, remove-all', async () => {
    await runNftProcess(load('base.json'));
    await runNftProcess(load('base.json')); // idempotent
    assert.deepEqual((await listOwnTables()).sort(), ['ip ctnet', 'ip6 ctnet']);
    await runNftProcess(load('network-add.json'));
    await runNftProcess(load('network-internal-add.json'));
    await runNftProcess(load('network-no-masquerade-add.json'));
    await runNftProcess(load('publish.json'));
    await runNftProcess(load('publish-ipv4-only.json'));
    await runNftProcess(load('network-block-host-add.json'));
    await runNftProcess(load('guard.json'));
    assert.deepEqual(await elements('ip'), {
      bridges: 4, intra: 4, internal: 1, masq: 2, hairpin: 3,
      pub_ip_addr: 1, pub_ip_port: 1, pub_any_addr: 6, pub_any_port: 6, blockhost: 1, hostallow: 4,
    });
    assert.deepEqual(await elements('ip6'), {
      bridges: 3, intra: 3, internal: 1, masq: 2, hairpin: 2,
      pub_ip_addr: 1, pub_ip_port: 1, pub_any_addr: 4, pub_any_port: 4, blockhost: 1, hostallow: 4,
    });
    assert.deepEqual(await elements('bridge'), { guard4: 1, guard6: 1 });
    await runNftProcess(load('base.json')); // re-running the base keeps every element
    assert.equal((await elements('ip')).pub_any_addr, 6);
    await runNftProcess(load('unpublish.json'));
    await runNftProcess(load('unpublish.json')); // idempotent
    await runNftProcess(load('unguard.json'));
    await runNftProcess(load('unguard.json')); // idempotent
    assert.deepEqual(await elements('bridge'), { guard4: 0, guard6: 0 });
    await runNftProcess(load('network-remove.json'));
    assert.deepEqual(await elements('ip'), {
      bridges: 3, intra: 3, internal: 1, masq: 1, hairpin: 2,
      pub_ip_addr: 0, pub_ip_port: 0, pub_any_addr: 1, pub_any_port: 1, blockhost: 1, hostallow: 4,
    });
    await runNftProcess(load('remove-all.json'));
    assert.deepEqual(await listOwnTables(), []);
    assert.doesNotMatch(await runNftArgs(['list', 'tables']), /bridge ctnet/);
    await runNftProcess(load('remove-all.json'));
  });

  it('the ipv4-only base installs only table ip ctnet', async () => {
    await runNftProcess(load('base-ipv4.json'));
    assert.deepEqual(await listOwnTables(), ['ip ctnet']);
  });
});
