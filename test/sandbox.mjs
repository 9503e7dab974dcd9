#!/usr/bin/env node
// test/sandbox.mjs — run a command inside a fresh network + mount namespace.
//
// Usage: node test/sandbox.mjs CMD [ARG...]
// Inside: a private tmpfs on /run (so /run/netns and /run/ctnet-fast are ours alone and
// vanish with the sandbox), loopback up, nothing else. The machine's own links, routes,
// firewall and /run/netns are never touched: everything dies with the process.
// Processes are started with argument arrays; no shell anywhere.
//
// The sandbox itself is src/cli/sandbox.ts, the one `ctnet-fast demo` runs in. It is loaded
// here from source through tsx (a devDependency), not from dist/: tests must run in the
// sandbox of the code under test even when dist/ is stale or not built yet.
// CTNET_SANDBOX=1 tells the suites (test/helpers/sandbox.ts) they are inside; without root
// this exits 77 (no user namespace for tests: they need the real capabilities).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node test/sandbox.mjs CMD [ARG...]');
  process.exit(2);
}

const { runInSandbox, setUpSandbox } = await tsImport('../src/cli/sandbox.ts', import.meta.url);
/** @type {import('../src/cli/sandbox.ts').SandboxSpec} */
const SPEC = { what: 'sandbox', marker: 'CTNET_SANDBOX_OUTER', userns: false, fix: 'the tests as root', tmpfs: 'ctnet-sandbox' };

function fail(message, code) {
  console.error(message);
  process.exit(code);
}

if (process.env.CTNET_SANDBOX !== '1') {
  let status;
  try {
    status = runInSandbox([process.execPath, fileURLToPath(import.meta.url), ...args], { ...process.env, CTNET_SANDBOX: '1' }, SPEC);
  } catch (e) {
    fail(e.message, e.code === 'EPERM' ? 77 : 127);
  }
  process.exit(status);
}

// Inside the fresh namespaces.
try {
  setUpSandbox(process.env[SPEC.marker] ?? '', SPEC);
} catch (e) {
  fail(e.message, 1);
}
const r = spawnSync(args[0], args.slice(1), { stdio: 'inherit' });
if (r.error) fail(`sandbox: cannot run ${args[0]}: ${r.error.message}`, 127);
process.exit(r.status ?? (r.signal ? 128 + 15 : 1));
