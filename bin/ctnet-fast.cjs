#!/usr/bin/env node
// bin/ctnet-fast.cjs — the `ctnet-fast` command (package.json "bin").
//
// Every run pays Node's start-up, so this file is CommonJS (Node's ESM loader costs ~4 ms
// more to start), writes with fs.writeSync (creating process.stdout costs ~2 ms) and loads
// nothing it does not need:
//   1. a plain `version` is answered here from package.json;
//   2. when a daemon (`ctnet-fast daemon start`) listens on STATE_DIR/ctnetd.sock, the
//      command line is sent to it and its output relayed: the library, the addon and the
//      SQLite state are already loaded there, so an attach costs start-up + ~2 ms;
//   3. otherwise the CLI runs in this process (the bundle dist/bundle/cli.mjs, else the
//      ~60 modules of dist/src).
// CTNET_DAEMON=off skips step 2. The daemon answers "run it yourself" when it cannot serve
// this caller exactly as this process would (another netns, mount ns, user or CTNET_*
// settings); the command then runs here. Protocol: src/cli/daemon.ts.
// Exit codes: see `ctnet-fast --help`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const argv = process.argv.slice(2);

if (argv.length === 1 && (argv[0] === 'version' || argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  writeAll(1, `${pkg.name} ${pkg.version} (node ${process.version}, ${process.platform}-${process.arch})\n`);
  process.exit(0);
}

/** Verbs the daemon may run: they neither replace the process (exec), re-execute it (demo) nor read stdin. */
const DAEMON_VERBS = new Set(['attach', 'detach', 'publish', 'unpublish', 'ls', 'network', 'gc']);
/** Global options that take a value (so their value is not taken for the verb). */
const VALUE_OPTIONS = new Set(['--host-netns', '--state-dir', '--backend', '--firewall']);

/** The daemon socket for this command line, or undefined when it must run here. */
function daemonSocket() {
  if (process.env.CTNET_DAEMON === 'off') return undefined;
  let verb;
  let stateDir;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (t === '--') return undefined;
    if (t === '-h' || t === '--help') return undefined;
    if (t === '--from-file=-' || (t === '--from-file' && argv[i + 1] === '-')) return undefined; // stdin stays here
    if (t === '--state-dir') { stateDir = argv[++i]; continue; }
    if (t.startsWith('--state-dir=')) { stateDir = t.slice('--state-dir='.length); continue; }
    if (VALUE_OPTIONS.has(t)) { i++; continue; }
    if (verb === undefined && !t.startsWith('-')) verb = t;
  }
  if (verb === undefined || !DAEMON_VERBS.has(verb)) return undefined;
  const dir = stateDir || process.env.CTNET_STATE_DIR || '/run/ctnet-fast';
  const sock = path.resolve(dir, 'ctnetd.sock');
  try {
    if (!fs.statSync(sock).isSocket()) return undefined;
  } catch {
    return undefined;
  }
  return sock;
}

/** What the daemon compares with itself before serving this process. */
function identity() {
  const ns = (kind) => { try { const s = fs.statSync(`/proc/self/ns/${kind}`); return `${s.dev}:${s.ino}`; } catch { return '?'; } };
  const env = {};
  for (const k of ['CTNET_STATE_DIR', 'CTNET_BACKEND', 'CTNET_NATIVE_PATH', 'CTNET_SKIP_PRIVILEGE_CHECK', 'NO_COLOR', 'FORCE_COLOR', 'TERM']) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  const tty = (fd) => { try { return require('node:tty').isatty(fd); } catch { return false; } };
  return {
    v: 1, argv, cwd: process.cwd(), env, uid: process.getuid(), netns: ns('net'), mntns: ns('mnt'),
    tty: [tty(1), tty(2)],
  };
}

/** Write all of `text` to fd 1 or 2, synchronously (retrying a non-blocking pipe that is full). */
function writeAll(fd, text) {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs.writeSync(fd, buf));
    } catch (e) {
      if (e.code !== 'EAGAIN') { if (e.code === 'EPIPE') process.exit(0); throw e; }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/**
 * Send the command line to the daemon; resolves to its exit code, or undefined when the
 * command must run here (daemon gone, refused this caller, or broke off before answering).
 */
function viaDaemon(sock) {
  return new Promise((resolve) => {
    const net = require('node:net');
    const c = net.createConnection(sock);
    let pending = '';
    let done = false;
    let started = false; // output relayed: from here on the command cannot be re-run here
    const finish = (code) => { if (!done) { done = true; c.destroy(); resolve(code); } };
    c.on('connect', () => c.write(JSON.stringify(identity()) + '\n'));
    c.on('error', () => finish(started ? 1 : undefined));
    c.on('close', () => {
      if (!done && started) writeAll(2, 'ctnet-fast: the daemon went away before the command finished; check with: ctnet-fast ls, then ctnet-fast gc\n');
      finish(started ? 1 : undefined);
    });
    c.on('data', (chunk) => {
      pending += chunk.toString('utf8');
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let m;
        try { m = JSON.parse(line); } catch { m = {}; }
        if (typeof m.o === 'string') { started = true; writeAll(1, m.o); }
        else if (typeof m.e === 'string') { started = true; writeAll(2, m.e); }
        else if (typeof m.x === 'number') return finish(m.x);
        else if (typeof m.local === 'string') {
          if (argv.includes('-v') || argv.includes('--verbose')) writeAll(2, `[verbose] daemon: ${m.local}; running here\n`);
          return finish(undefined);
        }
      }
    });
  });
}

async function local() {
  // The CLI and the library bundled into one module load ~13 ms faster than the ~60 modules of dist/src.
  let cli;
  try {
    cli = await import('../dist/bundle/cli.mjs');
  } catch (e) {
    if (!(e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/bundle/cli.mjs'))) throw e;
    try {
      cli = await import('../dist/src/cli/main.js');
    } catch (e2) {
      if (e2 && e2.code === 'ERR_MODULE_NOT_FOUND' && String(e2.message).includes('dist/src/cli/main.js')) {
        writeAll(2, 'ctnet-fast: the CLI is not built (dist/src/cli/main.js is missing): run npm run build\n');
        process.exit(4);
      }
      throw e2;
    }
  }
  process.exit(await cli.main(argv));
}

const sock = daemonSocket();
if (sock === undefined) {
  local();
} else {
  viaDaemon(sock).then((code) => (code === undefined ? local() : process.exit(code)));
}
