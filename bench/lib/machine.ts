/**
 * bench/lib/machine.ts — the machine the numbers were measured on: they mean nothing
 * without it (DESIGN §3: ±30 % between runs of the same VM; compare inside one run).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { cniVersion } from '../paths/cni.js';
import { versionOf } from './proc.js';

export interface Machine {
  readonly date: string;
  readonly kernel: string;
  readonly arch: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly node: string;
  readonly iproute2: string;
  readonly cniPlugins: string;
  readonly nftables: string;
  readonly cc: string;
  /** /proc/loadavg when the run started: anything else running on the machine shows here. */
  readonly loadAvgAtStart: string;
}

export function loadAvg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    kernel: os.release(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    iproute2: versionOf('ip', ['-V']),
    cniPlugins: `containernetworking-plugins ${cniVersion()}`,
    nftables: versionOf('nft', ['--version']),
    cc: versionOf('cc', ['--version']),
    loadAvgAtStart: loadAvg(),
  };
}
