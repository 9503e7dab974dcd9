/**
 * bench/paths/floor.ts — runs the floor program (bench/floor/floor.c, compiled by
 * bench/run.ts) in the worker's namespace, on a bridge made here the way ctnet-fast makes
 * its own, and reads its one line of JSON.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttachJob, AttachResult } from '../lib/protocol.js';
import { ip, run } from '../lib/proc.js';
import { GATEWAY } from './types.js';
import { Unavailable } from './unavailable.js';

export const FLOOR_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'floor');
export const FLOOR_BIN = path.join(FLOOR_DIR, 'floor');

interface FloorOutput {
  attachWallMs: number;
  attach: number[];
  detach: number[];
  stepsMedianMs?: Record<string, number>;
}

export function runFloor(job: AttachJob): AttachResult {
  try {
    accessSync(FLOOR_BIN, constants.X_OK);
  } catch {
    throw new Unavailable(`${FLOOR_BIN} is not built (bench/run.ts compiles it with cc -O2)`);
  }
  // The bridge as ctnet-fast makes its own (untimed): fixed MAC (no bridge-id recalculation
  // as ports come and go), no STP, forward delay 0, and quiet about IPv6 on an IPv4 network.
  ip('link', 'add', 'ctb0', 'address', '02:42:ac:12:00:01', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
  ip('link', 'set', 'ctb0', 'addrgenmode', 'none');
  ip('addr', 'add', `${GATEWAY}/16`, 'dev', 'ctb0');
  ip('link', 'set', 'ctb0', 'up');
  const args = ['-n', String(job.n), '-k', String(job.prepopulate), '-w', String(job.warmup), '-b', 'ctb0'];
  if (job.inFlight && job.inFlight > 1) args.push('-j', String(job.inFlight));
  if (job.settleMs) args.push('-s', String(job.settleMs));
  if (job.path === 'floor-ipv6') args.push('--ipv6');
  const out = JSON.parse(run(FLOOR_BIN, args).trim().split('\n').pop() ?? '{}') as FloorOutput;
  return {
    attach: out.attach,
    detach: out.detach,
    info: { stepsMedianMs: out.stepsMedianMs, ipv6LinkLocal: job.path === 'floor-ipv6', attachWallMs: out.attachWallMs },
  };
}
