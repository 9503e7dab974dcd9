/**
 * Privileged: an ADD racing the DEL of the same container through the real agent (the
 * compiled ctnet-cni, "agent": "required", one agent process and one Host) leaves state and
 * kernel in agreement, and no address is given twice afterwards (issue 11 review,
 * /tmp/r1/t20.py and t21.py: 4 of 40 races leaked the attachment, its address reused).
 * Oracles: ip -j inside each netns, the state through Host.endpoints.
 * Rebuild first: npx node-gyp rebuild (or make -C build ctnet-cni), npx tsc -p tsconfig.json && npm run bundle.
 * Run: node test/run.mjs test/priv/cni-fixes-agent.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Host } from '../../src/index.js';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { requireShim, ROOT, runShim, tempDir } from '../unit/cni-shim-support.js';

const P = 'cnifa-';
const BIN = path.join(ROOT, 'bin', 'ctnet-fast.cjs');

describe('cni fixes (privileged): ADD racing DEL of one container through the agent', function () {
  this.timeout(300000);
  let t: { dir: string; remove: () => void };
  let state = '';
  let agent: ChildProcess | undefined;
  const config = JSON.stringify({
    cniVersion: '1.0.0', name: `${P}net`, type: 'ctnet-cni', bridge: `${P}br`, isGateway: true, ipMasq: true, agent: 'required',
    ipam: { type: 'host-local', subnet: '10.233.0.0/26', routes: [{ dst: '0.0.0.0/0' }] },
  });
  const env = (command: string, id: string): Record<string, string> => ({
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CTNET_STATE_DIR: state, CNI_COMMAND: command, CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${id}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni',
  });
  const v4 = async (ns: string): Promise<string[]> =>
    (await ipJson<{ addr_info?: Array<{ family: string; local: string }> }>(['addr', 'show'], ns))
      .flatMap((l) => l.addr_info ?? []).filter((a) => a.family === 'inet' && !a.local.startsWith('127.')).map((a) => a.local);
  const stateIps = async (): Promise<Map<string, string>> => {
    const h = await Host.open({ stateDir: state });
    try { return new Map((await h.endpoints({ network: `${P}net` })).map((e) => [e.containerId ?? '', e.ip])); } finally { await h.close(); }
  };

  before(async () => {
    assertSandbox();
    requireShim();
    assert.ok(existsSync(path.join(ROOT, 'dist', 'bundle', 'cli.cjs')), 'dist/bundle/cli.cjs is built (npm run bundle)');
    await removeLeftovers(P);
    t = tempDir();
    state = path.join(t.dir, 'state');
  });
  after(async () => {
    if (agent !== undefined && agent.exitCode === null) {
      const exited = new Promise((resolve) => agent!.once('exit', resolve));
      agent.kill('SIGTERM');
      await exited;
    }
    await removeLeftovers(P);
    t.remove();
  });

  it('30 races: each container is attached in the state exactly when its netns has the address; 10 fresh ADDs reuse no address held', async () => {
    agent = spawn(process.execPath, [BIN, '--state-dir', state, 'agent', 'run'], { stdio: 'ignore' });
    for (let i = 0; i < 600 && !existsSync(path.join(state, 'agent.sock')); i++) await sleep(50);
    const names = Array.from({ length: 30 }, (_, i) => `${P}r${i}`);
    for (const ns of names) await ip(['netns', 'add', ns]);
    for (const [k, ns] of names.entries()) {
      const add = runShim({ env: env('ADD', ns), stdin: config });
      await sleep(2 * (k % 10));
      const [a, d] = await Promise.all([add, runShim({ env: env('DEL', ns), stdin: config })]);
      assert.equal(a.status, 0, a.stdout.toString());
      assert.equal(d.status, 0, d.stdout.toString());
    }
    const st = await stateIps();
    for (const ns of names) assert.deepEqual(await v4(ns), st.has(ns) ? [st.get(ns)] : [], `${ns}: kernel and state disagree`);
    const fresh = Array.from({ length: 10 }, (_, i) => `${P}f${i}`);
    for (const ns of fresh) {
      await ip(['netns', 'add', ns]);
      const r = await runShim({ env: env('ADD', ns), stdin: config });
      assert.equal(r.status, 0, r.stdout.toString());
    }
    const all = (await Promise.all([...names, ...fresh].map(v4))).flat();
    assert.equal(new Set(all).size, all.length, `an address in two netns: ${all.join(' ')}`);
    for (const ns of [...names, ...fresh]) {
      const d = await runShim({ env: env('DEL', ns), stdin: config });
      assert.equal(d.status, 0, d.stdout.toString());
      assert.deepEqual(await v4(ns), [], ns);
      await ip(['netns', 'del', ns]);
    }
    assert.equal((await stateIps()).size, 0);
  });
});
