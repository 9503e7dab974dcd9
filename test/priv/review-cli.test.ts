// test/priv/review-cli.test.ts — new-user review, as a user runs the CLI (spawned, argument
// arrays), checked against the kernel (`ip -j`) and the state (`ls --json`): host/none
// attaches are de-duplicated and detachable by mode, host mode refuses a missing netns,
// none refuses a bridged netns, exec parses options before `--`, a symlinked or corrupt
// state.db; and the library: attach to a removed network is ENOTFOUND. Sandbox only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { EndpointInfo } from '../../src/model/types.js';
import { CODE, CtnetError } from '../../src/model/errors.js';
import { Host } from '../../src/topology/host.js';
import { ctnet, ensureBuilt, ipj, tempState, type Run } from './cli-network.test.js';

function ok(r: Run): Run {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

describe('review: CLI host/none modes, exec options, state file (privileged)', function () {
  this.timeout(120_000);
  let state: string;
  const NET = 'crev-net';
  const NS = ['crev-h0', 'crev-n0', 'crev-b0', 'crev-e0'];

  before(() => {
    ensureBuilt();
    state = tempState();
    for (const n of ['crev-h0', 'crev-e0']) spawnSync('ip', ['netns', 'add', n], { stdio: 'ignore' });
    ok(ctnet(state, ['network', 'create', NET, '--subnet', '10.233.40.0/24', '--bridge', 'crev-br0']));
  });
  after(() => {
    ctnet(state, ['network', 'rm', '--force', NET]);
    for (const n of NS) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    rmSync(state, { recursive: true, force: true });
  });

  const rows = (ns: string): EndpointInfo[] => ok(ctnet(state, ['--json', 'ls'])).json<EndpointInfo[]>().filter((e) => e.netnsName === ns || e.netns === `/run/netns/${ns}`);

  it('host mode twice: one endpoint; detach --network host and plain detach work', () => {
    ok(ctnet(state, ['attach', 'crev-h0', '--network', 'host']));
    ok(ctnet(state, ['attach', 'crev-h0', '--network', 'host']));
    assert.equal(rows('crev-h0').length, 1);
    const d = ok(ctnet(state, ['detach', 'crev-h0', '--network', 'host']));
    assert.match(d.stdout, /detached crev-h0 \(mode host\)/);
    assert.equal(rows('crev-h0').length, 0);
    ok(ctnet(state, ['attach', 'crev-h0', '--network', 'host']));
    ok(ctnet(state, ['detach', 'crev-h0']));
    assert.equal(rows('crev-h0').length, 0);
    assert.ok(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('crev-h0'), 'host mode never deletes the netns');
  });

  it('host mode refuses a netns that does not exist, naming it', () => {
    const r = ctnet(state, ['attach', 'crev-missing', '--network', 'host']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /\/run\/netns\/crev-missing/);
    assert.equal(rows('crev-missing').length, 0);
  });

  it('none mode twice: one endpoint, only lo; detach --network none prints the mode', () => {
    ok(ctnet(state, ['attach', 'crev-n0', '--network', 'none']));
    ok(ctnet(state, ['attach', 'crev-n0', '--network', 'none']));
    assert.equal(rows('crev-n0').length, 1);
    assert.deepEqual(ipj(['link', 'show'], 'crev-n0').map((l) => l.ifname), ['lo']);
    const d = ok(ctnet(state, ['detach', 'crev-n0', '--network', 'none']));
    assert.match(d.stdout, /detached crev-n0 \(mode none\)/);
    assert.doesNotMatch(d.stdout, /from $/m);
    assert.equal(rows('crev-n0').length, 0);
  });

  it('none mode refuses a netns already on a bridge network; its eth0 stays', () => {
    ok(ctnet(state, ['attach', 'crev-b0', '--network', NET]));
    const r = ctnet(state, ['attach', 'crev-b0', '--network', 'none']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /crev-net/);
    assert.deepEqual(rows('crev-b0').map((e) => e.mode), ['bridge']);
    assert.ok(ipj(['link', 'show'], 'crev-b0').some((l) => l.ifname === 'eth0'));
    ok(ctnet(state, ['detach', 'crev-b0']));
  });

  it('exec NETNS --json -- CMD runs CMD', () => {
    const r = ok(ctnet(state, ['exec', 'crev-e0', '--json', '--', 'ip', '-j', 'link', 'show', 'lo']));
    assert.match(r.stdout, /"ifname":"lo"/);
  });

  it('a symlinked state.db is refused naming it; an empty one exits 1', () => {
    const dir = tempState();
    const other = tempState();
    try {
      ok(ctnet(other, ['network', 'ls']));
      symlinkSync(path.join(other, 'state.db'), path.join(dir, 'state.db'));
      const r = ctnet(dir, ['ls']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /state\.db/);
      assert.match(r.stderr, /symbolic link/);
      rmSync(path.join(dir, 'state.db'));
      writeFileSync(path.join(dir, 'state.db'), '');
      const e = ctnet(dir, ['ls']);
      assert.equal(e.code, 1, e.stderr);
      assert.match(e.stderr, /empty/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('library: attach to a network after net.remove() is ENOTFOUND naming it', async () => {
    const host = await Host.open({ stateDir: state });
    try {
      const net = await host.network({ name: 'crev-gone', subnet: '10.233.41.0/24', bridge: 'crev-br1' });
      await net.remove();
      await assert.rejects(net.attach({ netns: 'crev-x0' }), (e: unknown) => e instanceof CtnetError && e.code === CODE.notFound && /crev-gone/.test(e.message));
      assert.deepEqual(ipj(['link', 'show', 'crev-br1']), []);
    } finally {
      await host.close();
      spawnSync('ip', ['netns', 'del', 'crev-x0'], { stdio: 'ignore' });
    }
  });
});
