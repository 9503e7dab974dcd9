/**
 * cli/output.ts — everything the CLI prints: result documents (human tables or exactly one
 * JSON document on stdout), messages and progress on stderr, errors as one line (or one
 * JSON error object) with the documented exit code.
 *
 * Layer: CLI front door. No library import at load time (errors are recognised by their
 * `code`/`name`, not by `instanceof`), so `version` and usage errors stay cheap.
 */
import type { GlobalValues } from './args.js';
import { CODE, codeKind } from '../model/errors.js';

/** The documented exit codes. */
export const EXIT = {
  OK: 0,
  /** The operation failed (kernel refused, conflict, partial failure…). */
  FAILURE: 1,
  /** Bad command line or invalid input (bad CIDR, port out of range…); nothing was done. */
  USAGE: 2,
  /** The named object does not exist (network, endpoint, netns). */
  NOT_FOUND: 3,
  /** Missing privilege (root / CAP_NET_ADMIN) or a missing tool or kernel feature. */
  ENVIRONMENT: 4,
} as const;
/** One of EXIT, or (exec only) the command's own status / 126 / 127. */
export type ExitCode = number;

export interface Streams {
  readonly stdout: { write(s: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean };
}

export interface ErrorReport {
  readonly code: string;
  readonly message: string;
  readonly exitCode: ExitCode;
  /** How to fix it, when we know. */
  readonly hint?: string;
  /** Extra machine-readable facts (e.g. `attached`: what a bulk attach did before failing). */
  readonly details?: unknown;
}


/** Classify any thrown value into the one-line report and exit code. */
export function describeError(e: unknown, verb?: string): ErrorReport {
  const err = e instanceof Error ? e : new Error(String(e));
  const rawCode: unknown = (err as unknown as { code?: unknown }).code;
  const code = typeof rawCode === 'string' ? rawCode : CODE.failure;
  let message = oneLine(err.message || String(e));
  let exitCode: ExitCode = EXIT.FAILURE;
  let hint: string | undefined;
  const kind = codeKind(code);
  if (kind === 'usage') {
    exitCode = EXIT.USAGE;
    if (err.name === 'UsageError') {
      const v = (err as { verb?: string }).verb;
      hint = `see ctnet-fast ${v !== undefined ? `${v} ` : ''}--help`;
    }
  } else if (kind === 'notFound') {
    exitCode = EXIT.NOT_FOUND;
    if (/\bendpoint\b|not attached/i.test(message)) hint = 'list endpoints with: ctnet-fast ls';
    else if (/\bnetwork\b/i.test(message) && !/\bnetns\b/.test(message)) hint = 'list networks with: ctnet-fast network ls';
  } else if (kind === 'environment' || err.name === 'EnvironmentError') {
    exitCode = EXIT.ENVIRONMENT;
    if ((code === 'EPERM' || code === 'EACCES') && !/\b(root|sudo|CAP_)/.test(message)) {
      hint = `needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): run sudo ctnet-fast${verb !== undefined ? ` ${verb}` : ''} …`;
    }
  }
  const explicit: unknown = (err as unknown as { exitCode?: unknown }).exitCode;
  if (typeof explicit === 'number' && Number.isInteger(explicit) && explicit > 0 && explicit < 256) exitCode = explicit;
  if (message === '') message = code;
  const details: unknown = (err as unknown as { details?: unknown }).details;
  return { code, message, exitCode, ...(hint !== undefined ? { hint } : {}), ...(details !== undefined ? { details } : {}) };
}

/** The one line a person reads: "MESSAGE: FIX" (or "MESSAGE (see … --help)" for usage errors). */
export function errorLine(r: ErrorReport): string {
  if (r.hint === undefined) return r.message;
  return r.hint.startsWith('see ') ? `${r.message} (${r.hint})` : `${r.message}: ${r.hint}`;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ').trim();
}

/** Pad columns; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, style?: (h: string) => string): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const head = line(headers);
  return [style ? style(head) : head, ...rows.map(line)].join('\n') + '\n';
}

/** Key/value block: "Name:     demo". */
export function formatFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const w = Math.max(0, ...fields.map(([k]) => k.length)) + 1;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(w)} ${v}`).join('\n') + '\n';
}

export function useColor(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly colorOut: boolean;
  readonly colorErr: boolean;
  private readonly streams: Streams;
  private progressShown = false;
  private wroteResult = false;

  constructor(g: Pick<GlobalValues, 'json' | 'quiet' | 'verbose'>, streams: Streams = process, env: NodeJS.ProcessEnv = process.env) {
    this.json = g.json;
    this.quiet = g.quiet;
    this.verbose = g.verbose && !g.quiet;
    this.streams = streams;
    this.colorOut = !this.json && useColor(streams.stdout, env);
    this.colorErr = useColor(streams.stderr, env);
  }

  bold(s: string): string { return this.colorOut ? `\x1b[1m${s}\x1b[0m` : s; }
  green(s: string): string { return this.colorOut ? `\x1b[32m${s}\x1b[0m` : s; }
  red(s: string): string { return this.colorOut ? `\x1b[31m${s}\x1b[0m` : s; }
  dim(s: string): string { return this.colorOut ? `\x1b[2m${s}\x1b[0m` : s; }

  /** The command's result: human text, or the JSON document with --json. Once per run. */
  result(json: unknown, human: () => string): void {
    if (this.wroteResult) throw new Error('internal: result written twice');
    this.wroteResult = true;
    this.clearProgress();
    if (this.json) this.streams.stdout.write(JSON.stringify(json, null, 2) + '\n');
    else {
      const text = human();
      if (text !== '') this.streams.stdout.write(text.endsWith('\n') ? text : text + '\n');
    }
  }

  table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
    return formatTable(headers, rows, this.colorOut ? (h) => this.bold(h) : undefined);
  }

  /** A message for people (stderr); silent with --quiet. */
  info(message: string): void {
    if (this.quiet) return;
    this.clearProgress();
    this.streams.stderr.write(message + '\n');
  }

  /** Detail for --verbose (stderr). */
  debug(message: string): void {
    if (!this.verbose) return;
    this.clearProgress();
    this.streams.stderr.write(`${this.colorErr ? '\x1b[2m' : ''}[verbose] ${message}${this.colorErr ? '\x1b[0m' : ''}\n`);
  }

  warn(message: string): void {
    if (this.quiet) return;
    this.clearProgress();
    const p = this.colorErr ? '\x1b[33mwarning:\x1b[0m' : 'warning:';
    this.streams.stderr.write(`${p} ${oneLine(message)}\n`);
  }

  /** Progress for bulk work: only on a TTY stderr, never with --quiet, never for 1 item. */
  progress(label: string): (done: number, total: number) => void {
    const tty = this.streams.stderr.isTTY === true && !this.quiet;
    let last = 0;
    return (done: number, total: number) => {
      if (!tty || total < 2) return;
      const now = Date.now();
      if (done < total && now - last < 50) return;
      last = now;
      const width = 24;
      const filled = Math.round((done / total) * width);
      this.streams.stderr.write(`\r\x1b[K${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
      this.progressShown = true;
      if (done >= total) this.clearProgress();
    };
  }

  /** A live status line on a TTY (demo's steps); plain lines elsewhere unless quiet. */
  status(message: string): void {
    if (this.quiet) return;
    if (this.streams.stderr.isTTY === true) {
      this.streams.stderr.write(`\r\x1b[K${message}`);
      this.progressShown = true;
    }
  }

  clearProgress(): void {
    if (!this.progressShown) return;
    this.progressShown = false;
    this.streams.stderr.write('\r\x1b[K');
  }

  /** Report an error: one line on stderr (unless --quiet with --json), and with --json the error document on stdout. */
  error(e: unknown, verb?: string): ExitCode {
    const r = describeError(e, verb);
    this.clearProgress();
    if (this.json) {
      this.streams.stdout.write(JSON.stringify({ error: r }, null, 2) + '\n');
    }
    if (!(this.json && this.quiet)) {
      const p = this.colorErr ? '\x1b[31mctnet-fast:\x1b[0m' : 'ctnet-fast:';
      this.streams.stderr.write(`${p} ${errorLine(r)}\n`);
    }
    if (this.verbose && e instanceof Error && e.stack !== undefined && r.exitCode === EXIT.FAILURE) {
      this.streams.stderr.write(e.stack + '\n');
    }
    return r.exitCode;
  }
}
