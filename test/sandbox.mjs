#!/usr/bin/env node
// test/sandbox.mjs — run a command inside a fresh network + mount namespace.
//
// Usage: node test/sandbox.mjs CMD [ARG...]
// Inside: a private tmpfs on /run (so /run/netns and /run/ctnet-fast are ours alone and
// vanish with the sandbox), loopback up, nothing else. The machine's own links, routes,
// firewall and /run/netns are never touched: everything dies with the process.
// Processes are started with argument arrays; no shell anywhere.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node test/sandbox.mjs CMD [ARG...]');
  process.exit(2);
}

function run(cmd, argv, env = process.env) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', env });
  if (r.error) {
    console.error(`sandbox: cannot run ${cmd}: ${r.error.message}`);
    return 127;
  }
  return r.status ?? (r.signal ? 128 + 15 : 1);
}

if (process.env.CTNET_SANDBOX !== '1') {
  if (process.getuid?.() !== 0) {
    console.error('sandbox: must run as root (it creates network and mount namespaces)');
    process.exit(77);
  }
  const self = fileURLToPath(import.meta.url);
  process.exit(run('unshare', ['--net', '--mount', '--propagation', 'private', '--',
    process.execPath, self, ...args], { ...process.env, CTNET_SANDBOX: '1' }));
}

// Inside the fresh namespaces.
for (const [cmd, argv] of [
  ['mount', ['-t', 'tmpfs', '-o', 'mode=755', 'ctnet-sandbox', '/run']],
  ['ip', ['link', 'set', 'lo', 'up']],
]) {
  const code = run(cmd, argv);
  if (code !== 0) {
    console.error(`sandbox: setup step failed: ${cmd} ${argv.join(' ')}`);
    process.exit(code);
  }
}
process.exit(run(args[0], args.slice(1)));
