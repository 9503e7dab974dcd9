/**
 * test/priv/native-steps.test.ts — the addon's sysctl and nft steps inside namespaces it
 * created, checked from outside with `ip netns exec NAME cat /proc/sys/…` and
 * `ip netns exec NAME nft -j list ruleset` (argument arrays). Root, sandbox only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { loadNative } from '../../src/backend/native.js';
import type { NativeAddon, StepResult } from '../../src/model/plan.js';
import { assertSandbox, removeLeftovers } from '../helpers/index.js';

const execFileP = promisify(execFile);
const P = 'ctnn-';
const NAME = `${P}s1`;
const PATH = `/run/netns/${NAME}`;

function addon(): NativeAddon {
  const l = loadNative();
  if (!l.addon) throw new Error(l.error ?? 'addon missing');
  return l.addon;
}
async function inNs(...argv: string[]): Promise<string> {
  return (await execFileP('ip', ['netns', 'exec', NAME, ...argv], { encoding: 'utf8' })).stdout;
}
function value(r: StepResult | undefined): string | undefined {
  assert.ok(r?.ok, JSON.stringify(r));
  return 'value' in r ? r.value : undefined;
}

const table = (name: string) => JSON.stringify({ nftables: [
  { add: { table: { family: 'inet', name } } },
  { add: { chain: { family: 'inet', table: name, name: 'input', type: 'filter', hook: 'input', prio: 0, policy: 'accept' } } },
  { add: { rule: { family: 'inet', table: name, chain: 'input', expr: [{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } }, { counter: null }, { accept: null }] } } },
] });

describe('native addon (privileged): sysctl and nft steps', function () {
  this.timeout(60_000);

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    const r = await addon().run({ steps: [{ kind: 'netnsCreate', path: PATH }] });
    assert.ok(r[0]?.ok);
  });
  after(async () => {
    await addon().run({ steps: [{ kind: 'nft', ns: { self: true }, json: JSON.stringify({ nftables: [{ delete: { table: { family: 'inet', name: 'ctnn_host' } } }] }) }] });
    await removeLeftovers(P);
  });

  it('sysctl write/read inside a created netns differs from the host\'s', async () => {
    const key = 'net/ipv4/ip_forward';
    const host = readFileSync(`/proc/sys/${key}`, 'utf8').trim();
    const want = host === '1' ? '0' : '1';
    const r = await addon().run({ steps: [
      { kind: 'netnsOpen', path: PATH },
      { kind: 'sysctl', ns: { slot: 0 }, key, value: want },
      { kind: 'sysctl', ns: { slot: 0 }, key },
      { kind: 'sysctl', ns: { self: true }, key },
      { kind: 'sysctl', ns: { path: PATH }, key: 'net/ipv4/conf/lo/forwarding' },
    ] });
    assert.ok(r.every((s) => s.ok), JSON.stringify(r));
    assert.equal(value(r[2]), want);
    assert.equal(value(r[3]), host);
    assert.equal(value(r[4]), want, 'per-interface key of that netns');
    assert.equal((await inNs('cat', `/proc/sys/${key}`)).trim(), want);
    assert.equal(readFileSync(`/proc/sys/${key}`, 'utf8').trim(), host, 'host value untouched');
  });

  it('sysctl errors: missing key ENOENT, bad keys EINVAL', async () => {
    const r = await addon().run({ stopOnError: false, steps: [
      { kind: 'sysctl', ns: { path: PATH }, key: 'net/ipv4/no_such_key' },
      { kind: 'sysctl', ns: { path: PATH }, key: 'net/../../etc/passwd' },
      { kind: 'sysctl', ns: { path: PATH }, key: '' },
    ] });
    assert.deepEqual(r.map((s) => (!s.ok && 'error' in s ? s.error.code : 'ok')), ['ENOENT', 'EINVAL', 'EINVAL']);
  });

  it('nftAvailable() says libnftables loads', () => {
    assert.deepEqual(addon().nftAvailable(), { ok: true });
  });

  it('nft step applies a table inside the created netns only; list output comes back as value', async () => {
    const r = await addon().run({ steps: [
      { kind: 'netnsOpen', path: PATH },
      { kind: 'nft', ns: { slot: 0 }, json: table('ctnn_t') },
      { kind: 'nft', ns: { slot: 0 }, json: JSON.stringify({ nftables: [{ list: { table: { family: 'inet', name: 'ctnn_t' } } }] }) },
    ] });
    assert.ok(r.every((s) => s.ok), JSON.stringify(r));
    const listed = JSON.parse(value(r[2]) ?? '{}') as { nftables: Array<Record<string, { name?: string }>> };
    assert.ok(listed.nftables.some((o) => o['chain']?.name === 'input'));
    const inside = JSON.parse(await inNs('nft', '-j', 'list', 'ruleset')) as { nftables: Array<Record<string, { name?: string; family?: string }>> };
    assert.ok(inside.nftables.some((o) => o['table']?.name === 'ctnn_t' && o['table']?.family === 'inet'));
    assert.ok(inside.nftables.some((o) => o['rule'] !== undefined));
    const host = JSON.parse((await execFileP('nft', ['-j', 'list', 'ruleset'], { encoding: 'utf8' })).stdout) as { nftables: Array<Record<string, { name?: string }>> };
    assert.ok(!host.nftables.some((o) => o['table']?.name === 'ctnn_t'), 'not in the host netns');
  });

  it('nft via {path} (cached context) and in the home netns; errors carry libnftables\' text', async () => {
    const r = await addon().run({ stopOnError: false, steps: [
      { kind: 'nft', ns: { path: PATH }, json: JSON.stringify({ nftables: [{ add: { table: { family: 'ip', name: 'ctnn_p' } } }] }) },
      { kind: 'nft', ns: { path: PATH }, json: JSON.stringify({ nftables: [{ add: { table: { family: 'ip', name: 'ctnn_p2' } } }] }) },
      { kind: 'nft', ns: { self: true }, json: JSON.stringify({ nftables: [{ add: { table: { family: 'inet', name: 'ctnn_host' } } }] }) },
      { kind: 'nft', ns: { path: PATH }, json: '{"nftables": [ {"add": {"bogus": {}}} ]}' },
      { kind: 'nft', ns: { path: PATH }, json: JSON.stringify({ nftables: [{ delete: { table: { family: 'ip', name: 'ctnn_absent' } } }] }) },
    ] });
    assert.deepEqual(r.map((s) => s.ok), [true, true, true, false, false], JSON.stringify(r));
    assert.deepEqual(r.slice(3).map((s) => (!s.ok && 'error' in s ? s.error.code : 'ok')), ['EINVAL', 'ENOENT']);
    for (const s of r.slice(3)) {
      assert.ok(!s.ok && 'error' in s);
      assert.equal(s.error.op, 'nft');
      assert.ok((s.error.message ?? '').length > 0, JSON.stringify(s));
    }
    const inside = await inNs('nft', '-j', 'list', 'tables');
    assert.match(inside, /ctnn_p"/);
    assert.match(inside, /ctnn_p2/);
    const host = (await execFileP('nft', ['-j', 'list', 'tables'], { encoding: 'utf8' })).stdout;
    assert.match(host, /ctnn_host/);
    assert.doesNotMatch(host, /ctnn_p/);
  });
});
