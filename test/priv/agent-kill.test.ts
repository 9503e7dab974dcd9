// Privileged test of the agent's repair at start (docs/agent-protocol.md, "Restarts, kills and
// vanished agents"): 20 typed `attach` requests in flight through the agent, SIGKILL the moment all
// 20 are in it, then: every client ends (a reply, or a closed connection: never a hang), `agent
// start` runs gc over the intent log before it listens and undoes every ADD it had not answered
// (STATE_DIR/agent.inflight): every ADD whose client got an error is fully gone (no state, no
// /run/netns entry), every one whose client got a result is fully attached (state, `ip -j` in the
// netns and on the bridge agree, the address is the one the client was told), with no address
// given twice. The same for CNI ADDs, and for an agent stopped (SIGSTOP) until its clients gave up. Then the CLI through
// the restarted agent works. Names start with "agk-", subnet 10.237.0.0/22.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import type { EndpointInfo } from '../../src/model/types.js';
import { assertSandbox } from '../helpers/index.js';
import { alive } from '../helpers/daemon-procs.js';
import { addrsOf, ctnet, ensureBuilt, ipj } from './cli-network.test.js';
import { HELLO, ask, cleanState, killAgents, ok, result, talk, type Line } from './agent-wire.test.js';

const OFF = { CTNET_DAEMON: 'off' } as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the agent killed with 20 attaches in flight (privileged)', function () {
  this.timeout(120_000);
  let state: string;

  before(() => {
    assertSandbox();
    ensureBuilt();
    state = mkdtempSync(path.join(tmpdir(), 'agk-state-'));
  });
  after(async () => {
    await killAgents(state);
    await cleanState(state, 'agk-');
    rmSync(state, { recursive: true, force: true });
  });

  it('kill -9 mid-flight, restart: each netns whose client got a result fully attached, each whose client got an error fully gone, no duplicate address, clients never hang', async () => {
    const NET = 'agk-n';
    const BR = 'agk-br';
    ok(ctnet(state, ['network', 'create', NET, '--subnet', '10.237.0.0/22', '--bridge', BR], { env: OFF }));
    const first = ok(ctnet(state, ['--json', 'agent', 'start']), 'agent start').json<{ pid: number }>();
    const sock = path.join(state, 'agent.sock');
    const names = Array.from({ length: 20 }, (_, i) => `agk-c${i}`);
    let hellos = 0;
    let killed = false;
    const onLine = (l: Line): void => {
      // all 20 requests are in the agent once all 20 hellos are answered (hello and request arrive together)
      if (l.type === 'hello' && ++hellos === names.length && !killed) { killed = true; process.kill(first.pid, 'SIGKILL'); }
    };
    const clients = names.map((n) => talk(sock, [HELLO, { v: 1, type: 'attach', id: 1, network: NET, netns: n }], { onLine }));
    // a client whose agent vanished sees its connection close: every one of them ends
    const answers = await Promise.all(clients.map((c) => Promise.race([c, sleep(60_000).then(() => 'hung' as const)])));
    assert.ok(killed, `the agent was not killed (hellos ${hellos})`);
    assert.deepEqual(answers.filter((a) => a === 'hung'), [], 'a client hung after its agent was killed');
    const got = answers as Line[][];
    const told = new Map<string, EndpointInfo>();
    got.forEach((lines, i) => {
      const reply = lines.find((l) => l.type === 'reply');
      if (reply !== undefined) told.set(names[i] as string, reply.result as EndpointInfo);
    });
    assert.ok(told.size < names.length, 'every attach had answered before the kill: nothing was in flight');

    // the killed agent must be reaped before gc stops counting it as alive (src/topology/host.ts pidAlive)
    for (let i = 0; i < 750 && existsSync(`/proc/${first.pid}`); i++) await sleep(20);
    assert.equal(alive(first.pid), false);
    const second = ok(ctnet(state, ['--json', 'agent', 'start']), 'agent start after the kill').json<{ pid: number; startGc: { actions: number; errors: string[] } }>();
    assert.notEqual(second.pid, first.pid);
    assert.deepEqual(second.startGc.errors, [], 'gc at start had errors');
    const again = result<{ actions: string[] }>(await ask(sock, { type: 'gc', dryRun: true }));
    assert.deepEqual(again.actions, [], `gc at start did not converge: ${again.actions.join('; ')}`);

    const eps = ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<EndpointInfo[]>();
    const byName = new Map(eps.map((e) => [e.netnsName ?? '', e]));
    assert.equal(new Set(eps.map((e) => e.ip)).size, eps.length, `duplicate addresses: ${eps.map((e) => e.ip).join(' ')}`);
    for (const n of names) {
      const ep = byName.get(n);
      if (ep === undefined) {
        assert.equal(existsSync(`/run/netns/${n}`), false, `${n}: no endpoint in the state, but its netns is there`);
        assert.equal(told.has(n), false, `${n}: its client was told it is attached, but it is gone`);
        continue;
      }
      assert.ok(told.has(n), `${n}: its client got an error (no reply), but it was finished instead of undone`);
      assert.deepEqual(addrsOf('eth0', n), [ep.address], `${n}: kernel and state disagree`);
      assert.equal(ipj(['link', 'show', 'dev', ep.hostIfname])[0]?.master, BR, `${n}: host veth ${ep.hostIfname} not on the bridge`);
      const t = told.get(n);
      if (t !== undefined) assert.equal(t.address, ep.address, `${n}: told ${t.address}, attached ${ep.address}`);
    }
    // nothing else of ours: no netns of these names without an endpoint, no host veth without one (veths go asynchronously)
    assert.deepEqual(readdirSync('/run/netns').filter((n) => n.startsWith('agk-c') && !byName.has(n)), []);
    const known = new Set(eps.map((e) => e.hostIfname));
    let stray: string[] = [];
    for (let i = 0; i < 100; i++) {
      stray = ipj(['link', 'show', 'master', BR]).map((l) => String(l.ifname)).filter((x) => !known.has(x));
      if (stray.length === 0) break;
      await sleep(50);
    }
    assert.deepEqual(stray, [], 'host veths on the bridge without an endpoint');

    // the restarted agent serves the CLI and typed requests again
    const st0 = result<{ served: number }>(await ask(sock, { type: 'status' }));
    const a = ok(ctnet(state, ['--json', 'attach', 'agk-after', '--network', NET]), 'attach after the restart').json<EndpointInfo>();
    assert.equal(result<{ served: number }>(await ask(sock, { type: 'status' })).served, st0.served + 1, 'the CLI went through the agent');
    assert.deepEqual(addrsOf('eth0', 'agk-after'), [a.address]);
    assert.ok(!eps.some((e) => e.ip === a.ip), 'a new address was given twice');
  });

  it('the same with 20 CNI ADDs (as the shim sends them): after the restart each container with a result fully attached, each without one fully gone, no duplicate address; every DEL then succeeds and leaves nothing', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `agk-k${i}`);
    for (const id of ids) assert.equal(spawnSync('ip', ['netns', 'add', id]).status, 0, id);
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'agk-cni', type: 'ctnet-cni', bridge: 'agk-cbr', isGateway: true, ctnetStateDir: state, ipam: { type: 'host-local', subnet: '10.237.8.0/24' } });
    const env = (command: string, id: string): Record<string, string> => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${id}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });
    const sock = path.join(state, 'agent.sock');
    await killAgents(state);
    const first = ok(ctnet(state, ['--json', 'agent', 'start']), 'agent start').json<{ pid: number }>();
    let hellos = 0;
    const onLine = (l: Line): void => {
      if (l.type === 'hello' && ++hellos === ids.length) process.kill(first.pid, 'SIGKILL');
    };
    const answers = await Promise.all(ids.map((id) => Promise.race([
      talk(sock, [HELLO, { v: 1, type: 'cni', id: 1, env: env('ADD', id), stdin: conf }], { onLine }),
      sleep(60_000).then(() => 'hung' as const),
    ])));
    assert.deepEqual(answers.filter((a) => a === 'hung'), [], 'a shim would have hung');
    const told = new Map<string, string>();
    (answers as Line[][]).forEach((lines, i) => {
      const r = lines.find((l) => l.type === 'reply' && l.exitCode === 0);
      if (r !== undefined) told.set(ids[i] as string, (JSON.parse(String(r.stdout)) as { ips: Array<{ address: string }> }).ips[0]?.address ?? '');
    });
    assert.ok(told.size < ids.length, 'every ADD had answered before the kill');
    for (let i = 0; i < 750 && existsSync(`/proc/${first.pid}`); i++) await sleep(20);
    const second = ok(ctnet(state, ['--json', 'agent', 'start']), 'agent start after the kill').json<{ startGc: { errors: string[] } }>();
    assert.deepEqual(second.startGc.errors, []);
    const eps = ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<EndpointInfo[]>().filter((e) => e.network === 'agk-cni');
    assert.equal(new Set(eps.map((e) => e.ip)).size, eps.length, `duplicate addresses: ${eps.map((e) => e.ip).join(' ')}`);
    for (const id of ids) {
      const ep = eps.find((e) => e.netns === `/run/netns/${id}`);
      const inside = ipj(['link', 'show', 'dev', 'eth0'], id);
      if (ep === undefined) {
        assert.deepEqual(inside, [], `${id}: no endpoint, but eth0 is in its netns`);
        assert.equal(told.has(id), false, `${id}: its ADD answered 0, but it is gone`);
        continue;
      }
      assert.ok(told.has(id), `${id}: its client got an error (no result), but the ADD was finished instead of undone`);
      assert.deepEqual(addrsOf('eth0', id), [ep.address], `${id}: kernel and state disagree`);
      assert.equal(ipj(['link', 'show', 'dev', ep.hostIfname])[0]?.master, 'agk-cbr', `${id}: host veth not on the bridge`);
      if (told.has(id)) assert.equal(told.get(id), ep.address, id);
    }
    // what a runtime does for every ADD that failed (and at teardown): DEL, which must succeed
    const dels = await Promise.all(ids.map((id) => ask(sock, { type: 'cni', env: env('DEL', id), stdin: conf })));
    dels.forEach((d, i) => assert.deepEqual([d.type, d.exitCode], ['reply', 0], `DEL ${ids[i]}: ${JSON.stringify(d)}`));
    assert.deepEqual(ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<EndpointInfo[]>().filter((e) => e.network === 'agk-cni'), []);
    for (const id of ids) {
      assert.deepEqual(ipj(['link', 'show', 'dev', 'eth0'], id), [], `${id}: eth0 left after DEL`);
      spawnSync('ip', ['netns', 'del', id]);
    }
  });

  it('an agent stopped (SIGSTOP) until its clients gave up, then continued: every ADD whose client got no result is undone, not finished', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `agk-s${i}`);
    for (const id of ids) assert.equal(spawnSync('ip', ['netns', 'add', id]).status, 0, id);
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'agk-stop', type: 'ctnet-cni', bridge: 'agk-sbr', isGateway: true, ctnetStateDir: state, ipam: { type: 'host-local', subnet: '10.237.9.0/24' } });
    const env = (command: string, id: string): Record<string, string> => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${id}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });
    const sock = path.join(state, 'agent.sock');
    await killAgents(state);
    const agent = ok(ctnet(state, ['--json', 'agent', 'start']), 'agent start').json<{ pid: number }>();
    const told = new Set<string>();
    const conns: net.Socket[] = [];
    let hellos = 0;
    let stopped = false;
    const allIn = new Promise<void>((resolve) => {
      for (const id of ids) {
        const c = net.createConnection(sock);
        conns.push(c);
        let buf = '';
        c.on('connect', () => c.write(`${JSON.stringify(HELLO)}\n${JSON.stringify({ v: 1, type: 'cni', id: 1, env: env('ADD', id), stdin: conf })}\n`));
        c.on('error', () => undefined);
        c.on('data', (d: Buffer) => {
          buf += d.toString();
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const l = JSON.parse(buf.slice(0, nl)) as Line;
            buf = buf.slice(nl + 1);
            if (l.type === 'reply' && l.exitCode === 0) told.add(id);
            // all requests are in the agent once every hello is answered: stop it there
            if (l.type === 'hello' && ++hellos === ids.length && !stopped) { stopped = true; process.kill(agent.pid, 'SIGSTOP'); resolve(); }
          }
        });
      }
    });
    await allIn;
    await sleep(500); // what was written before the stop is read (a runtime's client reads it too)
    // the clients time out: each one without a result closes its connection
    for (const c of conns) c.destroy();
    process.kill(agent.pid, 'SIGCONT');
    assert.ok(told.size < ids.length, 'every ADD had answered before the stop: nothing was in flight');
    for (let i = 0; i < 1500; i++) {
      const st = await ask(sock, { type: 'status' }).catch(() => ({} as Line));
      if ((st.result as { inFlight?: number } | undefined)?.inFlight === 0) break;
      await sleep(20);
    }
    const eps = ok(ctnet(state, ['--json', 'ls'], { env: OFF })).json<EndpointInfo[]>().filter((e) => e.network === 'agk-stop');
    for (const id of ids) {
      const ep = eps.find((e) => e.netns === `/run/netns/${id}`);
      if (told.has(id)) {
        assert.ok(ep !== undefined, `${id}: its client got a result, but it is not attached`);
        assert.deepEqual(addrsOf('eth0', id), [ep.address], `${id}: kernel and state disagree`);
      } else {
        assert.equal(ep, undefined, `${id}: its client gave up (no result), but the ADD was finished instead of undone`);
        assert.deepEqual(ipj(['link', 'show', 'dev', 'eth0'], id), [], `${id}: no endpoint, but eth0 is in its netns`);
      }
    }
    for (const id of ids) {
      const d = await ask(sock, { type: 'cni', env: env('DEL', id), stdin: conf });
      assert.deepEqual([d.type, d.exitCode], ['reply', 0], `DEL ${id}: ${JSON.stringify(d)}`);
      spawnSync('ip', ['netns', 'del', id]);
    }
  });
});
