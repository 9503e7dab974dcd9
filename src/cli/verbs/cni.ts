/**
 * cli/verbs/cni.ts — `cni install | uninstall`: place the compiled CNI plugin
 * (build/Release/ctnet-cni) in the runtime's plugin directory with a sample conflist, and
 * remove exactly that again.
 *
 * Layer: CLI front door (docs/ARCHITECTURE.md, "Layers"). What install placed is recorded in
 * BIN_DIR/ctnet-cni.json, the manifest: every file with its sha256, the directories install
 * created, and the absolute paths of node and of this package, which the plugin reads to run
 * self-contained when no agent listens (native/cni-shim/fallback.c; it trusts the file only
 * when root owns it and nobody else may write it or its directory). Uninstall deletes a file
 * only when its content is still what install wrote ("Identity, not names"): a file changed
 * since is refused, naming it, and nothing is deleted.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { packageRoot } from '../../backend/native.js';
import { CODE, CtnetError, EnvironmentError, InvalidInputError } from '../../model/errors.js';
import { parseCidr } from '../../util/ip.js';

export const MANIFEST = 'ctnet-cni.json';
export const PLUGIN = 'ctnet-cni';
const FORMAT = 'ctnet-fast cni install 1';
const DEFAULT_BIN_DIR = '/opt/cni/bin';
const DEFAULT_CONF_DIR = '/etc/cni/net.d';
const DEFAULT_NAME = 'ctnet';
const DEFAULT_SUBNET = '10.89.0.0/16';

export interface Placed {
  readonly path: string;
  readonly kind: 'plugin' | 'conflist';
  readonly sha256: string;
}

export interface Manifest {
  readonly format: string;
  /** Read by the plugin: the node executable and the package holding dist/bundle/cni.cjs. */
  readonly node: string;
  readonly pkg: string;
  readonly version: string;
  readonly installed: readonly Placed[];
  /** Directories install created, deepest first: uninstall removes them when empty. */
  readonly createdDirs: readonly string[];
  /** The directories install placed into (uninstall touches nothing outside them). */
  readonly binDir?: string;
  readonly confDir?: string;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The sha256 of the regular file at p; undefined when absent; 'not-a-file' for anything else. */
function fileHash(p: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return st.isFile() ? sha256(fs.readFileSync(p)) : 'not-a-file';
}

function dirOption(ctx: Context, key: string, fallback: string): string {
  const v = ctx.options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v === '') throw new InvalidInputError(`--${key}: expected a directory path`);
  return path.resolve(v);
}

/** The manifest in binDir: undefined when there is none; throws when a file by that name is not ours. */
export function readManifest(binDir: string): Manifest | undefined {
  const p = path.join(binDir, MANIFEST);
  let text: string;
  try {
    text = fs.readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CtnetError(`cannot read ${p}: ${(e as Error).message}`, (e as NodeJS.ErrnoException).code ?? CODE.failure);
  }
  let m: Partial<Manifest> | undefined;
  try {
    m = JSON.parse(text) as Partial<Manifest>;
  } catch { /* not ours */ }
  if (m?.format !== FORMAT || !Array.isArray(m.installed) || !Array.isArray(m.createdDirs)) {
    throw new CtnetError(`${p} was not written by ctnet-fast cni install (no "format": "${FORMAT}"); remove it yourself if it is stale`, CODE.exists);
  }
  return m as Manifest;
}

/** Write `data` to p through a temp file and a rename: a runtime never execs half a plugin. */
function placeFile(p: string, data: Buffer | string, mode: number): void {
  const tmp = path.join(path.dirname(p), `.${path.basename(p)}.tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, data, { mode, flag: 'wx' });
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, p);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CtnetError(`cannot write ${p}: ${(e as Error).message}`, (e as NodeJS.ErrnoException).code ?? CODE.failure);
  }
}

/** mkdir -p; the directories it created, deepest first. */
function makeDirs(dir: string): string[] {
  const first = fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (first === undefined) return [];
  const made: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    made.push(d);
    if (d === first || path.dirname(d) === d) break;
  }
  return made;
}

export function sampleConflist(name: string, subnet: string): string {
  const c = parseCidr(subnet, '--subnet', { requireNetwork: true });
  const conf = {
    cniVersion: '1.0.0',
    name,
    plugins: [{
      type: PLUGIN,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      agent: 'fallback',
      ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: c.family === 4 ? '0.0.0.0/0' : '::/0' }] },
      capabilities: { portMappings: true },
    }],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

function version(pkg: string): string {
  try {
    return String((JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

export async function install(ctx: Context): Promise<number> {
  const binDir = dirOption(ctx, 'bin-dir', DEFAULT_BIN_DIR);
  const confDir = dirOption(ctx, 'conf-dir', DEFAULT_CONF_DIR);
  const name = typeof ctx.options['name'] === 'string' ? ctx.options['name'] : DEFAULT_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) {
    throw new InvalidInputError(`--name "${name}": a CNI network name is letters, digits, "_", "." and "-" (at most 63, starting with a letter or digit)`);
  }
  const subnet = typeof ctx.options['subnet'] === 'string' ? ctx.options['subnet'] : DEFAULT_SUBNET;
  const conflist = sampleConflist(name, subnet);
  const force = ctx.options['force'] === true;

  const pkg = packageRoot();
  const src = path.join(pkg, 'build', 'Release', PLUGIN);
  let plugin: Buffer;
  try {
    plugin = fs.readFileSync(src);
  } catch (e) {
    throw new EnvironmentError(`the plugin ${src} is not built (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}): run npx node-gyp rebuild in ${pkg}`);
  }
  let prev: Manifest | undefined;
  try {
    prev = readManifest(binDir);
  } catch (e) {
    if (!force || (e as CtnetError).code !== CODE.exists) throw e; // --force: a foreign ctnet-cni.json is replaced
  }
  const targets: Array<Placed & { data: Buffer | string; mode: number }> = [
    { path: path.join(binDir, PLUGIN), kind: 'plugin', sha256: sha256(plugin), data: plugin, mode: 0o755 },
    { path: path.join(confDir, `50-${name}.conflist`), kind: 'conflist', sha256: sha256(conflist), data: conflist, mode: 0o644 },
  ];
  // Nothing foreign is overwritten: a file there must be ours as recorded, or already identical.
  const foreign = targets.filter((t) => {
    const have = fileHash(t.path);
    return have !== undefined && have !== t.sha256 && !prev?.installed.some((p) => p.path === t.path && p.sha256 === have);
  });
  if (foreign.length > 0 && !force) {
    throw new CtnetError(`${foreign.map((t) => t.path).join(', ')}: exists and was not placed by ctnet-fast cni install (or was changed since); nothing was installed (--force replaces it)`, CODE.exists);
  }
  const createdDirs = [...makeDirs(binDir), ...makeDirs(confDir)];
  for (const t of targets) placeFile(t.path, t.data, t.mode);
  const installed: Placed[] = [
    ...targets.map(({ path: p, kind, sha256: h }) => ({ path: p, kind, sha256: h })),
    ...(prev?.installed ?? []).filter((p) => !targets.some((t) => t.path === p.path)),
  ];
  const manifest: Manifest = {
    format: FORMAT, node: process.execPath, pkg, version: version(pkg), installed, binDir, confDir,
    createdDirs: [...createdDirs, ...(prev?.createdDirs ?? []).filter((d) => !createdDirs.includes(d))],
  };
  const manifestPath = path.join(binDir, MANIFEST);
  placeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`, 0o644);

  const st = fs.statSync(binDir);
  if (process.geteuid?.() !== 0 || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    ctx.out.warn(`ctnet-cni trusts ${manifestPath} only when root owns it and ${binDir} is writable by root alone: without it the plugin cannot run self-contained (install as root)`);
  }
  // What the manifest names runs as root (self-contained mode): say so when others could change it.
  for (const p of [manifest.node, pkg, path.join(pkg, 'dist', 'bundle', 'cni.cjs')]) {
    const s = fs.statSync(p, { throwIfNoEntry: false });
    if (s === undefined) ctx.out.warn(`${p} does not exist: the plugin cannot run self-contained until it does (npm run build in ${pkg})`);
    else if (s.uid !== 0 || (s.mode & 0o022) !== 0) ctx.out.warn(`${p} is owned by uid ${s.uid}${(s.mode & 0o022) !== 0 ? ' and writable by others' : ''}: the plugin runs it as root when no agent listens`);
  }
  ctx.out.result({ binDir, confDir, manifest: manifestPath, installed, createdDirs: manifest.createdDirs }, () => [
    ...installed.map((p) => `installed ${p.path}`),
    `recorded in ${manifestPath} (ctnet-fast cni uninstall${binDir === DEFAULT_BIN_DIR ? '' : ` --bin-dir ${binDir}`} removes exactly these)`,
    `network "${name}" (${subnet}): start the agent (ctnet-fast agent run) for ~2 ms calls, or the plugin runs self-contained`,
  ].join('\n'));
  return 0;
}

/**
 * Uninstall deletes what the manifest names, so the manifest must be one only root (or the
 * user running uninstall) could have written: a regular file of that owner, writable by
 * nobody else. Throws EACCES (exit 4) naming it and the fix.
 */
function checkManifestTrust(p: string): void {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (st === undefined) return;
  const euid = process.geteuid?.() ?? 0;
  const why = !st.isFile() ? 'is not a regular file'
    : st.uid !== 0 && st.uid !== euid ? `is owned by uid ${st.uid}, not root`
      : (st.mode & 0o022) !== 0 ? `is writable by ${(st.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(st.mode & 0o777).toString(8)})`
        : undefined;
  if (why !== undefined) {
    throw new CtnetError(`${p} ${why}: anyone could have edited what it says to delete, so cni uninstall does not trust it; check its contents, then chown root:root ${p} && chmod 0644 ${p} (or remove the files it names yourself)`, 'EACCES');
  }
}

const within = (dir: string, p: string): boolean => p === dir || p.startsWith(`${dir}/`);

/**
 * Only what install could have placed: the plugin in the bin dir, a 50-NAME.conflist in the
 * conf dir; directories install made are the bin or conf dir or one of their parents. Throws
 * EACCES naming the first entry outside them (nothing is removed then).
 */
function checkManifestPaths(p: string, m: Manifest, binDir: string): void {
  const confDir = typeof m.confDir === 'string' ? path.resolve(m.confDir) : DEFAULT_CONF_DIR;
  const bad = (what: string): CtnetError => new CtnetError(`${p} names ${what}, outside what cni install places (${binDir}/${PLUGIN}, ${confDir}/50-NAME.conflist): not trusted, nothing was removed; remove the manifest and the files yourself`, 'EACCES');
  for (const f of m.installed) {
    const fp = typeof f?.path === 'string' ? f.path : '';
    const ok = path.isAbsolute(fp) && path.normalize(fp) === fp && (f.kind === 'plugin'
      ? fp === path.join(binDir, PLUGIN)
      : f.kind === 'conflist' && path.dirname(fp) === confDir && /^50-[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\.conflist$/.test(path.basename(fp)));
    if (!ok) throw bad(`the file ${JSON.stringify(fp)}`);
  }
  for (const d of m.createdDirs) {
    const ok = typeof d === 'string' && path.isAbsolute(d) && path.normalize(d) === d && d !== '/' && (within(d, binDir) || within(d, confDir));
    if (!ok) throw bad(`the directory ${JSON.stringify(d)}`);
  }
}

export async function uninstall(ctx: Context): Promise<number> {
  const binDir = dirOption(ctx, 'bin-dir', DEFAULT_BIN_DIR);
  const manifestPath = path.join(binDir, MANIFEST);
  checkManifestTrust(manifestPath);
  const m = readManifest(binDir);
  if (m === undefined) {
    throw new CtnetError(`${manifestPath} does not exist: ctnet-fast cni install placed nothing in ${binDir} (give --bin-dir DIR as at install)`, CODE.notFound);
  }
  checkManifestPaths(manifestPath, m, binDir);
  const changed: string[] = [];
  const present: Placed[] = [];
  for (const p of m.installed) {
    const have = fileHash(p.path);
    if (have === undefined) continue;
    if (have === p.sha256) present.push(p);
    else changed.push(have === 'not-a-file' ? `${p.path} (no longer a regular file)` : `${p.path} (sha256 ${have.slice(0, 12)}…, installed ${p.sha256.slice(0, 12)}…)`);
  }
  if (changed.length > 0) {
    throw new CtnetError(`changed since ctnet-fast cni install, so not ours to delete: ${changed.join(', ')}; nothing was removed (restore or remove ${changed.length > 1 ? 'them' : 'it'} yourself, then run cni uninstall again)`, CODE.busy);
  }
  for (const p of present) fs.rmSync(p.path);
  fs.rmSync(manifestPath);
  const removedDirs: string[] = [];
  // Deepest first, whichever install created them (bin and conf dirs may share a new parent).
  for (const d of [...m.createdDirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    try {
      fs.rmdirSync(d);
      removedDirs.push(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'ENOENT' && code !== 'EEXIST') throw e;
    }
  }
  const removed = [...present.map((p) => p.path), manifestPath];
  ctx.out.result({ binDir, removed, removedDirs, alreadyGone: m.installed.filter((p) => !present.includes(p)).map((p) => p.path) }, () =>
    [...removed, ...removedDirs].map((p) => `removed ${p}`).join('\n'));
  return 0;
}
