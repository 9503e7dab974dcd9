// Unit tests of the CLI entry (src/cli/main.ts) run in-process with fake streams: version,
// help, and every error that must be caught before any kernel work (exit 2 naming the bad
// argument, exit 3 for a missing netns), in human and --json form. No privileges needed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { versionText } from '../../src/cli/version.js';
import { networkSpecFrom } from '../../src/cli/verbs/network.js';
import { attachTargets } from '../../src/cli/verbs/attach.js';
import { fakeStreams } from './cli-output.test.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const s = fakeStreams();
  const code = await main(argv, s, env);
  return { code, out: s.out.join(''), err: s.err.join('') };
}

describe('cli main', () => {
  it('the bin answers a plain version with exactly the text of the version module', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/ctnet-fast.cjs'), 'version'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `${versionText()}\n`);
  });

  it('daemon start/run: a bad --idle-timeout is a usage error (exit 2) before anything starts', async () => {
    for (const verb of ['start', 'run']) {
      for (const bad of ['abc', '-1', '1.5', '99999999']) {
        const r = await cli(['daemon', verb, `--idle-timeout=${bad}`]);
        assert.equal(r.code, 2, `${verb} ${bad}: ${r.err}`);
        assert.match(r.err, new RegExp(`--idle-timeout "${bad.replace('.', '\\.')}": expected whole seconds up to 2147483 \\(0: never\\)`));
      }
    }
    const j = await cli(['--json', 'daemon', 'status', '--idle-timeout', '5']);
    assert.equal(j.code, 2, 'status takes no --idle-timeout');
    assert.equal((JSON.parse(j.out) as { error: { code: string } }).error.code, 'EUSAGE');
  });

  it('version: human and --json, without loading the library', async () => {
    const a = await cli(['version']);
    assert.equal(a.code, 0);
    assert.match(a.out, /^ctnet-fast \d+\.\d+\.\d+ \(node v\d+/);
    const b = await cli(['--json', 'version']);
    const doc = JSON.parse(b.out) as { name: string; version: string; node: string };
    assert.equal(doc.name, 'ctnet-fast');
    assert.equal(doc.node, process.version);
  });

  it('help goes to stdout with exit 0; an unknown help topic is a usage error', async () => {
    const h = await cli(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, /Usage: ctnet-fast \[GLOBAL OPTIONS\] COMMAND/);
    const v = await cli(['attach', '--help']);
    assert.match(v.out, /Usage: ctnet-fast attach NETNS\.\.\. --network NAME/);
    const u = await cli(['help', 'nope']);
    assert.equal(u.code, 2);
  });

  it('usage errors: exit 2, one line naming the argument; --json gives an error object', async () => {
    const a = await cli(['attach', 'c1', '--network', 'demo', '--bogus']);
    assert.equal(a.code, 2);
    assert.equal(a.out, '');
    assert.equal(a.err, 'ctnet-fast: attach: unknown option --bogus (see ctnet-fast attach --help)\n');
    const j = await cli(['--json', 'network', 'create', 'x']);
    assert.equal(j.code, 2);
    const doc = JSON.parse(j.out) as { error: { code: string; message: string; exitCode: number } };
    assert.equal(doc.error.code, 'EUSAGE');
    assert.equal(doc.error.exitCode, 2);
    assert.match(doc.error.message, /missing --subnet/);
  });

  it('bad input is refused before any kernel work, naming the option', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['network', 'create', 'x', '--subnet', '10.0.0.300/8'], /--subnet: invalid subnet "10\.0\.0\.300\/8"/],
      [['network', 'create', 'x', '--subnet', '10.0.0.0/33'], /--subnet: .*prefix length/],
      [['network', 'create', 'x', '--subnet', 'fd00::/64'], /--subnet: .*IPv4/],
      [['network', 'create', 'x', '--subnet', '10.0.0.0/8', '--mtu', '9x'], /--mtu "9x"/],
      [['network', 'create', 'x', '--subnet', '10.0.0.0/8', '--gateway', 'zz'], /--gateway/],
      [['network', 'create', 'x', '--subnet', '10.0.0.0/8', '--bridge', 'a-very-long-bridge-name'], /--bridge "a-very-long-bridge-name"/],
      [['attach', 'c1', '--network', 'demo', '--publish', '70000:80'], /--publish invalid port mapping "70000:80": host port 70000 is out of range/],
      [['attach', 'c1', '--network', 'demo', '--mac', 'xx'], /--mac "xx"/],
      [['attach', 'c1', '--network', 'demo', '--mac', '01:00:5e:00:00:01'], /attach: invalid --mac "01:00:5e:00:00:01": a multicast address/],
      // the kernel's own rule (src/validate): no ':' and no '%' template in an interface name
      [['attach', 'c1', '--network', 'demo', '--ifname', 'eth:0'], /attach: invalid --ifname "eth:0": must not contain '\/', ':'/],
      [['attach', 'c1', '--network', 'demo', '--ifname', 'eth%d'], /attach: invalid --ifname "eth%d": must not contain '%'/],
      [['network', 'create', 'x', '--subnet', '10.0.0.0/8', '--bridge', 'br:0'], /network create: invalid --bridge "br:0"/],
      [['network', 'create', 'x', '--subnet', '10.0.0.0/8', '--mtu', '70000'], /network create: invalid --mtu 70000: expected an integer in 68\.\.65535/],
      [['attach', 'c1', 'c2', '--network', 'demo', '--ip', '10.0.0.5'], /--ip applies to one NETNS/],
      [['attach', 'c1', 'c2', '--network', 'demo', '-p', '80:80'], /--publish with 2 NETNS/],
      [['attach', 'c1', 'c1', '--network', 'demo'], /"c1" given twice/],
      [['attach', 'rel/path', '--network', 'demo'], /must be absolute/],
      [['attach', '--network', 'demo'], /attach: missing NETNS/],
      [['publish', 'c1', '8080'], /publish: invalid port mapping "8080"/],
      [['unpublish', 'c1', '1:2/sctp'], /protocol "sctp"/],
      [['detach', 'bad..name'], /detach: NETNS/],
    ];
    for (const [argv, re] of cases) {
      const r = await cli(argv);
      assert.equal(r.code, 2, `${argv.join(' ')} → ${r.code} ${r.err}`);
      assert.match(r.err, re, argv.join(' '));
      assert.equal(r.err.split('\n').filter((l) => l !== '').length, 1, argv.join(' '));
    }
  });

  it('a missing netns is "not found" (exit 3) for exec and inspect', async () => {
    const e = await cli(['exec', 'ccli-does-not-exist', '--', 'true']);
    assert.equal(e.code, 3);
    assert.match(e.err, /netns "ccli-does-not-exist" not found \(\/run\/netns\/ccli-does-not-exist\): create it with ctnet-fast netns add/);
    const p = await cli(['--json', 'inspect', '/proc/999999999/ns/net']);
    assert.equal(p.code, 3);
    assert.equal((JSON.parse(p.out) as { error: { code: string } }).error.code, 'ENOTFOUND');
  });

  it('network create spec: internal implies no masquerade; options map to NetworkSpec', async () => {
    assert.deepEqual(await networkSpecFrom('n', { subnet: '10.1.0.0/16', internal: true }),
      { name: 'n', subnet: '10.1.0.0/16', internal: true, masquerade: false });
    assert.deepEqual(await networkSpecFrom('n', { subnet: '10.1.0.0/16', 'no-masquerade': true, mtu: '1400', subnet6: 'fd00:1::/64', gateway6: 'fd00:1::fe' }),
      { name: 'n', subnet: '10.1.0.0/16', subnet6: 'fd00:1::/64', gateway6: 'fd00:1::fe', mtu: 1400, masquerade: false });
    await assert.rejects(networkSpecFrom('n', { subnet: '10.1.0.0/16', gateway6: 'fd00::1' }), /--gateway6 needs --subnet6/);
  });

  it('attach targets from arguments and --from-file, with per-line options', async () => {
    const file = 'c2 --ip 10.0.0.9 -p 8080:80\n# comment\n\n/proc/1/ns/net --mac 02:00:00:00:00:AA\n';
    const r = await attachTargets({ options: { network: 'demo', 'from-file': 'list.txt', ifname: 'eth1' }, positionals: ['c1'] }, () => file);
    assert.equal(r.network, 'demo');
    assert.equal(r.many, true);
    assert.deepEqual(r.targets, [
      { netns: 'c1', ifname: 'eth1' },
      { netns: 'c2', ifname: 'eth1', ip: '10.0.0.9', publish: ['8080:80'] },
      { netns: '/proc/1/ns/net', ifname: 'eth1', mac: '02:00:00:00:00:aa' },
    ]);
    const one = await attachTargets({ options: { network: 'demo', publish: ['80:80'] }, positionals: ['c1'] });
    assert.equal(one.many, false);
    await assert.rejects(attachTargets({ options: { network: 'demo', 'from-file': 'x' }, positionals: [] }, () => '# nothing\n'), /lists no NETNS/);
    await assert.rejects(attachTargets({ options: { network: 'demo', 'from-file': 'x' }, positionals: [] }, () => 'c1 -p 99999:1\n'), /--publish invalid port mapping "99999:1"/);
  });

  it('the bin says how to build when dist/ is missing (exit 4), without a stack trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ccli-bin-'));
    try {
      mkdirSync(path.join(dir, 'bin'));
      copyFileSync(path.join(ROOT, 'bin/ctnet-fast.cjs'), path.join(dir, 'bin/ctnet-fast.cjs'));
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'ctnet-fast', version: '9.9.9', type: 'module' }));
      for (const argv of [['network', 'ls'], ['--json', 'version']]) {
        const r = spawnSync(process.execPath, [path.join(dir, 'bin/ctnet-fast.cjs'), ...argv], { encoding: 'utf8' });
        assert.equal(r.status, 4, r.stderr);
        assert.equal(r.stderr, 'ctnet-fast: the CLI is not built (dist/src/cli/main.js is missing): run npm run build\n');
      }
      // a plain `version` is answered by the bin itself
      const v = spawnSync(process.execPath, [path.join(dir, 'bin/ctnet-fast.cjs'), 'version'], { encoding: 'utf8' });
      assert.equal(v.status, 0);
      assert.match(v.stdout, /^ctnet-fast 9\.9\.9 \(node v/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
