/**
 * backend/nft-process.ts — the `nft` process fallback: apply an nftables JSON batch by
 * running `nft -j -f FILE` (inside another netns through `nsenter --net=PATH`).
 *
 * Layer: backend (used by the firewall's nft driver and the iproute2 backend's `nft` step). ~2.5 ms a call against
 * ~0.1 ms in-process (docs/ARCHITECTURE.md, Kernel facts): only for when libnftables cannot be loaded.
 * Argument arrays only.
 *
 * Why a file and not stdin: nft reads `-f -` by opening "/dev/stdin", and Node gives a
 * child's stdin as a socketpair, which open(2) refuses (ENXIO: "Could not open file
 * /dev/stdin: No such device or address"). So the batch goes into a private temporary
 * file (mode 0600 in a mode 0700 directory made once per process) that is removed after
 * the call. nsenter only changes the netns, so the path stays valid inside it.
 *
 * Plain child_process.execFile rather than execa: measured here, one `nft -j -f` batch
 * through execa took ~5.8-7.8 ms (median) against ~4.0-4.9 ms with execFile.
 */
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { EnvironmentError, NetlinkError, errnoFromStrerror, CODE } from '../model/errors.js';

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

/** Run nft with `args` (argument array) in `nsPath` (absent: our own netns). Returns stdout. */
export function runNftArgs(args: readonly string[], nsPath?: string): Promise<string> {
  const [file, argv] = nsPath === undefined
    ? ['nft', [...args]] as const
    : ['nsenter', [`--net=${nsPath}`, '--', 'nft', ...args]] as const;
  return new Promise((resolve, reject) => {
    const child = execFile(file, argv, { maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout.replace(/\n$/, ''));
        return;
      }
      const e = err as Error & { code?: unknown };
      if (e.code === 'ENOENT' || e.code === 127) {
        reject(new EnvironmentError(`nftables is not installed (${file} not found): apt-get install nftables`, CODE.noTool));
        return;
      }
      const text = String(stderr || stdout || e.message).trim().split('\n').slice(0, 6).join(' | ');
      reject(new NetlinkError({ errno: nftErrno(text), op: 'nft', extack: text || `nft exited with ${String(e.code)}` }));
    });
    child.stdin?.end();
  });
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
  // nft's own word for an element clashing with a set interval: a clash, like File exists
  if (/Interval overlaps/.test(text)) return 17;
  return errnoFromStrerror(text) ?? fallback;
}
