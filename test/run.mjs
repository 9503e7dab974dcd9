#!/usr/bin/env node
// test/run.mjs — the project's test command (`npm test`).
// Runs every suite (unit and privileged) with mocha inside a fresh net+mount namespace
// (test/sandbox.mjs). Pending (skipped) tests fail the run; the last line printed is
// "N passed, N failed" (test/reporter.cjs).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const mocha = require.resolve('mocha/bin/mocha.js');
const extra = process.argv.slice(2);
const specs = extra.length > 0 ? extra : ['test/unit/**/*.test.ts', 'test/priv/**/*.test.ts'];
const r = spawnSync(process.execPath, [path.join(root, 'test/sandbox.mjs'), process.execPath, mocha,
  '--forbid-pending', '--reporter', path.join(root, 'test/reporter.cjs'), ...specs], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
