/** bench/lib/args.ts — option parsing shared by bench/run.ts and bench/cli.ts. */

/** The whole number (≥ 0) following the option `name` at argv[i]; throws when it is not one. */
export function wholeNumberAfter(argv: readonly string[], i: number, name: string): number {
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} needs a whole number`);
  return v;
}
