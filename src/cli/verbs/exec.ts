/**
 * cli/verbs/exec.ts — `exec NETNS -- CMD [ARG...]`: run CMD inside a netns, like
 * `nsenter --net=PATH CMD` but without an nsenter process.
 *
 * Layer: CLI front door. The proper path is the addon's execInNetns (native/exec.cc):
 * setns(CLONE_NEWNET) on this thread, then execvp — CMD replaces this process (same pid,
 * stdio and exit status). When the loaded addon has no execInNetns yet, it falls back to
 * `ip netns exec NAME CMD` (names) or `nsenter --net=PATH CMD` (paths) and passes the exit
 * status through. No shell anywhere: argument arrays only.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Context } from '../context.js';
import { requireNetnsFile, resolveNetns } from '../ns.js';
import { checkPrivilege } from '../privilege.js';
import { CtnetError, EnvironmentError, CODE } from '../../model/errors.js';

type ExecFn = (nsPath: string, file: string, argv: string[]) => never;

/** The addon's execInNetns (through the library's own loader: same paths, $CTNET_NATIVE_PATH), or why not. */
export async function loadNativeExec(): Promise<{ fn: ExecFn } | { why: string }> {
  const { loadNative } = await import('../../backend/native.js');
  const r = loadNative();
  if (r.addon === undefined) return { why: `addon not loaded (tried ${r.tried.join(', ')}${r.error !== undefined ? `: ${r.error}` : ''})` };
  const fn = (r.addon as unknown as { execInNetns?: unknown }).execInNetns;
  if (typeof fn !== 'function') return { why: 'the loaded addon has no execInNetns (RegisterExec is not in its Init)' };
  return { fn: fn as ExecFn };
}

/** execvp's lookup, answered without running it: 'ok', 'ENOENT' or 'EACCES'. */
export function findExecutable(file: string, pathVar: string): 'ok' | 'ENOENT' | 'EACCES' {
  const candidates = file.includes('/') ? [file] : pathVar.split(':').map((d) => path.join(d === '' ? '.' : d, file));
  let denied = false;
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return 'ok';
    } catch (e) {
      if ((e as { code?: string }).code === 'EACCES') denied = true;
    }
  }
  return denied ? 'EACCES' : 'ENOENT';
}

function execFailure(e: unknown, file: string): number {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') throw Object.assign(new CtnetError(`exec: ${file}: command not found`, CODE.noCommand), { exitCode: 127 });
  if (code === 'EACCES' || code === 'ENOEXEC') throw Object.assign(new CtnetError(`exec: ${file}: cannot execute (${code})`, CODE.noExecute), { exitCode: 126 });
  throw e;
}

export async function exec(ctx: Context): Promise<number> {
  const arg = ctx.positionals[0] ?? '';
  const ref = resolveNetns(arg, 'exec');
  requireNetnsFile(ref, 'exec');
  checkPrivilege('exec');
  const [file, ...rest] = ctx.command;
  if (file === undefined) throw new CtnetError('exec: missing CMD', CODE.usage);
  const native = await loadNativeExec();
  if ('fn' in native) {
    ctx.out.debug(`exec: setns(${ref.path}) + execvp(${file}) in this process`);
    try {
      native.fn(ref.path, file, [file, ...rest]);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if ((e as { syscall?: string }).syscall === 'execvp') return execFailure(e, file);
      if (code === 'EINVAL') throw new CtnetError(`exec: ${ref.path} is not a network namespace`, 'EINVALID_INPUT');
      if (code === 'EPERM' || code === 'EACCES') throw new EnvironmentError(`exec: cannot enter ${ref.path}: ${(e as Error).message}: run as root`, code);
      throw e;
    }
  }
  // Fallback: one helper process (ip netns exec / nsenter); the exit status is passed through.
  // Look CMD up first so "not found" / "not executable" exit 127 / 126 as with the native path.
  const found = findExecutable(file, ctx.env.PATH ?? '');
  if (found !== 'ok') return execFailure({ code: found }, file);
  const [cmd, argv] = ref.name !== undefined
    ? ['ip', ['netns', 'exec', ref.name, file, ...rest]] as const
    : ['nsenter', [`--net=${ref.path}`, '--', file, ...rest]] as const;
  ctx.out.debug(`exec: ${'why' in native ? native.why : ''}; falling back to ${cmd} ${argv.slice(0, 3).join(' ')} …`);
  const r = spawnSync(cmd, [...argv], { stdio: 'inherit' });
  if (r.error !== undefined) {
    if ((r.error as { code?: string }).code === 'ENOENT') {
      throw new EnvironmentError(`exec: ${cmd} is not installed (needed until the addon has execInNetns): apt-get install ${cmd === 'ip' ? 'iproute2' : 'util-linux'}`, CODE.noTool);
    }
    throw r.error;
  }
  if (r.signal !== null) {
    // Die the same way the command did, so callers see the signal.
    process.kill(process.pid, r.signal);
    return 128;
  }
  return r.status ?? 1;
}
