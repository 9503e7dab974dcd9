/**
 * cli/verbs/agent.ts — `ctnet-fast agent install|uninstall`: the agent's systemd unit
 * (`/etc/systemd/system/ctnet-fast-agent.service`, or `--unit-dir DIR`), which runs
 * `ctnet-fast agent run` with this node, this ctnet-fast, the state directory and the config
 * given. The unit carries a marker line: uninstall removes exactly a unit install wrote (and
 * install only overwrites one), never someone else's file of that name. Neither runs
 * systemctl: they say what to run. The agent itself is cli/daemon.ts
 * (docs/agent-protocol.md).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { closeSync, constants as fsc, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { EXIT } from '../output.js';
import { UsageError } from '../args.js';
import { CtnetError, CODE } from '../../model/errors.js';
import { defaultStateDir } from '../../state/dir.js';
import { readConfig } from '../daemon/access.js';

export const UNIT_NAME = 'ctnet-fast-agent.service';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
/** The line that says a unit file is ours. */
const MARKER = '# written by `ctnet-fast agent install`; `ctnet-fast agent uninstall` removes it';

function unitFile(ctx: Context): string {
  const dir = ctx.options['unit-dir'];
  if (dir !== undefined && (typeof dir !== 'string' || dir === '')) throw new UsageError(`${ctx.verb.name}: --unit-dir: expected a directory`, ctx.verb.name);
  return path.join(path.resolve(typeof dir === 'string' ? dir : DEFAULT_UNIT_DIR), UNIT_NAME);
}

/** One ExecStart word, quoted for systemd when it needs it (and % doubled: specifiers). */
function word(w: string): string {
  const s = w.replace(/%/g, '%%');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The unit's text for this installation. */
export function unitText(opts: { node: string; bin: string; stateDir: string; config?: string }): string {
  const argv = [opts.node, opts.bin, 'agent', 'run', '--state-dir', opts.stateDir, ...(opts.config !== undefined ? ['--config', opts.config] : [])];
  return [
    MARKER,
    '[Unit]',
    'Description=ctnet-fast agent: container networking for the CLI, the CNI plugin and runtimes',
    `Documentation=file://${path.resolve(path.dirname(opts.bin), '../docs/agent-protocol.md')}`,
    'After=local-fs.target',
    'Before=containerd.service crio.service kubelet.service',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${argv.map(word).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=1',
    // a restart repairs what a killed agent left (gc at start), so SIGKILL after the timeout is safe
    'TimeoutStopSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The first bytes of `file` when it is a regular file (not followed if a link); undefined when absent. */
function head(file: string): string | undefined {
  let fd: number;
  try { fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK); } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw new CtnetError(`${file}: ${(e as Error).message}`, (e as { code?: string }).code ?? CODE.failure);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new CtnetError(`${file} is not a regular file: not a unit of ours`, CODE.exists);
    const buf = Buffer.alloc(512);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** `agent install`: write the unit (again: only over one of ours). */
export async function install(ctx: Context): Promise<number> {
  const file = unitFile(ctx);
  const cfg = ctx.options.config;
  let config: string | undefined;
  if (cfg !== undefined) {
    if (typeof cfg !== 'string' || cfg === '') throw new UsageError(`${ctx.verb.name}: --config: expected a file`, ctx.verb.name);
    config = path.resolve(cfg);
    readConfig(config); // a config the agent would refuse is an error now, not at boot
  }
  const bin = process.argv[1];
  if (bin === undefined) throw new CtnetError('agent install: cannot find the ctnet-fast script', CODE.failure);
  const stateDir = path.resolve(ctx.global.stateDir ?? defaultStateDir(ctx.env));
  const text = unitText({ node: process.execPath, bin: path.resolve(bin), stateDir, ...(config !== undefined ? { config } : {}) });
  const old = head(file);
  if (old !== undefined && !old.startsWith(MARKER)) {
    throw new CtnetError(`agent install: ${file} exists and was not written by ctnet-fast agent install; remove it or use --unit-dir`, CODE.exists);
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, file);
  const changed = old === undefined ? 'installed' : 'updated';
  ctx.out.result({ unit: file, changed, execStart: text.split('\n').find((l) => l.startsWith('ExecStart='))?.slice('ExecStart='.length), stateDir, config: config ?? null },
    () => `${changed} ${file}\nnext: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}`);
  return EXIT.OK;
}

/** `agent uninstall`: remove the unit install wrote; absent: nothing to do; someone else's: refused. */
export async function uninstall(ctx: Context): Promise<number> {
  const file = unitFile(ctx);
  const old = head(file);
  if (old === undefined) {
    ctx.out.result({ unit: file, removed: false }, () => `${file} is not installed: nothing to do`);
    return EXIT.OK;
  }
  if (!old.startsWith(MARKER)) throw new CtnetError(`agent uninstall: ${file} was not written by ctnet-fast agent install: left alone`, CODE.exists);
  if (lstatSync(file).isFile()) unlinkSync(file);
  ctx.out.result({ unit: file, removed: !existsSync(file) },
    () => `removed ${file}\nif it was enabled: systemctl disable --now ${UNIT_NAME}; systemctl daemon-reload`);
  return EXIT.OK;
}
