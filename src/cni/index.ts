/**
 * cni/ — the CNI plugin's core (SPEC.md 1.1: ADD, DEL, CHECK, GC, STATUS, VERSION; cniVersion
 * 0.4.0, 1.0.0, 1.1.0), in-process over the library. handleCni is what both the
 * self-contained entry (main.ts, bundled to dist/bundle/cni.cjs) and the agent run for one
 * plugin call: the CNI environment and stdin in, the plugin's stdout and exit code out.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "Layers" and "CNI"); the contract with the agent and the
 * shim is /work/tools/agent-wire.md (CniRequest, CniReply, CniHosts, CniCaller).
 */
import { existsSync } from 'node:fs';
import type { Host } from '../topology/index.js';
import { checkIfname } from '../validate/kernel.js';
import { configVersion, decodeConfig, field, parseCniArgs, parseConfig, SUPPORTED_VERSIONS } from './config.js';
import { CniError, ERR, errorDocument } from './errors.js';
import { cmdAdd, cmdDel, cmdGc, cmdStatus, type CniEnv } from './commands.js';
import { cmdCheck } from './check.js';
import { checkCniArgs, checkDocument, checkIfnameNotLo } from './input.js';
import { checkCaller, checkNetnsPath, type CniCaller } from './netns.js';
import { withKey } from './keylock.js';
import { detachKey, prepareAdd } from './attachments.js';

export { SUPPORTED_VERSIONS } from './config.js';
export { ERR } from './errors.js';

export interface CniRequest { readonly env: Readonly<Record<string, string>>; readonly stdin: string }
export interface CniReply { readonly exitCode: number; readonly stdout: string; readonly stderr?: string }
/** One Host per state dir: the agent's cache, or the self-contained entry's open-and-close. */
export interface CniHosts { open(stateDir: string): Promise<Host> }
/** The peer as the kernel names it (SO_PEERCRED), when the agent serves the call. */
export type { CniCaller } from './netns.js';

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
    checkDocument(raw, cmd);
    configVersion(raw);
    const args = parseCniArgs(env.CNI_ARGS);
    checkCniArgs(args);
    const cfg = parseConfig(raw, args);
    const base = { raw: env, stdin: req.stdin };
    const dir = stateDirOf(cfg.stateDir, env);
    let cenv: CniEnv | undefined;
    if (cmd !== 'GC' && cmd !== 'STATUS') {
      cenv = {
        ...base, containerId: need(env, 'CNI_CONTAINERID', cmd), ifname: need(env, 'CNI_IFNAME', cmd),
        netns: cmd === 'DEL' ? env.CNI_NETNS ?? '' : need(env, 'CNI_NETNS', cmd),
      };
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$/.test(cenv.containerId)) throw new CniError(ERR.invalidEnv, `CNI_CONTAINERID ${JSON.stringify(cenv.containerId)}: use letters, digits, "_", "." or "-", starting with a letter or digit`);
      try { checkIfname(cenv.ifname, 'CNI_IFNAME'); } catch (e) { throw new CniError(ERR.invalidEnv, (e as Error).message); }
      if (cmd !== 'DEL') checkIfnameNotLo(cenv.ifname);
      if (cmd !== 'DEL' && !cenv.netns.startsWith('/')) throw new CniError(ERR.invalidEnv, `CNI_NETNS ${JSON.stringify(cenv.netns)} is not an absolute path`);
      if (cmd !== 'DEL' || existsSync(cenv.netns)) checkCaller(caller, cenv.netns);
    }
    let host: Host;
    try {
      host = await hosts.open(dir);
    } catch (e) {
      // STATUS: no usable state directory means ADD cannot work (code 50), said as such
      if (cmd === 'STATUS') throw new CniError(ERR.notAvailable, `ctnet-fast cannot add containers: state directory ${dir}: ${(e as Error).message}`);
      throw e;
    }
    host.refresh(); // a Host kept open (the agent's) forgets what other processes changed
    if (cmd === 'GC') { await cmdGc(host, cfg, base); await host.settle(); return { exitCode: 0, stdout: '' }; }
    if (cmd === 'STATUS' || cenv === undefined) { await cmdStatus(host, cfg, base); return { exitCode: 0, stdout: '' }; }
    const c = cenv;
    if (cmd !== 'DEL') checkNetnsPath(c.netns, host.netnsPath);
    // one call at a time per attachment key (a runtime may race DEL against ADD: keylock.ts)
    return await withKey(`${dir}\n${cfg.name}\n${c.containerId}\n${c.ifname}`, async () => {
      if (cmd === 'ADD') {
        await prepareAdd(host, cfg, c);
        return { exitCode: 0, stdout: `${JSON.stringify(await cmdAdd(host, cfg, c))}\n` };
      }
      if (cmd === 'DEL') { await del(host, cfg, c); return { exitCode: 0, stdout: '' }; }
      await cmdCheck(host, cfg, c); // CHECK: every version we speak has it
      return { exitCode: 0, stdout: '' };
    });
  } catch (e) {
    return { exitCode: 1, stdout: `${errorDocument(e, version)}\n` };
  }
}

/**
 * DEL: every attachment of the key (attachments.ts), then what cmdDel does beyond it (the
 * delegated IPAM's DEL), then the detached containers' flows (conntrack, anti-spoofing
 * elements) removed before answering: Host.settle runs that window now.
 */
async function del(host: Host, cfg: Parameters<typeof cmdDel>[1], env: CniEnv): Promise<void> {
  const errors: unknown[] = [];
  await detachKey(host, cfg.name, env).catch((e: unknown) => errors.push(e));
  await cmdDel(host, cfg, env).catch((e: unknown) => errors.push(e));
  await host.settle();
  if (errors.length > 0) throw errors[0];
}
