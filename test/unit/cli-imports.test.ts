// Unit test: src/cli has no import cycle. Every relative import (static, dynamic, type-only,
// re-export) between modules of src/cli is an edge; a cycle is reported with its path.
// (The order of the layers themselves is test/unit/layers.test.ts.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importsOf } from './layers.test.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli');

function modules(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? modules(p) : /\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The import graph of src/cli: module → the src/cli modules it imports (paths as .ts files). */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of modules(CLI)) {
    const to = importsOf(fs.readFileSync(f, 'utf8'))
      .map((spec) => path.resolve(path.dirname(f), spec).replace(/\.js$/, '.ts'))
      .filter((t) => t.startsWith(CLI + path.sep) && fs.existsSync(t));
    g.set(f, to);
  }
  return g;
}

/** The first cycle found (as a list of modules, first = last), or undefined. */
export function findCycle(g: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of g.get(n) ?? []) {
      if (state.get(m) === 'open') return [...stack.slice(stack.indexOf(m)), m];
      if (state.get(m) === undefined) {
        const c = visit(m);
        if (c !== undefined) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of g.keys()) {
    if (state.get(n) !== undefined) continue;
    const c = visit(n);
    if (c !== undefined) return c;
  }
  return undefined;
}

describe('src/cli imports', () => {
  it('the cycle finder finds a cycle and accepts a tree (the checker itself)', () => {
    assert.deepEqual(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a', 'b', 'c', 'a']);
    assert.equal(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), undefined);
  });

  it('sees the edges that matter: main.ts imports the verbs and daemon.ts (dynamically)', () => {
    const g = graph();
    const main = g.get(path.join(CLI, 'main.ts')) ?? [];
    for (const m of ['verbs/attach.ts', 'verbs/network.ts', 'daemon.ts', 'context.ts', 'table.ts']) {
      assert.ok(main.includes(path.join(CLI, m)), m);
    }
  });

  it('has no import cycle', () => {
    const c = findCycle(graph());
    assert.equal(c, undefined, `import cycle in src/cli: ${(c ?? []).map((f) => path.relative(CLI, f)).join(' → ')}`);
  });

  it('nothing in src/cli imports main.ts (verbs get context.ts; the daemon gets main through it)', () => {
    const importers = [...graph()].filter(([, to]) => to.includes(path.join(CLI, 'main.ts'))).map(([f]) => path.relative(CLI, f));
    assert.deepEqual(importers, []);
  });
});

describe('the verb table and the dispatch', () => {
  it('names a module and a function for every verb but version (which main answers)', async () => {
    const { VERBS } = await import('../../src/cli/table.js');
    const { loadVerb } = await import('../../src/cli/main.js');
    for (const v of VERBS) {
      if (v.name === 'version') { assert.equal(v.impl, undefined); continue; }
      assert.equal(typeof await loadVerb(v), 'function', v.name);
    }
  });
});
