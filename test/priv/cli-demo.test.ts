// Privileged test of `ctnet-fast demo`: it re-executes itself inside its own unshare'd
// network + mount namespace, builds the tutorial's network, proves it with traffic, times
// it against ip processes and tears it down. Timings are printed, never asserted.
import assert from 'node:assert/strict';
import { ctnet, ensureBuilt, tempState, testEnv, withReadableCheckout } from './cli-network.test.js';
import { existsSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

describe('ctnet-fast CLI: demo (privileged)', function () {
  this.timeout(180_000);
  let state: string;
  before(() => {
    ensureBuilt();
    state = tempState();
  });
  after(() => rmSync(state, { recursive: true, force: true }));

  it('demo exits 0, says where it runs, passes every check and prints its timing table', () => {
    const r = ctnet(state, ['demo']);
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stderr, /running in a private network \+ mount namespace made with unshare/);
    assert.match(r.stdout, /^STEP +CTNET-FAST MS +IP-PROCESSES MS +RATIO +IP PROCS$/m);
    for (const step of ['network create demo 172.18.0.0/16', 'attach netns0', 'attach netns1', 'publish 8080:80 on netns0', 'detach netns0 + netns1', 'network rm demo']) {
      assert.match(r.stdout, new RegExp(`^${step.replace(/[.+]/g, '\\$&')} +\\d+\\.\\d+ +\\d+\\.\\d+ +\\d+\\.\\d×`, 'm'), step);
    }
    assert.doesNotMatch(r.stdout, /FAIL/);
    assert.match(r.stdout, /All checks passed/);
  });

  it('demo --json: one document with steps, checks and ok; nothing is left in this netns', () => {
    const r = ctnet(state, ['--json', 'demo', '--no-compare']);
    assert.equal(r.code, 0, r.stderr);
    const doc = r.json<{ ok: boolean; sandbox: { kind: string }; steps: Array<{ step: string; ctnetMs: number; ipMs: number | null }>; checks: Array<{ check: string; ok: boolean; build: string }> }>();
    assert.equal(doc.ok, true);
    assert.equal(doc.sandbox.kind, 'unshare');
    assert.ok(doc.checks.length >= 8);
    assert.ok(doc.checks.every((c) => c.ok && c.build === 'ctnet-fast'));
    assert.ok(doc.steps.some((s) => s.step === 'attach netns0' && s.ctnetMs > 0 && s.ipMs === null));
    // everything happened in the demo's own namespaces: none of its objects is visible here
    for (const n of ['netns0', 'netns1', 'outside']) assert.equal(existsSync(`/run/netns/${n}`), false, n);
    const links = (JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
    for (const l of ['vout', 'br0', 'veth0', 'veth1']) assert.ok(!links.includes(l), l);
  });

  it('demo without root: runs inside a user namespace when the kernel allows it, else exit 4 with the fix', () => {
    const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'unshare', '--user', '--map-root-user', '--net', '--mount', '--', 'true']);
    // the checkout as nobody can read it, wherever root cloned it (a 0700 /root/… too)
    const r = withReadableCheckout((root) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--',
      process.execPath, path.join(root, 'bin/ctnet-fast.cjs'), '--json', 'demo', '--no-compare'],
    { encoding: 'utf8', env: { ...testEnv(state), HOME: '/tmp' }, cwd: root, timeout: 120_000 }));
    if (probe.status === 0) {
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as { ok: boolean; sandbox: { description: string } };
      assert.equal(doc.ok, true);
      assert.match(doc.sandbox.description, /user namespace mapping you to root/);
    } else {
      assert.equal(r.status, 4);
      assert.match(r.stderr, /sudo ctnet-fast demo/);
    }
  });
});
