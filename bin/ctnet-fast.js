#!/usr/bin/env node
// bin/ctnet-fast.js — the `ctnet-fast` command (package.json "bin").
// Tiny on purpose: every run pays Node's start-up, so this file loads only the compiled CLI
// (the bundle, or dist/src/cli/main.js built by `tsc -p tsconfig.json`), which itself runs
// only what the chosen verb needs. A plain `version` is answered here from package.json without
// importing anything else (same text as src/cli/version.ts).
// Exit codes: see `ctnet-fast --help`.
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === 'version' || argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.name} ${pkg.version} (node ${process.version}, ${process.platform}-${process.arch})\n`);
  process.exit(0);
}
// The CLI and the library bundled into one module (dist/bundle/cli.mjs, `npm run bundle`)
// load ~13 ms faster than the ~60 modules of dist/src; fall back to those when absent.
let cli;
try {
  cli = await import('../dist/bundle/cli.mjs');
} catch (e) {
  if (!(e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/bundle/cli.mjs'))) throw e;
  try {
    cli = await import('../dist/src/cli/main.js');
  } catch (e2) {
    if (e2 && e2.code === 'ERR_MODULE_NOT_FOUND' && String(e2.message).includes('dist/src/cli/main.js')) {
      process.stderr.write('ctnet-fast: the CLI is not built (dist/src/cli/main.js is missing): run npm run build\n');
      process.exit(4);
    }
    throw e2;
  }
}
process.exit(await cli.main(argv));
