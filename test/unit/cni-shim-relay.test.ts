/**
 * test/unit/cni-shim-relay.test.ts — the compiled CNI plugin shim (native/cni-shim) driven
 * as a runtime drives it, against a fake agent speaking wire version 1 and a fake package
 * for the self-contained fallback: VERSION with podman's dummy env and no agent, the request
 * and the reply relayed byte for byte (odd bytes and invalid UTF-8 included), agent absent /
 * required / auto-started / vanishing mid-reply / refusing, and oversized stdin.
 *
 * Layer: tests (docs/ARCHITECTURE.md, "Layers", "Errors"). No privileges: temp dirs only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  cniError, fakeAgent, fakePackage, HELLO_REPLY, replyingAgent, requireShim, ROOT, runShim, tempDir, type FakeAgent,
} from './cni-shim-support.js';

const CONF = '{"cniVersion":"1.0.0","name":"n1","type":"ctnet-cni","ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}';
const DUMMY = { CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' };

describe('ctnet-cni shim', function () {
  this.timeout(120000);
  let t: { dir: string; remove: () => void };
  let agent: FakeAgent | undefined;
  before(requireShim);
  beforeEach(() => { t = tempDir(); agent = undefined; });
  afterEach(async () => { await agent?.close(); t.remove(); });

  const env = (extra: Record<string, string> = {}): Record<string, string> =>
    ({ CTNET_STATE_DIR: t.dir, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...extra });

  describe('VERSION', () => {
    it('answers alone with dummy env and no agent (cniVersion of the config, else 1.1.0)', async () => {
      const noAgent = path.join(t.dir, 'none');
      for (const [stdin, want] of [['{"cniVersion":"0.4.0","name":"x"}', '0.4.0'], ['', '1.1.0'], ['not json', '1.1.0'], ['{"cniVersion":"1.0.0"}', '1.0.0']] as const) {
        const r = await runShim({ env: { CNI_COMMAND: 'VERSION', ...DUMMY, CTNET_STATE_DIR: noAgent }, stdin });
        assert.equal(r.status, 0, r.stdout.toString());
        assert.deepEqual(JSON.parse(r.stdout.toString()), { cniVersion: want, supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
        assert.equal(r.stderr.length, 0);
      }
    });

    it('never connects to the agent for VERSION', async () => {
      agent = await fakeAgent(t.dir, () => assert.fail('VERSION reached the agent'));
      const r = await runShim({ env: { CNI_COMMAND: 'VERSION', ...DUMMY, CTNET_STATE_DIR: t.dir }, stdin: CONF });
      assert.equal(r.status, 0);
      assert.equal(agent.received.length, 0, 'no connection');
    });
  });

  describe('with an agent', () => {
    it('pipelines hello and the cni request; env carries CNI_* and CTNET_STATE_DIR only', async () => {
      agent = await replyingAgent(t.dir, () => ({ exitCode: 0, stdout: '{}' }));
      const r = await runShim({ env: env({ CNI_COMMAND: 'ADD', HOME: '/root', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p' }), stdin: CONF });
      assert.equal(r.status, 0, r.stdout.toString());
      const [hello, req] = agent.received[0]!.map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(hello, { v: 1, type: 'hello', min: 1, max: 1, client: `ctnet-cni/${(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}` });
      assert.deepEqual(req, {
        v: 1, type: 'cni', id: 1, stdin: CONF,
        env: { CTNET_STATE_DIR: t.dir, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p' },
      });
    });

    it('relays stdout, stderr and exitCode byte for byte', async () => {
      const odd = `{"a":"\u0000\u0001\u001f\u007f \\ \\" \u00e9 \u2028 \u2029 \ud83d\ude00 \uffff"}\n\ttail`;
      for (const exitCode of [0, 1, 7, 255]) {
        agent = await replyingAgent(t.dir, () => ({ exitCode, stdout: odd, stderr: `warn\u0000${exitCode}\n` }));
        const r = await runShim({ env: env({ CNI_COMMAND: 'DEL' }), stdin: CONF });
        assert.equal(r.status, exitCode);
        assert.deepEqual(r.stdout, Buffer.from(odd, 'utf8'));
        assert.deepEqual(r.stderr, Buffer.from(`warn\u0000${exitCode}\n`, 'utf8'));
        await agent.close();
        agent = undefined;
      }
    });

    it('relays a reply up to the 4 MiB line limit; a longer line is error 11, not relayed', async () => {
      const big = 'é\n"'.repeat(600000); // 2.4 MB of text, a 3.6 MB line escaped (é stays raw, \n and " double)
      agent = await replyingAgent(t.dir, () => ({ exitCode: 0, stdout: big }));
      const r = await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF });
      assert.equal(r.status, 0);
      assert.ok(r.stdout.equals(Buffer.from(big, 'utf8')), 'byte for byte');
      await agent.close();
      agent = await replyingAgent(t.dir, () => ({ exitCode: 0, stdout: 'x'.repeat(4 << 20) }));
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF }));
      assert.equal(e.code, 11);
      assert.match(e.msg, /longer than 4 MiB/);
    });

    it('a lone surrogate in the reply becomes U+FFFD, as Node would write it', async () => {
      agent = await replyingAgent(t.dir, () => ({ exitCode: 0, stdout: 'a\ud800b\udc00c' }));
      const r = await runShim({ env: env({ CNI_COMMAND: 'CHECK' }), stdin: CONF });
      assert.deepEqual(r.stdout, Buffer.from('a\ud800b\udc00c', 'utf8'));
    });

    it('escapes any stdin and env bytes so the agent reads what Node would decode (property)', async () => {
      const lines: string[] = [];
      agent = await fakeAgent(t.dir, (sock, line, i) => {
        if (i === 0) { sock.write(HELLO_REPLY); return; }
        lines.push(line);
        sock.end('{"v":1,"type":"reply","id":1,"exitCode":0,"stdout":"ok"}\n');
      });
      await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), async (stdin, envBytes) => {
        const value = Buffer.from(envBytes.filter((b) => b !== 0)); // an env value cannot hold NUL
        lines.length = 0;
        const r = await runShim({ env: { CNI_COMMAND: Buffer.from('ADD'), CTNET_STATE_DIR: Buffer.from(t.dir), CNI_ARGS: value }, stdin: Buffer.from(stdin) });
        assert.equal(r.status, 0, r.stdout.toString());
        assert.equal(lines.length, 1);
        assert.ok(!/[\u0000-\u001f]/.test(lines[0]!), 'no raw control character on the wire');
        const req = JSON.parse(lines[0]!) as { stdin: string; env: Record<string, string> };
        assert.equal(req.stdin, Buffer.from(stdin).toString('utf8'));
        assert.equal(req.env['CNI_ARGS'], value.toString('utf8'));
      }), { numRuns: 120 });
    });

    it('an agent that closes mid-reply, or before any answer, is error 11 naming the socket (no hang)', async () => {
      const cuts: Array<(sock: import('node:net').Socket, i: number) => void> = [
        (sock, i) => { if (i === 0) { sock.write(HELLO_REPLY); } else { sock.end('{"v":1,"type":"reply","id":1,"exitCode":0,"stdout":"{\\"cniVer'); } },
        (sock) => { sock.destroy(); },
        (sock, i) => { if (i === 1) sock.end(HELLO_REPLY); },
      ];
      for (const cut of cuts) {
        agent = await fakeAgent(t.dir, (sock, _line, i) => cut(sock, i));
        const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF }));
        assert.equal(e.code, 11);
        assert.ok(e.msg.includes(path.join(t.dir, 'agent.sock')), e.msg);
        assert.match(e.msg, /closed the connection/);
        assert.equal(e.cniVersion, '1.0.0', 'the config\'s version');
        await agent.close();
        agent = undefined;
      }
    });

    it('an agent that accepts and never answers is error 11 after the reply timeout (CTNET_CNI_TIMEOUT_MS)', async () => {
      agent = await fakeAgent(t.dir, () => { /* silent */ });
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD', CTNET_CNI_TIMEOUT_MS: '300' }), stdin: CONF }));
      assert.equal(e.code, 11);
      assert.equal(e.msg, `ctnet-fast agent at ${agent.sockPath} did not answer within 300 ms`);
      assert.equal(agent.received[0]!.length, 2, 'hello and the request were sent before waiting');
    });

    it('any bytes from the agent give a relayed reply or a CNI error object, never a crash (property)', async () => {
      let hello: Buffer = Buffer.alloc(0);
      let reply: Buffer = Buffer.alloc(0);
      agent = await fakeAgent(t.dir, (sock, _line, i) => {
        if (i === 0) sock.write(hello);
        else sock.end(reply);
      });
      const valid = (o: Record<string, unknown>): Buffer => Buffer.from(`${JSON.stringify(o)}\n`);
      const bytes = fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b));
      const line = fc.oneof(
        bytes,
        bytes.map((b) => Buffer.concat([b, Buffer.from('\n')])),
        fc.record({ v: fc.constant(1), type: fc.constantFrom('reply', 'error', 'hello'), id: fc.anything(), exitCode: fc.oneof(fc.integer(), fc.anything()), stdout: fc.oneof(fc.string({ unit: 'binary' }), fc.anything()), stderr: fc.anything(), code: fc.anything(), message: fc.anything() }, { requiredKeys: [] }).map(valid),
      );
      await fc.assert(fc.asyncProperty(fc.oneof(fc.constant(Buffer.from(HELLO_REPLY)), line), line, async (h, r) => {
        hello = h;
        reply = r;
        const run = await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF });
        assert.ok(run.status !== null, 'exited (no signal)');
        if (run.status === 1 && run.stdout.length > 0 && run.stdout[0] === 0x7b) {
          const doc = JSON.parse(run.stdout.toString()) as { code?: unknown };
          if (typeof doc.code === 'number' && [11, 100].includes(doc.code)) return; // our error object
        }
        // Otherwise it relayed: the reply was well formed and its stdout is what we printed.
        const rep = JSON.parse(r.toString('utf8').split('\n')[0]!) as { type: string; exitCode: number; stdout: string };
        assert.equal(rep.type, 'reply');
        assert.equal(run.status, rep.exitCode >= 0 && rep.exitCode <= 255 ? rep.exitCode : 1);
        assert.ok(run.stdout.equals(Buffer.from(rep.stdout, 'utf8')));
      }), { numRuns: 150 });
    });

    it('an agent that stopped accepting (backlog full) is error 11, not a hang in connect', async () => {
      // python3: listen(0), fill the backlog with its own connections, never accept.
      const code = [
        'import socket, sys, time',
        's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0)',
        'held = []',
        'for i in range(16):',
        '    c = socket.socket(socket.AF_UNIX); c.setblocking(False)',
        '    try: c.connect(sys.argv[1]); held.append(c)',
        '    except BlockingIOError: break',
        "print('full', flush=True)",
        'time.sleep(60)',
      ].join('\n');
      const sock = path.join(t.dir, 'agent.sock');
      const py = spawn(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-c', code, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve, reject) => { py.stdout.once('data', () => resolve()); py.once('exit', (c) => reject(new Error(`python3 exited ${c}`))); });
        const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD', CTNET_CNI_TIMEOUT_MS: '300' }), stdin: CONF }));
        assert.equal(e.code, 11);
        assert.equal(e.msg, `ctnet-fast agent at ${sock} does not accept connections (its backlog is full)`);
      } finally {
        py.kill();
      }
    });

    it('an agent error line (EPROTO, refused peer) is error 100 with the agent\'s code and message', async () => {
      agent = await fakeAgent(t.dir, (sock, _line, i) => {
        if (i === 0) sock.end('{"v":1,"type":"error","code":"EPROTO","message":"client speaks 1..1, agent 2..3"}\n');
      });
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF }));
      assert.equal(e.code, 100);
      assert.ok(e.msg.includes(agent.sockPath));
      assert.equal(e.details, 'agent error EPROTO: client speaks 1..1, agent 2..3');
    });

    it('an agent answering another wire version is error 11 naming both', async () => {
      agent = await fakeAgent(t.dir, (sock, _line, i) => { if (i === 0) sock.end('{"v":2,"type":"hello","version":2,"agent":"ctnet-fast/9.0.0"}\n'); });
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF }));
      assert.equal(e.code, 11);
      assert.equal(e.msg, `ctnet-fast agent at ${agent.sockPath} (ctnet-fast/9.0.0) answered wire version 2; ctnet-cni/0.1.0 speaks 1..1`);
    });

    it('a reply that is not a reply (garbage, no exitCode) is error 11, never relayed', async () => {
      for (const bad of ['garbage\n', '{"v":1,"type":"reply","id":1,"stdout":"x"}\n']) {
        agent = await fakeAgent(t.dir, (sock, _line, i) => { if (i === 0) sock.write(HELLO_REPLY); else sock.end(bad); });
        const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF }));
        assert.equal(e.code, 11);
        await agent.close();
        agent = undefined;
      }
    });
  });

  describe('without an agent', () => {
    it('"agent": "required" is error 11 "ctnet-fast agent is not running at PATH"', async () => {
      const conf = '{"cniVersion":"0.4.0","name":"n","agent":"required"}';
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: conf }));
      assert.equal(e.code, 11);
      assert.equal(e.cniVersion, '0.4.0');
      assert.ok(e.msg.startsWith(`ctnet-fast agent is not running at ${path.join(t.dir, 'agent.sock')}`), e.msg);
      assert.match(e.details ?? '', /ctnet-fast agent run/);
    });

    it('ctnetStateDir in the config names the socket; a relative one or a bad "agent" is error 7', async () => {
      const other = tempDir();
      try {
        agent = await replyingAgent(other.dir, () => ({ exitCode: 0, stdout: 'from other' }));
        const r = await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: JSON.stringify({ cniVersion: '1.0.0', ctnetStateDir: other.dir }) });
        assert.equal(r.stdout.toString(), 'from other');
        for (const bad of [{ ctnetStateDir: 'rel/dir' }, { ctnetStateDir: 5 }, { agent: 'sometimes' }]) {
          const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: JSON.stringify({ cniVersion: '1.0.0', ...bad }) }));
          assert.equal(e.code, 7);
          assert.match(e.msg, new RegExp(`"${Object.keys(bad)[0]!}"`));
        }
      } finally {
        other.remove();
      }
    });

    it('a socket path too long for sun_path is error 11 with the fix', async () => {
      const long = `/${'d'.repeat(120)}`;
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD', CTNET_STATE_DIR: long }), stdin: CONF }));
      assert.equal(e.code, 11);
      assert.match(e.msg, /ENAMETOOLONG/);
      assert.match(e.details ?? '', /shorter/);
    });

    it('falls back to node PKG/dist/bundle/cni.cjs with the same env and the exact stdin bytes', async () => {
      const exe = fakePackage(t.dir);
      const stdin = Buffer.concat([Buffer.from(CONF), Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0xc3])]);
      const r = await runShim({ exe, env: env({ CNI_COMMAND: 'ADD', HOME: '/nowhere', FAKE_EXIT: '3', PATH: '/usr/local/bin:/usr/bin:/bin' }), stdin });
      assert.equal(r.status, 3, r.stdout.toString());
      const seen = JSON.parse(r.stdout.toString()) as { argv: string[]; env: Record<string, string>; stdinHex: string };
      assert.deepEqual(seen.argv, [path.join(t.dir, 'pkg', 'dist', 'bundle', 'cni.cjs')]);
      assert.equal(seen.stdinHex, stdin.toString('hex'));
      for (const [k, v] of Object.entries(env({ CNI_COMMAND: 'ADD', HOME: '/nowhere' }))) assert.equal(seen.env[k], v, k);
    });

    it('from build/Release, falls back to this package\'s dist/bundle/cni.cjs (the real handler answers)', async () => {
      assert.ok(existsSync(path.join(ROOT, 'dist', 'bundle', 'cni.cjs')), 'dist/bundle/cni.cjs is built (npm run build)');
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD', PATH: process.env['PATH'] ?? '/usr/bin:/bin' }), stdin: '{"cniVersion":"0.4.0","name":"n","type":"ctnet-cni","mtu":"x"}' }));
      assert.equal(e.code, 7, 'invalid config: code 7 from the handler (the shim does not read mtu)');
      assert.equal(e.cniVersion, '0.4.0');
      assert.match(e.msg, /mtu/);
    });

    it('falls back with a minimal env (no PATH: node from /usr/bin or /usr/local/bin) and a large stdin', async () => {
      const exe = fakePackage(t.dir);
      const stdin = Buffer.alloc(300000, 'x'); // more than a pipe holds: the memfd carries it
      const r = await runShim({ exe, env: { CNI_COMMAND: 'DEL', CTNET_STATE_DIR: t.dir }, stdin });
      assert.equal(r.status, 0, r.stdout.toString());
      assert.equal((JSON.parse(r.stdout.toString()) as { stdinHex: string }).stdinHex, stdin.toString('hex'));
    });

    it('without a package beside it, the error names the socket and the missing ctnet-cni.json', async () => {
      const exe = fakePackage(t.dir);
      const lone = path.join(t.dir, 'ctnet-cni');
      copyFileSync(exe, lone);
      const e = cniError(await runShim({ exe: lone, env: env({ CNI_COMMAND: 'ADD' }), stdin: CONF }));
      assert.equal(e.code, 11);
      assert.ok(e.msg.includes(path.join(t.dir, 'agent.sock')) && e.msg.includes('ctnet-cni.json'), e.msg);
      const v = await runShim({ exe: lone, env: { CNI_COMMAND: 'VERSION', ...DUMMY }, stdin: CONF });
      assert.equal(v.status, 0, 'VERSION needs neither agent nor package');
    });

    it('"agent": "auto" starts PKG/bin/ctnet-fast.cjs --state-dir DIR agent run and relays through it', async () => {
      const fakeCli = [
        "const net = require('node:net'); const path = require('node:path');",
        "const a = process.argv.slice(2); const dir = a[a.indexOf('--state-dir') + 1];",
        "if (a.slice(-2).join(' ') !== 'agent run') process.exit(9);",
        'const srv = net.createServer((s) => { let n = 0; let buf = "";',
        '  s.on("data", (d) => { buf += d; while (buf.includes("\\n")) { const line = buf.slice(0, buf.indexOf("\\n")); buf = buf.slice(buf.indexOf("\\n") + 1);',
        `    if (n++ === 0) s.write(${JSON.stringify(HELLO_REPLY)}); else { s.end(JSON.stringify({ v: 1, type: "reply", id: 1, exitCode: 0, stdout: "auto:" + JSON.parse(line).env.CNI_COMMAND + " cwd=" + process.cwd() + " fds=" + fds() }) + "\\n"); srv.close(); } } }); });`,
        "const fds = () => require('node:fs').readdirSync('/proc/self/fd').map((f) => { try { return f + '=' + require('node:fs').readlinkSync('/proc/self/fd/' + f); } catch { return f + '='; } }).join('|');",
        "srv.listen(path.join(dir, 'agent.sock'));",
        'setTimeout(() => process.exit(0), 20000).unref();',
      ].join('\n');
      const exe = fakePackage(t.dir, { 'bin/ctnet-fast.cjs': fakeCli });
      const leaked = path.join(t.dir, 'leaked-by-the-runtime');
      const fd3 = openSync(leaked, 'w');
      let r;
      try {
        r = await runShim({ exe, fd3, env: env({ CNI_COMMAND: 'ADD', PATH: '/usr/local/bin:/usr/bin:/bin' }), stdin: '{"cniVersion":"1.0.0","agent":"auto"}' });
      } finally {
        closeSync(fd3);
      }
      assert.equal(r.status, 0, r.stdout.toString());
      const m = /^auto:ADD cwd=(\S+) fds=(.*)$/.exec(r.stdout.toString());
      assert.ok(m, r.stdout.toString());
      assert.equal(m[1], '/', 'the agent does not keep the runtime\'s cwd');
      const fds = m[2]!.split('|');
      for (const fd of ['0', '1', '2']) assert.ok(fds.includes(`${fd}=/dev/null`), `fd ${fd} is /dev/null: ${fds.join(' ')}`);
      assert.ok(!fds.some((f) => f.endsWith(`=${leaked}`)), `the agent holds no descriptor of the runtime's: ${fds.join(' ')}`);
    });

    it('stdin over 1 MiB is error 6', async () => {
      const e = cniError(await runShim({ env: env({ CNI_COMMAND: 'ADD' }), stdin: Buffer.alloc((1 << 20) + 1, 'a') }));
      assert.equal(e.code, 6);
      assert.match(e.msg, /larger than 1 MiB/);
      const ok = await runShim({ env: { CNI_COMMAND: 'VERSION' }, stdin: Buffer.alloc(1 << 20, ' ') });
      assert.equal(ok.status, 0, 'exactly 1 MiB is accepted');
    });
  });
});
