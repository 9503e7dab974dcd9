/**
 * A network is never made on someone else's interface: `network create --bridge NAME` where
 * NAME is an interface we did not make fails, and leaves that interface exactly as it was
 * (no gateway address added to it). Found by a new-user review: the create and the address
 * were one rtnl step, so the address landed on lo / a foreign veth / a foreign bridge.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Host } from '../../src/index.js';
import { BACKENDS, assertSandbox, backendFor, ip, ipJson, removeLeftovers } from '../helpers/index.js';

interface AddrInfo { ifname: string; addr_info: Array<{ local: string; prefixlen: number }> }

async function addrsOf(dev: string): Promise<string[]> {
  const j = await ipJson(['addr', 'show', 'dev', dev]) as AddrInfo[];
  return (j[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).sort();
}

for (const backend of BACKENDS) {
  describe(`network create on a foreign interface [${backend}]`, function () {
    this.timeout(60000);
    let stateDir: string;
    let host: Host;

    before(async () => {
      assertSandbox();
      await removeLeftovers('cfo-');
      await ip(['link', 'add', 'cfo-v0', 'type', 'veth', 'peer', 'name', 'cfo-v1']);
      await ip(['link', 'add', 'cfo-br', 'type', 'bridge']);
      stateDir = mkdtempSync(path.join(tmpdir(), 'cfo-state-'));
      host = await Host.open({ stateDir, backendInstance: await backendFor(backend), warn: () => {} });
    });
    after(async () => {
      await host?.close();
      rmSync(stateDir, { recursive: true, force: true });
      await removeLeftovers('cfo-');
    });

    for (const [dev, subnet] of [['lo', '172.22.0.0/16'], ['cfo-v0', '172.23.0.0/16'], ['cfo-br', '172.24.0.0/16']] as const) {
      it(`--bridge ${dev}: refused, and ${dev} keeps exactly its addresses`, async () => {
        const before = await addrsOf(dev);
        await assert.rejects(host.network({ name: `cfo-${dev.replace(/[^a-z0-9]/g, '')}`, subnet, bridge: dev }),
          (e: Error & { code?: string }) => /EEXIST/.test(String(e.code)) && e.message.includes(dev));
        assert.deepEqual(await addrsOf(dev), before, `${dev} was changed`);
        assert.deepEqual((await host.networks()).map((n) => n.name), [], 'no network row is left');
      });
    }
  });
}
