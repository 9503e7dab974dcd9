/**
 * Privileged: `network create` refuses subnets that are the host's (issue 10 item 2), and
 * races between real CLI processes leave the kernel and the state agreeing (item 5): two
 * identical creates, and attach ×10 racing `network rm --force`. The bin runs with
 * CTNET_DAEMON=off (argument arrays); the oracle is `ip -j` and the state
 * (test/helpers/break-oracle.ts). Names start with "cns-".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { settledProblems } from '../helpers/break-oracle.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/ctnet-fast.cjs');
const TRIALS = 30;

interface Run { code: number; stdout: string; stderr: string }
function cli(state: string, args: readonly string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, CTNET_STATE_DIR: state, CTNET_DAEMON: 'off', NO_COLOR: '1' };
  delete env.NODE_EXTRA_CA_CERTS;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, cwd: ROOT, timeout: 60000, encoding: 'utf8' }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr });
    });
  });
}

const bridges = async (): Promise<string[]> => (await ipJson<{ ifname: string }>(['link', 'show'])).map((l) => l.ifname).filter((n) => n.startsWith('cns-'));
const ourNetns = (): string[] => { try { return readdirSync('/run/netns').filter((n) => n.startsWith('cns-')); } catch { return []; } };

describe('ctnet-fast CLI (privileged): safe subnets and races', function () {
  this.timeout(600000);
  let state: string;
  beforeEach(async () => {
    assertSandbox();
    await removeLeftovers('cns-');
    state = mkdtempSync(path.join(tmpdir(), 'cns-'));
  });
  afterEach(async () => {
    await removeLeftovers('cns-');
    rmSync(state, { recursive: true, force: true });
  });

  it("refuses the host's addresses, special ranges and (unless --ignore-host-routes) host routes; nothing is created", async () => {
    // the host's LAN link (a veth: the sandbox kernel may lack the dummy module)
    await ip(['link', 'add', 'cns-dummy', 'type', 'veth', 'peer', 'name', 'cns-dpeer']);
    await ip(['addr', 'add', '192.168.50.10/24', 'dev', 'cns-dummy']);
    await ip(['link', 'set', 'cns-dummy', 'up']);
    await ip(['link', 'set', 'cns-dpeer', 'up']);
    await ip(['route', 'add', '10.20.0.0/16', 'via', '192.168.50.1', 'dev', 'cns-dummy']);
    const lan = await cli(state, ['network', 'create', 'lan', '--subnet', '192.168.50.0/24', '--bridge', 'cns-br0']);
    assert.notEqual(lan.code, 0);
    assert.match(lan.stderr, /192\.168\.50\.10\/24/);
    assert.match(lan.stderr, /cns-dummy/);
    // the address is refused even with the route override
    assert.notEqual((await cli(state, ['network', 'create', 'lan', '--subnet', '192.168.50.0/24', '--ignore-host-routes'])).code, 0);
    for (const s of ['0.0.0.0/0', '127.0.0.0/8', '224.0.0.0/4', '169.254.0.0/16', '0.0.0.0/8']) {
      const r = await cli(state, ['network', 'create', 'sp', '--subnet', s, '--bridge', 'cns-br1']);
      assert.equal(r.code, 2, `${s}: ${r.stderr}`);
    }
    for (const s6 of ['fe80::/64', '::ffff:0:0/96']) {
      const r = await cli(state, ['network', 'create', 'sp6', '--subnet', '10.99.0.0/24', '--subnet6', s6, '--bridge', 'cns-br1']);
      assert.equal(r.code, 2, `${s6}: ${r.stderr}`);
    }
    const routed = await cli(state, ['network', 'create', 'rt', '--subnet', '10.20.5.0/24', '--bridge', 'cns-br2']);
    assert.notEqual(routed.code, 0);
    assert.match(routed.stderr, /10\.20\.0\.0\/16.*--ignore-host-routes/);
    assert.deepEqual((await bridges()).sort(), ['cns-dpeer', 'cns-dummy'], 'nothing created on refusal');
    assert.equal(JSON.parse((await cli(state, ['network', 'ls', '--json'])).stdout).length, 0);
    const ok = await cli(state, ['network', 'create', 'rt', '--subnet', '10.20.5.0/24', '--bridge', 'cns-br2', '--ignore-host-routes']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual((await bridges()).sort(), ['cns-br2', 'cns-dpeer', 'cns-dummy']);
    assert.equal((await cli(state, ['network', 'rm', 'rt'])).code, 0);
  });

  it(`two identical network creates at once both succeed and build one network (${TRIALS} trials)`, async () => {
    for (let t = 0; t < TRIALS; t++) {
      const args = ['network', 'create', 'r', '--subnet', '10.77.0.0/24', '--bridge', 'cns-r'];
      const [a, b] = await Promise.all([cli(state, args), cli(state, args)]);
      assert.equal(a.code, 0, `trial ${t}: ${a.stderr}`);
      assert.equal(b.code, 0, `trial ${t}: ${b.stderr}`);
      assert.deepEqual(await bridges(), ['cns-r'], `trial ${t}`);
      // the kernel reaps a detached netns's veth on its own, a little later: wait for it
      assert.deepEqual(await settledProblems({ stateDir: state, netnsPrefix: 'cns-' }), [], `trial ${t}`);
      const rm = await cli(state, ['network', 'rm', 'r']);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(await bridges(), [], `trial ${t}: removed`);
    }
  });

  it(`attach ×10 racing network rm --force: the kernel and the state agree (${TRIALS} trials)`, async () => {
    for (let t = 0; t < TRIALS; t++) {
      assert.equal((await cli(state, ['network', 'create', 'q', '--subnet', '10.78.0.0/24', '--bridge', 'cns-q'])).code, 0);
      const attaches = Array.from({ length: 10 }, (_, i) => cli(state, ['attach', `cns-c${i}`, '--network', 'q']));
      const rm = cli(state, ['network', 'rm', '--force', 'q']);
      const [rmr, ...ats] = await Promise.all([rm, ...attaches]);
      for (const a of ats) if (a.code !== 0) assert.match(a.stderr, /being removed|not found|is missing|EBUSY|ENOTFOUND/i, `trial ${t}: ${a.stderr}`);
      // the kernel reaps a detached netns's veth on its own, a little later: wait for it
      assert.deepEqual(await settledProblems({ stateDir: state, netnsPrefix: 'cns-' }), [], `trial ${t} (rm exit ${rmr.code}: ${rmr.stderr})`);
      // start the next trial from nothing: whatever attached after the rm is detached, then rm again
      if (rmr.code !== 0 || (await bridges()).includes('cns-q')) assert.equal((await cli(state, ['network', 'rm', '--force', 'q'])).code, 0);
      for (const n of ourNetns()) await cli(state, ['detach', n]);
      assert.deepEqual(await bridges(), [], `trial ${t}: no bridge without its row`);
      assert.deepEqual(ourNetns(), [], `trial ${t}: no netns left`);
    }
  });
});
