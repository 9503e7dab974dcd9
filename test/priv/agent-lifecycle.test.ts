// Privileged tests of the agent's edges a new-user review found (docs/agent-protocol.md; the
// agent is src/cli/daemon/): `agent stop` with an idle connection and an `events` follower
// open (the agent exits, the follower's connection ends); `agent status` while the agent is
// stopping (a CNI ADD held in flight by a delegated IPAM plugin that waits for a file) says
// so instead of "no agent running"; a non-root user with the default 0700 state directory is
// told the directory is not accessible to it (exit 4), for status and stop; and the wire's
// strictness: a hello without numeric min/max, a request without `id`, a request whose `v`
// is not the agreed version, a line over 4 MiB (an error line before the close), and a
// connection that sends no request within 30 s. Names start with "agl-", subnet 10.239.0.0/24.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertSandbox } from '../helpers/index.js';
import { alive } from '../helpers/daemon-procs.js';
import { BIN, ctnet, ensureBuilt, testEnv } from './cli-network.test.js';
import { HELLO, cleanState, ctnetAs, killAgents, ok, talk, type Line } from './agent-wire.test.js';

const NOBODY = 65534;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the agent: stop, status, access to its directory, the wire\'s limits (privileged)', function () {
  this.timeout(90_000);
  let state: string;
  let sock: string;
  let tools: string;

  before(() => {
    assertSandbox();
    ensureBuilt();
  });
  beforeEach(() => {
    state = mkdtempSync(path.join(tmpdir(), 'agl-state-'));
    tools = mkdtempSync(path.join(tmpdir(), 'agl-bin-'));
    sock = path.join(state, 'agent.sock');
  });
  afterEach(async () => {
    await killAgents(state);
    await cleanState(state, 'agl-');
    rmSync(state, { recursive: true, force: true });
    rmSync(tools, { recursive: true, force: true });
  });

  const start = (): number => ok(ctnet(state, ['--json', 'agent', 'start']), 'agent start').json<{ pid: number }>().pid;

  it('agent stop ends idle connections and events followers and exits; status while it stops says "stopping", not "no agent"', async () => {
    // an IPAM plugin (delegated from CNI_PATH) whose ADD waits for the file "go": the ADD stays in flight
    const ipam = path.join(tools, 'agl-wait');
    writeFileSync(ipam, `#!${process.execPath}\nconst fs = require('fs');\nif (process.env.CNI_COMMAND !== 'ADD') process.exit(0);\n`
      + `const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(path.join(tools, 'go'))})) { clearInterval(t);\n`
      + `process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', ips: [{ address: '10.239.0.5/24', gateway: '10.239.0.1' }] })); } }, 20);\n`);
    chmodSync(ipam, 0o755);
    const pid = start();
    const idle = net.createConnection(sock);
    idle.on('error', () => undefined);
    let followerEnded = false;
    const follower = talk(sock, [HELLO, { v: 1, type: 'events', id: 1 }]).then((l) => { followerEnded = true; return l; });
    assert.equal(spawnSync('ip', ['netns', 'add', 'agl-c1']).status, 0);
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'agl-net', type: 'ctnet-cni', bridge: 'agl-br', ctnetStateDir: state, ipam: { type: 'agl-wait', subnet: '10.239.0.0/24' } });
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'agl-c1', CNI_NETNS: '/run/netns/agl-c1', CNI_IFNAME: 'eth0', CNI_PATH: tools };
    let inside = false;
    const add = talk(sock, [HELLO, { v: 1, type: 'cni', id: 1, env, stdin: conf }]);
    for (let i = 0; i < 500 && !inside; i++) {
      inside = spawnSync('pgrep', ['-f', ipam]).status === 0;
      if (!inside) await sleep(20);
    }
    assert.ok(inside, 'the ADD never reached its IPAM plugin');
    const stopper = spawn(process.execPath, [BIN, 'agent', 'stop'], { env: testEnv(state), stdio: ['ignore', 'pipe', 'pipe'] });
    const stopped = new Promise<number | null>((resolve) => stopper.on('close', resolve));
    for (let i = 0; i < 500 && existsSync(sock); i++) await sleep(20);
    assert.equal(existsSync(sock), false, 'the agent did not begin to stop');
    const during = ctnet(state, ['agent', 'status']);
    assert.equal(during.code, 3, during.stderr);
    assert.match(during.stderr, new RegExp(`\\(pid ${pid}\\) is running but takes no requests: .*stopping`));
    assert.doesNotMatch(during.stderr, /no ctnet-fast agent is running/);
    writeFileSync(path.join(tools, 'go'), '');
    const answer = (await add)[1];
    assert.equal(answer?.type, 'reply', `the ADD in flight was finished: ${JSON.stringify(answer)}`);
    assert.equal(await stopped, 0, 'agent stop');
    assert.equal(alive(pid), false, 'the agent exited with an idle connection and a follower open');
    await follower;
    assert.ok(followerEnded, 'the events follower was not ended');
    idle.destroy();
    spawnSync('ip', ['netns', 'del', 'agl-c1']);
  });

  it('a non-root user and the default 0700 state directory: status and stop say it is not accessible to them (exit 4)', async () => {
    start();
    chmodSync(state, 0o700);
    for (const verb of ['status', 'stop']) {
      const r = ctnetAs(NOBODY, state, ['agent', verb]);
      assert.equal(r.status, 4, `agent ${verb}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`the agent's state directory ${state} is not accessible to you \\(uid 65534\\)`), verb);
    }
    assert.equal(ctnet(state, ['agent', 'status']).code, 0, 'the agent still runs');
  });

  it('the wire: hello without min/max, a request without id or in another version, a line over 4 MiB get an error line naming it; a silent connection is closed after 30 s', async () => {
    start();
    const cases: Array<[string, readonly Line[], RegExp]> = [
      ['hello without min/max', [{ v: 1, type: 'hello' }], /"min" and "max" must be whole numbers/],
      ['request without id', [HELLO, { v: 1, type: 'status' }], /has no numeric "id"/],
      ['request in version 2', [HELLO, { v: 2, type: 'status', id: 1 }], /"v" is 2, but this connection speaks version 1/],
    ];
    for (const [what, lines, why] of cases) {
      const got = await talk(sock, lines);
      const err = got.find((l) => l.type === 'error');
      assert.equal(err?.code, 'EPROTO', `${what}: ${JSON.stringify(got)}`);
      assert.match(String(err?.message), why, what);
    }
    // a line over the limit: an error line, then the close
    const long = await new Promise<string>((resolve) => {
      const c = net.createConnection(sock);
      let b = '';
      c.on('connect', () => { c.write(`${JSON.stringify(HELLO)}\n`); c.write(`{"v":1,"type":"status","id":1,"pad":"${'x'.repeat(5 * 1024 * 1024)}`); });
      c.on('data', (d: Buffer) => { b += d.toString(); });
      c.on('error', () => undefined);
      c.on('close', () => resolve(b));
    });
    const longErr = long.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line).find((l) => l.type === 'error');
    assert.match(String(longErr?.message), /a line longer than \d+ bytes: closed/, long.slice(0, 500));
    // a connection that sends a hello and then nothing is closed after 30 s with an error line
    const silent = await talk(sock, [HELLO]);
    assert.equal(silent[0]?.type, 'hello');
    assert.match(String(silent[1]?.message), /no complete request within 30 s/);
  });
});
