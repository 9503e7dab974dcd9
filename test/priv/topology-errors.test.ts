/**
 * Bad input through the library: a clear error naming the object, and nothing half-built —
 * the kernel (ip -j, nft -j, /run/netns) and the state are exactly as before each failure.
 */
import assert from 'node:assert/strict';
import { readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host, type Network } from '../../src/index.js';
import { assertSandbox, ipJson, removeLeftovers, backendFor } from '../helpers/index.js';

const run = promisify(execFile);

async function kernel(): Promise<string> {
  const links = (await ipJson<{ ifname: string }>(['link', 'show'])).map((l) => l.ifname).sort();
  const addrs = (await ipJson<{ ifname: string; addr_info: Array<{ local: string }> }>(['addr', 'show'])).flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}`)).sort();
  const { stdout } = await run('nft', ['-j', 'list', 'ruleset']);
  let ns: string[] = [];
  try { ns = readdirSync('/run/netns').sort(); } catch { ns = []; }
  return JSON.stringify({ links, addrs, nft: stdout.replace(/"metainfo":\{[^}]*\}/, ''), ns });
}

describe('topology: bad input leaves nothing half-built', function () {
  this.timeout(60000);
  let stateDir: string;
  let host: Host;
  let net: Network;

  before(async () => {
    assertSandbox();
    await removeLeftovers('cte-');
    stateDir = mkdtempSync(path.join(tmpdir(), 'cte-state-'));
    host = await Host.open({ stateDir, backendInstance: await backendFor('native') });
    net = await host.network({ name: 'cte-small', subnet: '10.99.0.0/29', bridge: 'cte-br0' });
  });
  after(async () => {
    await host?.close().catch(() => undefined);
    await removeLeftovers('cte-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  /**
   * Host veth ends of detached containers are reaped by the kernel asynchronously (their netns
   * was unmounted): wait (bounded) until the only ctv* links are those of live endpoints.
   */
  async function quiesce(): Promise<void> {
    const live = new Set((await host.endpoints()).map((e) => e.hostIfname));
    for (let i = 0; i < 100; i++) {
      const stray = (await ipJson<{ ifname: string }>(['link', 'show'])).filter((l) => l.ifname.startsWith('ctv') && !live.has(l.ifname));
      if (stray.length === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Run `fn`, expect it to reject matching `re`, and the kernel to be unchanged. */
  async function refused(fn: () => Promise<unknown>, re: RegExp, code?: string): Promise<void> {
    await quiesce();
    const before = await kernel();
    const eps = (await host.endpoints()).length;
    await assert.rejects(fn(), (e: Error & { code?: string }) => {
      assert.match(e.message, re);
      if (code !== undefined) assert.equal(e.code, code);
      return true;
    });
    const after = await kernel();
    // compare without printing two copies of the whole ruleset on a mismatch
    if (after !== before) assert.fail(`kernel state changed:\nbefore ${before.slice(0, 400)}…\nafter  ${after.slice(0, 400)}…`);
    assert.equal((await host.endpoints()).length, eps, 'no endpoint left in the state');
  }

  it('overlapping subnet', () => refused(() => host.network({ name: 'cte-over', subnet: '10.99.0.0/16' }), /10\.99\.0\.0\/16.*overlaps.*10\.99\.0\.0\/29.*cte-small/, 'EOVERLAP'));
  it('/31 and /32 pools', async () => {
    await refused(() => host.network({ name: 'cte-31', subnet: '10.98.0.0/31' }), /10\.98\.0\.0\/31/);
    await refused(() => host.network({ name: 'cte-32', subnet: '10.98.0.0/32' }), /10\.98\.0\.0\/32/);
  });
  it('same network name with other settings', () => refused(() => host.network({ name: 'cte-small', subnet: '10.97.0.0/29' }), /cte-small.*already exists.*subnet/, 'EEXIST'));
  it('address outside the subnet, and a duplicate static address', async () => {
    await refused(() => net.attach({ netns: 'cte-a', ip: '10.1.1.1' }), /10\.1\.1\.1.*cte-small/);
    const a = await net.attach({ netns: 'cte-a', ip: '10.99.0.4' });
    await refused(() => net.attach({ netns: 'cte-b', ip: '10.99.0.4' }), /10\.99\.0\.4/, 'EADDRINUSE');
    await a.detach();
  });
  it('port 0 or 70000, and a host port already published', async () => {
    await refused(() => net.attach({ netns: 'cte-p', publish: ['0:80'] }), /"0:80"/);
    await refused(() => net.attach({ netns: 'cte-p', publish: ['70000:80'] }), /70000/);
    const a = await net.attach({ netns: 'cte-p1', publish: ['8080:80'] });
    await refused(() => net.attach({ netns: 'cte-p2', publish: ['8080:80'] }), /8080.*already published/, 'EPORTINUSE');
    await a.detach();
  });
  it('an exhausted pool (a /29 has 5 addresses for containers)', async () => {
    const eps = [];
    for (let i = 0; i < 5; i++) eps.push(await net.attach({ netns: `cte-x${i}` }));
    await refused(() => net.attach({ netns: 'cte-x5' }), /cte-small.*(exhausted|no free)/i, 'EEXHAUSTED');
    for (const e of eps) await e.detach();
  });
  it('unknown network and missing netns path', async () => {
    await refused(() => host.getNetwork('cte-nope'), /network "cte-nope" not found/, 'ENOTFOUND');
    await refused(() => net.attach({ netns: '/proc/999999999/ns/net' }), /\/proc\/999999999\/ns\/net does not exist/, 'ENOENT');
  });
  it('bad names: an interface name of 16 characters, a netns name with .., a bad MAC', async () => {
    await refused(() => net.attach({ netns: 'cte-n', ifname: 'abcdefghijklmnop' }), /abcdefghijklmnop/);
    await refused(() => net.attach({ netns: '../etc' }), /\.\./);
    await refused(() => net.attach({ netns: 'cte-n', mac: '01:00:5e:00:00:01' }), /01:00:5e:00:00:01/);
  });
  it('a kernel failure after the veth exists rolls it back (default route taken in an existing netns)', async () => {
    await run('ip', ['netns', 'add', 'cte-r']);
    await run('ip', ['-n', 'cte-r', 'route', 'add', 'blackhole', 'default']);
    try {
      await refused(() => net.attach({ netns: 'cte-r' }), /default route.*cte-r.*EEXIST/);
    } finally {
      await run('ip', ['netns', 'del', 'cte-r']);
    }
  });

  it('a kernel failure mid-attach rolls back (the netns name exists as a plain file: open fails)', async () => {
    const { writeFileSync, unlinkSync, mkdirSync } = await import('node:fs');
    mkdirSync('/run/netns', { recursive: true });
    writeFileSync('/run/netns/cte-plain', '');
    try {
      await refused(() => net.attach({ netns: 'cte-plain' }), /cte-plain/);
    } finally {
      unlinkSync('/run/netns/cte-plain');
    }
  });
});
