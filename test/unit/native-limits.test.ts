/**
 * test/unit/native-limits.test.ts — the addon's last-guard limits (native/limits.h) are the
 * same as the one rule set of src/validate/kernel.ts, so the two copies cannot drift.
 *
 * Reads the header as text (no build needed): every limit there is one line of the form
 * `constexpr TYPE NAME = VALUE;`, named as the TypeScript constant it mirrors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../../src/model/errors.js';
import { ALIAS_MAX, IFNAME_MAX, MTU_MAX, MTU_MIN, checkAlias, checkIfname, checkMac, checkMtu } from '../../src/validate/kernel.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const header = readFileSync(path.join(here, '..', '..', 'native', 'limits.h'), 'utf8');

/** The text after `NAME =` up to `;` of the one `constexpr … NAME = …;` line. */
function constant(name: string): string {
  const re = new RegExp(`^constexpr [^=\\n]*\\b${name}(\\[\\])? = (.+);$`, 'gm');
  const found = [...header.matchAll(re)];
  assert.equal(found.length, 1, `native/limits.h should define ${name} once`);
  return found[0]![2]!;
}

function number(name: string): number {
  const text = constant(name);
  assert.match(text, /^(0x[0-9a-fA-F]+|\d+)$/, `${name} = ${text} should be a literal number`);
  return Number(text);
}

/** `"/:"` or `{".", ".."}` → the strings, as C++ would read these simple literals. */
function strings(name: string): string[] {
  return [...constant(name).matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
}

function refused(fn: () => unknown): void {
  assert.throws(fn, InvalidInputError);
}

describe('native/limits.h agrees with src/validate/kernel.ts', () => {
  it('IFNAME_MAX, MTU_MIN, MTU_MAX and ALIAS_MAX have the same values', () => {
    assert.equal(number('IFNAME_MAX'), IFNAME_MAX);
    assert.equal(number('MTU_MIN'), MTU_MIN);
    assert.equal(number('MTU_MAX'), MTU_MAX);
    assert.equal(number('ALIAS_MAX'), ALIAS_MAX);
    // The boundaries the TypeScript checks draw are those numbers.
    assert.equal(checkIfname('a'.repeat(IFNAME_MAX)), 'a'.repeat(IFNAME_MAX));
    refused(() => checkIfname('a'.repeat(IFNAME_MAX + 1)));
    assert.equal(checkMtu(MTU_MIN), MTU_MIN);
    refused(() => checkMtu(MTU_MIN - 1));
    assert.equal(checkMtu(MTU_MAX), MTU_MAX);
    refused(() => checkMtu(MTU_MAX + 1));
    assert.equal(checkAlias('a'.repeat(ALIAS_MAX)), 'a'.repeat(ALIAS_MAX));
    refused(() => checkAlias('a'.repeat(ALIAS_MAX + 1)));
  });

  it('interface names: the forbidden characters and reserved names of the header are refused in TypeScript too', () => {
    const forbidden = strings('IFNAME_FORBIDDEN')[0] ?? '';
    assert.deepEqual([...forbidden].sort(), ['/', ':']);
    // The header adds NUL and whitespace (isspace) to its forbidden characters.
    for (const c of [...forbidden, '\0', ' ', '\t', '\n', '\v', '\f', '\r']) refused(() => checkIfname(`a${c}b`));
    const reserved = strings('IFNAME_RESERVED');
    assert.deepEqual(reserved, ['.', '..']);
    for (const r of reserved) refused(() => checkIfname(r));
  });

  it('MACs: all-zero and multicast (the header\'s bit of the first octet) are refused in TypeScript too', () => {
    assert.equal(number('MAC_LEN'), 6);
    const bit = number('MAC_MULTICAST_BIT');
    assert.equal(bit, 0x01);
    refused(() => checkMac('00:00:00:00:00:00'));
    refused(() => checkMac(`${(0x02 | bit).toString(16).padStart(2, '0')}:00:00:00:00:01`));
    assert.equal(checkMac('02:00:00:00:00:01'), '02:00:00:00:00:01');
  });
});
