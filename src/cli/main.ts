/**
 * cli/main.ts — `ctnet-fast` entry point: parse, dispatch to one verb module, map errors to
 * the documented exit codes.
 *
 * Layer: CLI front door. Start-up is the CLI's cost, so this module loads only the parser
 * and the printer; each verb module (and through it the library) is imported lazily, and
 * `version` and usage errors never load the library at all.
 */
import { parseCommandLine, UsageError, type Parsed, type VerbDef, type GlobalValues } from './args.js';
import { Output, EXIT, type Streams } from './output.js';
import { versionInfo, versionText } from './version.js';
import type { HostOptions } from '../model/types.js';
import type { Host } from '../topology/host.js';

/** What every verb receives. */
export interface Context {
  readonly verb: VerbDef;
  readonly global: GlobalValues;
  readonly options: Readonly<Record<string, string | boolean | string[]>>;
  readonly positionals: readonly string[];
  readonly command: readonly string[];
  readonly out: Output;
  readonly env: NodeJS.ProcessEnv;
  /** argv as given (demo re-executes itself with it). */
  readonly argv: readonly string[];
  /** Set in the daemon: open Hosts kept between commands (see cli/daemon.ts). */
  readonly hosts?: HostPool;
}

/** Hosts that outlive one command (the daemon's); withHost borrows instead of open/close. */
export interface HostPool {
  get(opts: HostOptions): Promise<Host>;
}

export interface MainOptions {
  readonly hosts?: HostPool;
  /** argv already parsed by the caller (the daemon, which parses it to decide whether to serve it). */
  readonly parsed?: Parsed;
}

export type VerbRun = (ctx: Context) => Promise<number | void>;

/** One literal import per verb module, so bundlers and tsc see them and nothing else loads. */
async function loadVerb(name: string): Promise<VerbRun> {
  switch (name) {
    case 'network create': return (await import('./verbs/network.js')).create;
    case 'network rm': return (await import('./verbs/network.js')).rm;
    case 'network ls': return (await import('./verbs/network.js')).ls;
    case 'network inspect': return (await import('./verbs/network.js')).inspect;
    case 'netns add': return (await import('./verbs/netns.js')).add;
    case 'netns del': return (await import('./verbs/netns.js')).del;
    case 'netns ls': return (await import('./verbs/netns.js')).ls;
    case 'attach': return (await import('./verbs/attach.js')).attach;
    case 'detach': return (await import('./verbs/attach.js')).detach;
    case 'ls': return (await import('./verbs/attach.js')).ls;
    case 'publish': return (await import('./verbs/publish.js')).publish;
    case 'unpublish': return (await import('./verbs/publish.js')).unpublish;
    case 'exec': return (await import('./verbs/exec.js')).exec;
    case 'inspect': return (await import('./verbs/inspect.js')).inspect;
    case 'gc': return (await import('./verbs/gc.js')).gc;
    case 'demo': return (await import('./verbs/demo.js')).demo;
    case 'daemon start': return (await import('./daemon.js')).start;
    case 'daemon stop': return (await import('./daemon.js')).stop;
    case 'daemon status': return (await import('./daemon.js')).status;
    case 'daemon run': return (await import('./daemon.js')).run;
    default: throw new UsageError(`unknown command "${name}"`);
  }
}

/** Best-effort global flags when the command line itself did not parse (for the error format). */
function roughGlobals(argv: readonly string[]): Pick<GlobalValues, 'json' | 'quiet' | 'verbose'> {
  const until = argv.indexOf('--') < 0 ? argv.length : argv.indexOf('--');
  const a = argv.slice(0, until);
  return { json: a.includes('--json') || a.includes('-j'), quiet: a.includes('--quiet') || a.includes('-q'), verbose: a.includes('--verbose') || a.includes('-v') };
}

function version(out: Output): number {
  const v = versionInfo();
  out.result(v, () => versionText(v));
  return EXIT.OK;
}

/** Run one command line; resolves to the exit code (exec may never return: it replaces the process). */
export async function main(argv: readonly string[], streams: Streams = process, env: NodeJS.ProcessEnv = process.env, opts: MainOptions = {}): Promise<number> {
  if (streams === process) {
    // `ctnet-fast network ls | head -1`: a reader that goes away is not an error worth a stack trace.
    for (const s of [process.stdout, process.stderr]) {
      s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(EXIT.OK); throw e; });
    }
  }
  let parsed: Parsed;
  try {
    parsed = opts.parsed ?? parseCommandLine(argv);
  } catch (e) {
    return new Output(roughGlobals(argv), streams, env).error(e);
  }
  const out = new Output(parsed.global, streams, env);
  if (parsed.kind === 'help') {
    const { helpFor } = await import('./help.js');
    const text = helpFor(parsed.topic);
    if (text === undefined) return out.error(new UsageError(`no help for "${parsed.topic ?? ''}": unknown command`));
    streams.stdout.write(text);
    return EXIT.OK;
  }
  if (parsed.verb.name === 'version') return version(out);
  try {
    const run = await loadVerb(parsed.verb.name);
    const code = await run({
      verb: parsed.verb, global: parsed.global, options: parsed.options, positionals: parsed.positionals,
      command: parsed.command, out, env, argv, ...(opts.hosts !== undefined ? { hosts: opts.hosts } : {}),
    });
    return code ?? EXIT.OK;
  } catch (e) {
    return out.error(e, parsed.verb.name);
  }
}
