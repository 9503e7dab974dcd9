/**
 * bench/lib/census.ts — what exists right now in the worker's host netns, counted with
 * independent tools (ip -j, nft -j, /proc), never by asking the library about itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fdTargets as fdMap } from '../../test/helpers/fds.js';
import { run } from './proc.js';

export interface Census {
  readonly links: number;
  readonly netnsFiles: number;
  readonly netnsMounts: number;
  readonly addresses: number;
  readonly nftRules: number;
  readonly nftElements: number;
  readonly fds: number;
  /** What each open fd is (readlink of /proc/self/fd/N), to name a leaked one. */
  readonly fdTargets: readonly string[];
  readonly rssBytes: number;
  /** V8 heap in use (after a gc, a steady climb here is a leak; RSS also counts heap V8 keeps reserved). */
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
}

function countNft(): { rules: number; elements: number } {
  let text: string;
  try {
    text = run('nft', ['-j', 'list', 'ruleset']);
  } catch {
    return { rules: 0, elements: 0 };
  }
  const j = JSON.parse(text) as { nftables?: Array<Record<string, { elem?: unknown[] }>> };
  let rules = 0, elements = 0;
  for (const o of j.nftables ?? []) {
    if (o.rule) rules++;
    elements += o.set?.elem?.length ?? 0;
    elements += o.map?.elem?.length ?? 0;
  }
  return { rules, elements };
}

export function census(): Census {
  const links = (JSON.parse(run('ip', ['-j', 'link', 'show'])) as unknown[]).length;
  const addrs = JSON.parse(run('ip', ['-j', 'addr', 'show'])) as Array<{ addr_info?: unknown[] }>;
  let netnsFiles = 0;
  try {
    netnsFiles = readdirSync('/run/netns').length;
  } catch {
    netnsFiles = 0;
  }
  const netnsMounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' /run/netns/')).length;
  const nft = countNft();
  return {
    links,
    netnsFiles,
    netnsMounts,
    addresses: addrs.reduce((acc, l) => acc + (l.addr_info?.length ?? 0), 0),
    nftRules: nft.rules,
    nftElements: nft.elements,
    fds: readdirSync('/proc/self/fd').length,
    fdTargets: fdTargets(),
    ...memory(),
  };
}

/** What the open fds are, with inode numbers blanked so "socket:[…]" compares by kind. */
function fdTargets(): string[] {
  return [...fdMap().values()].map((t) => t.replace(/\[\d+\]$/, '[…]')).sort();
}

/** Targets in `after` beyond those in `before` (a multiset difference). */
export function newFdTargets(before: readonly string[], after: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const t of before) left.set(t, (left.get(t) ?? 0) + 1);
  const out: string[] = [];
  for (const t of after) {
    const n = left.get(t) ?? 0;
    if (n > 0) left.set(t, n - 1);
    else out.push(t);
  }
  return out;
}

export function memory(): { rssBytes: number; heapUsedBytes: number; externalBytes: number } {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external };
}
