/**
 * firewall/nft-process.ts — the `nft` process fallback: apply an nftables JSON batch by
 * running `nft -j -f -` (inside another netns through `nsenter --net=PATH`).
 *
 * Layer: firewall backend (and the iproute2 backend's `nft` step). ~2.5 ms a call against
 * ~0.1 ms in-process (DESIGN.md §3): only for when libnftables cannot be loaded.
 * Argument arrays only; the JSON goes on stdin.
 */
import { execa } from 'execa';
import { EnvironmentError, NetlinkError } from '../errors.js';

/** Run `nft -j -f -` with `json` on stdin, in `nsPath` (absent: our own netns). Returns stdout. */
export async function runNftProcess(json: string, nsPath?: string): Promise<string> {
  const [file, args] = nsPath === undefined
    ? ['nft', ['-j', '-f', '-']] as const
    : ['nsenter', [`--net=${nsPath}`, '--', 'nft', '-j', '-f', '-']] as const;
  const r = await execa(file, [...args], { input: json, reject: false, stripFinalNewline: true });
  if ((r as { code?: string }).code === 'ENOENT' || r.exitCode === 127) {
    throw new EnvironmentError(`nftables is not installed (${file} not found): apt-get install nftables`, 'ENOTOOL');
  }
  if (r.failed) {
    const text = String(r.stderr || r.stdout || r.shortMessage).trim().split('\n').slice(0, 6).join(' | ');
    throw new NetlinkError({ errno: 22, op: 'nft', extack: text || `nft exited with ${r.exitCode}` });
  }
  return String(r.stdout);
}
