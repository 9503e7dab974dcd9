/**
 * test/unit/cni-shim-json.test.ts — the shim's bounded JSON scanner (native/cni-shim/json.c),
 * fuzzed through the binary: VERSION prints the config's top-level cniVersion, so for any
 * config the answer shows what the scanner read. Oracles: a model of Go's encoding/json
 * (top-level keys only, ASCII case folded, last one wins) for generated objects; for
 * arbitrary bytes, truncated documents and deep nesting, exit 0 with a well-formed answer.
 *
 * Layer: tests (docs/ARCHITECTURE.md, "Layers"). No privileges.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { requireShim, runShim } from './cni-shim-support.js';

const DEFAULT = '1.1.0';
const SUPPORTED = ['0.4.0', '1.0.0', '1.1.0'];

async function versionOf(stdin: string | Buffer): Promise<string> {
  const r = await runShim({ env: { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy' }, stdin });
  assert.equal(r.status, 0, `exit 0 for ${JSON.stringify(stdin.toString())}: ${r.stdout.toString()}`);
  const doc = JSON.parse(r.stdout.toString('utf8')) as { cniVersion: string; supportedVersions: string[] };
  assert.deepEqual(doc.supportedVersions, SUPPORTED);
  assert.equal(typeof doc.cniVersion, 'string');
  return doc.cniVersion;
}

/** Lone surrogates as U+FFFD (what UTF-8 can carry). */
const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/** What the scanner must read from members in this order (null: the default). */
function model(entries: ReadonlyArray<readonly [string, unknown]>): string {
  let v: string | null = null;
  for (const [k, val] of entries) {
    if (k.toLowerCase() !== 'cniversion') continue;
    const s = typeof val === 'string' ? wellFormed(val) : null;
    v = s !== null && s !== '' && Buffer.byteLength(s) <= 128 ? s : null;
  }
  return v ?? DEFAULT;
}

const ws = fc.constantFrom('', ' ', '\n', '\t ', '\r\n  ');
const key = fc.oneof(
  fc.constantFrom('cniVersion', 'CNIVERSION', 'cniversion', 'cniVersio', 'name', 'agent', 'ctnetStateDir', 'type', 'ipam'),
  fc.string({ maxLength: 12 }),
);
const version = fc.oneof(fc.constantFrom('0.4.0', '1.0.0', '1.1.0', '', 'x'.repeat(128), 'x'.repeat(129), 'é'.repeat(64), '\ud800'), fc.string({ maxLength: 20, unit: 'binary' }));
const value = fc.oneof(version, fc.jsonValue({ maxDepth: 3 }), fc.constant(null));

describe('ctnet-cni shim JSON scanner (fuzzed through VERSION)', function () {
  this.timeout(120000);
  before(requireShim);

  it('reads the top-level cniVersion like Go does (case folded, last wins, nested ones ignored)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(key, value), { maxLength: 6 }), ws, async (entries, space) => {
      const text = `${space}{${space}${entries.map(([k, v]) => `${JSON.stringify(k)}${space}:${space}${JSON.stringify(v)}`).join(`${space},${space}`)}${space}}${space}`;
      assert.equal(await versionOf(text), wellFormed(model(entries)));
    }), { numRuns: 150 });
  });

  it('survives arbitrary bytes and truncated documents (exit 0, a well-formed answer)', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
      await versionOf(Buffer.from(bytes));
    }), { numRuns: 80 });
    const full = JSON.stringify({ name: 'n', ipam: { ranges: [[{ subnet: '10.0.0.0/8' }]], s: 'a"b\\c\u0001' }, cniVersion: '0.4.0' });
    for (let cut = 0; cut < full.length; cut++) {
      const v = await versionOf(full.slice(0, cut));
      assert.ok(v === DEFAULT, `a truncated document (${cut} bytes) is malformed: the default, got ${v}`);
    }
    assert.equal(await versionOf(full), '0.4.0');
  });

  it('escapes and decodes strings exactly: \\u escapes, surrogate pairs, control characters', async () => {
    assert.equal(await versionOf('{"cniVersion":"\\u0031.\\u0030\\/0"}'), '1.0/0');
    assert.equal(await versionOf('{"cniVersion":"\\ud83d\\ude00\\n\\t\\"\\\\"}'), '\ud83d\ude00\n\t"\\');
    assert.equal(await versionOf('{"cniVersion":"a\\ud83dz"}'), 'a\ufffdz', 'a lone surrogate');
    assert.equal(await versionOf('{"cniVersion":"a\\u0000b"}'), 'a\u0000b');
    assert.equal(await versionOf(Buffer.from('{"cniVersion":"a\xffb"}', 'latin1')), 'a\ufffdb', 'invalid UTF-8 in a value');
    assert.equal(await versionOf('{"cniVersion":"a\u0001b"}'), DEFAULT, 'a raw control character makes the document malformed');
    assert.equal(await versionOf('{"cniVersion":"\\x"}'), DEFAULT, 'a bad escape');
  });

  it('bounds nesting: 400 levels are stepped over, 100000 make the document malformed without harm', async () => {
    const deep = (d: number): string => `${'['.repeat(d)}${']'.repeat(d)}`;
    assert.equal(await versionOf(`{"a":${deep(400)},"cniVersion":"0.4.0"}`), '0.4.0');
    assert.equal(await versionOf(`{"cniVersion":"0.4.0","a":${deep(100000)}}`), DEFAULT, 'a malformed document says nothing, not even before the fault');
    assert.equal(await versionOf(`{"a":${deep(100000)},"cniVersion":"0.4.0"}`), DEFAULT);
    assert.equal(await versionOf(`{"a":[{"cniVersion":"0.4.0"}],"b":{"cniVersion":"1.0.0"}}`), DEFAULT, 'nested keys are not top-level');
    assert.equal(await versionOf('{"a":[1,{"b":]}],"cniVersion":"0.4.0"}'), DEFAULT, 'mismatched brackets');
  });
});
