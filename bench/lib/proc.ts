/**
 * bench/lib/proc.ts — running the processes the process-based paths are made of.
 *
 * Always an argument array, never a shell. The timed paths use execFileSync: the
 * cheapest way Node has to run a process and wait for it (no event-loop round trips),
 * so the baselines are measured at their best, not handicapped by our harness.
 */
import { execFileSync } from 'node:child_process';

export interface RunOptions {
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export class ProcessError extends Error {
  constructor(readonly command: string, readonly status: number | null, readonly stderr: string, readonly stdout: string) {
    super(`${command}: exit ${status ?? 'signal'}${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}${!stderr && stdout ? `: ${stdout.trim().slice(0, 400)}` : ''}`);
    this.name = 'ProcessError';
  }
}

/** Run CMD ARGS… and return its stdout; throw ProcessError (with its stderr) on failure. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { status?: number | null; stderr?: string | Buffer; stdout?: string | Buffer; message?: string };
    throw new ProcessError([cmd, ...args].join(' '), e.status ?? null, String(e.stderr ?? e.message ?? ''), String(e.stdout ?? ''));
  }
}

/** `ip ARGS…` */
export function ip(...args: string[]): string {
  return run('ip', args);
}

/** The first line a version command prints, or "unknown". */
export function versionOf(cmd: string, args: readonly string[]): string {
  try {
    return run(cmd, args).split('\n')[0]?.trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
