/**
 * test/helpers/cleanup.ts — remove leftovers of earlier (possibly crashed) runs by name
 * prefix: links in this netns whose name starts with PREFIX, and /run/netns/PREFIX* (which
 * takes the links inside with it). Best effort; returns what it removed.
 *
 * Only ever called inside the test sandbox (see sandbox.ts): it deletes things.
 */
import { readdirSync } from 'node:fs';
import { ip, links } from './oracle.js';
import { assertSandbox } from './sandbox.js';

export async function removeLeftovers(prefix: string): Promise<string[]> {
  assertSandbox();
  if (prefix.length < 3) throw new Error(`cleanup prefix "${prefix}" is too short to be safe`);
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    names = [];
  }
  for (const n of names.filter((x) => x.startsWith(prefix))) {
    await ip(['netns', 'del', n]).then(() => removed.push(`netns ${n}`), () => undefined);
  }
  for (const l of await links()) {
    if (!l.ifname.startsWith(prefix)) continue;
    await ip(['link', 'del', 'dev', l.ifname]).then(() => removed.push(`link ${l.ifname}`), () => undefined);
  }
  return removed;
}
