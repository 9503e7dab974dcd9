#!/usr/bin/env node
// bin/ctnet-fast.js — the `ctnet-fast` command (package.json "bin").
// Tiny on purpose: every run pays Node's start-up, so this file loads only the compiled CLI
// entry (dist/src/cli/main.js, built by `tsc -p tsconfig.json`), which itself imports only
// what the chosen verb needs. A plain `version` loads just the version module.
// Exit codes: see `ctnet-fast --help`.
const argv = process.argv.slice(2);
const plainVersion = argv.length === 1 && (argv[0] === 'version' || argv[0] === '--version' || argv[0] === '-V');
let cli;
try {
  cli = await import(plainVersion ? '../dist/src/cli/version.js' : '../dist/src/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && /dist\/src\/cli\/(main|version)\.js/.test(String(e.message))) {
    process.stderr.write('ctnet-fast: the CLI is not built (dist/src/cli/main.js is missing): run npm run build\n');
    process.exit(4);
  }
  throw e;
}
if (plainVersion) {
  process.stdout.write(`${cli.versionText()}\n`);
  process.exit(0);
}
process.exit(await cli.main(argv));
