// Unit tests of the CLI grammar (src/cli/args.ts): verbs, aliases, global options anywhere,
// exec's command split, and usage errors that name the bad argument. No privileges.
import assert from 'node:assert/strict';
import { parseCommandLine, parseFromFileLine, UsageError, type Parsed } from '../../src/cli/args.js';
import { VERBS } from '../../src/cli/table.js';
import { helpFor } from '../../src/cli/help.js';
import { describeError, errorLine } from '../../src/cli/output.js';

function run(argv: string[]): Extract<Parsed, { kind: 'run' }> {
  const p = parseCommandLine(argv);
  assert.equal(p.kind, 'run');
  return p as Extract<Parsed, { kind: 'run' }>;
}

function usage(argv: string[], re: RegExp): UsageError {
  try {
    parseCommandLine(argv);
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${String(e)}`);
    assert.match(e.message, re);
    return e;
  }
  assert.fail(`no usage error for ${JSON.stringify(argv)}`);
}

describe('cli args', () => {
  it('parses network create with every option', () => {
    const p = run(['network', 'create', 'demo', '--subnet', '172.18.0.0/16', '--subnet6=fd00:18::/64', '--gateway', '172.18.0.254',
      '--bridge', 'br-demo', '--mtu', '1400', '--internal', '--no-masquerade']);
    assert.equal(p.verb.name, 'network create');
    assert.deepEqual(p.positionals, ['demo']);
    assert.deepEqual(p.options, {
      subnet: '172.18.0.0/16', subnet6: 'fd00:18::/64', gateway: '172.18.0.254', bridge: 'br-demo', mtu: '1400',
      internal: true, 'no-masquerade': true,
    });
  });

  it('accepts global options before, between and after the verb words', () => {
    const p = run(['--state-dir', '/tmp/s', 'network', '--json', 'ls', '-q', '--host-netns=sb']);
    assert.equal(p.verb.name, 'network ls');
    assert.deepEqual(p.global, { json: true, quiet: true, verbose: false, stateDir: '/tmp/s', hostNetns: 'sb' });
    const q = run(['-j', 'attach', 'c1', '--network', 'demo', '-v']);
    assert.equal(q.global.json, true);
    assert.equal(q.global.verbose, true);
  });

  it('knows the aliases of sub-commands', () => {
    assert.equal(run(['network', 'list']).verb.name, 'network ls');
    assert.equal(run(['network', 'remove', 'x']).verb.name, 'network rm');
    assert.equal(run(['network', 'delete', 'x']).verb.name, 'network rm');
    assert.equal(run(['network', 'show', 'x']).verb.name, 'network inspect');
    assert.equal(run(['netns', 'delete', 'x']).verb.name, 'netns del');
    assert.equal(run(['netns', 'list']).verb.name, 'netns ls');
    assert.equal(run(['--version']).verb.name, 'version');
  });

  it('help TOPIC knows the same aliases as the parser', () => {
    for (const [group, sub] of [['network', 'list'], ['network', 'del'], ['network', 'add'], ['netns', 'rm'], ['netns', 'create'], ['daemon', 'start']] as const) {
      const topic = (parseCommandLine([group, sub, '--help']) as { topic?: string }).topic ?? '';
      assert.match(helpFor(`${group} ${sub}`) ?? '', new RegExp(`^Usage: ctnet-fast ${topic}[ \\n]`), `${group} ${sub}`);
    }
    assert.match(helpFor('network') ?? '', /^Usage: ctnet-fast network COMMAND/);
    assert.equal(helpFor('network frob'), undefined);
    assert.equal(helpFor('toString'), undefined);
  });

  it('attach takes many NETNS and repeated --publish', () => {
    const p = run(['attach', 'c1', 'c2', '/proc/1/ns/net', '-n', 'demo', '--publish', '8080:80', '-p', '53:53/udp']);
    assert.deepEqual(p.positionals, ['c1', 'c2', '/proc/1/ns/net']);
    assert.deepEqual(p.options, { network: 'demo', publish: ['8080:80', '53:53/udp'] });
  });

  it('exec: everything after NETNS (or after --) is the command, untouched', () => {
    const a = run(['exec', 'ns0', '--', 'ip', '-j', 'addr', '--help']);
    assert.deepEqual(a.positionals, ['ns0']);
    assert.deepEqual(a.command, ['ip', '-j', 'addr', '--help']);
    const b = run(['--verbose', 'exec', 'ns0', 'ping', '-c1', '10.0.0.1']);
    assert.deepEqual(b.command, ['ping', '-c1', '10.0.0.1']);
    assert.equal(b.global.verbose, true);
    const c = run(['exec', '-j', '/proc/1/ns/net', '--', 'sh', '-c', 'echo hi; exit 3']);
    assert.deepEqual(c.positionals, ['/proc/1/ns/net']);
    assert.deepEqual(c.command, ['sh', '-c', 'echo hi; exit 3']);
    const d = run(['exec', '--', 'ns0', 'true']);
    assert.deepEqual(d.positionals, ['ns0']);
    assert.deepEqual(d.command, ['true']);
  });

  it('exec: global options after NETNS and before -- are options (new-user review)', () => {
    const a = run(['exec', 'ns0', '--json', '--', 'ip', '-j', 'addr']);
    assert.deepEqual(a.positionals, ['ns0']);
    assert.deepEqual(a.command, ['ip', '-j', 'addr']);
    assert.equal(a.global.json, true);
    const b = run(['exec', 'ns0', '-q', '--state-dir', '/tmp/x', '--', 'true']);
    assert.deepEqual(b.command, ['true']);
    assert.equal(b.global.quiet, true);
    assert.equal(b.global.stateDir, '/tmp/x');
    // not options only: the command starts right after NETNS, untouched
    const c = run(['exec', 'ns0', 'ls', '--', '-la']);
    assert.deepEqual(c.command, ['ls', '--', '-la']);
    assert.equal(c.global.json, false);
    const d = run(['exec', 'ns0', '--frob', '--', 'x']);
    assert.deepEqual(d.command, ['--frob', '--', 'x']);
  });

  it('usage texts say each thing once (new-user review)', () => {
    const text = helpFor('network create') ?? '';
    assert.match(text, /allow-host-port/);
    assert.doesNotMatch(text, /\(repeatable\) \(repeatable\)|repeatable\) \(repeatable/);
    assert.doesNotMatch(text, /repeatable.*repeatable/);
    const line = errorLine(describeError(usage(['frobnicate'], /unknown command/)));
    assert.equal(line.split('--help').length, 2, line);
  });

  it('help: --help anywhere, help VERB, group help', () => {
    assert.deepEqual(parseCommandLine(['--help']), { kind: 'help', topic: undefined, global: { json: false, quiet: false, verbose: false } });
    assert.equal((parseCommandLine(['attach', '--help']) as { topic?: string }).topic, 'attach');
    assert.equal((parseCommandLine(['network', 'create', '-h']) as { topic?: string }).topic, 'network create');
    assert.equal((parseCommandLine(['help', 'network', 'rm']) as { topic?: string }).topic, 'network rm');
    assert.equal((parseCommandLine(['network', '--help']) as { topic?: string }).topic, 'network');
    // --help wins over other mistakes in the same command line
    assert.equal(parseCommandLine(['attach', '--help']).kind, 'help');
  });

  it('usage errors name the bad argument', () => {
    usage([], /missing command/);
    usage(['frobnicate'], /unknown command "frobnicate"/);
    usage(['network'], /network: missing sub-command/);
    usage(['network', 'frob'], /unknown sub-command "frob"/);
    usage(['attach', 'c1', '--network', 'd', '--bogus'], /unknown option --bogus/);
    usage(['network', 'create', 'x', '--subnet'], /--subnet needs a value \(CIDR\)/);
    usage(['network', 'create', 'x', '--subnet', '--internal'], /--subnet needs a value/);
    usage(['network', 'create', 'x', '--internal=yes', '--subnet', '10.0.0.0/8'], /--internal takes no value/);
    usage(['network', 'create', '--subnet', '10.0.0.0/8'], /network create: missing NAME/);
    usage(['network', 'create', 'a', 'b', '--subnet', '10.0.0.0/8'], /unexpected argument "b"/);
    usage(['network', 'inspect'], /missing NAME/);
    usage(['publish', 'ns0'], /publish: missing SPEC/);
    usage(['exec'], /exec: missing NETNS/);
    usage(['exec', 'ns0'], /exec: missing CMD/);
    usage(['network', 'create', 'x', '--subnet', '10.0.0.0/8', '--subnet', '10.1.0.0/16'], /--subnet given 2 times/);
    usage(['--backend', 'fast', 'network', 'ls'], /--backend "fast"/);
    usage(['ls', '--networ', 'x'], /unknown option --networ \(did you mean --network\?\)/);
    const e = usage(['attach', '--zzz'], /attach/);
    assert.equal(e.verb, 'attach');
    assert.equal(e.code, 'EUSAGE');
  });

  it('every verb has a summary and an example that uses it', () => {
    for (const v of VERBS) {
      assert.ok(v.summary.length > 10, v.name);
      assert.ok(v.examples.length > 0, v.name);
      assert.ok(v.examples.some((x) => x.includes(`ctnet-fast ${v.name}`) || x.includes(`ctnet-fast ${v.name.split(' ')[0]}`)), v.name);
    }
  });

  it('--from-file lines: NETNS plus per-line options, comments and blanks skipped', () => {
    assert.equal(parseFromFileLine('   ', 1), undefined);
    assert.equal(parseFromFileLine('# comment', 1), undefined);
    assert.deepEqual(parseFromFileLine('c1', 1), { netns: 'c1', publish: [] });
    assert.deepEqual(parseFromFileLine('c2 --ip 10.0.0.9 -p 8080:80 --publish 53:53/udp --mac 02:00:00:00:00:01 # x', 2),
      { netns: 'c2', ip: '10.0.0.9', mac: '02:00:00:00:00:01', publish: ['8080:80', '53:53/udp'] });
    assert.throws(() => parseFromFileLine('c3 c4', 7), /line 7: unexpected "c4"/);
    assert.throws(() => parseFromFileLine('c3 --bogus', 8), /line 8: unknown option --bogus/);
    assert.throws(() => parseFromFileLine('--ip 10.0.0.1', 9), /line 9: missing NETNS/);
  });
});
