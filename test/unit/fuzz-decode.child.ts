/**
 * test/unit/fuzz-decode.child.ts — the addon decoder's fuzz run, in a child process so that an
 * abort (a crash in C++) is seen by fuzz-decode.test.ts as a signal instead of killing mocha.
 * Not a test file: run by fuzz-decode.test.ts with FC_SEED and the run counts in its env.
 * Prints one JSON line {cases} on success; on a property failure prints fast-check's report
 * (seed, path, counterexample) and exits 1.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadNative } from '../../src/backend/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = JSON.parse(readFileSync(path.join(here, '..', 'fixtures', 'native', 'kernel-replies.json'), 'utf8')) as { captures: Array<{ replies: string[] }> };
const real = fixtures.captures.flatMap((c) => c.replies.map((h) => Buffer.from(h, 'hex')));
const seed = Number(process.env.FC_SEED);
const randomRuns = Number(process.env.FUZZ_RANDOM_RUNS);
const mutatedRuns = Number(process.env.FUZZ_MUTATED_RUNS);

const loaded = loadNative();
if (loaded.addon === undefined) {
  console.log(JSON.stringify({ skipped: loaded.error ?? 'addon missing' }));
  process.exit(0);
}
const decode = loaded.addon.decode.bind(loaded.addon);

/** Offsets of every top-level nlmsg_len and rtattr nla_len in a reply (the length fields to corrupt). */
function lengthFields(b: Buffer): { msg: number[]; attr: number[] } {
  const out = { msg: [] as number[], attr: [] as number[] };
  const fixed: Record<number, number> = { 16: 16, 17: 16, 20: 8, 21: 8, 24: 12, 25: 12 };
  for (let off = 0; off + 16 <= b.length;) {
    const len = b.readUInt32LE(off);
    if (len < 16 || off + len > b.length) break;
    out.msg.push(off);
    for (let a = off + 16 + (fixed[b.readUInt16LE(off + 4)] ?? len); a + 4 <= off + len;) {
      const alen = b.readUInt16LE(a);
      if (alen < 4) break;
      out.attr.push(a);
      a += (alen + 3) & ~3;
    }
    off += (len + 3) & ~3;
  }
  return out;
}
const fields = real.map(lengthFields);

type Mutation =
  | { k: 'flip'; at: number; bit: number } | { k: 'byte'; at: number; v: number } | { k: 'truncate'; at: number }
  | { k: 'msglen'; i: number; v: number } | { k: 'attrlen'; i: number; v: number } | { k: 'splice'; other: number; at: number };
const len32 = fc.oneof(fc.constantFrom(0, 1, 4, 15, 16, 17, 19, 20, 0xfff0, 0x7fffffff, 0xffffffff), fc.nat({ max: 0xffffffff }));
const len16 = fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 8, 0xfff0, 0xffff), fc.nat({ max: 0xffff }));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ k: fc.constant('byte' as const), at: fc.nat(), v: fc.nat(255) }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('msglen' as const), i: fc.nat(), v: len32 }),
  fc.record({ k: fc.constant('attrlen' as const), i: fc.nat(), v: len16 }),
  fc.record({ k: fc.constant('splice' as const), other: fc.nat(), at: fc.nat() }),
);

function mutate(which: number, muts: readonly Mutation[]): Buffer {
  let b = Buffer.from(real[which] as Buffer);
  const f = fields[which] as { msg: number[]; attr: number[] };
  for (const m of muts) {
    if (b.length === 0) break;
    if (m.k === 'flip') { const at = m.at % b.length; b[at] = (b[at] as number) ^ (1 << m.bit); }
    if (m.k === 'byte') b[m.at % b.length] = m.v;
    if (m.k === 'truncate') b = b.subarray(0, m.at % (b.length + 1));
    if (m.k === 'msglen' && f.msg.length > 0) { const at = f.msg[m.i % f.msg.length] as number; if (at + 4 <= b.length) b.writeUInt32LE(m.v, at); }
    if (m.k === 'attrlen' && f.attr.length > 0) { const at = f.attr[m.i % f.attr.length] as number; if (at + 2 <= b.length) b.writeUInt16LE(m.v, at); }
    if (m.k === 'splice') { const o = real[m.other % real.length] as Buffer; b = Buffer.concat([b, o.subarray(0, m.at % (o.length + 1))]); }
  }
  return b;
}

/** decode() gives { messages } of well-typed entries or { error: string }, or throws an Error. */
function sane(buf: Buffer): void {
  let r: unknown;
  try {
    r = decode(buf);
  } catch (e) {
    if (e instanceof Error) return;
    throw new Error(`decode threw a non-Error: ${String(e)}`);
  }
  const x = r as { messages?: unknown; error?: unknown };
  if (typeof x.error === 'string') return;
  if (!Array.isArray(x.messages)) throw new Error(`decode returned neither messages nor error: ${JSON.stringify(r)}`);
  for (const m of x.messages as Array<{ type?: unknown; seq?: unknown }>) {
    if (typeof m.type !== 'number' || typeof m.seq !== 'number') throw new Error(`a message without type/seq: ${JSON.stringify(m)}`);
  }
}

const random = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 600 }), fc.constantFrom(16, 17, 20, 24, 2, 3), fc.boolean()).map(([a, type, fix]) => {
    const b = Buffer.from(a);
    if (fix) b.writeUInt32LE(b.length, 0); // a plausible nlmsg_len, so the body is read
    b.writeUInt16LE(type, 4);
    return new Uint8Array(b);
  }),
);
fc.assert(fc.property(random, (a) => { sane(Buffer.from(a)); }), { seed, numRuns: randomRuns });
fc.assert(fc.property(fc.nat(real.length - 1), fc.array(mutation, { minLength: 1, maxLength: 6 }), (w, muts) => { sane(mutate(w, muts)); }),
  { seed, numRuns: mutatedRuns });
console.log(JSON.stringify({ cases: randomRuns + mutatedRuns }));
