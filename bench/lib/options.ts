/**
 * bench/lib/options.ts — the command line of bench/run.ts (`npm run bench -- OPTIONS`; the
 * options are listed at the top of run.ts and in bench/README.md).
 */
import path from 'node:path';
import { wholeNumberAfter } from './args.js';
import { PATHS, type PathName } from './protocol.js';

/**
 * Untimed attach/detach cycles per worker before the timed ones (`--warmup W`), in quick and
 * full runs alike: a process's first attaches are cold (here the library's first took 40 ms,
 * its second 8 ms, against 2 ms warm, and its first ten ~10 % above the next tens), and a
 * quick run's 25 per round would otherwise count them. bench/README.md, "What one run does".
 */
export const WARMUP = 30;

export const PARTS = ['compare', 'nft', 'concurrency', 'scale', 'publish', 'churn'] as const;
export type Part = (typeof PARTS)[number];

export interface Options {
  quick: boolean;
  n: number;
  rounds: number;
  warmup: number;
  paths: PathName[];
  parts: Set<Part>;
  churnCycles: number;
  outDir: string;
  saveSample: boolean;
}

export function parseArgs(argv: readonly string[], defaults: { readonly mainPaths: readonly PathName[]; readonly outDir: string }): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    n: quick ? 50 : 500,
    rounds: quick ? 2 : 5,
    warmup: WARMUP,
    paths: [...defaults.mainPaths],
    parts: new Set<Part>(quick ? ['compare', 'nft', 'concurrency'] : PARTS),
    churnCycles: 10000,
    outDir: defaults.outDir,
    saveSample: false,
  };
  const whole = (i: number, name: string): number => wholeNumberAfter(argv, i, name);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--quick': break;
      case '--n': o.n = Math.max(1, whole(i++, a)); break;
      case '--rounds': o.rounds = Math.max(1, whole(i++, a)); break;
      case '--warmup': o.warmup = whole(i++, a); break;
      case '--churn-cycles': o.churnCycles = Math.max(1, whole(i++, a)); break;
      case '--no-scale': o.parts.delete('scale'); break;
      case '--no-publish': o.parts.delete('publish'); break;
      case '--no-churn': o.parts.delete('churn'); break;
      case '--no-concurrency': o.parts.delete('concurrency'); break;
      case '--no-nft': o.parts.delete('nft'); break;
      case '--only': {
        const list = (argv[++i] ?? '').split(',').filter(Boolean);
        for (const p of list) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`unknown part ${p} (known: ${PARTS.join(', ')})`);
        o.parts = new Set(list as Part[]);
        break;
      }
      case '--save-sample': o.saveSample = true; break;
      case '--out': o.outDir = path.resolve(argv[++i] ?? ''); break;
      case '--paths': {
        const list = (argv[++i] ?? '').split(',').filter(Boolean);
        for (const p of list) if (!(PATHS as readonly string[]).includes(p)) throw new Error(`unknown path ${p} (known: ${PATHS.join(', ')})`);
        o.paths = list as PathName[];
        break;
      }
      case '--help':
        process.stdout.write(readUsage());
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a} (try --help)`);
    }
  }
  return o;
}

export function readUsage(): string {
  return 'usage: npm run bench -- [--quick] [--n N] [--rounds R] [--warmup W] [--paths a,b] [--only parts] [--no-scale] [--no-publish] [--no-churn] [--no-concurrency] [--no-nft] [--churn-cycles N] [--out DIR] [--save-sample]\n';
}
