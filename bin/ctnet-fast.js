#!/usr/bin/env node
// bin/ctnet-fast.js — the `ctnet-fast` command (package.json "bin").
// Tiny on purpose: every run pays Node's start-up, so this file only loads the compiled CLI
// entry (dist/src/cli/main.js, built by `tsc -p tsconfig.json`), which itself imports only
// what the chosen verb needs. Exit codes: see `ctnet-fast --help`.
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('cli/main.js')) {
    process.stderr.write('ctnet-fast: the CLI is not built (dist/src/cli/main.js is missing): run npm run build\n');
    process.exit(4);
  }
  throw e;
}
process.exit(await cli.main(process.argv.slice(2)));
