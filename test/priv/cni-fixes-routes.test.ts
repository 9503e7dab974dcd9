/**
 * Privileged: the ADD result's `routes` are the routes the container got (issue 11 review,
 * /tmp/r1/t25.py: isGateway without ipam routes gave a default route the result did not
 * list). Through handleCni on one Host; the oracle is ip -j route inside the netns.
 * Run: node test/run.mjs test/priv/cni-fixes-routes.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { handleCni, type CniHosts } from '../../src/cni/index.js';

const run = promisify(execFile);
const P = 'cnifr-';
const NET = `${P}net`;

describe('cni fixes (privileged): the result routes', function () {
  this.timeout(300000);
  let stateDir: string;
  let host: Host;
  let hosts: CniHosts;
  const conf = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    cniVersion: '1.0.0', name: NET, type: 'ctnet-cni', bridge: `${P}br`, isGateway: true, ipMasq: true, ctnetStateDir: stateDir,
    ipam: { type: 'host-local', subnet: '10.231.0.0/24', routes: [{ dst: '0.0.0.0/0' }] }, ...extra,
  });
  const env = (cmd: string, id: string, netns: string, more: Record<string, string> = {}): Record<string, string> =>
    ({ CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...more });
  const cni = (cmd: string, id: string, netns: string, c: Record<string, unknown> = conf(), caller?: { uid: number; pid: number }): ReturnType<typeof handleCni> =>
    handleCni(hosts, { env: env(cmd, id, netns), stdin: JSON.stringify(c) }, caller);
  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']);
    stateDir = mkdtempSync(path.join(tmpdir(), `${P}state-`));
    host = await Host.open({ stateDir });
    hosts = { open: () => Promise.resolve(host) };
  });

  after(async () => {
    if (host !== undefined) await host.close().catch(() => undefined);
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  it('the result lists the routes the container got: isGateway with no ipam routes gives a default route, and the result says so', async () => {
    const ns = `${P}rt`;
    await ip(['netns', 'add', ns]);
    const cases: Array<Record<string, unknown>> = [
      conf({ ipam: { type: 'host-local', subnet: '10.232.0.0/24' } }),
      conf({ ipam: { type: 'host-local', subnet: '10.232.1.0/24', routes: [{ dst: '192.168.50.0/24', gw: '10.232.1.9' }] } }),
      conf({ isGateway: false, ipam: { type: 'host-local', subnet: '10.232.2.0/24' } }),
    ];
    for (const [i, c] of cases.entries()) {
      const add = await cni('ADD', `rt${i}`, `/run/netns/${ns}`, { ...c, name: `${P}rt${i}`, bridge: `${P}rtb${i}` });
      assert.equal(add.exitCode, 0, add.stdout);
      const doc = JSON.parse(add.stdout) as { routes?: Array<{ dst: string; gw?: string }>; ips: Array<{ gateway?: string }> };
      const kernel = await ipJson<{ dst: string; gateway?: string }>(['-4', 'route', 'show', 'table', 'main'], ns);
      const got = kernel.filter((r) => r.gateway !== undefined).map((r) => `${r.dst === 'default' ? '0.0.0.0/0' : r.dst} via ${r.gateway ?? ''}`).sort();
      const said = (doc.routes ?? []).map((r) => `${r.dst} via ${r.gw ?? doc.ips[0]?.gateway ?? ''}`).sort();
      assert.deepEqual(said, got, `case ${i}: ${add.stdout}`);
      assert.equal((await cni('DEL', `rt${i}`, `/run/netns/${ns}`, { ...c, name: `${P}rt${i}`, bridge: `${P}rtb${i}` })).exitCode, 0);
    }
    await ip(['netns', 'del', ns]);
  });
});
