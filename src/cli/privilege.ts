/**
 * cli/privilege.ts — say clearly, before any kernel work, when the caller lacks the
 * capabilities a verb needs (instead of an EPERM from deep inside a netlink batch).
 *
 * Layer: CLI front door. Reads /proc/self/status only.
 */
import { readFileSync } from 'node:fs';
import { EnvironmentError } from '../model/errors.js';

const CAP_SYS_ADMIN = 21n;
const CAP_NET_ADMIN = 12n;

/** Effective capabilities of this process, or undefined if /proc says nothing. */
export function effectiveCaps(statusText?: string): bigint | undefined {
  let text = statusText;
  if (text === undefined) {
    try { text = readFileSync('/proc/self/status', 'utf8'); } catch { return undefined; }
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(text);
  return m?.[1] === undefined ? undefined : BigInt(`0x${m[1]}`);
}

/** Which of the capabilities ctnet-fast needs are missing (names), given CapEff. */
export function missingCaps(caps: bigint): string[] {
  const out: string[] = [];
  if ((caps & (1n << CAP_NET_ADMIN)) === 0n) out.push('CAP_NET_ADMIN');
  if ((caps & (1n << CAP_SYS_ADMIN)) === 0n) out.push('CAP_SYS_ADMIN');
  return out;
}

/**
 * Throw EnvironmentError (exit 4) when CAP_NET_ADMIN or CAP_SYS_ADMIN (netns mounts,
 * setns) is missing. Set CTNET_SKIP_PRIVILEGE_CHECK=1 to let the kernel decide instead.
 */
export function checkPrivilege(verb: string, statusText?: string): void {
  if (process.env.CTNET_SKIP_PRIVILEGE_CHECK === '1') return;
  const caps = effectiveCaps(statusText);
  if (caps === undefined) return;
  const missing = missingCaps(caps);
  if (missing.length === 0) return;
  const who = process.getuid?.() === 0 ? 'this root process lacks' : 'not root: missing';
  throw new EnvironmentError(
    `${verb}: permission denied (${who} ${missing.join(' and ')}): run as root, e.g. sudo ctnet-fast ${verb} …`,
    'EPERM',
  );
}
