/**
 * cli/sandbox.ts — run a command inside fresh network + mount namespaces, so that nothing it
 * does can touch the machine's own network: the one sandbox of `ctnet-fast demo` and of the
 * tests and benchmarks (test/sandbox.mjs runs this module from source through tsx, so a
 * stale or missing dist/ never changes where tests run).
 *
 * Outside, runInSandbox() re-executes a command line under `unshare --net --mount
 * --propagation private` (argument array, never a shell); without root, when the spec allows
 * it, inside a user namespace mapping the caller to root. The spec's marker variable carries
 * the outer namespaces in. Inside, setUpSandbox() refuses to go on unless this process's
 * network and mount namespaces differ from the outer ones (and PID 1's), then mounts a
 * private tmpfs on /run (so /run/netns and the state are ours alone) and brings lo up.
 * Everything — links, routes, nftables, /run/netns, state — dies with the process.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). Uses only model/errors and cli/privilege.
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { CtnetError, EnvironmentError, CODE } from '../model/errors.js';
import { checkPrivilege } from './privilege.js';

export interface SandboxSpec {
  /** Who asks, for messages ("demo", "sandbox"). */
  readonly what: string;
  /** Environment variable that carries the outer namespaces in ("NET MNT[ userns]"). */
  readonly marker: string;
  /** Without root: a user namespace mapping the caller to root, when the kernel allows it. */
  readonly userns: boolean;
  /** Without root and without that: the fix to name ("sudo ctnet-fast demo"). */
  readonly fix: string;
  /** Name of the tmpfs on /run inside (shown by `mount`). */
  readonly tmpfs: string;
}

/** The namespace of a process (`net:[4026531840]`), or undefined when unreadable. */
export function nsId(kind: 'net' | 'mnt', pid: string | number = 'self'): string | undefined {
  try { return readlinkSync(`/proc/${pid}/ns/${kind}`); } catch { return undefined; }
}

/**
 * Outside: run `argv` (argv[0] is the program) inside fresh network + mount namespaces with
 * `env` plus the marker; returns its exit status. Throws EnvironmentError (exit 4) when that
 * is impossible here: no root and no user namespace, or no unshare.
 */
export function runInSandbox(argv: readonly string[], env: NodeJS.ProcessEnv, spec: SandboxSpec): number {
  let userns = false;
  try {
    checkPrivilege(spec.what);
  } catch (e) {
    const probe = spec.userns ? spawnSync('unshare', ['--user', '--map-root-user', '--net', '--mount', '--', 'true'], { stdio: 'ignore' }) : undefined;
    if (probe === undefined || probe.error !== undefined || probe.status !== 0) {
      const why = (e as Error).message.replace(/: run as root.*$/, '');
      throw new EnvironmentError(`${why}${spec.userns ? ', and this kernel does not allow unprivileged user namespaces' : ''}: run ${spec.fix}`, 'EPERM');
    }
    userns = true;
  }
  const marker = `${nsId('net') ?? '?'} ${nsId('mnt') ?? '?'}${userns ? ' userns' : ''}`;
  const r = spawnSync('unshare', [...(userns ? ['--user', '--map-root-user'] : []), '--net', '--mount', '--propagation', 'private', '--', ...argv],
    { stdio: 'inherit', env: { ...env, [spec.marker]: marker } });
  if (r.error !== undefined) {
    if ((r.error as { code?: string }).code === 'ENOENT') throw new EnvironmentError(`${spec.what}: unshare is not installed: apt-get install util-linux`, CODE.noTool);
    throw r.error;
  }
  if (r.signal !== null) return 128 + 15;
  return r.status ?? 1;
}

/** Is this process started by runInSandbox (the marker is set)? */
export function sandboxMarker(env: NodeJS.ProcessEnv, spec: SandboxSpec): string | undefined {
  const m = env[spec.marker];
  return m === undefined || m === '' ? undefined : m;
}

export interface SandboxInside {
  /** This process's netns (`net:[…]`). */
  readonly netns: string;
  /** Inside a user namespace that maps the caller to root (started without root). */
  readonly userns: boolean;
}

/**
 * Inside: refuse unless our namespaces are new, then a private tmpfs on /run and lo up.
 * Throws EnvironmentError (not inside) or CtnetError (a setup step failed).
 */
export function setUpSandbox(marker: string, spec: SandboxSpec): SandboxInside {
  const [outerNet, outerMnt, userns] = marker.split(' ');
  const net = nsId('net');
  const mnt = nsId('mnt');
  if (net === undefined || mnt === undefined || net === outerNet || mnt === outerMnt || net === nsId('net', 1) || mnt === nsId('mnt', 1)) {
    throw new EnvironmentError(`${spec.what}: refusing to run: not inside a private network + mount namespace (${spec.marker} is set, but these are not new namespaces)`, CODE.environment);
  }
  for (const [file, args, why] of [
    ['mount', ['-t', 'tmpfs', '-o', 'mode=755', spec.tmpfs, '/run'], 'private /run'],
    ['ip', ['link', 'set', 'lo', 'up'], 'loopback up'],
  ] as const) {
    const r = spawnSync(file, [...args], { encoding: 'utf8' });
    if ((r.error as { code?: string } | undefined)?.code === 'ENOENT') {
      throw new EnvironmentError(`${spec.what}: ${file} is not installed (${why}): apt-get install ${file === 'ip' ? 'iproute2' : 'util-linux'}`, CODE.noTool);
    }
    if (r.status !== 0) throw new CtnetError(`${spec.what}: ${why}: ${file} ${args.join(' ')}: ${(r.stderr ?? '').trim().split('\n')[0] ?? `exit ${String(r.status)}`}`, CODE.failure);
  }
  return { netns: net, userns: userns === 'userns' };
}
