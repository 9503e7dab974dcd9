/**
 * test/priv/native-netns.test.ts — the addon's netns steps, plan semantics and threads
 * against the real kernel: namespaces made by the addon are real `ip netns` namespaces,
 * plans never move the JS thread, an idle addon does not keep the process alive, and
 * 2,000 create/delete cycles leak no fd, link or /run/netns entry.
 * Root, inside the sandbox only. Everything is named ctnn-*.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../../src/backend/native.js';
import type { NativeAddon, Step, StepResult } from '../../src/model/plan.js';
import { assertSandbox, fdTargets, ip, ipJson, links, netnsList, openFds, removeLeftovers } from '../helpers/index.js';

const execFileP = promisify(execFile);
const P = 'ctnn-';
const NS = (n: string) => `/run/netns/${P}${n}`;

function addon(): NativeAddon {
  const l = loadNative();
  if (!l.addon) throw new Error(l.error ?? 'addon missing');
  return l.addon;
}
async function run(steps: Step[], stopOnError?: boolean): Promise<StepResult[]> {
  return addon().run(stopOnError === undefined ? { steps } : { steps, stopOnError });
}
function errMsg(r: StepResult | undefined): string {
  return r && !r.ok && 'error' in r ? r.error.message ?? '' : '';
}
function errCode(r: StepResult | undefined): string | undefined {
  return r && !r.ok && 'error' in r ? r.error.code : undefined;
}
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe('native addon (privileged): namespaces, plan semantics, threads', function () {
  this.timeout(300_000);

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
  });
  after(async () => {
    await removeLeftovers(P);
  });

  it('netnsCreate makes a netns that ip netns lists and ip netns exec can use', async () => {
    const r = await run([{ kind: 'netnsCreate', path: NS('n1') }]);
    // Plus the new netns's identity (cookie, nsfs inode): test/priv/native-netns-identity.test.ts.
    assert.equal(r.length, 1);
    const { cookie, inode, ...rest } = r[0] as StepResult & { cookie?: string; inode?: number };
    assert.deepEqual(rest, { ok: true, kind: 'netnsCreate' });
    assert.match(cookie ?? '', /^[1-9][0-9]*$/);
    assert.equal(typeof inode, 'number');
    assert.ok((await netnsList()).includes(`${P}n1`));
    const inside = await ipJson<{ ifname: string }>(['link', 'show'], `${P}n1`);
    assert.deepEqual(inside.map((l) => l.ifname), ['lo']);
    // The netns is a different one from ours.
    const { stdout } = await execFileP('ip', ['netns', 'exec', `${P}n1`, 'readlink', '/proc/self/ns/net']);
    assert.notEqual(stdout.trim(), readlinkSync('/proc/self/ns/net'));
    await execFileP('ip', ['netns', 'exec', `${P}n1`, 'ip', 'link', 'set', 'lo', 'up']);
  });

  it('netnsCreate on an existing path fails EEXIST and leaves it alone; netnsCreate under a new dir works', async () => {
    const r = await run([{ kind: 'netnsCreate', path: NS('n1') }]);
    assert.equal(errCode(r[0]), 'EEXIST');
    assert.ok((await netnsList()).includes(`${P}n1`));
    const dir = `/run/${P}dir/sub`;
    const r2 = await run([{ kind: 'netnsCreate', path: `${dir}/x` }, { kind: 'rtnl', ns: { path: `${dir}/x` }, ops: [{ op: 'linkSet', link: 'lo', up: true }] }]);
    assert.ok(r2.every((s) => s.ok), JSON.stringify(r2));
    assert.ok((await ipJson<{ ifname: string; flags: string[] }>(['link', 'show', 'lo'], `${dir}/x`))[0]?.flags.includes('UP'));
    assert.deepEqual(await run([{ kind: 'netnsDelete', path: `${dir}/x` }]), [{ ok: true, kind: 'netnsDelete' }]);
    assert.ok(!existsSync(`${dir}/x`));
  });

  it('netnsOpen: ENOENT naming the path, EINVAL for a file that is not a netns, slot refs to it work', async () => {
    const missing = await run([{ kind: 'netnsOpen', path: NS('missing') }]);
    assert.equal(errCode(missing[0]), 'ENOENT');
    assert.match(errMsg(missing[0]), /ctnn-missing/);
    const plain = `/run/${P}plainfile`;
    writeFileSync(plain, 'x');
    const notNs = await run([{ kind: 'netnsOpen', path: plain }]);
    assert.equal(errCode(notNs[0]), 'EINVAL');
    assert.match(errMsg(notNs[0]), /not a network namespace/);
    const mntNs = await run([{ kind: 'netnsOpen', path: '/proc/self/ns/mnt' }]);
    assert.equal(errCode(mntNs[0]), 'EINVAL');
    const ok = await run([
      { kind: 'netnsOpen', path: NS('n1') },
      { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkAdd', kind: 'bridge', name: 'ctnn-inner' }] },
    ]);
    assert.ok(ok.every((s) => s.ok), JSON.stringify(ok));
    assert.ok((await links(`${P}n1`)).some((l) => l.ifname === 'ctnn-inner'));
    assert.ok(!(await links()).some((l) => l.ifname === 'ctnn-inner'), 'not in our netns');
  });

  it('slot references must name an earlier netns step that succeeded; stopOnError skips the rest', async () => {
    const r = await run([
      { kind: 'netnsOpen', path: NS('missing') },
      { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkList' }] },
      { kind: 'sysctl', ns: { self: true }, key: 'net/ipv4/ip_forward' },
    ], false);
    assert.equal(errCode(r[0]), 'ENOENT');
    assert.equal(errCode(r[1]), 'EINVAL');
    assert.ok(r[2]?.ok, 'stopOnError:false runs later steps');
    const r2 = await run([
      { kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkList' }] },
      { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkList' }] },
      { kind: 'rtnl', ns: { slot: 5 }, ops: [{ op: 'linkList' }] },
    ], false);
    assert.deepEqual(r2.map(errCode), [undefined, 'EINVAL', 'EINVAL']);
    const r3 = await run([
      { kind: 'netnsCreate', path: NS('n1') },
      { kind: 'netnsCreate', path: NS('never') },
      { kind: 'nft', ns: { self: true }, json: '{"nftables":[]}' },
    ]);
    assert.equal(errCode(r3[0]), 'EEXIST');
    assert.deepEqual(r3.slice(1), [{ ok: false, kind: 'netnsCreate', skipped: true }, { ok: false, kind: 'nft', skipped: true }]);
    assert.ok(!existsSync(NS('never')));
  });

  it('malformed plans: a non-object is rejected, bad steps/ops are EINVAL results', async () => {
    await assert.rejects(addon().run(null as never), TypeError);
    await assert.rejects(addon().run({ steps: 'x' } as never), TypeError);
    const r = await run([
      { kind: 'bogus' } as never,
      { kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'veth', name: 5 } as never] },
      { kind: 'sysctl', ns: { self: true }, key: '../../etc/passwd' },
      { kind: 'sysctl', ns: { self: true }, key: '/net/ipv4/ip_forward' },
      { kind: 'rtnl', ns: { fd: 3 }, ops: [{ op: 'linkList' }] },
    ], false);
    assert.deepEqual(r.map(errCode), ['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL']);
  });

  it('netnsDelete: gone from ip netns list at once; a missing one is ENOENT', async () => {
    await run([{ kind: 'netnsCreate', path: NS('d1') }]);
    assert.ok((await netnsList()).includes(`${P}d1`));
    assert.deepEqual(await run([{ kind: 'netnsDelete', path: NS('d1') }]), [{ ok: true, kind: 'netnsDelete' }]);
    assert.ok(!(await netnsList()).includes(`${P}d1`));
    assert.equal(errCode((await run([{ kind: 'netnsDelete', path: NS('d1') }]))[0]), 'ENOENT');
  });

  it('plans run off the JS thread: its netns never changes, many plans in parallel', async () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    const names = Array.from({ length: 24 }, (_, i) => `p${i}`);
    const rs = await Promise.all(names.map((n, i) => run([
      { kind: 'netnsCreate', path: NS(n) },
      { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkSet', link: 'lo', up: true }, { op: 'addrAdd', link: 'lo', family: 4, local: `10.66.0.${i + 1}`, prefixLen: 32 }] },
      { kind: 'sysctl', ns: { slot: 0 }, key: 'net/ipv4/ip_forward', value: '1' },
    ])));
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), before);
    assert.ok(rs.every((r) => r.every((s) => s.ok)), JSON.stringify(rs.find((r) => !r.every((s) => s.ok))));
    for (const [i, n] of names.entries()) {
      const a = await ipJson<{ addr_info: Array<{ local: string }> }>(['-4', 'addr', 'show', 'lo'], `${P}${n}`);
      assert.deepEqual(a[0]?.addr_info.map((x) => x.local).sort(), ['10.66.0.' + String(i + 1), '127.0.0.1'].sort());
    }
    await Promise.all(names.map((n) => run([{ kind: 'netnsDelete', path: NS(n) }])));
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), before);
  });

  it('an idle addon does not keep the process alive; shutdown() then run() works', async () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const script = [
      "const a = require(process.argv[1]);",
      "a.run({ steps: [{ kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkList' }] }] })",
      "  .then((r) => { a.shutdown(); return a.run({ steps: [{ kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkList' }] }] }); })",
      "  .then((r) => console.log(r[0].ok ? 'done' : 'bad'));",
    ].join('\n');
    const child = spawn(process.execPath, ['-e', script, path.join(root, 'build/Release/ctnet_native.node')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((res, rej) => {
      const t = setTimeout(() => { child.kill('SIGKILL'); rej(new Error('child process did not exit: the addon kept it alive')); }, 10_000);
      child.on('exit', (c) => { clearTimeout(t); res(c); });
    });
    assert.equal(code, 0);
    assert.equal(out.trim(), 'done');
  });

  it('2,000 netns + veth create/delete cycles leave fds, links and /run/netns as before', async function () {
    this.timeout(600_000);
    const bridge = `${P}lbr`;
    await run([{ kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'bridge', name: bridge, up: true }] }]);
    // Warm up (threads, home sockets, lazily opened fds) before counting.
    for (let i = 0; i < 5; i++) {
      await run([{ kind: 'netnsCreate', path: NS('warm') }, { kind: 'rtnl', ns: { path: NS('warm') }, ops: [{ op: 'linkList' }] }, { kind: 'netnsDelete', path: NS('warm') }]);
    }
    // Every pool thread opens its own home socket on first use: plans in flight together
    // make sure each thread has run one before the count (one socket per thread, not a leak).
    // 16 quick plans at once can all land on one thread of a loaded machine, so also run
    // rounds of whole cycles 4 at a time (each keeps a thread busy for a while) until the
    // fd count has been stable for 3 rounds.
    await Promise.all(Array.from({ length: 16 }, () => run([{ kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkGet', link: 'lo' }] }])));
    for (let round = 0, stable = 0, last = -1; round < 50 && stable < 3; round++) {
      await Promise.all(Array.from({ length: 4 }, async (_, k) => {
        const path = NS(`w${k}`);
        await run([
          { kind: 'netnsCreate', path },
          { kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'veth', name: `${P}w${k}`, up: true, master: bridge, peer: { name: 'eth0', ns: { slot: 0 } } }] },
          { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkSet', link: 'eth0', up: true }] },
        ]);
        await run([{ kind: 'netnsDelete', path }]);
      }));
      const n = openFds();
      stable = n === last ? stable + 1 : 0;
      last = n;
    }
    // The warm-up's veths die with their namespaces, asynchronously: wait for them first.
    for (let t = 0; t < 120 && (await links()).some((l) => l.ifname.startsWith(`${P}w`)); t++) await sleep(250);
    const linksBefore = (await links()).map((l) => l.ifname).sort();
    const netnsBefore = readdirSync('/run/netns').sort();
    const fdsBefore = openFds();
    const fdMapBefore = fdTargets();
    for (let i = 0; i < 2000; i++) {
      const path = NS(`c${i}`);
      const r = await run([
        { kind: 'netnsCreate', path },
        { kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'veth', name: `${P}c${i}`, up: true, master: bridge, peer: { name: 'eth0', ns: { slot: 0 } } }] },
        { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkSet', link: 'lo', up: true }, { op: 'linkSet', link: 'eth0', up: true }, { op: 'addrAdd', link: 'eth0', family: 4, local: '10.55.0.2', prefixLen: 16 }, { op: 'routeAdd', family: 4, gateway: '10.55.0.1', link: 'eth0' }] },
      ]);
      if (!r.every((s) => s.ok)) assert.fail(`cycle ${i}: ${JSON.stringify(r)}`);
      const d = await run([{ kind: 'netnsDelete', path }]);
      if (!d[0]?.ok) assert.fail(`cycle ${i} delete: ${JSON.stringify(d)}`);
    }
    assert.deepEqual(readdirSync('/run/netns').sort(), netnsBefore);
    const fdsAfter = openFds();
    if (fdsAfter !== fdsBefore) {
      const after = fdTargets();
      const extra = [...after].filter(([fd, t]) => fdMapBefore.get(fd) !== t);
      assert.fail(`fd leak: ${fdsBefore} → ${fdsAfter}: ${JSON.stringify(extra.slice(0, 20))}`);
    }
    // The kernel reaps deleted namespaces (and the host ends of their veths) asynchronously.
    let now: string[] = [];
    for (let t = 0; t < 120; t++) {
      now = (await links()).map((l) => l.ifname).sort();
      if (now.length === linksBefore.length) break;
      await sleep(500);
    }
    assert.deepEqual(now, linksBefore);
    await ip(['link', 'del', bridge]);
  });
});
