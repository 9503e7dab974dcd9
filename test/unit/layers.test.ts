/**
 * test/unit/layers.test.ts — layers only point down.
 *
 * The order below is the one written in docs/ARCHITECTURE.md ("Layers"). A module in
 * src/LAYER/ may import modules of its own folder and of any folder listed before it,
 * never one listed after it. src/index.ts (the package entry) sits above everything.
 * Type-only imports count too: a type from above is still a dependency on above.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = ['model', 'util', 'validate', 'backend', 'rtnl', 'netns', 'firewall', 'ipam', 'state', 'topology', 'cni', 'cli'] as const;

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : /\.(ts|js)$/.test(e.name) ? [p] : [];
  });
}

/** Every relative import specifier of a module (static, dynamic, type-only, re-export). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1] as string);
  return out;
}

function layerOf(file: string): string | undefined {
  const rel = path.relative(src, file);
  if (rel.startsWith('..')) return 'outside';
  const top = rel.split(path.sep)[0] as string;
  return rel.includes(path.sep) ? top : undefined; // undefined: a file directly in src/ (the entry)
}

describe('layers only point down', () => {
  it('knows every folder of src/ (a new folder must be placed in the order)', () => {
    const dirs = fs.readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    assert.deepEqual(dirs, [...LAYERS].sort());
  });

  it('finds imports of every form (the checker itself)', () => {
    assert.deepEqual(importsOf(`import a from './a.js';\nimport type { B } from "../b.js";\nexport * from './c.js';\nconst d = await import('../d.js');\nimport './e.js';`),
      ['./a.js', '../b.js', './c.js', '../d.js', './e.js']);
  });

  it('no module imports a layer above or beside its own', () => {
    const bad: string[] = [];
    for (const f of files(src)) {
      const from = layerOf(f);
      if (from === undefined) continue;
      const rank = LAYERS.indexOf(from as (typeof LAYERS)[number]);
      for (const spec of importsOf(fs.readFileSync(f, 'utf8'))) {
        const target = path.resolve(path.dirname(f), spec);
        const to = layerOf(target);
        if (to === from) continue;
        const toRank = to === undefined || to === 'outside' ? Infinity : LAYERS.indexOf(to as (typeof LAYERS)[number]);
        if (toRank >= rank) bad.push(`${path.relative(src, f)} (${from}) → ${spec} (${to ?? 'src/ entry'})`);
      }
    }
    assert.deepEqual(bad, [], `imports that point up or sideways:\n${bad.join('\n')}`);
  });
});
