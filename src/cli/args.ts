/**
 * cli/args.ts — the command line parser of `ctnet-fast`, built on node:util parseArgs over
 * the verb table (table.ts).
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). Parsing only: no I/O, no library import, no
 * kernel knowledge — this module is loaded by every invocation (including `version`), so it
 * must stay cheap.
 */
import { parseArgs } from 'node:util';
import { CODE } from '../model/errors.js';
import { ALIASES, GLOBAL_OPTIONS, findVerb, subVerbName, verbGroup, type OptDef, type VerbDef } from './table.js';

/** A usage error: bad or missing arguments. Exit code 2. */
export class UsageError extends Error {
  readonly code = CODE.usage;
  /** The verb whose usage line to point at ("attach", "network create"); absent: global. */
  readonly verb: string | undefined;
  constructor(message: string, verb?: string) {
    super(message);
    this.name = 'UsageError';
    this.verb = verb;
  }
}


export type GlobalValues = {
  readonly hostNetns?: string;
  readonly stateDir?: string;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly backend?: 'auto' | 'native' | 'iproute2';
  readonly firewall?: 'auto' | 'libnftables' | 'nft' | 'none';
};

export type Parsed =
  | { readonly kind: 'help'; readonly topic: string | undefined; readonly global: GlobalValues }
  | {
    readonly kind: 'run';
    readonly verb: VerbDef;
    readonly global: GlobalValues;
    /** Verb options by name: string, string[] (multiple) or true. */
    readonly options: Readonly<Record<string, string | boolean | string[]>>;
    readonly positionals: readonly string[];
    /** exec only: the command and its arguments. */
    readonly command: readonly string[];
  };

/**
 * Run one of src/validate's checks on an option's value, the option named as the checked
 * object (`checkIfname(v, '--ifname')`): its InvalidInputError becomes a usage error of
 * the verb ("attach: invalid --ifname "a:b": must not contain …"), same exit code 2.
 */
export function checkOption<T>(verb: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw new UsageError(`${verb}: ${(e as Error).message}`, verb);
  }
}

/** A string option's value; undefined when it is absent (or a flag, or a repeatable list). */
export function stringOption(values: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function takesValue(defs: Readonly<Record<string, OptDef>>, token: string): boolean {
  if (!token.startsWith('--') || token.includes('=')) return false;
  return defs[token.slice(2)]?.type === 'string';
}

/** `--name`, `--name=value` or `-x` of one of `defs`. */
function isKnownOption(defs: Readonly<Record<string, OptDef>>, token: string): boolean {
  if (token.startsWith('--')) return defs[token.slice(2).split('=')[0] ?? ''] !== undefined;
  return token.length === 2 && token.startsWith('-') && Object.values(defs).some((d) => d.short === token[1]);
}

/**
 * exec: where the command starts after NETNS (at `from`). When only options (and their
 * values) stand between NETNS and a `--`, they are options and the command follows the
 * `--`; otherwise the command starts right after NETNS, untouched.
 */
function optionsBeforeDashDash(rest: readonly string[], from: number, defs: Readonly<Record<string, OptDef>>): number {
  for (let j = from; j < rest.length; j++) {
    const t = rest[j] ?? '';
    if (t === '--') return j === from ? from : j;
    if (!isKnownOption(defs, t)) return from;
    if (takesValue(defs, t)) j++;
  }
  return from;
}

/** Quick pre-scan: which verb (and sub-verb) is this, and where are they in argv? */
function locateVerb(argv: readonly string[]): { words: string[]; at: number[] } {
  const words: string[] = [];
  const at: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i] ?? '';
    if (t === '--') break;
    if (t in ALIASES && words.length === 0) { words.push(ALIASES[t] ?? t); at.push(i); continue; }
    if (t.startsWith('-') && t.length > 1) {
      if (takesValue(GLOBAL_OPTIONS, t)) i++;
      continue;
    }
    words.push(t);
    at.push(i);
    if (verbGroup(words[0] ?? '') === undefined || words.length === 2) break;
  }
  return { words, at };
}

function globalValues(values: Record<string, unknown>, verbName: string | undefined): GlobalValues {
  const str = (k: string): string | undefined => stringOption(values, k);
  const out: { -readonly [K in keyof GlobalValues]: GlobalValues[K] } = {
    json: values.json === true, quiet: values.quiet === true, verbose: values.verbose === true,
  };
  const hostNetns = str('host-netns');
  if (hostNetns !== undefined) out.hostNetns = hostNetns;
  const stateDir = str('state-dir');
  if (stateDir !== undefined) out.stateDir = stateDir;
  const backend = str('backend');
  if (backend !== undefined) {
    if (backend !== 'auto' && backend !== 'native' && backend !== 'iproute2') {
      throw new UsageError(`--backend "${backend}": expected auto, native or iproute2`, verbName);
    }
    out.backend = backend;
  }
  const firewall = str('firewall');
  if (firewall !== undefined) {
    if (firewall !== 'auto' && firewall !== 'libnftables' && firewall !== 'nft' && firewall !== 'none') {
      throw new UsageError(`--firewall "${firewall}": expected auto, libnftables, nft or none`, verbName);
    }
    out.firewall = firewall;
  }
  return out;
}

/**
 * Parse one option list with parseArgs (non-strict, with tokens) and check every token
 * ourselves, so each error names the argument it is about.
 */
function parseOptions(args: readonly string[], defs: Readonly<Record<string, OptDef>>, verbName: string | undefined): {
  values: Record<string, string | boolean | string[]>; positionals: string[];
} {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, d] of Object.entries(defs)) {
    options[name] = { type: d.type, ...(d.short !== undefined ? { short: d.short } : {}), ...(d.multiple ? { multiple: true } : {}) };
  }
  const r = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  const where = verbName === undefined ? '' : `${verbName}: `;
  for (const tok of r.tokens) {
    if (tok.kind !== 'option') continue;
    const def = defs[tok.name];
    if (def === undefined) {
      const similar = Object.keys(defs).find((k) => k.startsWith(tok.name) || tok.name.startsWith(k));
      throw new UsageError(`${where}unknown option ${tok.rawName}${similar !== undefined ? ` (did you mean --${similar}?)` : ''}`, verbName);
    }
    if (def.type === 'string') {
      if (tok.value === undefined || (!tok.inlineValue && tok.value.startsWith('-') && tok.value.length > 1 && Number.isNaN(Number(tok.value)))) {
        throw new UsageError(`${where}option ${tok.rawName} needs a value${def.arg !== undefined ? ` (${def.arg})` : ''}`, verbName);
      }
      if (tok.value === '') throw new UsageError(`${where}option ${tok.rawName}: empty value`, verbName);
    } else if (tok.value !== undefined) {
      throw new UsageError(`${where}option ${tok.rawName} takes no value (got "${tok.value}")`, verbName);
    }
    if (def.type === 'string' && !def.multiple && tok.rawName.startsWith('--')) {
      const count = r.tokens.filter((t) => t.kind === 'option' && t.name === tok.name).length;
      if (count > 1) throw new UsageError(`${where}option --${tok.name} given ${count} times`, verbName);
    }
  }
  return { values: r.values as Record<string, string | boolean | string[]>, positionals: r.positionals };
}

/** Parse a whole command line (process.argv.slice(2)). Throws UsageError. */
export function parseCommandLine(argv: readonly string[]): Parsed {
  const { words, at } = locateVerb(argv);
  const first = words[0];
  if (first === undefined) {
    const { values } = parseOptions(argv, GLOBAL_OPTIONS, undefined);
    const global = globalValues(values, undefined);
    if (values.help === true) return { kind: 'help', topic: undefined, global };
    throw new UsageError('missing command');
  }
  if (first === 'help') {
    const rest = argv.filter((_, i) => i !== at[0]);
    const { values, positionals } = parseOptions(rest, GLOBAL_OPTIONS, undefined);
    return { kind: 'help', topic: positionals.join(' ') || undefined, global: globalValues(values, undefined) };
  }
  const group = verbGroup(first);
  let verbName = first;
  if (group !== undefined) {
    const sub = words[1];
    if (sub === undefined || sub === 'help') {
      const rest = argv.filter((_, i) => !at.includes(i));
      const { values } = parseOptions(rest, GLOBAL_OPTIONS, first);
      const global = globalValues(values, first);
      if (values.help === true || sub === 'help') return { kind: 'help', topic: first, global };
      throw new UsageError(`${first}: missing sub-command (${[...new Set(Object.values(group))].join(', ')})`, first);
    }
    const name = subVerbName(first, sub);
    if (name === undefined) {
      throw new UsageError(`${first}: unknown sub-command "${sub}" (expected ${[...new Set(Object.values(group))].join(', ')})`, first);
    }
    verbName = name;
  }
  const verb = findVerb(verbName);
  if (verb === undefined) {
    throw new UsageError(`unknown command "${first}"`);
  }
  // Options may sit anywhere around the verb words: drop just those words.
  const verbEnd = (at[at.length - 1] ?? 0) + 1;
  const before = argv.filter((_, i) => i < verbEnd && !at.includes(i));
  let rest = argv.slice(verbEnd);
  let command: string[] = [];
  if (verb.name === 'exec') {
    // exec [OPTIONS] NETNS [--] CMD...: options only before NETNS; the rest is CMD, untouched.
    const all = { ...GLOBAL_OPTIONS, ...verb.options };
    let opts: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const t = rest[i] ?? '';
      const isNs = t === '--' || !(t.startsWith('-') && t.length > 1);
      if (!isNs) { if (takesValue(all, t)) i++; continue; }
      const ns = t === '--' ? i + 1 : i;
      opts = rest.slice(0, i);
      // `exec NETNS --json -- CMD`: options between NETNS and a `--` are options too
      const after = optionsBeforeDashDash(rest, ns + 1, all);
      opts.push(...rest.slice(ns + 1, after));
      if (ns < rest.length) opts.push('--', rest[ns] ?? '');
      command = rest.slice(after);
      if (command[0] === '--') command = command.slice(1);
      break;
    }
    rest = opts.length > 0 || command.length > 0 ? opts : rest;
  }
  const { values, positionals } = parseOptions([...before, ...rest], { ...GLOBAL_OPTIONS, ...verb.options }, verb.name);
  const global = globalValues(values, verb.name);
  if (values.help === true) return { kind: 'help', topic: verb.name, global };
  if (positionals.length < verb.minPositionals) {
    const missing = verb.positionalName.split(' ')[positionals.length] ?? verb.positionalName;
    throw new UsageError(`${verb.name}: missing ${missing.replace('...', '')}`, verb.name);
  }
  if (positionals.length > verb.maxPositionals) {
    const extra = positionals[verb.maxPositionals] ?? '';
    throw new UsageError(`${verb.name}: unexpected argument "${extra}"`, verb.name);
  }
  if (verb.name === 'exec' && command.length === 0) {
    throw new UsageError('exec: missing CMD (usage: ctnet-fast exec NETNS -- CMD [ARG...])', verb.name);
  }
  const options: Record<string, string | boolean | string[]> = {};
  for (const k of Object.keys(verb.options)) {
    const v = values[k];
    if (v !== undefined) options[k] = v;
  }
  return { kind: 'run', verb, global, options, positionals, command };
}

/** One --from-file line: a NETNS and the per-container options it may carry. */
export interface FromFileLine {
  netns: string; ip?: string; ip6?: string; mac?: string; ifname?: string; publish: string[];
}

/** The attach options a --from-file line may carry: attach's own definitions, picked once. */
const FROM_FILE_OPTIONS: Readonly<Record<string, OptDef>> = (() => {
  const attach = findVerb('attach')?.options ?? {};
  const picked: Record<string, OptDef> = {};
  for (const k of ['ip', 'ip6', 'mac', 'ifname', 'publish']) {
    const d = attach[k];
    if (d !== undefined) picked[k] = d;
  }
  return picked;
})();

/** Split one --from-file line into NETNS and per-line options (whitespace-separated, no shell). */
export function parseFromFileLine(line: string, lineNo: number): FromFileLine | undefined {
  const text = line.replace(/(^|\s)#.*$/, '').trim();
  if (text === '') return undefined;
  let parsed;
  try {
    parsed = parseOptions(text.split(/\s+/), FROM_FILE_OPTIONS, undefined);
  } catch (e) {
    throw new UsageError(`attach --from-file line ${lineNo}: ${(e as Error).message}`, 'attach');
  }
  const [netns, extra] = parsed.positionals;
  if (netns === undefined) throw new UsageError(`attach --from-file line ${lineNo}: missing NETNS`, 'attach');
  if (extra !== undefined) throw new UsageError(`attach --from-file line ${lineNo}: unexpected "${extra}" (one NETNS per line)`, 'attach');
  const v = parsed.values;
  const out: FromFileLine = { netns, publish: [] };
  if (typeof v.ip === 'string') out.ip = v.ip;
  if (typeof v.ip6 === 'string') out.ip6 = v.ip6;
  if (typeof v.mac === 'string') out.mac = v.mac;
  if (typeof v.ifname === 'string') out.ifname = v.ifname;
  if (Array.isArray(v.publish)) out.publish = v.publish;
  return out;
}
