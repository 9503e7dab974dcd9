/**
 * Damage behind ctnet-fast's back (issue 10): each object of an attached container with a
 * published port (the container netns file, the host veth, the container's eth0, its address,
 * its default route, the bridge, the bridge's address, our nft tables by `nft flush ruleset`
 * and by `nft delete table ip ctnet`, the DNAT map elements) is deleted with ip/nft, then:
 *  - teardown: `detach`, `network rm --force`, `gc` each exit 0 or fail with a clear message
 *    and no stack trace; afterwards nothing of ours is left (the full oracle,
 *    test/helpers/break-oracle.ts, and an empty store) and nothing foreign was touched (a
 *    bridge, a netns and an nft table made by the test survive);
 *  - repair: `gc` alone must bring state and kernel back into agreement (repair what it can,
 *    forget what is gone for good).
 * And a firewall flush on a live network followed by `gc` must restore NAT and published
 * ports, proven with real traffic from an "outside" netns (TEST-NET-1 addresses).
 * CLI in-process (CTNET_DAEMON=off). Inside test/sandbox.mjs only; names start with "brk-d".
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { assertSandbox } from '../helpers/sandbox.js';
import { ip, link } from '../helpers/oracle.js';
import { connect, startServer, type PeerServer } from '../helpers/traffic.js';
import { cli, cliOk, describeRun, ensureBuilt, hasStackTrace, newStateDir, resetWorld, type Run } from '../helpers/break-env.js';
import { readStore, settledProblems, type EpRow, type NetRow } from '../helpers/break-oracle.js';

const P = 'brk-d';
const NET = 'brk-dn';
const BR = 'brk-dbr';
const CT = 'brk-d1';
const FOREIGN_BR = 'brk-dfbr';
const FOREIGN_NS = 'brk-dfns';
const KEEP = [FOREIGN_BR, FOREIGN_NS];

function nft(args: readonly string[]): void {
  const r = spawnSync('nft', [...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft ${args.join(' ')}: ${r.stderr.trim()}`);
}

interface Damage { readonly name: string; readonly flush?: boolean; readonly fn: (ep: EpRow, net: NetRow) => Promise<void> }

const DAMAGES: readonly Damage[] = [
  { name: 'the container netns file', fn: async () => { await ip(['netns', 'del', CT]); } },
  { name: 'the host veth', fn: async (ep) => { await ip(['link', 'del', 'dev', ep.host_ifname ?? '?']); } },
  { name: "the container's eth0", fn: async (ep) => { await ip(['link', 'del', 'dev', ep.ifname], CT); } },
  { name: "the container's address", fn: async (ep) => { await ip(['addr', 'del', `${ep.ip}/24`, 'dev', ep.ifname], CT); } },
  { name: "the container's default route", fn: async () => { await ip(['route', 'del', 'default'], CT); } },
  { name: 'the bridge', fn: async (_ep, net) => { await ip(['link', 'del', 'dev', net.bridge]); } },
  { name: "the bridge's address", fn: async (_ep, net) => { await ip(['addr', 'del', `${net.gateway}/24`, 'dev', net.bridge]); } },
  { name: 'our nft tables (nft flush ruleset)', flush: true, fn: async () => { nft(['flush', 'ruleset']); } },
  { name: 'table ip ctnet (nft delete table)', fn: async () => { nft(['delete', 'table', 'ip', 'ctnet']); } },
  {
    name: 'the DNAT map elements of the published port',
    fn: async () => {
      nft(['delete', 'element', 'ip', 'ctnet', 'pub_any_addr', '{', 'tcp', '.', '18080', '}']);
      nft(['delete', 'element', 'ip', 'ctnet', 'pub_any_port', '{', 'tcp', '.', '18080', '}']);
    },
  },
];

async function foreignObjects(): Promise<void> {
  if (await link(FOREIGN_BR) === undefined) {
    await ip(['link', 'add', FOREIGN_BR, 'type', 'bridge']);
    await ip(['addr', 'add', '198.51.100.1/24', 'dev', FOREIGN_BR]);
    await ip(['link', 'set', FOREIGN_BR, 'up']);
  }
  if (!existsSync(`/run/netns/${FOREIGN_NS}`)) await ip(['netns', 'add', FOREIGN_NS]);
  nft(['add', 'table', 'ip', 'brk_foreign']);
  nft(['add', 'set', 'ip', 'brk_foreign', 's', '{', 'type', 'ipv4_addr', ';', '}']);
  nft(['add', 'element', 'ip', 'brk_foreign', 's', '{', '198.51.100.7', '}']);
}

/** What of the test's foreign objects is gone or changed ([] when all survived). */
async function foreignDamage(tableToo: boolean): Promise<string[]> {
  const p: string[] = [];
  const b = await link(FOREIGN_BR);
  if (b === undefined) p.push(`foreign bridge ${FOREIGN_BR} was deleted`);
  else if (!(await ip(['-j', 'addr', 'show', 'dev', FOREIGN_BR])).includes('198.51.100.1')) p.push(`foreign bridge ${FOREIGN_BR} lost its address`);
  if (!existsSync(`/run/netns/${FOREIGN_NS}`)) p.push(`foreign netns ${FOREIGN_NS} was deleted`);
  if (tableToo) {
    const r = spawnSync('nft', ['list', 'set', 'ip', 'brk_foreign', 's'], { encoding: 'utf8' });
    if (r.status !== 0 || !r.stdout.includes('198.51.100.7')) p.push('foreign nft table ip brk_foreign or its element is gone');
  }
  return p;
}

/** A fresh state with one network and one attached container publishing 18080→80. */
async function setUp(state: string, ignoreNetns: readonly string[] = KEEP): Promise<{ ep: EpRow; net: NetRow }> {
  await cliOk(state, ['network', 'create', NET, '--subnet', '10.254.0.0/24', '--bridge', BR]);
  await cliOk(state, ['attach', CT, '--network', NET, '--publish', '18080:80']);
  const st = readStore(state);
  const ep = st.endpoints[0];
  const net = st.networks[0];
  assert.ok(ep !== undefined && net !== undefined);
  assert.deepEqual(await settledProblems({ stateDir: state, netnsPrefix: P, ignoreNetns }), [], 'clean before the damage');
  return { ep, net };
}

function judge(r: Run): string | undefined {
  if (r.signal !== null) return `${describeRun(r)}: died by a signal`;
  if (hasStackTrace(r)) return `${describeRun(r)}: prints a stack trace`;
  if (r.code !== 0 && r.stderr.trim() === '') return `${describeRun(r)}: fails without a message`;
  return undefined;
}

describe('break: objects deleted behind its back (privileged)', function () {
  this.timeout(10 * 60_000);
  let state: string | undefined;

  before(async () => {
    assertSandbox();
    ensureBuilt();
    await resetWorld(P);
    spawnSync('nft', ['delete', 'table', 'ip', 'brk_foreign'], { stdio: 'ignore' });
  });
  afterEach(async () => {
    await resetWorld(P, state, KEEP);
    state = undefined;
  });
  after(async () => {
    await resetWorld(P);
    spawnSync('nft', ['delete', 'table', 'ip', 'brk_foreign'], { stdio: 'ignore' });
  });

  for (const d of DAMAGES) {
    it(`${d.name} deleted, then detach, network rm --force, gc: clean exits, nothing of ours left, nothing foreign touched`, async () => {
      state = newStateDir(P);
      await foreignObjects();
      const { ep, net } = await setUp(state);
      await d.fn(ep, net);
      const p: string[] = [];
      const runs: string[] = [];
      for (const args of [['detach', CT], ['network', 'rm', '--force', NET], ['gc']]) {
        const r = await cli(state, args);
        runs.push(`${args[0]}:${r.code}`);
        const bad = judge(r);
        if (bad !== undefined) p.push(bad);
      }
      p.push(...await settledProblems({ stateDir: state, netnsPrefix: P, ignoreNetns: KEEP }));
      const left = readStore(state);
      if (left.networks.length + left.endpoints.length > 0) p.push(`the store still has ${left.networks.length} networks and ${left.endpoints.length} endpoints`);
      p.push(...await foreignDamage(d.flush !== true));
      console.log(`    [break-damage] ${d.name}: teardown ${runs.join(' ')}; ${p.length} problems`);
      assert.deepEqual(p, []);
    });
  }

  for (const d of DAMAGES) {
    it(`${d.name} deleted, then gc alone: state and kernel agree again`, async () => {
      state = newStateDir(P);
      await foreignObjects();
      const { ep, net } = await setUp(state);
      await d.fn(ep, net);
      const g = await cli(state, ['--json', 'gc']);
      const p: string[] = [];
      const bad = judge(g);
      if (bad !== undefined) p.push(bad);
      if (g.code !== 0) p.push(`gc: ${describeRun(g)}`);
      p.push(...await settledProblems({ stateDir: state, netnsPrefix: P, ignoreNetns: KEEP }));
      p.push(...await foreignDamage(d.flush !== true));
      console.log(`    [break-damage] ${d.name}: gc exit ${g.code}; ${p.length} problems`);
      assert.deepEqual(p, [], `after gc (its report: ${g.stdout.replace(/\s+/g, ' ').slice(0, 400)})`);
    });
  }

  it('nft flush ruleset on a live network, then gc: NAT and the published port work again (real traffic from an outside netns)', async () => {
    state = newStateDir(P);
    const servers: PeerServer[] = [];
    try {
      // the outside world: a netns with 192.0.2.2, reached from the host through brk-dov 192.0.2.1
      await ip(['netns', 'add', 'brk-dout']);
      await ip(['link', 'add', 'brk-dov', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'brk-dout']);
      await ip(['addr', 'add', '192.0.2.1/24', 'dev', 'brk-dov']);
      await ip(['link', 'set', 'brk-dov', 'up']);
      await ip(['addr', 'add', '192.0.2.2/24', 'dev', 'eth0'], 'brk-dout');
      await ip(['link', 'set', 'eth0', 'up'], 'brk-dout');
      await ip(['link', 'set', 'lo', 'up'], 'brk-dout');
      await setUp(state, [...KEEP, 'brk-dout']);
      servers.push(await startServer(CT, 80), await startServer('brk-dout', 9000));
      const check = async (): Promise<{ published?: string; nat?: string }> => {
        const published = await connect('brk-dout', '192.0.2.1', 18080);
        const nat = await connect(CT, '192.0.2.2', 9000);
        return { ...(published !== undefined ? { published } : {}), ...(nat !== undefined ? { nat } : {}) };
      };
      // published: the container sees the outside's own address; NAT: the outside sees the host's
      assert.deepEqual(await check(), { published: '192.0.2.2', nat: '192.0.2.1' }, 'works before the flush');
      nft(['flush', 'ruleset']);
      assert.deepEqual(await check(), {}, 'the flush broke both (else this test proves nothing)');
      const g = await cli(state, ['gc']);
      assert.equal(g.code, 0, describeRun(g));
      const after = await check();
      const problems = await settledProblems({ stateDir: state, netnsPrefix: P, ignoreNetns: [...KEEP, 'brk-dout'] });
      console.log(`    [break-damage] flush + gc: published port ${after.published ?? 'broken'}, NAT ${after.nat ?? 'broken'}; ${problems.length} oracle problems`);
      assert.deepEqual(after, { published: '192.0.2.2', nat: '192.0.2.1' }, `after gc (${g.stdout.trim()})`);
      assert.deepEqual(problems, []);
    } finally {
      for (const s of servers) s.stop();
      await ip(['netns', 'del', 'brk-dout']).catch(() => undefined);
    }
  });
});
