/**
 * Privileged: containers cannot impersonate each other (anti-spoofing, issue 10 item 14),
 * a blockHost network keeps containers off the host except what is allowed, and the host's
 * own netns is refused as a container (item 10). Real traffic, checked with `ip -j` and
 * `nft -j`; everything is named "ctg-" and removed afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host, type Network, type Endpoint } from '../../src/index.js';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { ping, startServer, connect } from '../helpers/traffic.js';
import { readTable } from '../fixtures/firewall/nft.js';

const run = promisify(execFile);

/** A UDP receiver in `ns` on port 9999 that prints the source address of every datagram. */
const RECEIVER = `
const u = require('node:dgram').createSocket('udp4');
u.on('message', (m, r) => process.stdout.write(r.address + '\\n'));
u.bind(9999, () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), 60000).unref();
`;
const SENDER = `
const u = require('node:dgram').createSocket('udp4');
u.bind({ address: process.argv[1] }, () => {
  let n = 0;
  const t = setInterval(() => { u.send('x', 9999, process.argv[2]); if (++n === 5) { clearInterval(t); setTimeout(() => process.exit(0), 300); } }, 100);
});
`;

async function receive(ns: string, during: () => Promise<void>): Promise<string[]> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { out += String(d); if (out.includes('ready\n')) resolve(); });
    child.once('exit', () => reject(new Error('receiver exited')));
  });
  try {
    await during();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    child.kill('SIGKILL');
  }
  return out.split('\n').filter((l) => l !== '' && l !== 'ready');
}

async function sendFrom(ns: string, src: string, dst: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, process.execPath, '-e', SENDER, src, dst], { timeout: 10000 });
}

async function neighMac(ns: string, addr: string): Promise<string | undefined> {
  const n = await ipJson<{ dst: string; lladdr?: string }>(['neigh', 'show'], ns);
  return n.find((x) => x.dst === addr)?.lladdr;
}

describe('topology (privileged): anti-spoofing, blockHost, the host netns', function () {
  this.timeout(120000);
  let dir: string;
  let host: Host;
  let net: Network;
  let c1: Endpoint; let c2: Endpoint; let c3: Endpoint;

  before(async () => {
    assertSandbox();
    await removeLeftovers('ctg-');
    dir = mkdtempSync(path.join(tmpdir(), 'ctg-'));
    host = await Host.open({ stateDir: dir, backend: 'native' });
    net = await host.network({ name: 'ctg-a', subnet: '10.88.0.0/24', bridge: 'ctg-br0' });
    c1 = await net.attach({ netns: 'ctg-c1' });
    c2 = await net.attach({ netns: 'ctg-c2' });
    c3 = await net.attach({ netns: 'ctg-c3' });
  });
  after(async () => {
    await host?.removeNetwork('ctg-a', { force: true }).catch(() => undefined);
    await host?.removeNetwork('ctg-b', { force: true }).catch(() => undefined);
    await host?.close();
    await removeLeftovers('ctg-');
    rmSync(dir, { recursive: true, force: true });
  });

  it('each endpoint has exactly its own guard element (nft -j), and honest traffic passes', async () => {
    const t = await readTable('bridge');
    const set = t.nftables.map((o) => o.set as { name?: string; elem?: Array<{ concat: string[] }> } | undefined).find((s) => s?.name === 'guard4');
    const elems = (set?.elem ?? []).map((e) => e.concat.join(' ')).sort();
    assert.deepEqual(elems, [c1, c2, c3].map((c) => `${c.hostIfname} ${c.mac} ${c.ip}`).sort());
    assert.ok(await ping('ctg-c1', c3.ip));
    const got = await receive('ctg-c3', () => sendFrom('ctg-c1', c1.ip, c3.ip));
    assert.deepEqual([...new Set(got)], [c1.ip]);
  });

  it("a container sending with another container's IP gets nothing through", async () => {
    await ip(['addr', 'add', `${c2.ip}/32`, 'dev', 'eth0'], 'ctg-c1');
    try {
      const got = await receive('ctg-c3', () => sendFrom('ctg-c1', c2.ip, c3.ip));
      assert.deepEqual(got, []);
      assert.equal(await ping('ctg-c3', c2.ip), true, 'the real owner still answers');
    } finally {
      await ip(['addr', 'del', `${c2.ip}/32`, 'dev', 'eth0'], 'ctg-c1');
    }
  });

  it('a container with a spoofed MAC gets nothing through; its ARP claiming another IP is dropped', async () => {
    // c3 knows c2's MAC for c2's IP
    assert.ok(await ping('ctg-c3', c2.ip));
    assert.equal(await neighMac('ctg-c3', c2.ip), c2.mac);
    // c1 claims c2's IP: its ARP requests carry c2's IP as sender (ping -I)
    await ip(['addr', 'add', `${c2.ip}/32`, 'dev', 'eth0'], 'ctg-c1');
    try {
      await run('ip', ['netns', 'exec', 'ctg-c1', 'ping', '-c', '2', '-W', '1', '-I', c2.ip, c3.ip]).catch(() => undefined);
      assert.equal(await neighMac('ctg-c3', c2.ip), c2.mac, "c3's neighbour entry for c2 still has c2's MAC");
    } finally {
      await ip(['addr', 'del', `${c2.ip}/32`, 'dev', 'eth0'], 'ctg-c1');
    }
    await ip(['link', 'set', 'eth0', 'address', '02:42:0a:58:00:99'], 'ctg-c1');
    try {
      const got = await receive('ctg-c3', () => sendFrom('ctg-c1', c1.ip, c3.ip));
      assert.deepEqual(got, []);
    } finally {
      await ip(['link', 'set', 'eth0', 'address', c1.mac], 'ctg-c1');
    }
    assert.ok(await ping('ctg-c1', c3.ip), 'back to its own MAC, it talks again');
  });

  it('the host netns is refused as a container, by identity', async () => {
    for (const p of ['/proc/self/ns/net', `/proc/${process.pid}/ns/net`]) {
      await assert.rejects(net.attach({ netns: p }), (e: Error & { code?: string }) => e.code === 'EINVALID_INPUT' && /host netns/.test(e.message));
    }
    assert.equal((await ipJson<{ ifname: string }>(['link', 'show'])).filter((l) => l.ifname === 'eth0').length, 0, 'no eth0 in the host');
    assert.equal((await host.endpoints({ network: 'ctg-a' })).length, 3, 'nothing recorded');
  });

  it('blockHost: a container cannot reach a listener on the gateway unless allowed; without it, it can', async () => {
    const blk = await host.network({ name: 'ctg-b', subnet: '10.89.0.0/24', bridge: 'ctg-br1', blockHost: true, allowHostPorts: ['7002/tcp'] });
    assert.deepEqual(blk.info.allowHostPorts, [{ port: 7002, protocol: 'tcp' }]);
    const b1 = await blk.attach({ netns: 'ctg-b1' });
    const s1 = await startServer(undefined, 7001, '0.0.0.0');
    const s2 = await startServer(undefined, 7002, '0.0.0.0');
    try {
      assert.equal(await connect('ctg-b1', '10.89.0.1', 7001), undefined, 'blocked on the gateway');
      assert.equal(await connect('ctg-b1', '10.88.0.1', 7001), undefined, 'blocked on another host address');
      assert.equal(await connect('ctg-b1', '10.89.0.1', 7002), b1.ip, 'allowed port');
      assert.equal(await connect('ctg-c1', '10.88.0.1', 7001), c1.ip, 'a network without blockHost reaches the host');
      assert.equal(await ping('ctg-b1', '10.89.0.1'), false);
    } finally {
      s1.stop(); s2.stop();
    }
  });
});
