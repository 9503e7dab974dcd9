/**
 * cli/main.ts — `ctnet-fast` entry point: parse, dispatch to one verb module, map errors to
 * the documented exit codes.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). Start-up is the CLI's cost, so this module
 * loads only the parser and the printer; the verb module the verb table (table.ts) names
 * (and through it the library) is imported lazily, and `version` and usage errors never
 * load the library at all. Nothing in src/cli imports this module (verbs get the Context
 * of context.ts, and the daemon gets `main` through it): no import cycle.
 */
import { parseCommandLine, UsageError, type Parsed, type GlobalValues } from './args.js';
import { Output, EXIT, type Streams } from './output.js';
import { versionInfo, versionText } from './version.js';
import type { VerbDef, VerbModule } from './table.js';
import type { MainOptions, VerbRun } from './context.js';

export type { Context, HostCache, MainOptions, VerbRun } from './context.js';

/** One literal import per verb module (so bundlers and tsc see them, and nothing else loads). */
const MODULES: Readonly<Record<VerbModule, () => Promise<object>>> = {
  network: () => import('./verbs/network.js'),
  netns: () => import('./verbs/netns.js'),
  attach: () => import('./verbs/attach.js'),
  publish: () => import('./verbs/publish.js'),
  exec: () => import('./verbs/exec.js'),
  inspect: () => import('./verbs/inspect.js'),
  gc: () => import('./verbs/gc.js'),
  demo: () => import('./verbs/demo.js'),
  daemon: () => import('./daemon.js'),
  cni: () => import('./verbs/cni.js'),
};

/** The function that runs a verb, as the verb table names it (module and export). */
export async function loadVerb(verb: VerbDef): Promise<VerbRun> {
  if (verb.impl === undefined) throw new UsageError(`unknown command "${verb.name}"`);
  const [module, name] = verb.impl;
  const run = (await MODULES[module]() as Record<string, unknown>)[name];
  if (typeof run !== 'function') throw new Error(`verb table: ${module} has no function ${name} (for ${verb.name})`);
  return run as VerbRun;
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
    const run = await loadVerb(parsed.verb);
    const code = await run({
      verb: parsed.verb, global: parsed.global, options: parsed.options, positionals: parsed.positionals,
      command: parsed.command, out, env, argv, main, ...(opts.hosts !== undefined ? { hosts: opts.hosts } : {}),
      ...(opts.fromFile !== undefined ? { fromFile: opts.fromFile } : {}),
    });
    return code ?? EXIT.OK;
  } catch (e) {
    return out.error(e, parsed.verb.name);
  }
}
