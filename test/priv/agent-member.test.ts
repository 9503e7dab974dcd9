// Privileged test of what a non-root member of the agent's group may do with CNI requests
// (docs/agent-protocol.md, "Who may talk"; src/cli/daemon/requests.ts): root attaches two
// containers through the agent's `cni` request; uid 65534, in the agent's group, then tries
// what a new-user review did (/tmp/r1/repro-member-del.sh): DEL of root's container with
// CNI_NETNS empty, with root's netns, with a netns of its own; CHECK of it; CNI GC with an empty
// cni.dev/valid-attachments; the typed gc. Each is refused (EPERM/EACCES) and both containers
// stay attached (ip -j inside each netns, state through `ls --json`). Its own container (in a
// netns of its own user namespace) it may ADD and DEL (CNI_NETNS empty); a DEL of a container
// that does not exist still succeeds for the member (DEL is idempotent). Names start with
// "agm-", subnet 10.238.0.0/24.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EndpointInfo } from '../../src/model/types.js';
import { assertSandbox } from '../helpers/index.js';
import { addrsOf, ctnet, ensureBuilt } from './cli-network.test.js';
import { HELLO, ask, cleanState, killAgents, ok, talk, type Line } from './agent-wire.test.js';

const NOBODY = 65534;
const OFF = { CTNET_DAEMON: 'off' } as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a group member and root\'s CNI attachments (privileged)', function () {
  this.timeout(60_000);
  let state: string;
  let sock: string;
  const children: ChildProcess[] = [];
  const pods = ['agm-pod1', 'agm-pod2'];

  before(() => {
    assertSandbox();
    ensureBuilt();
    state = mkdtempSync(path.join(tmpdir(), 'agm-state-'));
    sock = path.join(state, 'agent.sock');
  });
  after(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await killAgents(state);
    chmodSync(state, 0o700);
    await cleanState(state, 'agm-');
    for (const p of pods) spawnSync('ip', ['netns', 'del', p]);
    rmSync(state, { recursive: true, force: true });
  });

  it('a member may not ADD over, DEL, CHECK or GC root\'s containers (CNI_NETNS empty, root\'s, its own), nor typed gc; both stay attached; its own it may ADD and DEL; a DEL of nothing succeeds', async () => {
    const cfg = path.join(state, 'agent.json');
    writeFileSync(cfg, JSON.stringify({ group: String(NOBODY) }));
    ok(ctnet(state, ['--json', 'agent', 'start', '--config', cfg]), 'agent start');
    chmodSync(state, 0o711);
    const conf = (extra: object = {}): string => JSON.stringify({ cniVersion: '1.1.0', name: 'agm-net', type: 'ctnet-cni', bridge: 'agm-br', isGateway: true, ctnetStateDir: state, ipam: { type: 'host-local', subnet: '10.238.0.0/24' }, ...extra });
    const env = (command: string, id: string, netns: string): Record<string, string> => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });
    for (const p of pods) {
      assert.equal(spawnSync('ip', ['netns', 'add', p]).status, 0, p);
      const a = await ask(sock, { type: 'cni', env: env('ADD', p, `/run/netns/${p}`), stdin: conf() });
      assert.deepEqual([a.type, a.exitCode], ['reply', 0], JSON.stringify(a));
    }
    const before = pods.map((p) => addrsOf('eth0', p));
    before.forEach((a, i) => assert.equal(a.length, 1, `${pods[i] as string}: ${a.join(' ')}`));
    const asNobody = async (req: Line): Promise<Line> => {
      const got = await talk(sock, [HELLO, { v: 1, id: 7, ...req }], { uid: NOBODY });
      assert.equal(got[0]?.type, 'hello', JSON.stringify(got));
      return got[1] ?? {};
    };
    // a netns of its own (a user namespace it made), to name in a DEL of root's container
    const own = spawn('unshare', ['-Urn', 'sleep', '60'], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    children.push(own);
    const ownNs = `/proc/${own.pid}/ns/net`;
    const hostNs = spawnSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).stdout;
    for (let i = 0; i < 100 && spawnSync('readlink', [ownNs], { encoding: 'utf8' }).stdout === hostNs; i++) await sleep(20);

    for (const [what, req, code] of [
      ['DEL, CNI_NETNS empty', { type: 'cni', env: env('DEL', 'agm-pod1', ''), stdin: conf() }, 'EPERM'],
      ['DEL, root\'s netns', { type: 'cni', env: env('DEL', 'agm-pod2', '/run/netns/agm-pod2'), stdin: conf() }, 'EACCES'],
      ['DEL, its own netns', { type: 'cni', env: env('DEL', 'agm-pod2', ownNs), stdin: conf() }, 'EPERM'],
      ['CHECK, its own netns', { type: 'cni', env: env('CHECK', 'agm-pod1', ownNs), stdin: conf() }, 'EPERM'],
      ['CNI GC', { type: 'cni', env: { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, stdin: conf({ 'cni.dev/valid-attachments': [] }) }, 'EPERM'],
      ['typed gc', { type: 'gc' }, 'EPERM'],
    ] as const) {
      const a = await asNobody(req);
      assert.deepEqual([a.type, a.code], ['error', code], `${what}: ${JSON.stringify(a)}`);
    }
    assert.deepEqual(pods.map((p) => addrsOf('eth0', p)), before, 'root\'s containers were touched');
    const eps = ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<EndpointInfo[]>();
    assert.deepEqual(eps.map((e) => e.containerId).sort(), pods, 'the state lost an attachment');
    // an ADD reusing root's container id is refused too; its own container it may ADD, then DEL with CNI_NETNS empty
    const steal = await asNobody({ type: 'cni', env: env('ADD', 'agm-pod1', ownNs), stdin: conf() });
    assert.deepEqual([steal.type, steal.code], ['error', 'EPERM'], JSON.stringify(steal));
    const mine = await asNobody({ type: 'cni', env: env('ADD', 'agm-mine', ownNs), stdin: conf() });
    assert.deepEqual([mine.type, mine.exitCode], ['reply', 0], JSON.stringify(mine));
    const inside = spawnSync('nsenter', [`--net=${ownNs}`, 'ip', '-j', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
    assert.equal(inside.status, 0, `its own container has eth0: ${inside.stderr}`);
    const delMine = await asNobody({ type: 'cni', env: env('DEL', 'agm-mine', ''), stdin: conf() });
    assert.deepEqual([delMine.type, delMine.exitCode], ['reply', 0], JSON.stringify(delMine));
    assert.deepEqual(ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<EndpointInfo[]>().map((e) => e.containerId).sort(), pods, 'its own DEL removed exactly its own');
    // DEL is idempotent for a member too: a container nobody attached
    const none = await asNobody({ type: 'cni', env: env('DEL', 'agm-none', ''), stdin: conf() });
    assert.deepEqual([none.type, none.exitCode], ['reply', 0], JSON.stringify(none));
    // root may
    for (const p of pods) {
      const d = await ask(sock, { type: 'cni', env: env('DEL', p, ''), stdin: conf() });
      assert.deepEqual([d.type, d.exitCode], ['reply', 0], JSON.stringify(d));
      assert.deepEqual(addrsOf('eth0', p), [], `${p}: eth0 left after root's DEL`);
    }
  });
});
