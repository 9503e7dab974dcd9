/**
 * test/unit/cni-shim-support.ts — what the ctnet-cni shim tests share: running the compiled
 * shim (build/Release/ctnet-cni) as a runtime does (CNI_* env + config on stdin), with any
 * bytes in env values (through python3's os.execve, which takes bytes), and a fake agent:
 * a node unix-socket server speaking the agent wire version 1 (/work/tools/agent-wire.md,
 * docs/agent-protocol.md) whose behaviour each test chooses.
 *
 * Layer: tests (docs/ARCHITECTURE.md, "Layers"). No privileges: temp directories only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHIM = path.join(ROOT, 'build', 'Release', 'ctnet-cni');

export function requireShim(): void {
  assert.ok(existsSync(SHIM), `${SHIM} is built (npx node-gyp rebuild, or make -C build ctnet-cni)`);
}

export interface ShimRun { readonly status: number | null; readonly stdout: Buffer; readonly stderr: Buffer }

export interface ShimCall {
  /** Variables as strings, or Buffers for arbitrary bytes (then the shim is started by python3). */
  readonly env: Readonly<Record<string, string | Buffer>>;
  readonly stdin?: string | Buffer;
  readonly exe?: string;
  /** An open fd the shim gets as its fd 3 (a runtime's leaked descriptor). */
  readonly fd3?: number;
}

/** Run the shim once; resolves when it exits (never sync: a fake agent in this process must answer). */
export function runShim(call: ShimCall): Promise<ShimRun> {
  const exe = call.exe ?? SHIM;
  const bytesEnv = Object.values(call.env).some((v) => Buffer.isBuffer(v));
  let file = exe;
  let args: string[] = [];
  let env: Record<string, string> = {};
  if (bytesEnv) {
    // python3 -c CODE EXE HEXKEY=HEXVAL...: os.execve with a bytes environment.
    file = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const code = 'import os,sys\nenv={bytes.fromhex(k):bytes.fromhex(v) for k,v in (a.split("=") for a in sys.argv[2:])}\nos.execve(sys.argv[1],[sys.argv[1]],env)';
    args = ['-c', code, exe, ...Object.entries(call.env).map(([k, v]) => `${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`)];
    env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  } else {
    env = call.env as Record<string, string>;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe', ...(call.fd3 !== undefined ? [call.fd3] : [])] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.stdin!.on('error', () => { /* the shim may stop reading (huge stdin): EPIPE is expected */ });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
    child.stdin!.end(call.stdin ?? '');
  });
}

/** The shim's stdout as a CNI error object (asserting it is one). */
export function cniError(r: ShimRun): { cniVersion: string; code: number; msg: string; details?: string } {
  assert.equal(r.status, 1, `exit 1 with an error object; stdout: ${r.stdout.toString()} stderr: ${r.stderr.toString()}`);
  const doc = JSON.parse(r.stdout.toString('utf8')) as { cniVersion: string; code: number; msg: string; details?: string };
  assert.equal(typeof doc.code, 'number');
  assert.equal(typeof doc.msg, 'string');
  assert.equal(typeof doc.cniVersion, 'string');
  return doc;
}

/** A temp directory (prefix cshim-) removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'cshim-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What a fake agent does with one connection: gets the raw lines received so far as they come. */
export type AgentScript = (sock: net.Socket, lines: string[]) => void;

export interface FakeAgent {
  readonly sockPath: string;
  /** Every line received, per connection, in order. */
  readonly received: string[][];
  close(): Promise<void>;
}

/** A unix-socket server at DIR/agent.sock; `onLine` is called for each line of each connection. */
export async function fakeAgent(dir: string, onLine: (sock: net.Socket, line: string, index: number) => void): Promise<FakeAgent> {
  const sockPath = path.join(dir, 'agent.sock');
  const received: string[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => { /* the shim may go away first */ });
    const lines: string[] = [];
    received.push(lines);
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
        const line = buf.subarray(0, nl).toString('utf8');
        buf = buf.subarray(nl + 1);
        lines.push(line);
        onLine(sock, line, lines.length - 1);
      }
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(sockPath, resolve); });
  return {
    sockPath, received,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

export const HELLO_REPLY = '{"v":1,"type":"hello","version":1,"agent":"ctnet-fast/0.1.0"}\n';

/** A fake agent that answers hello, then replies to the cni request with `reply(request)`. */
export function replyingAgent(dir: string, reply: (req: Record<string, unknown>) => Record<string, unknown>): Promise<FakeAgent> {
  return fakeAgent(dir, (sock, line, i) => {
    if (i === 0) { sock.write(HELLO_REPLY); return; }
    const req = JSON.parse(line) as Record<string, unknown>;
    sock.end(`${JSON.stringify({ v: 1, type: 'reply', id: req['id'], ...reply(req) })}\n`);
  });
}

/**
 * A fake package PKG in `dir`: PKG/build/Release/ctnet-cni (a copy of the shim) and
 * PKG/dist/bundle/cni.cjs that prints {argv, env, stdinHex} as JSON and exits with
 * $FAKE_EXIT (default 0). Returns the shim copy's path.
 */
export function fakePackage(dir: string, extra: Readonly<Record<string, string>> = {}): string {
  const pkg = path.join(dir, 'pkg');
  mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
  mkdirSync(path.join(pkg, 'dist', 'bundle'), { recursive: true });
  const exe = path.join(pkg, 'build', 'Release', 'ctnet-cni');
  copyFileSync(SHIM, exe);
  writeFileSync(path.join(pkg, 'dist', 'bundle', 'cni.cjs'), [
    "const fs = require('node:fs');",
    'const stdin = fs.readFileSync(0);',
    "process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), env: process.env, stdinHex: stdin.toString('hex') }));",
    "process.exitCode = Number(process.env.FAKE_EXIT || '0');",
  ].join('\n'));
  for (const [rel, text] of Object.entries(extra)) {
    mkdirSync(path.dirname(path.join(pkg, rel)), { recursive: true });
    writeFileSync(path.join(pkg, rel), text);
  }
  return exe;
}
