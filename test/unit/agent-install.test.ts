// Unit tests of the agent's config file and systemd unit (src/cli/daemon/access.ts readConfig,
// src/cli/verbs/agent.ts), run in-process with fake streams in a temp --unit-dir: install writes
// exactly one unit whose ExecStart runs `agent run` with this node, bin, state dir and config;
// install again updates it; uninstall removes exactly it and leaves a unit someone else wrote
// alone; a bad config is refused naming the key. systemctl is never run. No privileges needed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import { readConfig } from '../../src/cli/daemon/access.js';
import { unitText } from '../../src/cli/verbs/agent.js';
import { fakeStreams } from './cli-output.test.js';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const s = fakeStreams();
  const code = await main(argv, s, {});
  return { code, out: s.out.join(''), err: s.err.join('') };
}

describe('agent install / uninstall / config', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'agu-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('install writes one unit (ExecStart = agent run with the state dir and config); again updates it; uninstall removes exactly it', async () => {
    const units = path.join(dir, 'units');
    const cfg = path.join(dir, 'agent.json');
    writeFileSync(cfg, JSON.stringify({ group: '0' }));
    const r = await cli(['--json', '--state-dir', path.join(dir, 'st ate'), 'agent', 'install', '--unit-dir', units, '--config', cfg]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { unit: string; changed: string; execStart: string; stateDir: string; config: string };
    const unit = path.join(units, 'ctnet-fast-agent.service');
    assert.deepEqual([doc.unit, doc.changed, doc.config], [unit, 'installed', cfg]);
    assert.deepEqual(readdirSync(units), ['ctnet-fast-agent.service']);
    const text = readFileSync(unit, 'utf8');
    assert.match(text, /^\[Service\]$/m);
    assert.match(text, /^WantedBy=multi-user\.target$/m);
    const exec = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
    assert.equal(exec, doc.execStart);
    assert.ok(exec.startsWith(`${process.execPath} `), exec);
    assert.ok(exec.endsWith(` agent run --state-dir "${path.join(dir, 'st ate')}" --config ${cfg}`), exec);
    const again = await cli(['agent', 'install', '--unit-dir', units]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /^updated .*ctnet-fast-agent\.service\nnext: systemctl daemon-reload && systemctl enable --now ctnet-fast-agent\.service\n$/);
    assert.doesNotMatch(readFileSync(unit, 'utf8'), /--config/);
    const un = await cli(['--json', 'agent', 'uninstall', '--unit-dir', units]);
    assert.equal(un.code, 0, un.err);
    assert.deepEqual(JSON.parse(un.out), { unit, removed: true });
    assert.deepEqual(readdirSync(units), []);
    const twice = await cli(['--json', 'agent', 'uninstall', '--unit-dir', units]);
    assert.deepEqual([twice.code, JSON.parse(twice.out)], [0, { unit, removed: false }]);
  });

  it('a unit of that name someone else wrote is neither overwritten nor removed', async () => {
    const unit = path.join(dir, 'ctnet-fast-agent.service');
    writeFileSync(unit, '[Service]\nExecStart=/usr/local/bin/mine\n');
    for (const verb of ['install', 'uninstall']) {
      const r = await cli(['agent', verb, '--unit-dir', dir]);
      assert.equal(r.code, 1, `${verb}: ${r.err}`);
      assert.match(r.err, /was not written by ctnet-fast agent install/);
    }
    assert.equal(readFileSync(unit, 'utf8'), '[Service]\nExecStart=/usr/local/bin/mine\n');
  });

  it('the config: known keys only, checked values, an unknown group refused; words with spaces or % are quoted for systemd', async () => {
    const cfg = path.join(dir, 'c.json');
    const bad: Array<[unknown, RegExp]> = [
      [{ group: 'no-such-group-agu' }, /group "no-such-group-agu" not found in \/etc\/group/],
      [{ cniAgentMode: 'required' }, /"cniAgentMode" was removed: it had no effect .*"agent": "fallback" \| "auto" \| "required" in each CNI network config/],
      [{ colour: 'blue' }, /unknown key "colour"/],
      [{ metricsListen: 9090 }, /"metricsListen" must be a string/],
      [[1], /expected a JSON object/],
    ];
    for (const [v, re] of bad) {
      writeFileSync(cfg, JSON.stringify(v));
      assert.throws(() => readConfig(cfg), re);
    }
    writeFileSync(cfg, '{"group":"root","metricsListen":"127.0.0.1:9090"}');
    assert.deepEqual(readConfig(cfg), { group: 'root', metricsListen: '127.0.0.1:9090' });
    assert.throws(() => readConfig(path.join(dir, 'absent.json')), /agent config .*absent\.json/);
    const r = await cli(['agent', 'run', '--config', path.join(dir, 'absent.json')]);
    assert.equal(r.code, 3, r.err);
    const t = unitText({ node: '/usr/bin/node', bin: '/opt/a b/bin/ctnet-fast.cjs', stateDir: '/run/x%y' });
    assert.match(t, /^ExecStart=\/usr\/bin\/node "\/opt\/a b\/bin\/ctnet-fast\.cjs" agent run --state-dir \/run\/x%%y$/m);
    assert.equal(existsSync(path.join(dir, 'ctnet-fast-agent.service')), false);
  });
});
