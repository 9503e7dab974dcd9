/**
 * cni/ — the CNI plugin's core (SPEC.md 1.1: ADD, DEL, CHECK, GC, STATUS, VERSION; cniVersion
 * 0.4.0, 1.0.0, 1.1.0), in-process over the library. handleCni is what both the
 * self-contained entry (main.ts, bundled to dist/bundle/cni.cjs) and the agent run for one
 * plugin call: the CNI environment and stdin in, the plugin's stdout and exit code out.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "Layers" and "CNI"); the contract with the agent and the
 * shim is /work/tools/agent-wire.md (CniRequest, CniReply, CniHosts, CniCaller).
 */
import { statSync } from 'node:fs';
import type { Host } from '../topology/index.js';
import { checkIfname } from '../validate/kernel.js';
import { configVersion, decodeConfig, field, parseCniArgs, parseConfig, SUPPORTED_VERSIONS } from './config.js';
import { CniError, ERR, errorDocument } from './errors.js';
import { cmdAdd, cmdDel, cmdGc, cmdStatus, type CniEnv } from './commands.js';
import { cmdCheck } from './check.js';

export { SUPPORTED_VERSIONS } from './config.js';
export { ERR } from './errors.js';

export interface CniRequest { readonly env: Readonly<Record<string, string>>; readonly stdin: string }
export interface CniReply { readonly exitCode: number; readonly stdout: string; readonly stderr?: string }
/** One Host per state dir: the agent's cache, or the self-contained entry's open-and-close. */
export interface CniHosts { open(stateDir: string): Promise<Host> }
/** The peer as the kernel names it (SO_PEERCRED), when the agent serves the call. */
export interface CniCaller { readonly uid: number; readonly pid: number }

const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
const DEFAULT_STATE_DIR = '/run/ctnet-fast';

/** VERSION: answered from the stdin alone (its cniVersion, else the newest), needing nothing real. */
function versionReply(stdin: string): CniReply {
  let v: unknown;
  try { v = field(JSON.parse(stdin), 'cniVersion'); } catch { v = undefined; }
  const cniVersion = typeof v === 'string' && v !== '' ? v : '1.1.0';
  return { exitCode: 0, stdout: `${JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS })}\n` };
}

function need(env: Readonly<Record<string, string>>, name: string, cmd: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new CniError(ERR.invalidEnv, `${cmd}: ${name} is not set`);
  return v;
}

/** Where the state lives: the config's ctnetStateDir, else CTNET_STATE_DIR, else /run/ctnet-fast. */
export function stateDirOf(configDir: string | undefined, env: Readonly<Record<string, string>>): string {
  if (configDir !== undefined && configDir !== '') return configDir;
  const e = env.CTNET_STATE_DIR ?? process.env.CTNET_STATE_DIR;
  return e !== undefined && e !== '' ? e : DEFAULT_STATE_DIR;
}

/**
 * A peer that is not root may only name a netns it could open itself: the nsfs file must be
 * its own (a /proc/PID/ns/net of its process, or a netns it pinned).
 */
function checkCaller(caller: CniCaller | undefined, netns: string): void {
  if (caller === undefined || caller.uid === 0 || netns === '') return;
  let uid: number;
  try { uid = statSync(netns).uid; } catch { return; } // gone: nothing of it to reach
  if (uid !== caller.uid) throw new CniError(ERR.invalidEnv, `CNI_NETNS ${netns} belongs to uid ${uid}, not to the caller (uid ${caller.uid})`);
}

/** One plugin call. Never throws: every failure is a CNI error document on stdout, exit code 1. */
export async function handleCni(hosts: CniHosts, req: CniRequest, caller?: CniCaller): Promise<CniReply> {
  const env = req.env;
  const cmd = env.CNI_COMMAND ?? '';
  if (cmd === 'VERSION') return versionReply(req.stdin);
  let version = '1.1.0';
  try {
    if (!(COMMANDS as readonly string[]).includes(cmd)) throw new CniError(ERR.invalidEnv, `CNI_COMMAND ${JSON.stringify(cmd)} is not one of ${COMMANDS.join(', ')}`);
    const raw = decodeConfig(req.stdin);
    const given = field(raw, 'cniVersion');
    if (typeof given === 'string' && given !== '') version = given;
    configVersion(raw);
    const cfg = parseConfig(raw, parseCniArgs(env.CNI_ARGS));
    const base = { raw: env, stdin: req.stdin };
    const dir = stateDirOf(cfg.stateDir, env);
    let host: Host;
    try {
      host = await hosts.open(dir);
    } catch (e) {
      // STATUS: no usable state directory means ADD cannot work (code 50), said as such
      if (cmd === 'STATUS') throw new CniError(ERR.notAvailable, `ctnet-fast cannot add containers: state directory ${dir}: ${(e as Error).message}`);
      throw e;
    }
    host.refresh(); // a Host kept open (the agent's) forgets what other processes changed
    if (cmd === 'GC') { await cmdGc(host, cfg, base); return { exitCode: 0, stdout: '' }; }
    if (cmd === 'STATUS') { await cmdStatus(host, cfg, base); return { exitCode: 0, stdout: '' }; }
    const cenv: CniEnv = {
      ...base, containerId: need(env, 'CNI_CONTAINERID', cmd), ifname: need(env, 'CNI_IFNAME', cmd),
      netns: cmd === 'DEL' ? env.CNI_NETNS ?? '' : need(env, 'CNI_NETNS', cmd),
    };
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$/.test(cenv.containerId)) throw new CniError(ERR.invalidEnv, `CNI_CONTAINERID ${JSON.stringify(cenv.containerId)}: use letters, digits, "_", "." or "-", starting with a letter or digit`);
    try { checkIfname(cenv.ifname, 'CNI_IFNAME'); } catch (e) { throw new CniError(ERR.invalidEnv, (e as Error).message); }
    if (cmd !== 'DEL' && !cenv.netns.startsWith('/')) throw new CniError(ERR.invalidEnv, `CNI_NETNS ${JSON.stringify(cenv.netns)} is not an absolute path`);
    checkCaller(caller, cenv.netns);
    if (cmd === 'ADD') return { exitCode: 0, stdout: `${JSON.stringify(await cmdAdd(host, cfg, cenv))}\n` };
    if (cmd === 'DEL') { await cmdDel(host, cfg, cenv); return { exitCode: 0, stdout: '' }; }
    await cmdCheck(host, cfg, cenv); // CHECK: every version we speak has it
    return { exitCode: 0, stdout: '' };
  } catch (e) {
    return { exitCode: 1, stdout: `${errorDocument(e, version)}\n` };
  }
}
