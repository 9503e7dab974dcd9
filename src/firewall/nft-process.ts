/**
 * firewall/nft-process.ts — the `nft` process fallback: apply an nftables JSON batch by
 * running `nft -j -f FILE` (inside another netns through `nsenter --net=PATH`).
 *
 * Layer: firewall backend (and the iproute2 backend's `nft` step). ~2.5 ms a call against
 * ~0.1 ms in-process (DESIGN.md §3): only for when libnftables cannot be loaded.
 * Argument arrays only.
 *
 * Why a file and not stdin: nft reads `-f -` by opening "/dev/stdin", and Node gives a
 * child's stdin as a socketpair, which open(2) refuses (ENXIO: "Could not open file
 * /dev/stdin: No such device or address"). So the batch goes into a private temporary
 * file (mode 0600 in a mode 0700 directory made once per process) that is removed after
 * the call. nsenter only changes the netns, so the path stays valid inside it.
 */
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { EnvironmentError, NetlinkError } from '../errors.js';

let dir: string | undefined;
let counter = 0;

function batchFile(json: string): string {
  if (dir === undefined) {
    dir = mkdtempSync(path.join(tmpdir(), 'ctnet-nft-'));
    const d = dir;
    process.once('exit', () => { try { rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } });
  }
  const file = path.join(dir, `batch-${process.pid}-${counter++}.json`);
  writeFileSync(file, json, { mode: 0o600 });
  return file;
}

/** Run nft with `args` (argument array) in `nsPath` (absent: our own netns). */
export async function runNftArgs(args: readonly string[], nsPath?: string): Promise<string> {
  const [file, argv] = nsPath === undefined
    ? ['nft', [...args]] as const
    : ['nsenter', [`--net=${nsPath}`, '--', 'nft', ...args]] as const;
  const r = await execa(file, argv, { reject: false, stripFinalNewline: true, stdin: 'ignore' });
  if ((r as { code?: string }).code === 'ENOENT' || r.exitCode === 127) {
    throw new EnvironmentError(`nftables is not installed (${file} not found): apt-get install nftables`, 'ENOTOOL');
  }
  if (r.failed) {
    const text = String(r.stderr || r.stdout || r.shortMessage).trim().split('\n').slice(0, 6).join(' | ');
    throw new NetlinkError({ errno: nftErrno(text), op: 'nft', extack: text || `nft exited with ${r.exitCode}` });
  }
  return String(r.stdout);
}

/** Run `nft -j -f FILE` with `json` as the batch, in `nsPath` (absent: our own netns). Returns stdout. */
export async function runNftProcess(json: string, nsPath?: string): Promise<string> {
  const file = batchFile(json);
  try {
    return await runNftArgs(['-j', '-f', file], nsPath);
  } finally {
    try { unlinkSync(file); } catch { /* already gone */ }
  }
}

/**
 * nft and libnftables report a failed transaction as strerror() text only ("Error: Could
 * not process rule: File exists"): map the common ones back to the errno, so both backends
 * give the same code (EEXIST for a clash, ENOENT for a missing table…). Default: `fallback`.
 */
export function nftErrno(text: string, fallback = 22): number {
  const known: ReadonlyArray<[RegExp, number]> = [
    [/File exists/, 17], [/No such file or directory/, 2], [/Device or resource busy/, 16],
    [/Operation not permitted/, 1], [/Operation not supported/, 95], [/No space left/, 28],
    [/Interval overlaps/, 17],
  ];
  for (const [re, n] of known) if (re.test(text)) return n;
  return fallback;
}
