/**
 * test/unit/fuzz-cli.test.ts — property-based fuzzing of the CLI parser (src/cli/args.ts) and
 * of `network create`'s argument checks: random argv arrays built from the real verb words and
 * option names (table.ts) and random strings give a parse result, a UsageError or an
 * InvalidInputError, never another error. Seed in the suite title (fuzz-support.ts).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidInputError } from '../../src/model/errors.js';
import { UsageError, parseCommandLine, parseFromFileLine } from '../../src/cli/args.js';
import { GLOBAL_OPTIONS, VERBS } from '../../src/cli/table.js';
import { networkSpecFrom } from '../../src/cli/verbs/network.js';
import { checkAsync, check, nearMiss, seeded, validOrInvalid } from './fuzz-support.js';

const RUNS = 400;

const words = [...new Set(VERBS.flatMap((v) => v.name.split(' ')))];
const options = [...new Set([GLOBAL_OPTIONS, ...VERBS.map((v) => v.options)].flatMap((defs) => Object.entries(defs).flatMap(([name, d]) =>
  [`--${name}`, `--${name}=`, `--no-${name}`, ...(d.short !== undefined ? [`-${d.short}`] : [])])))];
const token = fc.oneof(
  { arbitrary: fc.constantFrom(...words), weight: 3 },
  { arbitrary: fc.constantFrom(...options), weight: 4 },
  { arbitrary: fc.constantFrom('--', '-', '-h', '--help', 'help', '--version', '-V', '-jqv', '-pn', '---x', '--=', '=', ''), weight: 1 },
  { arbitrary: nearMiss, weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom(...options), nearMiss).map(([o, v]) => `${o}${o.endsWith('=') ? '' : '='}${v}`), weight: 1 },
);
/** argv: usually starting with a real verb, then options and values in any order. */
const argv = fc.tuple(fc.option(fc.constantFrom(...VERBS.map((v) => v.name.split(' '))), { nil: undefined }), fc.array(token, { maxLength: 8 }))
  .map(([verb, rest]) => [...(verb ?? []), ...rest]);

describe(seeded('fuzz: CLI parser'), () => {
  it('parseCommandLine: a help or run result, or UsageError/InvalidInputError', () => {
    const seen = { ok: 0, refused: 0 };
    check(argv, RUNS * 2, (a) => {
      seen[validOrInvalid(() => parseCommandLine(a), (p) => {
        if (p.kind === 'help') return p.topic === undefined || typeof p.topic === 'string';
        assert.ok(VERBS.includes(p.verb), 'a verb of the table');
        assert.ok(p.positionals.length >= p.verb.minPositionals && p.positionals.length <= p.verb.maxPositionals, 'positional count');
        for (const [k, v] of Object.entries(p.options)) {
          const def = p.verb.options[k] ?? GLOBAL_OPTIONS[k];
          assert.ok(def !== undefined, `option --${k} is not in the table`);
          assert.ok(typeof v === 'string' || typeof v === 'boolean' || Array.isArray(v), `--${k} value`);
        }
        return true;
      }, [UsageError])]++;
    });
    if (seen.ok + seen.refused >= 200) assert.ok(seen.ok > 0 && seen.refused > 0, `the argv generator reaches both outcomes: ${JSON.stringify(seen)}`);
  });

  it('parseFromFileLine: a line for one NETNS, nothing (blank/comment), or UsageError', () => {
    const line = fc.oneof(fc.array(token, { maxLength: 6 }).map((t) => t.join(' ')), fc.string({ unit: 'binary', maxLength: 60 }));
    check(fc.tuple(line, fc.nat(10000)), RUNS, ([l, n]) => {
      validOrInvalid(() => parseFromFileLine(l, n), (r) => r === undefined || (typeof r.netns === 'string' && r.netns !== '' && Array.isArray(r.publish)), [UsageError]);
    });
  });

  it('network create arguments: a spec, or UsageError/InvalidInputError', async () => {
    const value = fc.oneof(nearMiss, fc.ipV4(), fc.ipV6(), fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.nat(140)).map(([a, l]) => `${a}/${l}`));
    const opts = fc.dictionary(fc.constantFrom('subnet', 'subnet6', 'gateway', 'gateway6', 'bridge', 'mtu', 'internal', 'no-masquerade'),
      fc.oneof(value, fc.boolean(), fc.array(value, { maxLength: 2 })), { maxKeys: 6 });
    await checkAsync(fc.tuple(nearMiss, opts), RUNS, async ([name, o]) => {
      let spec;
      try {
        spec = await networkSpecFrom(name, o);
      } catch (e) {
        if (e instanceof UsageError || e instanceof InvalidInputError) return;
        throw new Error(`threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
      }
      // a network has an IPv4 subnet, or is IPv6-only with subnet6
      assert.ok(typeof spec.subnet === 'string' || typeof spec.subnet6 === 'string', JSON.stringify(spec));
    });
  });
});
