/**
 * cni/input.ts — what handleCni checks of a call before it parses the network config or
 * touches anything: the plugin `type` (the executable's name: `ctnet-cni`, as `ctnet-fast
 * cni install` places it), a `cniVersion` that is not a string, GC and STATUS asked in a
 * version older than 1.1.0 (they are 1.1.0 commands: code 1), CNI_IFNAME `lo`, and CNI_ARGS
 * as the Go plugins read it (types.LoadArgs: a key the plugin does not know is an error
 * unless IgnoreUnknown=1; IP= must be addresses).
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI" and "Errors").
 */
import { familyOf } from '../util/ip.js';
import { field } from './config.js';
import { CniError, ERR } from './errors.js';

/** The plugin's name: the executable a runtime finds in CNI_PATH for `"type": "ctnet-cni"`. */
export const PLUGIN_TYPE = 'ctnet-cni';
/** The CNI_ARGS keys this plugin reads. */
const KNOWN_ARGS = ['IgnoreUnknown', 'IP', 'MAC'];

const bad = (path: string, why: string): CniError => new CniError(ERR.invalidConfig, `invalid network config: ${path}: ${why}`);

/** `type` and `cniVersion` of the document, and the command's minimum version. */
export function checkDocument(raw: unknown, cmd: string): void {
  const v = field(raw, 'cniVersion');
  if (v !== undefined && v !== null && typeof v !== 'string') throw bad('cniVersion', `expected a string such as "1.1.0", got ${JSON.stringify(v)} (a ${typeof v})`);
  const t = field(raw, 'type');
  if (t === undefined || t === null || t === '') throw bad('type', `missing (expected "${PLUGIN_TYPE}", the plugin's executable name)`);
  if (typeof t !== 'string') throw bad('type', `expected a string, got ${JSON.stringify(t)}`);
  if (t !== PLUGIN_TYPE) throw bad('type', `"${t}" is not this plugin (${PLUGIN_TYPE}): the runtime ran ${PLUGIN_TYPE} for a config of another plugin`);
  if ((cmd === 'GC' || cmd === 'STATUS') && typeof v === 'string' && older(v, '1.1.0')) {
    throw new CniError(ERR.incompatibleVersion, `incompatible CNI version ${v}: ${cmd} is a CNI 1.1.0 command (the config says cniVersion ${v})`, { details: `config cniVersion ${v}` });
  }
}

/** Whether dotted version a < b (unparseable parts count as 0). */
function older(a: string, b: string): boolean {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0);
  return false;
}

/** CNI_ARGS (parsed) as Go's LoadArgs checks it: unknown keys only with IgnoreUnknown, IP= addresses. */
export function checkCniArgs(args: ReadonlyMap<string, string>): void {
  const ignore = /^(1|true)$/i.test(args.get('IgnoreUnknown') ?? '');
  const ig = args.get('IgnoreUnknown');
  if (ig !== undefined && !/^(1|0|true|false)$/i.test(ig)) throw new CniError(ERR.invalidConfig, `invalid CNI_ARGS: IgnoreUnknown "${ig}" is not 1, 0, true or false`);
  for (const k of args.keys()) {
    if (!KNOWN_ARGS.includes(k) && !ignore) {
      throw new CniError(ERR.invalidConfig, `invalid CNI_ARGS: unknown key "${k}" (this plugin reads ${KNOWN_ARGS.join(', ')}; add IgnoreUnknown=1 to pass others)`);
    }
  }
  for (const ip of (args.get('IP') ?? '').split(',')) {
    if (ip === '') continue;
    const [a, len] = ip.split('/');
    const f = familyOf(a ?? '');
    if (f === undefined || (len !== undefined && !(/^\d+$/.test(len) && Number(len) <= (f === 4 ? 32 : 128)))) {
      throw new CniError(ERR.invalidConfig, `invalid CNI_ARGS: IP "${ip}" is not an IP address (IP=10.1.0.5 or IP=10.1.0.5/24, comma-separated)`);
    }
  }
}

/** CNI_IFNAME `lo` is the container's loopback, there before any plugin runs. */
export function checkIfnameNotLo(ifname: string): void {
  if (ifname === 'lo') throw new CniError(ERR.invalidEnv, 'CNI_IFNAME lo: the container\'s loopback interface already has that name; give the interface to create (eth0)');
}
