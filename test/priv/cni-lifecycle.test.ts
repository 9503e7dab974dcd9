/**
 * Privileged: the CNI plugin's hard cases, driven as runtimes drive it (a process per call,
 * minimal env): concurrent ADDs (one range, a restricted range), a /proc/PID/ns/net netns
 * that dies with its process, a pinned netns deleted before DEL, an ADD failing half way,
 * CHECK after damage behind its back, GC against cni.dev/valid-attachments, address/MAC
 * requests, static IPAM and a delegated IPAM plugin. The state is read back through the
 * library (Host.endpoints), the kernel through ip -j / nft -j.
 * Rebuild first: npx tsc -p tsconfig.json && npm run bundle.
 * Run: node test/run.mjs test/priv/cni-lifecycle.test.ts
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { Host } from '../../src/index.js';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { handleCni } from '../../src/cni/index.js';
import { ok, ours, REF_DIR, type CniCall } from '../fixtures/cni/plugin.js';

const run = promisify(execFile);
const P = 'cnil-';
const NET = `${P}net`;

interface Res { ips: Array<{ address: string }>; interfaces: Array<{ name: string; mac: string }> }
const addrOf = (r: unknown): string => ((r as Res).ips[0]?.address ?? '').split('/')[0] ?? '';

describe('cni plugin (privileged): concurrency, vanished netns, damage, GC, IPAM', function () {
  this.timeout(300000);
  let stateDir: string;
  const conf = (extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = { type: 'host-local', subnet: '10.212.0.0/24' }): Record<string, unknown> => ({
    cniVersion: '1.1.0', name: NET, type: 'ctnet-cni', bridge: `${P}br`, isDefaultGateway: true, ipMasq: true, ctnetStateDir: stateDir, ipam, ...extra,
  });
  const call = (command: string, id: string, netns: string, more: Partial<CniCall> = {}): CniCall => ({ command, containerId: id, netns, ifname: 'eth0', ...more });
  const state = async <T>(fn: (h: Host) => Promise<T>): Promise<T> => {
    const h = await Host.open({ stateDir });
    try { return await fn(h); } finally { await h.close(); }
  };
  const cniIds = async (): Promise<string[]> => state(async (h) => (await h.endpoints({ network: NET })).map((e) => e.containerId ?? '(none)').sort());

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']);
    stateDir = mkdtempSync(path.join(tmpdir(), `${P}state-`));
  });

  after(async () => {
    await removeLeftovers(P);
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  it('50 concurrent ADDs never collide (distinct addresses, each in its netns), then 50 concurrent DELs leave nothing', async () => {
    const n = 50;
    const names = Array.from({ length: n }, (_, i) => `${P}k${i}`);
    for (const ns of names) await ip(['netns', 'add', ns]);
    const results = await Promise.all(names.map((ns) => ours(call('ADD', ns, `/run/netns/${ns}`), conf())));
    const addrs = results.map((r, i) => addrOf(ok(r, `ADD ${names[i]}`)));
    assert.equal(new Set(addrs).size, n, `distinct: ${addrs.join(' ')}`);
    for (const [i, ns] of names.entries()) {
      const a = await ipJson<{ addr_info: Array<{ family: string; local: string }> }>(['addr', 'show', 'eth0'], ns);
      assert.deepEqual(a[0]?.addr_info.filter((x) => x.family === 'inet').map((x) => x.local), [addrs[i]]);
    }
    assert.equal((await cniIds()).length, n);
    const dels = await Promise.all(names.map((ns) => ours(call('DEL', ns, `/run/netns/${ns}`), conf())));
    for (const [i, r] of dels.entries()) ok(r, `DEL ${names[i]}`);
    assert.deepEqual(await cniIds(), []);
    for (const ns of names) {
      assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'], ns)).map((l) => l.ifname), ['lo'], ns);
      await ip(['netns', 'del', ns]);
    }
  });

  it('20 concurrent ADDs into a restricted range (rangeStart/rangeEnd, two ranges) take distinct addresses inside it', async () => {
    const ipam = { type: 'host-local', ranges: [[{ subnet: '10.213.0.0/24', rangeStart: '10.213.0.50', rangeEnd: '10.213.0.59' }, { subnet: '10.213.0.0/24', rangeStart: '10.213.0.200', rangeEnd: '10.213.0.214' }]] };
    const c = { name: `${P}rng`, bridge: `${P}rbr` };
    const names = Array.from({ length: 20 }, (_, i) => `${P}r${i}`);
    for (const ns of names) await ip(['netns', 'add', ns]);
    const results = await Promise.all(names.map((ns) => ours(call('ADD', ns, `/run/netns/${ns}`), conf(c, ipam))));
    const addrs = results.map((r, i) => addrOf(ok(r, `ADD ${names[i]}`)));
    assert.equal(new Set(addrs).size, 20, addrs.join(' '));
    for (const a of addrs) {
      const last = Number(a.split('.')[3]);
      assert.ok((last >= 50 && last <= 59) || (last >= 200 && last <= 214), a);
    }
    for (const ns of names) ok(await ours(call('DEL', ns, ''), conf(c, ipam)), `DEL ${ns}`);
    for (const ns of names) await ip(['netns', 'del', ns]);
  });

  it('ADD into /proc/PID/ns/net; the process dies; DEL with that path, then with CNI_NETNS empty, succeed and release the address', async () => {
    const child: ChildProcess = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const nsPath = `/proc/${child.pid}/ns/net`;
    const res = ok(await ours(call('ADD', 'default-c1', nsPath), conf()), 'ADD /proc');
    const a = addrOf(res);
    assert.ok(a.startsWith('10.212.0.'), a);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    ok(await ours(call('DEL', 'default-c1', nsPath), conf({ prevResult: res })), 'DEL after death');
    ok(await ours(call('DEL', 'default-c1', ''), conf()), 'DEL again, empty CNI_NETNS, no prevResult');
    assert.deepEqual(await cniIds(), []);
    // the lease is free again: a static request for it is granted
    await ip(['netns', 'add', `${P}again`]);
    const again = ok(await ours(call('ADD', 'again', `/run/netns/${P}again`, { args: `IgnoreUnknown=1;IP=${a}` }), conf()), 'ADD the same address');
    assert.equal(addrOf(again), a);
    ok(await ours(call('DEL', 'again', `/run/netns/${P}again`), conf()), 'DEL again');
    await ip(['netns', 'del', `${P}again`]);
  });

  it('a pinned netns deleted before DEL (CRI: StopPodSandbox, then RemovePodSandbox with empty CNI_NETNS)', async () => {
    const ns = `${P}pin`;
    await ip(['netns', 'add', ns]);
    const res = ok(await ours(call('ADD', 'pod1', `/run/netns/${ns}`), conf()), 'ADD');
    await ip(['netns', 'del', ns]);
    ok(await ours(call('DEL', 'pod1', `/run/netns/${ns}`), conf({ prevResult: res })), 'DEL (netns gone)');
    ok(await ours(call('DEL', 'pod1', ''), conf()), 'DEL (empty netns)');
    assert.deepEqual(await cniIds(), []);
  });

  it('an ADD that fails leaves nothing, and its DEL succeeds; a missing netns is code 3', async () => {
    const ns = `${P}half`;
    await ip(['netns', 'add', ns]);
    const bad = await ours(call('ADD', 'half', `/run/netns/${ns}`, { args: 'IP=10.99.9.9' }), conf());
    assert.equal(bad.code, 1);
    assert.equal((bad.doc as { code: number }).code, 7, bad.stdout);
    assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'], ns)).map((l) => l.ifname), ['lo']);
    ok(await ours(call('DEL', 'half', `/run/netns/${ns}`), conf()), 'DEL after failed ADD');
    const gone = await ours(call('ADD', 'x', `/run/netns/${P}nope`), conf());
    assert.equal((gone.doc as { code: number }).code, 3, gone.stdout);
    assert.deepEqual(await cniIds(), []);
    await ip(['netns', 'del', ns]);
  });

  it('CHECK fails naming what was removed behind its back: address, route, port mapping, interface, bridge port', async () => {
    const ns = `${P}dmg`;
    const withPort = conf({ runtimeConfig: { portMappings: [{ hostPort: 9090, containerPort: 90, protocol: 'tcp' }, { hostPort: 9091, containerPort: 91, protocol: 'udp', hostIP: '127.0.0.1' }] } });
    const damages: Array<[string, (r: Res) => Promise<void>]> = [
      ['address', async (r) => { await ip(['addr', 'flush', 'dev', 'eth0'], ns); void r; }],
      ['route 0.0.0.0/0', async () => { await ip(['route', 'del', 'default'], ns); }],
      ['published port', async () => { await run('nft', ['flush', 'map', 'ip', 'ctnet', 'pub_any_addr']); }],
      ['published port 127.0.0.1:9091/udp', async () => { await run('nft', ['flush', 'map', 'ip', 'ctnet', 'pub_ip_addr']); }],
      ['interface eth0', async () => { await ip(['link', 'del', 'eth0'], ns); }],
      ['not on bridge', async (r) => { await ip(['link', 'set', r.interfaces[1]?.name ?? '', 'nomaster']); }],
    ];
    for (const [word, damage] of damages) {
      await ip(['netns', 'add', ns]);
      const res = ok(await ours(call('ADD', 'dmg', `/run/netns/${ns}`), withPort), 'ADD') as unknown as Res;
      ok(await ours(call('CHECK', 'dmg', `/run/netns/${ns}`), { ...withPort, prevResult: res }), 'CHECK before damage');
      await damage(res);
      const chk = await ours(call('CHECK', 'dmg', `/run/netns/${ns}`), { ...withPort, prevResult: res });
      assert.equal(chk.code, 1, `CHECK after "${word}" damage passed`);
      assert.ok(String((chk.doc as { msg: string }).msg).includes(word), `${word}: ${chk.stdout}`);
      ok(await ours(call('DEL', 'dmg', `/run/netns/${ns}`), withPort), 'DEL after damage');
      await ip(['netns', 'del', ns]);
    }
    const none = await ours(call('CHECK', 'dmg', `/run/netns/${P}x`), { ...withPort, prevResult: { cniVersion: '1.1.0' } });
    assert.ok(String((none.doc as { msg: string }).msg).includes('no such attachment'), none.stdout);
  });

  it('GC removes the attachments not in cni.dev/valid-attachments, and nothing else', async () => {
    const names = ['g1', 'g2', 'g3'].map((x) => `${P}${x}`);
    for (const ns of [...names, `${P}glib`]) await ip(['netns', 'add', ns]);
    const res = [];
    for (const ns of names) res.push(ok(await ours(call('ADD', ns, `/run/netns/${ns}`), conf()), `ADD ${ns}`));
    // another attachment of the same network made by the library (no container id): not GC's
    await state(async (h) => { await (await h.getNetwork(NET)).attach({ netns: `${P}glib` }); });
    const gc = await ours({ command: 'GC' }, conf({ 'cni.dev/valid-attachments': [{ containerID: names[0], ifname: 'eth0' }, { containerID: names[1], ifname: 'eth9' }] }));
    assert.equal(gc.code, 0, gc.stdout);
    assert.deepEqual(await cniIds(), ['(none)', names[0]].sort());
    assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'], names[1] ?? '')).map((l) => l.ifname), ['lo']);
    assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'], names[2] ?? '')).map((l) => l.ifname), ['lo']);
    ok(await ours(call('CHECK', names[0] ?? '', `/run/netns/${names[0]}`), conf({ prevResult: res[0] })), 'CHECK of the kept one');
    const lib = await ipJson<{ addr_info: Array<{ family: string }> }>(['addr', 'show', 'eth0'], `${P}glib`);
    assert.equal(lib[0]?.addr_info.filter((a) => a.family === 'inet').length, 1, 'the library endpoint is untouched');
    ok(await ours(call('DEL', names[0] ?? '', ''), conf()), 'DEL kept');
    await state(async (h) => { await (await h.findEndpoint(`${P}glib`, NET))?.detach(); });
    for (const ns of names) await ip(['netns', 'del', ns]);
  });

  it('address and MAC requests (runtimeConfig, CNI_ARGS), static IPAM, and a delegated IPAM plugin', async () => {
    const ns = `${P}req`;
    await ip(['netns', 'add', ns]);
    const nsPath = `/run/netns/${ns}`;
    const r1 = ok(await ours(call('ADD', 'req', nsPath), conf({ runtimeConfig: { ips: ['10.212.0.77/24'], mac: '02:11:22:33:44:55' } })), 'ADD ips+mac') as unknown as Res;
    assert.equal(addrOf(r1), '10.212.0.77');
    assert.equal(r1.interfaces[2]?.mac, '02:11:22:33:44:55');
    assert.equal((await ipJson<{ address: string }>(['link', 'show', 'eth0'], ns))[0]?.address, '02:11:22:33:44:55');
    ok(await ours(call('DEL', 'req', nsPath), conf()), 'DEL');

    const st = { name: `${P}st`, bridge: `${P}sbr`, mtu: 1400 };
    const ipamStatic = { type: 'static', addresses: [{ address: '10.214.0.9/24', gateway: '10.214.0.1' }], routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['10.214.0.1'] } };
    const r2 = ok(await ours(call('ADD', 'st', nsPath), conf(st, ipamStatic)), 'ADD static') as unknown as Res & { dns: unknown };
    assert.equal(addrOf(r2), '10.214.0.9');
    assert.deepEqual(r2.dns, { nameservers: ['10.214.0.1'] });
    assert.equal((await ipJson<{ mtu: number }>(['link', 'show', 'eth0'], ns))[0]?.mtu, 1400, 'mtu of the config');
    assert.equal((await ipJson<{ mtu: number }>(['link', 'show', r2.interfaces[1]?.name ?? '']))[0]?.mtu, 1400, 'mtu of the host veth');
    ok(await ours(call('DEL', 'st', nsPath), conf(st, ipamStatic)), 'DEL static');

    // host-local's resolvConf gives the result's dns (unless the config has its own, as upstream's bridge)
    const resolv = path.join(stateDir, 'resolv.conf');
    writeFileSync(resolv, '# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch a.example b.example\ndomain example\noptions ndots:2 edns0\n');
    const hl = { type: 'host-local', subnet: '10.212.0.0/24', resolvConf: resolv };
    const r4 = ok(await ours(call('ADD', 'rc', nsPath), conf({}, hl)), 'ADD resolvConf') as unknown as { dns: unknown };
    assert.deepEqual(r4.dns, { nameservers: ['192.0.2.53', '2001:db8::53'], domain: 'example', search: ['a.example', 'b.example'], options: ['ndots:2', 'edns0'] });
    ok(await ours(call('DEL', 'rc', nsPath), conf({}, hl)), 'DEL resolvConf');
    const r5 = ok(await ours(call('ADD', 'rc', nsPath), conf({ dns: { nameservers: ['9.9.9.9'] } }, hl)), 'ADD config dns') as unknown as { dns: unknown };
    assert.deepEqual(r5.dns, { nameservers: ['9.9.9.9'] });
    ok(await ours(call('DEL', 'rc', nsPath), conf({}, hl)), 'DEL config dns');

    // any other ipam.type is that plugin in CNI_PATH: here the reference host-local under another name
    const dir = mkdtempSync(path.join(tmpdir(), `${P}bin-`));
    symlinkSync(path.join(REF_DIR, 'host-local'), path.join(dir, 'other-ipam'));
    mkdirSync(`/run/${P}ipam`, { recursive: true });
    const dl = { name: `${P}dl`, bridge: `${P}dbr`, cniVersion: '1.0.0' }; // Debian's plugins speak up to 1.0.0
    const ipamDl = { type: 'other-ipam', subnet: '10.215.0.0/24', dataDir: `/run/${P}ipam` };
    const r3 = ok(await ours(call('ADD', 'dl', nsPath, { path: dir }), conf(dl, ipamDl)), 'ADD delegated') as unknown as Res;
    assert.equal(addrOf(r3), '10.215.0.2');
    const { stdout: leased } = await run('ls', [`/run/${P}ipam/${P}dl`]);
    assert.ok(leased.includes('10.215.0.2'), leased);
    ok(await ours(call('DEL', 'dl', nsPath, { path: dir }), conf(dl, ipamDl)), 'DEL delegated');
    const { stdout: after } = await run('ls', [`/run/${P}ipam/${P}dl`]);
    assert.ok(!after.includes('10.215.0.2'), `host-local released it: ${after}`);
    rmSync(dir, { recursive: true, force: true });
    await ip(['netns', 'del', ns]);
  });

  it('ADD twice answers the same attachment; a bridge deleted behind our back is re-created by the next ADD; another subnet for the network is code 7', async () => {
    const ns = `${P}idem`;
    await ip(['netns', 'add', ns]);
    const nsPath = `/run/netns/${ns}`;
    const a = ok(await ours(call('ADD', 'idem', nsPath), conf()), 'ADD');
    const b = ok(await ours(call('ADD', 'idem', nsPath), conf()), 'ADD again');
    assert.deepEqual(b, a);
    assert.deepEqual(await cniIds(), ['idem']);
    ok(await ours(call('DEL', 'idem', nsPath), conf()), 'DEL');
    await ip(['link', 'del', `${P}br`]);
    const c = ok(await ours(call('ADD', 'idem', nsPath), conf()), 'ADD with the bridge gone') as unknown as Res;
    assert.equal((await ipJson<{ master?: string }>(['link', 'show', c.interfaces[1]?.name ?? '']))[0]?.master, `${P}br`);
    ok(await ours(call('DEL', 'idem', nsPath), conf()), 'DEL');
    const other = await ours(call('ADD', 'idem', nsPath), conf({}, { type: 'host-local', subnet: '10.216.0.0/24' }));
    assert.equal((other.doc as { code: number }).code, 7, other.stdout);
    assert.ok(String((other.doc as { msg: string }).msg).includes('10.216.0.0/24'), other.stdout);
    await ip(['netns', 'del', ns]);
  });

  it('five racing DELs of one attachment all succeed; STATUS is code 50 when the state directory is unusable', async () => {
    const ns = `${P}race`;
    await ip(['netns', 'add', ns]);
    ok(await ours(call('ADD', 'race', `/run/netns/${ns}`), conf()), 'ADD');
    const dels = await Promise.all([0, 1, 2, 3, 4].map((i) => ours(call('DEL', 'race', i % 2 === 0 ? '' : `/run/netns/${ns}`), conf())));
    for (const [i, r] of dels.entries()) ok(r, `DEL #${i}`);
    assert.deepEqual(await cniIds(), []);
    await ip(['netns', 'del', ns]);
    // a state directory others may write is refused (trust rule): ADD could not work
    const open = mkdtempSync(path.join(tmpdir(), `${P}open-`));
    chmodSync(open, 0o777);
    const st = await ours({ command: 'STATUS' }, conf({ ctnetStateDir: open }));
    assert.equal(st.code, 1);
    assert.equal((st.doc as { code: number }).code, 50, st.stdout);
    rmSync(open, { recursive: true, force: true });
  });

  it('with one long-lived Host (as the agent keeps it): 20 concurrent ADDs and DELs; DEL then ADD at once into the same netns and ifname works, 10 times', async () => {
    const ns = `${P}warm`;
    await ip(['netns', 'add', ns]);
    const h = await Host.open({ stateDir });
    try {
      const hosts = { open: () => Promise.resolve(h) };
      const env = (command: string): Record<string, string> => ({ CNI_COMMAND: command, CNI_CONTAINERID: 'warm', CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: REF_DIR });
      const stdin = JSON.stringify(conf());
      // 20 ADDs at once in one process on one Host (as the agent serves them), then 20 DELs
      const names = Array.from({ length: 20 }, (_, i) => `${P}w${i}`);
      for (const n of names) await ip(['netns', 'add', n]);
      const one = (command: string, n: string): Record<string, string> => ({ ...env(command), CNI_CONTAINERID: n, CNI_NETNS: `/run/netns/${n}` });
      const adds = await Promise.all(names.map((n) => handleCni(hosts, { env: one('ADD', n), stdin })));
      for (const [i, r] of adds.entries()) assert.equal(r.exitCode, 0, `${names[i]}: ${r.stdout}`);
      assert.equal(new Set(adds.map((r) => addrOf(JSON.parse(r.stdout)))).size, 20);
      const dels = await Promise.all(names.map((n) => handleCni(hosts, { env: one('DEL', n), stdin })));
      for (const [i, r] of dels.entries()) assert.equal(r.exitCode, 0, `${names[i]}: ${r.stdout}`);
      for (const n of names) await ip(['netns', 'del', n]);
      for (let i = 0; i < 10; i++) {
        const add = await handleCni(hosts, { env: env('ADD'), stdin });
        assert.equal(add.exitCode, 0, `ADD #${i}: ${add.stdout}`);
        const addr = addrOf(JSON.parse(add.stdout));
        const a = await ipJson<{ addr_info: Array<{ family: string; local: string }> }>(['addr', 'show', 'eth0'], ns);
        assert.deepEqual(a[0]?.addr_info.filter((x) => x.family === 'inet').map((x) => x.local), [addr]);
        const del = await handleCni(hosts, { env: env('DEL'), stdin });
        assert.equal(del.exitCode, 0, `DEL #${i}: ${del.stdout}`);
      }
    } finally {
      await h.close();
    }
    assert.deepEqual(await cniIds(), []);
    await ip(['netns', 'del', ns]);
  });

  it('an ADD killed (SIGKILL) before or after each kernel step: DEL from a minimal env leaves no link, element, lease or row', async () => {
    const ns = `${P}kill`;
    await ip(['netns', 'add', ns]);
    const nsPath = `/run/netns/${ns}`;
    ok(await ours(call('ADD', 'first', nsPath), conf()), 'ADD (network made)');
    ok(await ours(call('DEL', 'first', nsPath), conf()), 'DEL');
    const guards = async (): Promise<number> => {
      const { stdout } = await run('nft', ['-j', 'list', 'set', 'bridge', 'ctnet', 'guard4']);
      return JSON.stringify(JSON.parse(stdout)).split('"concat"').length - 1;
    };
    const before = await guards();
    let died = 0;
    for (const hook of ['CTNET_TEST_KILL_AT_STEP', 'CTNET_TEST_KILL_AFTER_STEP']) {
      for (let n = 1; n <= 6; n++) {
        const add = await ours(call('ADD', `k${n}`, nsPath, { extra: { [hook]: String(n) } }), conf());
        if (add.code !== 0) died++;
        ok(await ours(call('DEL', `k${n}`, nsPath), conf()), `DEL after ${hook}=${n}`);
        assert.deepEqual(await cniIds(), [], `${hook}=${n}: no row`);
        assert.deepEqual((await ipJson<{ ifname: string }>(['link', 'show'], ns)).map((l) => l.ifname), ['lo'], `${hook}=${n}: only lo`);
        assert.equal(await guards(), before, `${hook}=${n}: no guard element`);
      }
    }
    assert.ok(died >= 4, `the hook killed ${died} ADDs`);
    // every address came back: a static request for the first one is granted
    const again = ok(await ours(call('ADD', 'after', nsPath, { args: 'IP=10.212.0.2' }), conf()), 'ADD after the kills');
    assert.equal(addrOf(again), '10.212.0.2');
    ok(await ours(call('DEL', 'after', nsPath), conf()), 'DEL');
    await ip(['netns', 'del', ns]);
  });
});
