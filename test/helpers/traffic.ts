/**
 * test/helpers/traffic.ts — real traffic between the test's own namespaces: ping, and a
 * tiny TCP server that answers every connection with the peer address it sees (so a test
 * can check masquerade), plus a client that prints what the server said.
 *
 * Processes run with argument arrays (`ip netns exec NAME …`, `node -e PROGRAM` with the
 * program as one argv element — never a shell). Every wait is bounded.
 * Only ever aim these at addresses inside the sandbox (namespaces the test created, loopback).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

function inNs(ns: string | undefined, argv: readonly string[]): [string, string[]] {
  return ns === undefined ? [argv[0] ?? '', argv.slice(1)] : ['ip', ['netns', 'exec', ns, ...argv]];
}

/** One ping (1 s timeout) from `ns` (undefined: the sandbox host netns) to `dst`. */
export async function ping(ns: string | undefined, dst: string): Promise<boolean> {
  const [f, a] = inNs(ns, ['ping', '-c', '1', '-W', '1', '-q', dst]);
  try {
    await run(f, a, { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

const SERVER = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const s = net.createServer((c) => { c.end('peer=' + c.remoteAddress + '\\n'); });
s.listen(port, host, () => process.stdout.write('listening\\n'));
setTimeout(() => process.exit(0), 120000).unref();
`;

const CLIENT = `
const net = require('node:net');
const c = net.connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 2000 });
let buf = '';
c.on('data', (d) => { buf += d; });
c.on('end', () => { process.stdout.write(buf); process.exit(0); });
c.on('timeout', () => { process.stderr.write('timeout'); process.exit(3); });
c.on('error', (e) => { process.stderr.write(String(e.code || e.message)); process.exit(2); });
`;

export interface PeerServer {
  readonly child: ChildProcess;
  stop(): void;
}

/** Start the peer-echo TCP server in `ns` on host:port; resolves when it listens. */
export async function startServer(ns: string | undefined, port: number, host = '0.0.0.0'): Promise<PeerServer> {
  const [f, a] = inNs(ns, [process.execPath, '-e', SERVER, host, String(port)]);
  const child = spawn(f, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server in ${ns ?? 'host'} on ${host}:${port} did not start`)), 10000);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += String(d); });
    child.stdout?.once('data', () => { clearTimeout(t); resolve(); });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`server in ${ns ?? 'host'} exited ${code}: ${err}`)); });
  });
  return { child, stop: () => { child.kill('SIGKILL'); } };
}

/**
 * Connect from `ns` to host:port; resolves the peer address the server saw
 * ("peer=192.0.2.1"), or undefined if the connection failed or timed out.
 */
export async function connect(ns: string | undefined, host: string, port: number): Promise<string | undefined> {
  const [f, a] = inNs(ns, [process.execPath, '-e', CLIENT, host, String(port)]);
  try {
    const { stdout } = await run(f, a, { timeout: 8000, encoding: 'utf8' });
    const m = /peer=(\S+)/.exec(stdout);
    return m?.[1]?.replace(/^::ffff:/, '');
  } catch {
    return undefined;
  }
}
