// test/helpers/daemon-procs.ts — the CLI daemon's processes as /proc shows them (not as the daemon
// says), for the daemon's privileged tests: whether a pid is alive, and the `daemon run` processes
// serving a state directory (so cleanup never signals a recycled pid).
import { readdirSync, readFileSync } from 'node:fs';

/** Is the process there (a zombie counts as gone)? */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of `agent run` (or `daemon run`) processes serving this state dir (read from /proc, not from the daemon). */
export function daemonProcesses(stateDir: string): number[] {
  const found: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv: string[];
    try { argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    const i = argv.findIndex((a, k) => (a === 'agent' || a === 'daemon') && argv[k + 1] === 'run');
    if (i > 0 && argv.includes(stateDir) && alive(Number(d))) found.push(Number(d));
  }
  return found;
}
