/**
 * cli/daemon/relay.ts — the `cli` request: a `ctnet-fast` command line run in the agent for
 * the CLI process that sent it, its stdout and stderr sent back as `output` lines and its
 * exit code as the `reply`, exactly as the caller's own process would have run it. Anything
 * the agent cannot reproduce (another user, netns or mount namespace, CTNET_* settings, an
 * older build of the agent) is answered `declined`: "run it yourself", nothing was done.
 *
 * Who asks is the kernel's answer (peer.ts): the request's pid must name that same process,
 * whose /proc entry then gives the user, namespaces, cwd, environment and terminals. The
 * agent never opens a file a caller names: an `attach --from-file` list comes read by the
 * caller (protocol.ts readListFile).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import type { HostCache, MainFn } from '../context.js';
import type { Streams } from '../output.js';
import { parseCommandLine, type Parsed } from '../args.js';
import { PROTOCOL, type ListFile } from '../protocol.js';
import type { Channel, Message } from './channel.js';
import { callerOf, type Caller } from './peer.js';

/** Settings read from the environment by the library: the caller's must equal the agent's. */
const SAME_ENV = ['CTNET_BACKEND', 'CTNET_NATIVE_PATH', 'CTNET_SKIP_PRIVILEGE_CHECK'] as const;
// (CTNET_STATE_DIR is not compared: a caller reaches an agent only through the pipes and
// socket inside its own state directory, and commands run with that directory.)
/** Settings that only shape output: taken from the caller per command (/proc/PID/environ). */
export const OUTPUT_ENV = ['NO_COLOR', 'FORCE_COLOR', 'TERM'] as const;
export const NOT_YOU = 'your pid does not name you here (another pid namespace?)';

/** What the relay needs from the server. */
export interface RelayServer {
  readonly netns: string;
  readonly mntns: string;
  readonly uid: number;
  /** The environment commands run with (the agent's, without OUTPUT_ENV). */
  readonly env: NodeJS.ProcessEnv;
  readonly main: MainFn;
  readonly hosts: HostCache;
  stopping(): boolean;
  /** Has the agent's code been replaced (then it stops itself)? */
  replaced(): boolean;
  /** Wait until commands may run in `cwd`, then count one in flight. */
  enter(cwd: string): Promise<void>;
  leave(): void;
  count(what: 'served' | 'declined'): void;
  emit(kind: string, data: Readonly<Record<string, unknown>>): void;
}

/** The events a command line that succeeded stands for. */
const EVENT_OF: Readonly<Record<string, string>> = {
  attach: 'attach', detach: 'detach', publish: 'publish', unpublish: 'publish', 'network create': 'network', 'network rm': 'network', gc: 'gc',
};

/** "Run it yourself": nothing was done. */
function decline(s: RelayServer, c: Channel, id: unknown, why: string): void {
  s.count('declined');
  c.send({ v: PROTOCOL, type: 'declined', id, reason: why });
  c.end();
}

/** Serve one `cli` request; `peer` is the pid the kernel says sent it (undefined: unknown). */
export async function relay(s: RelayServer, c: Channel, r: Message, peer: number | undefined): Promise<void> {
  const id = r.id;
  if (peer === undefined || Number(r.pid) !== peer) return decline(s, c, id, NOT_YOU);
  const caller = callerOf(peer);
  if (caller === undefined) return decline(s, c, id, `cannot read the calling process ${peer} in /proc`);
  if (caller.uid !== s.uid) return decline(s, c, id, `the agent runs as uid ${s.uid}, you are uid ${caller.uid}`);
  if (s.replaced()) return decline(s, c, id, 'the agent runs an older build of ctnet-fast (it exits now)');
  const fromFile = r.fromFile as ListFile | undefined;
  const { why, parsed } = refusal(s, r.argv, caller, fromFile);
  if (why !== undefined) return decline(s, c, id, why);
  const argv = r.argv as string[];
  try {
    await s.enter(caller.cwd);
  } catch (e) {
    return decline(s, c, id, `cannot enter your working directory ${caller.cwd}: ${(e as Error).message}`);
  }
  const t0 = performance.now();
  let code: number;
  try {
    const out = (stream: 'stdout' | 'stderr') => (text: string): void => c.send({ v: PROTOCOL, type: 'output', id, stream, text });
    const streams: Streams = {
      stdout: { write: out('stdout'), isTTY: caller.tty[0] },
      stderr: { write: out('stderr'), isTTY: caller.tty[1] },
    };
    const env: NodeJS.ProcessEnv = { ...s.env };
    for (const k of OUTPUT_ENV) {
      const v = caller.env[k];
      if (v !== undefined) env[k] = v;
    }
    code = await s.main(argv, streams, env, {
      hosts: s.hosts, ...(parsed !== undefined ? { parsed } : {}), ...(fromFile !== undefined ? { fromFile } : {}),
    });
    s.count('served');
  } finally {
    s.leave();
  }
  c.send({ v: PROTOCOL, type: 'reply', id, exitCode: code });
  c.end();
  const kind = parsed?.kind === 'run' ? EVENT_OF[parsed.verb.name] : undefined;
  if (kind !== undefined && code === 0) s.emit(kind, { via: 'cli', argv });
  if (process.env.CTNET_DAEMON_TRACE === '1') process.stderr.write(`${argv.join(' ')}: ${(performance.now() - t0).toFixed(2)} ms\n`);
}

/**
 * Why this caller must run the command itself (`why`), or nothing: we serve it (with the
 * command line parsed once here, or undefined when it does not parse: main reports that).
 */
function refusal(s: RelayServer, argv: unknown, caller: Caller, fromFile: ListFile | undefined): { why?: string; parsed?: Parsed } {
  if (s.stopping()) return { why: 'the agent is stopping' };
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return { why: 'malformed request' };
  // the process that sent it must be running this command line: its cwd and environment are used
  const tail = caller.cmdline.slice(-argv.length);
  if (tail.length !== argv.length || tail.some((a, i) => a !== argv[i])) return { why: NOT_YOU };
  if (caller.netns !== s.netns) return { why: 'you are in another network namespace than the agent' };
  if (caller.mntns !== s.mntns) return { why: 'you are in another mount namespace than the agent' };
  for (const k of SAME_ENV) {
    if ((caller.env[k] ?? '') !== (process.env[k] ?? '')) return { why: `${k} differs from the agent's` };
  }
  let parsed: Parsed;
  try {
    parsed = parseCommandLine(argv as string[]);
  } catch {
    return {}; // usage errors are reported the same way here
  }
  if (parsed.kind !== 'run') return { why: 'help is printed by the CLI itself' };
  if (parsed.verb.daemon !== true) return { why: `${parsed.verb.name} runs in the calling process` };
  const list = parsed.options['from-file'];
  if (typeof list === 'string' && (fromFile === undefined || fromFile.name !== list)) {
    return { why: '--from-file is read by the caller: the request does not carry it' };
  }
  return { parsed };
}
