/**
 * Privileged: the CNI plugin's fixes after the issue 11 new-user review, each reproduced as
 * the reviewer drove it (/tmp/r1: t20/t21 ADD racing DEL through the agent, t24 one key in
 * two netns, t22 DEL before the conntrack entries are gone, t25 the result's routes, t16 ADD
 * with stdout closed) and a non-root caller in a user namespace of its own. In-process calls go through handleCni on
 * one long-lived Host (the agent's way); the self-contained entry is dist/bundle/cni.cjs.
 * Oracles: ip -j (addresses, links), conntrack -L, the state through Host.endpoints.
 * Rebuild first: npx tsc -p tsconfig.json && npm run bundle.
 * Run: node test/run.mjs test/priv/cni-fixes.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { handleCni, type CniHosts } from '../../src/cni/index.js';
import { BUNDLE } from '../fixtures/cni/plugin.js';

const run = promisify(execFile);
const P = 'cnifx-';
const NET = `${P}net`;

describe('cni fixes (privileged): races of one key, one key in two netns, DEL and conntrack, rootless, stdout closed', function () {
  this.timeout(300000);
  let stateDir: string;
  let host: Host;
  let hosts: CniHosts;
  const conf = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    cniVersion: '1.0.0', name: NET, type: 'ctnet-cni', bridge: `${P}br`, isGateway: true, ipMasq: true, ctnetStateDir: stateDir,
    ipam: { type: 'host-local', subnet: '10.231.0.0/24', routes: [{ dst: '0.0.0.0/0' }] }, ...extra,
  });
  const env = (cmd: string, id: string, netns: string, more: Record<string, string> = {}): Record<string, string> =>
    ({ CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...more });
  const cni = (cmd: string, id: string, netns: string, c: Record<string, unknown> = conf(), caller?: { uid: number; pid: number }): ReturnType<typeof handleCni> =>
    handleCni(hosts, { env: env(cmd, id, netns), stdin: JSON.stringify(c) }, caller);
  const v4 = async (ns: string): Promise<string[]> => {
    const a = await ipJson<{ addr_info?: Array<{ family: string; local: string }> }>(['addr', 'show'], ns).catch(() => []);
    return a.flatMap((l) => (l.addr_info ?? []).filter((x) => x.family === 'inet' && !x.local.startsWith('127.')).map((x) => x.local));
  };
  const rows = async (id?: string): Promise<Array<{ containerId?: string; netns: string; ip: string }>> =>
    (await host.endpoints({ network: NET })).filter((e) => id === undefined || e.containerId === id);

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']);
    stateDir = mkdtempSync(path.join(tmpdir(), `${P}state-`));
    host = await Host.open({ stateDir });
    hosts = { open: () => Promise.resolve(host) };
  });

  after(async () => {
    if (host !== undefined) await host.close().catch(() => undefined);
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  it('ADD racing DEL of the same key (20 times): state and kernel agree each time, no address is given twice', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `${P}r${i}`);
    for (const ns of names) await ip(['netns', 'add', ns]);
    for (const [k, ns] of names.entries()) {
      const add = cni('ADD', ns, `/run/netns/${ns}`);
      await new Promise((r) => setTimeout(r, k % 5));
      const [a, d] = await Promise.all([add, cni('DEL', ns, `/run/netns/${ns}`)]);
      assert.equal(d.exitCode, 0, d.stdout);
      assert.equal(a.exitCode, 0, a.stdout);
      const inState = (await rows(ns)).map((e) => e.ip);
      assert.deepEqual(await v4(ns), inState, `${ns}: the kernel's addresses are the state's`);
    }
    const fresh = Array.from({ length: 10 }, (_, i) => `${P}f${i}`);
    for (const ns of fresh) await ip(['netns', 'add', ns]);
    for (const ns of fresh) assert.equal((await cni('ADD', ns, `/run/netns/${ns}`)).exitCode, 0);
    const all = (await Promise.all([...names, ...fresh].map(v4))).flat();
    assert.equal(new Set(all).size, all.length, `an address in two netns: ${all.join(' ')}`);
    for (const ns of [...names, ...fresh]) {
      assert.equal((await cni('DEL', ns, `/run/netns/${ns}`)).exitCode, 0);
      assert.deepEqual(await v4(ns), [], ns);
      await ip(['netns', 'del', ns]);
    }
    assert.deepEqual(await rows(), []);
  });

  it('one key ADDed into another netns replaces the first; a task restarted (/proc/PID) too; DEL with no netns removes it', async () => {
    for (const n of ['a', 'b']) await ip(['netns', 'add', `${P}${n}`]);
    const pub = conf({ runtimeConfig: { portMappings: [{ hostPort: 8931, containerPort: 80, protocol: 'tcp' }, { hostPort: 8932, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' }] } });
    assert.equal((await cni('ADD', 'X', `/run/netns/${P}a`, pub)).exitCode, 0);
    // into a netns that does not exist: code 3, and the attachment in a stays
    assert.equal((JSON.parse((await cni('ADD', 'X', `/run/netns/${P}nowhere`, pub)).stdout) as { code: number }).code, 3);
    assert.equal((await v4(`${P}a`)).length, 1);
    const r = await cni('ADD', 'X', `/run/netns/${P}b`, pub);
    assert.equal(r.exitCode, 0, r.stdout);
    assert.deepEqual(await v4(`${P}a`), [], 'the first netns lost its attachment');
    assert.equal((await v4(`${P}b`)).length, 1);
    assert.deepEqual((await rows('X')).map((e) => e.netns), [`/run/netns/${P}b`]);
    // the same netns again, asking another address: code 7 naming the key; the same ask: the old result
    const again = await cni('ADD', 'X', `/run/netns/${P}b`, conf({ runtimeConfig: { ips: ['10.231.0.77/24'] } }));
    assert.match((await cni('ADD', 'X', `/run/netns/${P}b`)).stdout, /"code":7.*asks for port mappings \[\], the attachment has/);
    assert.equal(again.exitCode, 1);
    const doc = JSON.parse(again.stdout) as { code: number; msg: string };
    assert.equal(doc.code, 7, again.stdout);
    assert.match(doc.msg, /CNI_CONTAINERID X CNI_IFNAME eth0 on network cnifx-net is already attached/);
    assert.equal((await cni('ADD', 'X', `/run/netns/${P}b`, pub)).stdout, r.stdout);
    // /proc/PID of a task that died, then ADD of the restarted task (no DEL between)
    const p1 = spawn('unshare', ['-n', 'sleep', '100'], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await cni('ADD', 'Y', `/proc/${p1.pid ?? 0}/ns/net`)).exitCode, 0);
    p1.kill('SIGKILL');
    await new Promise((res) => p1.once('exit', res));
    const p2 = spawn('unshare', ['-n', 'sleep', '100'], { stdio: 'ignore' });
    try {
      await new Promise((res) => setTimeout(res, 300));
      const y2 = await cni('ADD', 'Y', `/proc/${p2.pid ?? 0}/ns/net`);
      assert.equal(y2.exitCode, 0, y2.stdout);
      assert.deepEqual((await rows('Y')).map((e) => e.netns), [`/proc/${p2.pid ?? 0}/ns/net`]);
    } finally {
      p2.kill('SIGKILL');
    }
    for (const id of ['X', 'Y']) {
      const d = await cni('DEL', id, '');
      assert.equal(d.exitCode, 0, d.stdout);
      assert.deepEqual(await rows(id), []);
    }
    assert.deepEqual(await v4(`${P}b`), []);
    for (const n of ['a', 'b']) await ip(['netns', 'del', `${P}${n}`]);
  });

  it('a MAC another container on the network has is refused (code 7)', async () => {
    for (const n of ['m1', 'm2']) await ip(['netns', 'add', `${P}${n}`]);
    const mac = conf({ runtimeConfig: { mac: '02:42:ac:11:00:99' } });
    assert.equal((await cni('ADD', 'm1', `/run/netns/${P}m1`, mac)).exitCode, 0);
    const second = await cni('ADD', 'm2', `/run/netns/${P}m2`, mac);
    assert.equal(second.exitCode, 1);
    assert.match(second.stdout, /"code":7.*mac 02:42:ac:11:00:99: already used on network cnifx-net by container m1/);
    assert.deepEqual(await v4(`${P}m2`), []);
    assert.equal((await cni('DEL', 'm1', `/run/netns/${P}m1`)).exitCode, 0);
    for (const n of ['m1', 'm2']) await ip(['netns', 'del', `${P}${n}`]);
  });

  it('DEL answers only once the conntrack entries of the container address are gone', async () => {
    const ns = `${P}ct`;
    await ip(['netns', 'add', ns]);
    const add = await cni('ADD', 'ct', `/run/netns/${ns}`, conf({ runtimeConfig: { portMappings: [{ hostPort: 5353, containerPort: 53, protocol: 'udp' }] } }));
    assert.equal(add.exitCode, 0, add.stdout);
    const [addr] = await v4(ns);
    assert.ok(addr !== undefined);
    await run('conntrack', ['-I', '-p', 'udp', '-s', '192.0.2.9', '-d', addr, '--sport', '40000', '--dport', '53', '-t', '120', '-u', 'SEEN_REPLY']);
    const list = async (): Promise<string> => (await run('conntrack', ['-L', '-d', addr]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }))).stdout;
    assert.match(await list(), /dport=53/);
    assert.equal((await cni('DEL', 'ct', `/run/netns/${ns}`)).exitCode, 0);
    assert.doesNotMatch(await list(), /dport=53/, 'a flow of the deleted container is still tracked when DEL returned');
    await ip(['netns', 'del', ns]);
  });

  it('a caller that is not root names /proc/PID/ns/net of its own process in its own user namespace: ADD and DEL work; a pinned netns is code 4', async () => {
    const ns = `${P}root-only`;
    await ip(['netns', 'add', ns]);
    const child = spawn('unshare', ['-Urn', 'sleep', '100'], { uid: 65534, gid: 65534, stdio: 'ignore' });
    try {
      await new Promise((res) => setTimeout(res, 300));
      const caller = { uid: 65534, pid: child.pid ?? 0 };
      const nsPath = `/proc/${child.pid ?? 0}/ns/net`;
      const add = await cni('ADD', 'rl', nsPath, conf(), caller);
      assert.equal(add.exitCode, 0, add.stdout);
      assert.equal((await v4(ns)).length, 0);
      const pinned = await cni('ADD', 'rl2', `/run/netns/${ns}`, conf(), caller);
      assert.equal((JSON.parse(pinned.stdout) as { code: number }).code, 4, pinned.stdout);
      assert.match(pinned.stdout, /CNI_NETNS \/run\/netns\/cnifx-root-only: uid 65534 may not name a pinned/);
      assert.equal((await cni('DEL', 'rl', nsPath, conf(), caller)).exitCode, 0);
      assert.deepEqual(await rows('rl'), []);
    } finally {
      child.kill('SIGKILL');
      await ip(['netns', 'del', ns]);
    }
  });

  it('the result lists the routes the container got: isGateway with no ipam routes gives a default route, and the result says so', async () => {
    const ns = `${P}rt`;
    await ip(['netns', 'add', ns]);
    const cases: Array<Record<string, unknown>> = [
      conf({ ipam: { type: 'host-local', subnet: '10.232.0.0/24' } }),
      conf({ ipam: { type: 'host-local', subnet: '10.232.1.0/24', routes: [{ dst: '192.168.50.0/24', gw: '10.232.1.9' }] } }),
      conf({ isGateway: false, ipam: { type: 'host-local', subnet: '10.232.2.0/24' } }),
    ];
    for (const [i, c] of cases.entries()) {
      const add = await cni('ADD', `rt${i}`, `/run/netns/${ns}`, { ...c, name: `${P}rt${i}`, bridge: `${P}rtb${i}` });
      assert.equal(add.exitCode, 0, add.stdout);
      const doc = JSON.parse(add.stdout) as { routes?: Array<{ dst: string; gw?: string }>; ips: Array<{ gateway?: string }> };
      const kernel = await ipJson<{ dst: string; gateway?: string }>(['-4', 'route', 'show', 'table', 'main'], ns);
      const got = kernel.filter((r) => r.gateway !== undefined).map((r) => `${r.dst === 'default' ? '0.0.0.0/0' : r.dst} via ${r.gateway ?? ''}`).sort();
      const said = (doc.routes ?? []).map((r) => `${r.dst} via ${r.gw ?? doc.ips[0]?.gateway ?? ''}`).sort();
      assert.deepEqual(said, got, `case ${i}: ${add.stdout}`);
      assert.equal((await cni('DEL', `rt${i}`, `/run/netns/${ns}`, { ...c, name: `${P}rt${i}`, bridge: `${P}rtb${i}` })).exitCode, 0);
    }
    await ip(['netns', 'del', ns]);
  });
  for (const how of ['closed (Node gives it /dev/null)', 'a pipe closed by the reader']) {
    it(`self-contained ADD with stdout ${how}: exit 1 and nothing left`, async () => {
      const ns = `${P}out`;
      await ip(['netns', 'add', ns]);
      const e = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env('ADD', 'out', `/run/netns/${ns}`) };
      const child = spawn(process.execPath, [BUNDLE], { env: e, stdio: ['pipe', how.startsWith('closed') ? 'ignore' : 'pipe', 'pipe'] });
      child.stdout?.destroy();
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdin?.end(JSON.stringify(conf()));
      const code = await new Promise<number | null>((res) => child.once('exit', res));
      assert.equal(code, 1, stderr);
      assert.match(stderr, /stdout/);
      host.refresh();
      assert.deepEqual(await rows('out'), []);
      assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'], ns)).map((l) => l.ifname), ['lo']);
      await ip(['netns', 'del', ns]);
    });
  }
});
