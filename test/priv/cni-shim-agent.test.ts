/**
 * Privileged: the compiled plugin (build/Release/ctnet-cni) with the real agent
 * (`ctnet-fast agent run`, bin/ctnet-fast.cjs → dist/bundle/cli.cjs) inside the sandbox:
 * ADD / CHECK / DEL relayed by the agent ("agent": "required", so nothing else could have
 * served them) and checked with ip -j; the agent stopped → error 11 naming the socket;
 * "agent": "auto" starting the agent itself. Rebuild first: npx node-gyp rebuild (or make
 * -C build ctnet-cni), npx tsc -p tsconfig.json && npm run bundle.
 * Run: node test/run.mjs test/priv/cni-shim-agent.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { alive, daemonProcesses } from '../helpers/daemon-procs.js';
import { cniError, requireShim, ROOT, runShim, tempDir } from '../unit/cni-shim-support.js';

const P = 'csha-';
const BIN = path.join(ROOT, 'bin', 'ctnet-fast.cjs');
const CONCURRENT = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7'];

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (cond()) return;
    await sleep(50);
  }
  assert.fail(`gave up waiting for ${what}`);
}

interface AddResult { ips: Array<{ address: string; interface: number }>; interfaces: Array<{ name: string; sandbox?: string }> }

describe('ctnet-cni through the real agent (privileged)', function () {
  this.timeout(180000);
  let t: { dir: string; remove: () => void };
  let state = '';
  let agent: ChildProcess | undefined;
  const started: number[] = [];

  const config = (mode: string): string => JSON.stringify({
    cniVersion: '1.0.0', name: `${P}net`, type: 'ctnet-cni', bridge: `${P}br`, isGateway: true, isDefaultGateway: true, agent: mode,
    ipam: { type: 'host-local', subnet: '10.215.0.0/24' }
  });
  const env = (command: string, id: string): Record<string, string> => ({
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CTNET_STATE_DIR: state, CNI_COMMAND: command, CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${id}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=p\u00e9;K8S_POD_NAMESPACE=default`,
  });
  const v4 = async (ns: string): Promise<string[]> =>
    (await ipJson<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>(['addr', 'show', 'dev', 'eth0'], ns))
      .flatMap((l) => l.addr_info).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);

  async function stopAgents(): Promise<void> {
    if (agent !== undefined && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((resolve) => agent!.once('exit', resolve));
      agent.kill('SIGTERM');
      await exited;
    }
    agent = undefined;
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGTERM');
    await until('the agents to stop', () => started.every((pid) => !alive(pid)));
    started.length = 0;
  }

  before(async () => {
    assertSandbox();
    requireShim();
    assert.ok(existsSync(path.join(ROOT, 'dist', 'bundle', 'cli.cjs')), 'dist/bundle/cli.cjs is built (npm run bundle)');
    await removeLeftovers(P);
    t = tempDir();
    state = path.join(t.dir, 'state');
    for (const ns of ['c1', 'c2', ...CONCURRENT]) await ip(['netns', 'add', `${P}${ns}`]);
  });
  afterEach(stopAgents);
  after(async () => { await stopAgents(); await removeLeftovers(P); t.remove(); });

  it('ADD, CHECK and DEL relayed by the agent ("agent": "required"), checked with ip -j', async () => {
    agent = spawn(process.execPath, [BIN, '--state-dir', state, 'agent', 'run'], { stdio: 'ignore' });
    await until('agent.sock', () => existsSync(path.join(state, 'agent.sock')));
    const id = `${P}c1`;
    const add = await runShim({ env: env('ADD', id), stdin: config('required') });
    assert.equal(add.status, 0, `${add.stdout.toString()} ${add.stderr.toString()}`);
    const result = JSON.parse(add.stdout.toString()) as AddResult;
    assert.equal(result.interfaces[result.ips[0]!.interface]!.sandbox, `/run/netns/${id}`);
    assert.deepEqual(await v4(id), [result.ips[0]!.address]);

    const withPrev = JSON.stringify({ ...JSON.parse(config('required')) as object, prevResult: result });
    const check = await runShim({ env: env('CHECK', id), stdin: withPrev });
    assert.equal(check.status, 0, check.stdout.toString());
    const del = await runShim({ env: env('DEL', id), stdin: withPrev });
    assert.equal(del.status, 0, del.stdout.toString());
    assert.deepEqual(await ipJson(['link', 'show', 'dev', 'eth0'], id).catch(() => []), [], 'eth0 is gone');
    const again = await runShim({ env: env('DEL', id), stdin: withPrev });
    assert.equal(again.status, 0, 'a second DEL succeeds');

    await stopAgents();
    const e = cniError(await runShim({ env: env('ADD', id), stdin: config('required') }));
    assert.equal(e.code, 11);
    assert.ok(e.msg.startsWith(`ctnet-fast agent is not running at ${path.join(state, 'agent.sock')}`), e.msg);
  });

  it('"agent": "auto" starts the agent (ctnet-fast agent run) and the ADD succeeds', async () => {
    const id = `${P}c2`;
    assert.deepEqual(daemonProcesses(state), [], 'no agent before');
    const add = await runShim({ env: env('ADD', id), stdin: config('auto') });
    started.push(...daemonProcesses(state));
    assert.equal(add.status, 0, `${add.stdout.toString()} ${add.stderr.toString()}`);
    const result = JSON.parse(add.stdout.toString()) as AddResult;
    assert.deepEqual(await v4(id), [result.ips[0]!.address]);
    assert.equal(started.length, 1, 'one agent was started for this state dir');
    const del = await runShim({ env: env('DEL', id), stdin: JSON.stringify({ ...JSON.parse(config('auto')) as object, prevResult: result }) });
    assert.equal(del.status, 0, del.stdout.toString());
  });

  it('concurrent "auto" ADDs with no agent: all succeed, distinct addresses, one agent left running', async () => {
    assert.deepEqual(daemonProcesses(state), [], 'no agent before');
    const ids = CONCURRENT.map((n) => `${P}${n}`);
    const runs = await Promise.all(ids.map((id) => runShim({ env: env('ADD', id), stdin: config('auto') })));
    await until('the agents that lost the race to exit', () => daemonProcesses(state).length <= 1);
    started.push(...daemonProcesses(state));
    assert.equal(started.length, 1, 'one agent serves the state dir');
    const addrs: string[] = [];
    for (const [k, r] of runs.entries()) {
      assert.equal(r.status, 0, `${ids[k]!}: ${r.stdout.toString()} ${r.stderr.toString()}`);
      const result = JSON.parse(r.stdout.toString()) as AddResult;
      assert.deepEqual(await v4(ids[k]!), [result.ips[0]!.address], ids[k]);
      addrs.push(result.ips[0]!.address);
    }
    assert.equal(new Set(addrs).size, ids.length, `distinct addresses: ${addrs.join(' ')}`);
    for (const [k, id] of ids.entries()) {
      const prev = JSON.parse(runs[k]!.stdout.toString()) as object;
      const del = await runShim({ env: env('DEL', id), stdin: JSON.stringify({ ...JSON.parse(config('auto')) as object, prevResult: prev }) });
      assert.equal(del.status, 0, del.stdout.toString());
    }
  });
});
