#!/usr/bin/env node
// bin/ctnet-fast.cjs — the `ctnet-fast` command (package.json "bin").
//
// Every run pays Node's start-up, so this file is CommonJS (Node's ESM loader costs ~4 ms
// more to start), writes with fs.writeSync (creating process.stdout costs ~2 ms) and loads
// nothing it does not need:
//   1. a plain `version` is answered here from package.json;
//   2. when the agent (`ctnet-fast agent start`) runs for the state directory, the command
//      line is sent to it as a `cli` request of the agent protocol (docs/agent-protocol.md:
//      a hello, then the request, NDJSON) and its output relayed: the library, the addon and
//      the SQLite state are already loaded there, so an attach costs start-up + ~4 ms. The
//      transport is a pair of named pipes it keeps ready (synchronous fs calls only), else
//      its socket STATE_DIR/agent.sock;
//   3. otherwise the CLI runs in this process (the CommonJS bundle dist/bundle/cli.cjs, else
//      the ~60 ES modules of dist/src).
// CTNET_DAEMON=off skips step 2; CTNET_DAEMON=auto starts the agent when none runs (see
// autoStart). The agent answers `declined` ("run it yourself") when it cannot serve this
// caller exactly as this process would (another netns, mount or pid namespace, user, CTNET_*
// settings or build), and an agent speaking no version of ours answers an error: the command
// then runs here. Which verbs the agent serves, the state directory rule, the protocol
// version and the transport's file names come
// from dist/bundle/table.cjs, a few hundred bytes `npm run bundle` makes from the verb table
// (src/cli/bin-table.ts): nothing here repeats them.
// Exit codes: see `ctnet-fast --help`.
'use strict';
const fs = require('node:fs');
const sleeper = new Int32Array(new SharedArrayBuffer(4)); // see sleep()
const euid = process.geteuid();
/** The --from-file list read here for the agent (table.readListFile), when there is one. */
let fromFile;

const argv = process.argv.slice(2);

if (argv.length === 1 && (argv[0] === 'version' || argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(fs.readFileSync(`${__dirname}/../package.json`, 'utf8'));
  writeAll(1, `${pkg.name} ${pkg.version} (node ${process.version}, ${process.platform}-${process.arch})\n`);
  process.exit(0);
}

/**
 * The daemon's facts (src/cli/bin-table.ts): DAEMON_WORDS (first words of the verbs it may
 * serve; it decides, this only spares the others a round trip), VALUE_OPTIONS, PROTOCOL,
 * defaultStateDir(env) and the file names. Undefined when not built: the command then runs
 * here, and local() names the fix when the CLI itself is missing.
 */
function loadTable() {
  try {
    return require('../dist/bundle/table.cjs');
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('table.cjs')) {
      if (argv.includes('-v') || argv.includes('--verbose')) writeAll(2, '[verbose] dist/bundle/table.cjs is missing (npm run bundle): no agent is used\n');
      return undefined;
    }
    throw e;
  }
}

/**
 * The state directory of a daemon that may serve this command line, or undefined when it must
 * run here. Sets `fromFile`: an `attach --from-file` list is read here, by the caller, and sent
 * with the request (the daemon never opens a file a caller names). A state directory that
 * someone else could write (table.stateDirProblem) is refused for every command that uses it,
 * with or without a daemon: exit 4, naming the directory and the fix.
 */
function daemonStateDir() {
  if (table === undefined) return undefined;
  let verb;
  let stateDir;
  let from;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (t === '--') return undefined;
    if (t === '-h' || t === '--help') return undefined;
    if (t === '--from-file') from = argv[i + 1];
    else if (t.startsWith('--from-file=')) from = t.slice('--from-file='.length);
    if (t === '--state-dir') { stateDir = argv[++i]; continue; }
    if (t.startsWith('--state-dir=')) { stateDir = t.slice('--state-dir='.length); continue; }
    if (table.VALUE_OPTIONS.includes(t)) { i++; continue; }
    if (verb === undefined && !t.startsWith('-')) verb = t;
  }
  const control = verb === 'daemon' || verb === 'agent';
  if (verb === undefined || !(table.DAEMON_WORDS.includes(verb) || control)) return undefined;
  const dir = stateDir || table.defaultStateDir(process.env);
  const abs = dir.startsWith('/') ? dir : `${process.cwd()}/${dir}`;
  // (made with table.cjs by `npm run bundle`; kept apart so that table.cjs stays small)
  const checks = require('../dist/bundle/checks.cjs');
  const problem = checks.stateDirProblem(abs, fs, euid);
  if (problem !== undefined) {
    writeAll(2, `ctnet-fast: refusing state directory ${abs}: ${problem}\n`);
    process.exit(4);
  }
  if (process.env.CTNET_DAEMON === 'off' || control) return undefined;
  if (from !== undefined) {
    // the caller's own input (-, /dev/stdin, /dev/fd/N from <(…)) is read in its own process
    if (from === '-' || from.startsWith('/dev/') || from.startsWith('/proc/')) return undefined;
    fromFile = checks.readListFile(fs, from, table.MAX_LIST_BYTES);
    // a list too long for one request line (as JSON: newlines are escaped) is read by the command run here
    if (fromFile.text !== undefined && Buffer.byteLength(JSON.stringify(fromFile.text)) > table.MAX_REQUEST_BYTES - 65536) return undefined;
  }
  return abs;
}

/**
 * The hello and the `cli` request, back to back (one round trip): the command line, who asks
 * and the --from-file list. The agent reads the rest from /proc/PID (user, network and mount
 * namespace, cwd, environment, whether stdout/stderr are terminals), which costs this process
 * nothing, once the kernel has confirmed PID.
 */
function request(extra) {
  const v = table.PROTOCOL;
  return JSON.stringify({ v, type: 'hello', min: v, max: v, client: 'ctnet-fast-cli' }) + '\n'
    + JSON.stringify({ v, type: 'cli', id: 1, pid: process.pid, argv, ...(fromFile !== undefined ? { fromFile } : {}), ...extra }) + '\n';
}

/**
 * Is `p` (not followed if a link) a `kind` of our own uid, with no access for others (and for a
 * directory none for the group: the agent's socket is shared with its configured group)?
 */
function ownedByUs(p, kind) {
  try {
    const st = fs.lstatSync(p);
    return st[kind]() && st.uid === euid && (st.mode & (kind === 'isSocket' ? 0o007 : 0o077)) === 0;
  } catch {
    return false;
  }
}

/** The daemon's pid from its pid file (not followed if a link); 0 when unknown. */
function pidFileOf(stateDir) {
  let fd;
  try {
    const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    fd = fs.openSync(`${stateDir}/${table.PID_NAME}`, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    const buf = Buffer.alloc(32);
    const pid = Number(buf.toString('utf8', 0, fs.readSync(fd, buf, 0, 32, 0)));
    return pid > 0 ? pid : 0;
  } catch {
    return 0;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Block this thread for `ms` (fractions work, down to ~0.1 ms). */
function sleep(ms) {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Write all of `text` to fd 1 or 2, synchronously (retrying a non-blocking pipe that is full). */
function writeAll(fd, text) {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs.writeSync(fd, buf));
    } catch (e) {
      if (e.code !== 'EAGAIN') { if (e.code === 'EPIPE' && fd <= 2) process.exit(0); throw e; }
      sleep(1);
    }
  }
}

/**
 * The agent's answer, line by line: its hello, then `output` lines (relayed as they come) and
 * the `reply` with the exit code, or `declined` / `error` (nothing was done: run it here).
 * push() returns the exit code, 'local' (run it here), or undefined (more to come).
 */
function answerReader() {
  let pending = '';
  const r = {
    started: false, // output relayed: from here on the command cannot be re-run here
    answered: false,
    push(chunk) {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let m;
        try { m = JSON.parse(line); } catch { m = {}; }
        if (m.type === 'hello') r.answered = true; // from here on a vanished agent may have started the command
        else if (m.type === 'output') { r.started = true; writeAll(m.stream === 'stderr' ? 2 : 1, String(m.text)); }
        else if (m.type === 'reply' && typeof m.exitCode === 'number') return m.exitCode;
        else if (m.type === 'declined' || (m.type === 'error' && !r.started)) {
          if (argv.includes('-v') || argv.includes('--verbose')) writeAll(2, `[verbose] agent: ${m.type === 'declined' ? m.reason : `${m.code}: ${m.message}`}; running here\n`);
          return 'local';
        } else if (m.type === 'error') {
          writeAll(2, `ctnet-fast: agent: ${m.message}\n`);
          return 1;
        }
      }
      return undefined;
    },
  };
  return r;
}

const WENT_AWAY = 'ctnet-fast: the agent went away before the command finished (its next start repairs what it left: gc); check with: ctnet-fast ls\n';

/**
 * The fast transport: a pair of named pipes the agent keeps ready under STATE_DIR/agent.pipes/free.
 * Everything here is synchronous fs calls (no net module, no event loop turn: ~3 ms less
 * than a socket). Claim a pair by renaming it into busy/ (atomic: one caller wins), write the
 * request into `req`, read the answer from `res` until the exit code. Returns the exit code,
 * undefined (run it here: nothing was done), or null (no pair free: try the socket).
 */
function viaPipes(stateDir) {
  const base = `${stateDir}/${table.PIPES_NAME}`;
  // the agent's pipes: a directory of ours that nobody else may enter (not a planted link)
  if (!ownedByUs(base, 'isDirectory')) return null;
  let names;
  try { names = fs.readdirSync(`${base}/free`); } catch { return null; }
  let slot;
  for (const n of names) {
    const b = `${n}.${process.pid}`;
    try { fs.renameSync(`${base}/free/${n}`, `${base}/busy/${b}`); slot = b; break; } catch { /* taken */ }
  }
  if (slot === undefined) return null;
  const dir = `${base}/busy/${slot}`;
  const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
  let res;
  try {
    res = fs.openSync(`${dir}/res`, O_RDONLY | O_NONBLOCK);
    const req = fs.openSync(`${dir}/req`, O_WRONLY | O_NONBLOCK); // ENXIO: nobody reads it
    try { writeAll(req, request({ slot })); } finally { fs.closeSync(req); }
  } catch {
    if (res !== undefined) fs.closeSync(res);
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* the daemon's */ }
    return null;
  }
  const reader = answerReader();
  const buf = Buffer.allocUnsafe(65536);
  let writerSeen = false;
  let idle = 0;
  let daemonPid;
  for (;;) {
    let n;
    try {
      n = fs.readSync(res, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      n = -1; // the agent has the pipe open and is still working
    }
    if (n > 0) {
      writerSeen = true;
      idle = 0;
      const got = reader.push(buf.toString('utf8', 0, n));
      if (got !== undefined) { fs.closeSync(res); return got === 'local' ? undefined : got; }
      continue;
    }
    if (n === -1) writerSeen = true;
    if (n === 0 && writerSeen) { // it closed the pipe without an exit code: it died
      fs.closeSync(res);
      writeAll(2, WENT_AWAY);
      return 1;
    }
    if (n === 0 && ++idle % 64 === 0) {
      // not picked up yet: give up (nothing was done) if the agent is gone or dropped the pair
      if (daemonPid === undefined) daemonPid = pidFileOf(stateDir);
      let gone = !fs.existsSync(dir) || !(daemonPid > 0);
      if (!gone) { try { process.kill(daemonPid, 0); } catch (e) { gone = e.code === 'ESRCH'; } }
      if (gone) { fs.closeSync(res); return undefined; }
    }
    if (n === -1) idle++;
    sleep(idle < 200 ? 0.05 : idle < 1000 ? 1 : 5);
  }
}

/**
 * The socket transport (STATE_DIR/agent.sock), for when no pipe pair is free. Resolves to the
 * exit code, or undefined when the command must run here (agent gone, refused this caller,
 * or broke off before it answered).
 */
function viaSocket(stateDir) {
  const sock = `${stateDir}/${table.SOCKET_NAME}`;
  // a socket of our own uid (an agent of someone else's, or a planted one, is not talked to)
  if (!ownedByUs(sock, 'isSocket')) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const net = require('node:net');
    const c = net.createConnection(sock);
    const reader = answerReader();
    let done = false;
    const finish = (code) => { if (!done) { done = true; c.destroy(); resolve(code); } };
    c.on('connect', () => c.write(request({})));
    const broke = () => reader.started || reader.answered;
    c.on('error', () => { if (!done && broke()) writeAll(2, WENT_AWAY); finish(broke() ? 1 : undefined); });
    c.on('close', () => {
      if (!done && broke()) writeAll(2, WENT_AWAY);
      finish(broke() ? 1 : undefined);
    });
    c.on('data', (chunk) => {
      const got = reader.push(chunk.toString('utf8'));
      if (got !== undefined) finish(got === 'local' ? undefined : got);
    });
  });
}

async function local() {
  // The CLI and the library bundled into one CommonJS file (dist/bundle/cli.cjs, `npm run
  // bundle`) start ~30 ms faster than the ~60 ES modules of dist/src: no ESM loader, and
  // every module (better-sqlite3, node:net…) is loaded only when a command reaches it.
  let cli;
  try {
    cli = require('../dist/bundle/cli.cjs');
  } catch (e) {
    if (!(e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/bundle/cli.cjs'))) throw e;
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

/** How long an agent started by CTNET_DAEMON=auto waits for requests before it exits. */
const AUTO_IDLE_SECONDS = 300;

/**
 * CTNET_DAEMON=auto: no agent serves this state directory, so start one in the background
 * (`agent run --idle-timeout 300`, log in STATE_DIR/agent.log) for the commands that
 * follow; this one runs here. Of callers arriving at once only the one that creates
 * STATE_DIR/agent.starting starts it (a marker older than 10 s is stale).
 */
function autoStart(stateDir) {
  // one is running (it declined this command, or is starting): nothing to start
  if (process.env.CTNET_DAEMON !== 'auto' || stateDir === undefined || daemonRunning(stateDir)) return;
  const marker = `${stateDir}/${table.STARTING_NAME}`;
  const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  try {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const create = () => fs.closeSync(fs.openSync(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600));
    try {
      create();
    } catch (e) {
      if (e.code !== 'EEXIST' || Date.now() - fs.lstatSync(marker).mtimeMs < 10_000) return;
      fs.unlinkSync(marker); // stale: take it over (one caller wins the new one)
      create();
    }
    // appended to, never followed; a log that is not a file of ours is not written
    const log = fs.openSync(`${stateDir}/${table.LOG_NAME}`, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK, 0o600);
    const st = fs.fstatSync(log);
    if (!st.isFile() || st.uid !== euid) { fs.closeSync(log); return; }
    const child = require('node:child_process').spawn(process.execPath,
      [__filename, 'agent', 'run', '--state-dir', stateDir, '--idle-timeout', String(AUTO_IDLE_SECONDS)],
      { detached: true, stdio: ['ignore', log, log], cwd: '/' });
    fs.closeSync(log);
    child.unref();
  } catch {
    // not startable from here (permissions…): the command still runs in this process
  }
}

/**
 * Does the pid file name a live agent? (A killed agent leaves its pid file and socket; a
 * zombie not yet reaped, or a pid since reused by another program, is not one.)
 */
function daemonRunning(stateDir) {
  try {
    const pid = pidFileOf(stateDir);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.charAt(stat.lastIndexOf(')') + 2) === 'Z') return false;
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('\0agent\0run\0') || cmd.includes('\0daemon\0run\0');
  } catch {
    return false;
  }
}

function runHere() {
  autoStart(stateDir);
  return local();
}

const table = loadTable();
const stateDir = daemonStateDir();
const viaPipe = stateDir === undefined ? undefined : viaPipes(stateDir);
if (typeof viaPipe === 'number') process.exit(viaPipe);
if (viaPipe === null) {
  viaSocket(stateDir).then((code) => (code === undefined ? runHere() : process.exit(code)));
} else {
  runHere();
}
