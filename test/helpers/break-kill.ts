/**
 * test/helpers/break-kill.ts — the commands the kill -9 suites interrupt
 * (test/priv/break-kill-step.test.ts, break-kill-random.test.ts; issue 10), and one trial:
 * a fresh state dir, the scenario's setup, the command killed (or not), `gc`, the full
 * oracle (break-oracle.ts), a reset. A trial returns what went wrong as text, so a suite
 * reports every broken kill point at once instead of stopping at the first.
 */
import { settledProblems } from './break-oracle.js';
import { cli, cliOk, describeRun, hasStackTrace, newStateDir, resetWorld, type Run } from './break-env.js';

export const PREFIX = 'brk-k';
const NET = 'brk-kn';
const BR = 'brk-kbr';
const SUBNET = '10.251.0.0/24';
const CT = 'brk-k1';

export interface Scenario {
  readonly name: string;
  readonly setup: ReadonlyArray<readonly string[]>;
  readonly cmd: readonly string[];
}

const CREATE = ['network', 'create', NET, '--subnet', SUBNET, '--bridge', BR];

export const SCENARIOS: readonly Scenario[] = [
  { name: 'attach --publish', setup: [CREATE], cmd: ['attach', CT, '--network', NET, '--publish', '18080:80', '--publish', '18053:53/udp'] },
  { name: 'detach', setup: [CREATE, ['attach', CT, '--network', NET, '--publish', '18080:80']], cmd: ['detach', CT] },
  { name: 'publish', setup: [CREATE, ['attach', CT, '--network', NET]], cmd: ['publish', CT, '18080:80', '18081:81/udp'] },
  { name: 'unpublish', setup: [CREATE, ['attach', CT, '--network', NET, '-p', '18080:80', '-p', '18081:81/udp']], cmd: ['unpublish', CT, '18080:80', '18081:81/udp'] },
  { name: 'network create', setup: [], cmd: CREATE },
  { name: 'network rm --force', setup: [CREATE, ['attach', CT, '--network', NET, '-p', '18080:80'], ['attach', 'brk-k2', '--network', NET]], cmd: ['network', 'rm', '--force', NET] },
];

export interface TrialResult {
  /** the command was killed (by the hook or the timer) */
  readonly killed: boolean;
  readonly run: Run;
  /** empty when gc succeeded and the oracle found nothing */
  readonly problems: string[];
}

/**
 * One trial: setup, the command (with `env` / `killAfterMs`), then gc when it was killed,
 * then the oracle; everything removed afterwards, even on failure.
 */
export async function trial(sc: Scenario, opts: { env?: NodeJS.ProcessEnv; killAfterMs?: number }): Promise<TrialResult> {
  const state = newStateDir(PREFIX);
  try {
    for (const s of sc.setup) await cliOk(state, s);
    const run = await cli(state, sc.cmd, opts);
    const killed = run.signal === 'SIGKILL';
    const problems: string[] = [];
    if (!killed && run.code !== 0) problems.push(`not killed, yet it failed: ${describeRun(run)}`);
    if (killed) {
      const g = await cli(state, ['gc']);
      if (g.code !== 0 || hasStackTrace(g)) problems.push(`gc after the kill: ${describeRun(g)}`);
    }
    problems.push(...await settledProblems({ stateDir: state, netnsPrefix: PREFIX }));
    return { killed, run, problems };
  } finally {
    await resetWorld(PREFIX, state);
  }
}
