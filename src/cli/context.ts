/**
 * cli/context.ts — what the dispatch (main.ts) hands every verb: the parsed command line,
 * the output, the environment, and in the daemon the Hosts it keeps open between commands.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). Types only. Its own module so that verbs,
 * lib.ts and daemon.ts depend on this contract and not on main.ts, which imports them
 * (src/cli has no import cycle: test/unit/cli-imports.test.ts).
 */
import type { GlobalValues, Parsed } from './args.js';
import type { Output, Streams } from './output.js';
import type { VerbDef } from './table.js';
import type { ListFile } from './protocol.js';
import type { HostOptions } from '../model/types.js';
import type { Host } from '../topology/host.js';

/** Hosts that outlive one command (the daemon's); withHost borrows one instead of open/close. */
export interface HostCache {
  get(opts: HostOptions): Promise<Host>;
}

export interface MainOptions {
  readonly hosts?: HostCache;
  /** argv already parsed by the caller (the daemon, which parses it to decide whether to serve it). */
  readonly parsed?: Parsed;
  /** The caller's `--from-file` list, read by the caller (the daemon never opens it; protocol.ts). */
  readonly fromFile?: ListFile;
}

/** Run one command line; resolves to its exit code (main.ts `main`). */
export type MainFn = (argv: readonly string[], streams?: Streams, env?: NodeJS.ProcessEnv, opts?: MainOptions) => Promise<number>;

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
  readonly hosts?: HostCache;
  /** Set in the daemon: the caller's `--from-file` list as the caller read it (verbs/attach.ts). */
  readonly fromFile?: ListFile;
  /** The dispatch itself, for a verb that runs further command lines (`daemon run` serves callers with it). */
  readonly main: MainFn;
}

export type VerbRun = (ctx: Context) => Promise<number | void>;
