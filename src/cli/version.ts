/**
 * cli/version.ts — `ctnet-fast version`: the package's name and version, read from
 * package.json. The bin imports only this module for a plain `version` (no parser, no
 * printer, never the library), so the command costs Node's start-up and little more.
 *
 * Layer: CLI front door. Node built-ins only.
 */
import { readFileSync } from 'node:fs';

export interface VersionInfo {
  readonly name: string;
  readonly version: string;
  readonly node: string;
  readonly platform: string;
}

export function versionInfo(): VersionInfo {
  let name = 'ctnet-fast';
  let version = 'unknown';
  // dist/src/cli/version.js → ../../../package.json; src/cli/version.ts (tsx) → ../../package.json
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ctnet-fast' && typeof pkg.version === 'string') {
        name = pkg.name;
        version = pkg.version;
        break;
      }
    } catch { /* try the next */ }
  }
  return { name, version, node: process.version, platform: `${process.platform}-${process.arch}` };
}

export function versionText(v: VersionInfo = versionInfo()): string {
  return `${v.name} ${v.version} (node ${v.node}, ${v.platform})`;
}
