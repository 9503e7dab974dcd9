/**
 * bench/paths/nft.ts — the nft step alone: adding one element to a set, the per-container
 * firewall work of ctnet-fast's model (DESIGN §4), through the library's `nft` process
 * fallback (src/firewall/nft-process.ts: execa `nft -j -f FILE` — a file, because nft
 * opens "/dev/stdin" and Node's child stdin is a socketpair, which open(2) refuses),
 * beside the library's in-process libnftables when the native backend is there.
 */
import { runNftProcess } from '../../src/backend/nft-process.js';
import { run, versionOf } from '../lib/proc.js';

const TABLE = { family: 'inet', table: 'ctbench' } as const;

/** Untimed: a table with one set of (address, protocol, port), made through nft too. */
export async function nftSetup(): Promise<void> {
  await runNftProcess(JSON.stringify({
    nftables: [
      { add: { table: { family: TABLE.family, name: TABLE.table } } },
      { add: { set: { ...TABLE, name: 'ports', type: ['ipv4_addr', 'inet_proto', 'inet_service'] } } },
    ],
  }));
}

/** The batch one publish would send: one element (ip . tcp . port). */
export function elementBatch(i: number): string {
  const port = 1024 + (i % 60000);
  const ip = `172.18.${(i >> 8) & 255}.${i & 255}`;
  return JSON.stringify({
    nftables: [{ add: { element: { ...TABLE, name: 'ports', elem: [{ concat: [ip, 'tcp', port] }] } } }],
  });
}

/** Time `n` element adds (after `warmup` untimed) with `apply`; element numbers start at `from`. */
export async function timeElementAdds(apply: (json: string) => Promise<unknown>, n: number, warmup: number, from: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const json = elementBatch(from + i);
    const t0 = performance.now();
    await apply(json);
    const dt = performance.now() - t0;
    if (i >= warmup) out.push(dt);
  }
  return out;
}

export function nftProcessApply(json: string): Promise<unknown> {
  return runNftProcess(json);
}

/** How many elements the set holds now (an independent check that the adds landed). */
export function nftElementCount(): number {
  const j = JSON.parse(run('nft', ['-j', 'list', 'set', TABLE.family, TABLE.table, 'ports'])) as {
    nftables: Array<{ set?: { elem?: unknown[] } }>;
  };
  return j.nftables.reduce((acc, o) => acc + (o.set?.elem?.length ?? 0), 0);
}

export function nftVersion(): string {
  return versionOf('nft', ['--version']);
}
