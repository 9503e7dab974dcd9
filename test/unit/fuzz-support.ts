/**
 * test/unit/fuzz-support.ts — what the property-based fuzz tests (fuzz-*.test.ts) share: the
 * seed, the number of runs, the arbitraries of hostile input and the "valid value or
 * InvalidInputError" check. Not a test file itself.
 *
 * Every run is reproducible: one seed per mocha process, printed in each suite's title and in
 * fast-check's failure report (with the counterexample and its path). Replay with
 *   FC_SEED=1234 npx mocha 'test/unit/fuzz-*.test.ts'      (FC_RUNS=N overrides every run count)
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidInputError } from '../../src/model/errors.js';

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}=${v}: expected an integer`);
  return n;
}

/** The seed of this run: $FC_SEED, else a fresh one (printed, so a failure can be replayed). */
export const SEED = envInt('FC_SEED') ?? (Math.floor(Math.random() * 0x7fffffff) ^ Date.now()) | 0;
const RUNS = envInt('FC_RUNS');

/** "TITLE [FC_SEED=…]": the seed in every fuzz suite's title. */
export function seeded(title: string): string {
  return `${title} [FC_SEED=${SEED}${RUNS !== undefined ? ` FC_RUNS=${RUNS}` : ''}]`;
}

/** Fuzz cases run in this mocha process (and its children); printed once at the end. */
export const counted = { cases: 0 };
after(() => {
  if (counted.cases > 0) console.log(`  fuzz: ${counted.cases} cases, FC_SEED=${SEED}`);
});

/** fast-check parameters: this run's seed, `runs` cases (or $FC_RUNS), counted. */
export function params(runs: number): fc.Parameters<unknown> {
  const numRuns = RUNS ?? runs;
  counted.cases += numRuns;
  return { seed: SEED, numRuns, endOnFailure: false };
}

/** Run a synchronous property with this run's seed. */
export function check<T>(arb: fc.Arbitrary<T>, runs: number, body: (v: T) => void): void {
  fc.assert(fc.property(arb, (v) => { body(v); }), params(runs) as fc.Parameters<[T]>);
}

/** Run an async property with this run's seed. */
export async function checkAsync<T>(arb: fc.Arbitrary<T>, runs: number, body: (v: T) => Promise<void>): Promise<void> {
  await fc.assert(fc.asyncProperty(arb, async (v) => { await body(v); }), params(runs) as fc.Parameters<[T]>);
}

/**
 * `fn(input)` returns a value accepted by `valid`, or throws InvalidInputError (or, when
 * given, one of the `also` classes). Anything else fails the property with the input named.
 */
export function validOrInvalid<R>(fn: () => R, valid: (r: R) => boolean | string, also: ReadonlyArray<abstract new (...a: never[]) => Error> = []): 'ok' | 'refused' {
  let r: R;
  try {
    r = fn();
  } catch (e) {
    if (e instanceof InvalidInputError || also.some((c) => e instanceof c)) {
      assert.equal(typeof (e as Error).message, 'string');
      assert.ok((e as Error).message.length > 0, 'an empty error message');
      return 'refused';
    }
    throw new Error(`threw ${(e as Error)?.constructor?.name ?? typeof e}: ${String((e as Error)?.message ?? e)}`, { cause: e });
  }
  const v = valid(r);
  if (v !== true) assert.fail(`returned an invalid value ${safe(r)}${typeof v === 'string' ? `: ${v}` : ''}`);
  return 'ok';
}

/** The assertion the hand-written unit tests use: InvalidInputError whose message has every needle. */
export function invalid(fn: () => unknown, ...needles: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidInputError, `expected InvalidInputError, got ${String(e)}`);
    for (const n of needles) assert.ok(e.message.includes(n), `"${e.message}" should mention "${n}"`);
    return true;
  });
}

function safe(v: unknown): string {
  try { return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v) ?? String(v); } catch { return typeof v; }
}

/** Pieces that sit on the edges of our grammars: separators, zone ids, templates, odd bytes. */
const PIECES = [
  '', '0', '1', '00', '255', '256', '65535', '65536', '-1', '1e3', '0x10', 'ff', 'FFFF', 'abc',
  '.', '..', '/', '//', ':', '::', '[', ']', '%', '%d', '%eth0', '-', '--', ' ', '\t', '\n', '\0',
  '\u00a0', '\u00e0', '\u00e9', '\u2028', '\ud800', '😀', 'eth0', 'lo', 'tcp', 'udp', 'pid:', 'default',
  '127.0.0.1', '0.0.0.0', '172.18.0.0', '255.255.255.255', '::1', 'fe80::1', 'fd00::', '::ffff:1.2.3.4',
  '/8', '/16', '/24', '/32', '/64', '/128', '/0', '/33', '/129', '/run/netns/', '/proc/1/ns/net', 'a'.repeat(15), 'a'.repeat(300),
];

/** Strings made of grammar pieces and random characters: near-misses of valid input. */
export const nearMiss: fc.Arbitrary<string> = fc.array(
  fc.oneof(fc.constantFrom(...PIECES), fc.string({ unit: 'binary', maxLength: 4 }), fc.ipV4(), fc.ipV6()),
  { maxLength: 6 },
).map((parts) => parts.join(''));

/** Anything at all: every JS type, prototype-less objects, boxed values, huge numbers, bigints. */
export const anything: fc.Arbitrary<unknown> = fc.anything({
  withBigInt: true, withBoxedValues: true, withNullPrototype: true, withObjectString: true,
  withSparseArray: true, withTypedArray: true, withDate: true, withMap: true, withSet: true, maxDepth: 2,
});

/** Hostile input for a string-taking validator: mostly near-miss strings, some of any type. */
export const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nearMiss, weight: 6 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: anything, weight: 1 },
  { arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, NaN, Infinity, 2 ** 31, 2 ** 53)), weight: 1 },
);
