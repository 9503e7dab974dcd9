/**
 * IPv6-only networks (a subnet6 and no IPv4 subnet), end to end through the library with both
 * kernel backends, and `network create --subnet6` alone through the CLI: the bridge carries
 * only its IPv6 gateway, containers get an IPv6 address and a default route via it, ping6 and
 * TCP between containers, NAT66 to an outside netns (it sees the host's address), a published
 * port reached from the outside over IPv6; kernel state read with `ip -j` and `nft -j`, and
 * nothing left after detach and remove. Names start with "ct6-".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Host, type Endpoint, type Network } from '../../src/index.js';
import { assertSandbox, ip, ipJson, removeLeftovers, BACKENDS, backendFor } from '../helpers/index.js';
import { ping, startServer, connect, type PeerServer } from '../helpers/traffic.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const OUT = 'ct6-out';
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/ctnet-fast.cjs');

/** The CLI as a user runs it (dist/: rebuilt with `npx tsc -p tsconfig.json && npm run bundle` before this suite). */
function ctnet(stateDir: string, args: readonly string[]): { code: number | null; stdout: string; stderr: string; json<T>(): T } {
  const env: NodeJS.ProcessEnv = { ...process.env, CTNET_STATE_DIR: stateDir, NO_COLOR: '1' };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: <T>() => JSON.parse(r.stdout) as T };
}

/** The outside world over IPv6: a netns behind a veth from the host (documentation prefix). */
async function makeOutside(): Promise<void> {
  await ip(['netns', 'add', OUT]);
  await ip(['link', 'add', 'ct6-o0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT]);
  await ip(['addr', 'add', '2001:db8:6::1/64', 'dev', 'ct6-o0', 'nodad']);
  await ip(['link', 'set', 'ct6-o0', 'up']);
  await ip(['addr', 'add', '2001:db8:6::2/64', 'dev', 'eth0', 'nodad'], OUT);
  await ip(['link', 'set', 'eth0', 'up'], OUT);
  await ip(['link', 'set', 'lo', 'up'], OUT);
  await ip(['-6', 'route', 'add', 'default', 'via', '2001:db8:6::1'], OUT);
}

/** The elements of set or map `name` in table `family` ctnet, as nft -j lists them. */
async function setElems(family: string, name: string): Promise<unknown[]> {
  const { stdout } = await run('nft', ['-j', 'list', 'table', family, 'ctnet']);
  const objs = (JSON.parse(stdout) as { nftables: Array<{ set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: unknown[] } }> }).nftables;
  const found = objs.map((o) => o.set ?? o.map).find((x) => x?.name === name);
  assert.ok(found !== undefined, `no set or map ${family} ctnet ${name}`);
  return found.elem ?? [];
}

type AddrLink = { addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string }> };
const globalAddrs = (l: AddrLink[] | undefined): string[] =>
  (l?.[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);

for (const backendName of BACKENDS) {
  describe(`IPv6-only network, end to end [${backendName}]`, function () {
    this.timeout(120000);
    let stateDir: string;
    let host: Host;
    let net: Network;
    let c0: Endpoint;
    let c1: Endpoint;
    const servers: PeerServer[] = [];

    before(async () => {
      assertSandbox();
      await removeLeftovers('ct6-');
      await run('nft', ['flush', 'ruleset']);
      await makeOutside();
      stateDir = mkdtempSync(path.join(tmpdir(), 'ct6-state-'));
      host = await Host.open({ stateDir, backendInstance: await backendFor(backendName) });
      net = await host.network({ name: 'ct6-net', subnet6: 'fd00:60::/64', bridge: 'ct6-br0' });
      c0 = await net.attach({ netns: 'ct6-c0' });
      c1 = await net.attach({ netns: 'ct6-c1' });
    });

    after(async () => {
      for (const s of servers) s.stop();
      await host?.close().catch(() => undefined);
      await removeLeftovers('ct6-');
      await run('nft', ['flush', 'ruleset']).catch(() => undefined);
      if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    });

    it('the network has no IPv4 side: the bridge carries only fd00:60::1/64; each container its IPv6 address and default route (ip -j)', async () => {
      const info = net.info;
      assert.deepEqual([info.subnet, info.gateway, info.subnet6, info.gateway6], [undefined, undefined, 'fd00:60::/64', 'fd00:60::1']);
      assert.deepEqual(globalAddrs(await ipJson<AddrLink>(['addr', 'show', 'ct6-br0'])), ['fd00:60::1/64']);
      for (const [c, ns, want] of [[c0, 'ct6-c0', 'fd00:60::2'], [c1, 'ct6-c1', 'fd00:60::3']] as const) {
        assert.deepEqual([c.info.ip, c.info.address, c.info.ip6, c.info.address6, c.info.gateway6], ['', '', want, `${want}/64`, 'fd00:60::1']);
        const a = await ipJson<AddrLink & { address: string }>(['addr', 'show', 'eth0'], ns);
        assert.deepEqual(globalAddrs(a), [`${want}/64`]);
        assert.equal(a[0]?.addr_info.some((x) => x.family === 'inet'), false, 'no IPv4 address');
        assert.equal(a[0]?.address, c.mac);
        const r = await ipJson<{ dst: string; gateway?: string }>(['-6', 'route', 'show', 'default'], ns);
        assert.equal(r[0]?.gateway, 'fd00:60::1');
        assert.deepEqual(await ipJson(['-4', 'route', 'show'], ns), []);
      }
      // the guard holds each container's IPv6 address (guard6), the network's prefix is masqueraded (ip6 masq)
      const g6 = JSON.stringify(await setElems('bridge', 'guard6'));
      assert.ok(g6.includes(`"${c0.hostIfname}"`) && g6.includes('fd00:60::2') && g6.includes('fd00:60::3'), g6);
      assert.equal((await setElems('bridge', 'guard4')).length, 0);
      assert.match(JSON.stringify(await setElems('ip6', 'masq')), /"addr":\s*"fd00:60::","len":\s*64/);
      assert.equal((await setElems('ip', 'masq')).length, 0);
    });

    it('ping6 and TCP over IPv6 between the containers and to the gateway', async () => {
      assert.ok(await ping('ct6-c0', 'fd00:60::3'), 'c0 → c1');
      assert.ok(await ping('ct6-c1', 'fd00:60::2'), 'c1 → c0');
      assert.ok(await ping('ct6-c0', 'fd00:60::1'), 'c0 → gateway');
      servers.push(await startServer('ct6-c1', 7100, '::'));
      assert.equal(await connect('ct6-c0', 'fd00:60::3', 7100), 'fd00:60::2');
    });

    it('NAT66: a container reaches the outside netns, which sees the host address', async () => {
      servers.push(await startServer(OUT, 7101, '::'));
      assert.equal(await connect('ct6-c0', '2001:db8:6::2', 7101), '2001:db8:6::1');
      assert.ok(await ping('ct6-c1', '2001:db8:6::2'), 'c1 → outside ping6');
    });

    it('a published port is reached from the outside netns over IPv6, and unpublished cleanly', async () => {
      servers.push(await startServer('ct6-c0', 80, '::'));
      await c0.publish(['8086:80/tcp']);
      assert.match(JSON.stringify(await setElems('ip6', 'pub_any_addr')), /fd00:60::2/);
      assert.notEqual(await connect(OUT, '2001:db8:6::1', 8086), undefined, 'outside → [2001:db8:6::1]:8086 → c0:80');
      await c0.unpublish(['8086:80/tcp']);
      assert.equal(await connect(OUT, '2001:db8:6::1', 8086), undefined, 'unpublished');
    });

    it('gc puts back the bridge\'s IPv6 gateway and a container\'s IPv6 address and default route removed behind its back', async () => {
      await ip(['addr', 'del', 'fd00:60::1/64', 'dev', 'ct6-br0']);
      await ip(['addr', 'del', 'fd00:60::3/64', 'dev', 'eth0'], 'ct6-c1');
      const report = await host.gc();
      assert.equal(report.errors.length, 0, report.errors.join('\n'));
      assert.deepEqual(globalAddrs(await ipJson<AddrLink>(['addr', 'show', 'ct6-br0'])), ['fd00:60::1/64']);
      assert.deepEqual(globalAddrs(await ipJson<AddrLink>(['addr', 'show', 'eth0'], 'ct6-c1')), ['fd00:60::3/64']);
      assert.equal((await ipJson<{ gateway?: string }>(['-6', 'route', 'show', 'default'], 'ct6-c1'))[0]?.gateway, 'fd00:60::1');
      assert.ok(await ping('ct6-c1', 'fd00:60::1'), 'c1 → gateway again');
    });

    it('detach and network remove leave no link, address or element behind', async () => {
      await c0.detach();
      await c1.detach();
      await net.remove();
      assert.deepEqual(await ipJson(['link', 'show', 'ct6-br0']).catch(() => []), []);
      const g6 = JSON.stringify(await setElems('bridge', 'guard6').catch(() => []));
      assert.ok(!g6.includes('fd00:60::'), g6);
      assert.deepEqual(await host.networks(), []);
    });
  });
}

describe('CLI: network create --subnet6 alone (IPv6-only)', function () {
  this.timeout(120000);
  let stateDir: string;

  before(async () => {
    assertSandbox();
    await removeLeftovers('ct6-');
    stateDir = mkdtempSync(path.join(tmpdir(), 'ct6-cli-'));
  });
  after(async () => {
    ctnet(stateDir, ['network', 'rm', '--force', 'ct6-cli']);
    await removeLeftovers('ct6-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates the network, inspect shows no IPv4 subnet, an attach gets an IPv6 address; --gateway without --subnet is a usage error', async () => {
    const c = ctnet(stateDir, ['--json', 'network', 'create', 'ct6-cli', '--subnet6', 'fd00:61::/64', '--bridge', 'ct6-br1']);
    assert.equal(c.code, 0, c.stderr);
    const info = ctnet(stateDir, ['--json', 'network', 'inspect', 'ct6-cli']).json<{ network: { subnet?: string; subnet6?: string; gateway6?: string } }>().network;
    assert.deepEqual([info.subnet, info.subnet6, info.gateway6], [undefined, 'fd00:61::/64', 'fd00:61::1']);
    assert.deepEqual(globalAddrs(await ipJson<AddrLink>(['addr', 'show', 'ct6-br1'])), ['fd00:61::1/64']);
    const a = ctnet(stateDir, ['attach', 'ct6-k0', '--network', 'ct6-cli']);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(globalAddrs(await ipJson<AddrLink>(['addr', 'show', 'eth0'], 'ct6-k0')), ['fd00:61::2/64']);
    assert.ok(await ping('ct6-k0', 'fd00:61::1'));
    const bad = ctnet(stateDir, ['network', 'create', 'ct6-bad', '--subnet6', 'fd00:62::/64', '--gateway', '10.0.0.1']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--gateway needs --subnet/);
    const none = ctnet(stateDir, ['network', 'create', 'ct6-bad']);
    assert.match(none.stderr, /--subnet CIDR.*or --subnet6/);
    assert.equal(ctnet(stateDir, ['detach', 'ct6-k0']).code, 0);
  });
});
