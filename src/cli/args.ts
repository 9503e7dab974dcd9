/**
 * cli/args.ts — the command line grammar of `ctnet-fast`: the verb table (options,
 * positionals, one-line summary, an example each) and the parser built on node:util
 * parseArgs.
 *
 * Layer: CLI front door. Parsing only: no I/O, no library import, no kernel knowledge —
 * this module is loaded by every invocation (including `version`), so it must stay cheap.
 */
import { parseArgs } from 'node:util';
import { CODE } from '../model/errors.js';

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

export interface OptDef {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Metavariable shown in help: --subnet CIDR */
  readonly arg?: string;
  readonly help: string;
}

export interface VerbDef {
  /** "attach", "network create" */
  readonly name: string;
  readonly summary: string;
  /** Positionals part of the synopsis: "NETNS... --network NAME" */
  readonly synopsis: string;
  readonly options: Readonly<Record<string, OptDef>>;
  readonly minPositionals: number;
  readonly maxPositionals: number;
  /** Human names of positionals, for "missing NAME". */
  readonly positionalName: string;
  readonly examples: readonly string[];
  /** Extra lines of help text. */
  readonly notes?: readonly string[];
}

export const GLOBAL_OPTIONS: Readonly<Record<string, OptDef>> = {
  'host-netns': { type: 'string', arg: 'NAME|PATH', help: 'do all host-side work (bridge, host veth ends, NAT) inside that netns' },
  'state-dir': { type: 'string', arg: 'DIR', help: 'state directory (default: $CTNET_STATE_DIR or /run/ctnet-fast)' },
  json: { type: 'boolean', short: 'j', help: 'print exactly one JSON document on stdout (errors too)' },
  quiet: { type: 'boolean', short: 'q', help: 'no messages or progress on stderr; terse output' },
  verbose: { type: 'boolean', short: 'v', help: 'say which backends are used and how long each step took' },
  backend: { type: 'string', arg: 'auto|native|iproute2', help: 'kernel backend (default auto: the addon, else ip processes)' },
  firewall: { type: 'string', arg: 'auto|libnftables|nft|none', help: 'firewall backend (default auto)' },
  help: { type: 'boolean', short: 'h', help: 'show help for the command' },
};

const HOST_OR_NETWORK = 'NAME';

export const VERBS: readonly VerbDef[] = [
  {
    name: 'network create', summary: 'create a bridge network (or check that it exists with these settings)',
    synopsis: 'NAME --subnet CIDR [--subnet6 CIDR] [--gateway IP] [--bridge IFNAME] [--mtu N] [--internal] [--no-masquerade]',
    options: {
      subnet: { type: 'string', arg: 'CIDR', help: 'IPv4 subnet, e.g. 172.18.0.0/16 (required)' },
      subnet6: { type: 'string', arg: 'CIDR', help: 'IPv6 subnet for dual stack, e.g. fd00:18::/64' },
      gateway: { type: 'string', arg: 'IP', help: 'bridge address (default: the first address of the subnet)' },
      gateway6: { type: 'string', arg: 'IP', help: 'IPv6 bridge address (default: the first address of --subnet6)' },
      bridge: { type: 'string', arg: 'IFNAME', help: 'bridge interface name (default: ctbr- + a hash of NAME)' },
      mtu: { type: 'string', arg: 'N', help: 'MTU of the bridge and every veth (default 1500)' },
      internal: { type: 'boolean', help: 'no egress: no masquerade, no forwarding out of the bridge' },
      'no-masquerade': { type: 'boolean', help: 'do not masquerade traffic leaving the subnet' },
    },
    minPositionals: 1, maxPositionals: 1, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast network create demo --subnet 172.18.0.0/16'],
    notes: ['Running it again with the same settings does nothing; different settings are an error.'],
  },
  {
    name: 'network rm', summary: 'remove networks (their bridge, rules and state)',
    synopsis: 'NAME... [--force]',
    options: { force: { type: 'boolean', short: 'f', help: 'detach every endpoint first (otherwise a network in use is an error)' } },
    minPositionals: 1, maxPositionals: Infinity, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast network rm demo', 'ctnet-fast network rm --force demo'],
  },
  {
    name: 'network ls', summary: 'list networks', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast network ls', 'ctnet-fast network ls --json'],
  },
  {
    name: 'network inspect', summary: 'show one network and its endpoints', synopsis: 'NAME', options: {},
    minPositionals: 1, maxPositionals: 1, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast network inspect demo --json'],
  },
  {
    name: 'netns add', summary: 'create named network namespaces (the names `ip netns` sees)', synopsis: 'NAME...', options: {},
    minPositionals: 1, maxPositionals: Infinity, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast netns add netns0'],
  },
  {
    name: 'netns del', summary: 'delete named network namespaces', synopsis: 'NAME...', options: {},
    minPositionals: 1, maxPositionals: Infinity, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast netns del netns0'],
  },
  {
    name: 'netns ls', summary: 'list named network namespaces', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast netns ls'],
  },
  {
    name: 'attach', summary: 'connect containers (netns) to a network; several in one process',
    synopsis: 'NETNS... --network NAME [--ip IP] [--ip6 IP] [--ifname IFNAME] [--mac MAC] [--publish SPEC]... [--from-file FILE|-]',
    options: {
      network: { type: 'string', short: 'n', arg: 'NAME', help: 'network to attach to; "host" and "none" give those modes' },
      ip: { type: 'string', arg: 'IP', help: 'static IPv4 address inside the subnet (one NETNS only)' },
      ip6: { type: 'string', arg: 'IP', help: 'static IPv6 address (one NETNS only)' },
      ifname: { type: 'string', arg: 'IFNAME', help: 'interface name inside the container (default eth0)' },
      mac: { type: 'string', arg: 'MAC', help: 'container-side MAC (default: derived from the IP; one NETNS only)' },
      publish: { type: 'string', short: 'p', multiple: true, arg: 'SPEC', help: 'publish a port: [HOSTIP:]HOSTPORT[-END]:CPORT[-END][/tcp|udp]' },
      'from-file': { type: 'string', arg: 'FILE|-', help: 'read more NETNS from FILE (- = stdin): one per line, optionally followed by --ip/--ip6/--mac/--ifname/--publish' },
    },
    minPositionals: 0, maxPositionals: Infinity, positionalName: 'NETNS',
    examples: [
      'ctnet-fast attach netns0 --network demo --publish 8080:80',
      'ctnet-fast attach c1 c2 c3 --network demo            # one process, one start-up',
      'printf "c%s\\n" $(seq 100) | ctnet-fast attach --network demo --from-file -',
      'ctnet-fast attach /proc/1234/ns/net --network demo --ip 172.18.0.50',
    ],
    notes: [
      'NETNS is a name under /run/netns (created if missing) or a path such as /proc/PID/ns/net.',
      'Prints the endpoint (--json: one EndpointInfo; with several NETNS an array). --quiet prints only addresses.',
    ],
  },
  {
    name: 'detach', summary: 'disconnect containers from their network (deletes the netns if attach created it)',
    synopsis: 'NETNS... [--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'only the endpoint on this network' } },
    minPositionals: 1, maxPositionals: Infinity, positionalName: 'NETNS',
    examples: ['ctnet-fast detach netns0', 'ctnet-fast detach netns0 --network demo'],
  },
  {
    name: 'publish', summary: 'publish ports of an attached container',
    synopsis: 'NETNS SPEC... [--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'the endpoint on this network (when on several)' } },
    minPositionals: 2, maxPositionals: Infinity, positionalName: 'NETNS SPEC',
    examples: ['ctnet-fast publish netns0 8080:80 127.0.0.1:5353:53/udp 9000-9009:9000-9009'],
    notes: ['SPEC: [HOSTIP:]HOSTPORT[-END]:CPORT[-END][/tcp|udp]'],
  },
  {
    name: 'unpublish', summary: 'stop publishing ports of an attached container',
    synopsis: 'NETNS SPEC... [--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'the endpoint on this network (when on several)' } },
    minPositionals: 2, maxPositionals: Infinity, positionalName: 'NETNS SPEC',
    examples: ['ctnet-fast unpublish netns0 8080:80'],
  },
  {
    name: 'exec', summary: 'run a command inside a netns (like nsenter --net, without an nsenter process)',
    synopsis: 'NETNS -- CMD [ARG...]', options: {},
    minPositionals: 1, maxPositionals: 1, positionalName: 'NETNS',
    examples: ['ctnet-fast exec netns0 -- ip -j addr', 'ctnet-fast exec /proc/1234/ns/net -- ping -c1 172.18.0.1'],
    notes: ['The command replaces ctnet-fast (same pid, stdio and exit status).'],
  },
  {
    name: 'inspect', summary: "show a netns's network stack: devices, addresses, routes, neighbours, our nft tables",
    synopsis: '[NETNS]', options: {},
    minPositionals: 0, maxPositionals: 1, positionalName: 'NETNS',
    examples: ['ctnet-fast inspect', 'ctnet-fast inspect netns0 --json'],
    notes: ['Without NETNS: the host netns (or --host-netns).'],
  },
  {
    name: 'ls', summary: 'list endpoints (attached containers)', synopsis: '[--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'only endpoints of this network' } },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast ls', 'ctnet-fast ls --network demo --json'],
  },
  {
    name: 'gc', summary: 'reconcile state with the kernel (finish or undo interrupted work, drop stale state)',
    synopsis: '[--dry-run]',
    options: { 'dry-run': { type: 'boolean', help: 'only say what would be done' } },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast gc --dry-run', 'ctnet-fast gc'],
  },
  {
    name: 'demo', summary: "build the tutorial's network in a sandbox, prove it with traffic, time it against ip, clean up",
    synopsis: '', options: {
      'no-compare': { type: 'boolean', help: 'skip the timed rebuild with ip processes' },
    },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['sudo ctnet-fast demo', 'sudo ctnet-fast demo --json'],
    notes: ["Runs inside its own network + mount namespace (unshare): the machine's own network is never touched."],
  },
  {
    name: 'daemon start', summary: 'start the resident daemon: later commands skip loading the library (~30 ms each)',
    synopsis: '[--idle-timeout SECONDS]',
    options: { 'idle-timeout': { type: 'string', arg: 'SECONDS', help: 'exit after this long without a command (default 0: never)' } },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: [
      'sudo ctnet-fast daemon start',
      'sudo ctnet-fast daemon start --idle-timeout 300',
      'export CTNET_DAEMON=auto   # instead: the first command starts one (idle exit after 300 s)',
      'CTNET_DAEMON=off ctnet-fast attach c1 --network demo   # bypass it',
    ],
    notes: [
      'While it runs, attach, detach, publish, unpublish, ls, network and gc are sent to it (named',
      'pipes under STATE_DIR/ctnetd/, else STATE_DIR/ctnetd.sock; root only) and its answer is',
      'printed as if the command ran here: a single attach costs Node\'s start-up + ~4 ms.',
      'A caller in another netns or mount namespace, or with other CTNET_* settings, runs the command itself.',
      'Log: STATE_DIR/ctnetd.log. A killed daemon leaves nothing that ctnet-fast gc cannot repair.',
    ],
  },
  {
    name: 'daemon stop', summary: 'stop the daemon (after the commands it is running)', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['sudo ctnet-fast daemon stop'],
  },
  {
    name: 'daemon status', summary: 'is a daemon running? (exit 0 yes, 3 no)', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast daemon status', 'ctnet-fast daemon status --json'],
  },
  {
    name: 'daemon run', summary: 'run the daemon in the foreground (for systemd and the like)',
    synopsis: '[--idle-timeout SECONDS]',
    options: { 'idle-timeout': { type: 'string', arg: 'SECONDS', help: 'exit after this long without a command (default 0: never)' } },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['sudo ctnet-fast daemon run'],
    notes: ['Stops on SIGTERM or SIGINT, after the commands it is running.'],
  },
  {
    name: 'version', summary: 'print the version', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast version', 'ctnet-fast version --json'],
  },
];

/** Verb groups with sub-verbs, and the aliases each accepts. */
const GROUPS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  network: { create: 'create', add: 'create', rm: 'rm', remove: 'rm', delete: 'rm', del: 'rm', ls: 'ls', list: 'ls', inspect: 'inspect', show: 'inspect' },
  netns: { add: 'add', create: 'add', del: 'del', delete: 'del', rm: 'del', ls: 'ls', list: 'ls' },
  daemon: { start: 'start', stop: 'stop', status: 'status', run: 'run' },
};
const ALIASES: Readonly<Record<string, string>> = { help: 'help', '--version': 'version', '-V': 'version' };

/** The sub-verbs of a group ("network") with their aliases; undefined for a word that is not a group. */
export function verbGroup(word: string): Readonly<Record<string, string>> | undefined {
  return Object.hasOwn(GROUPS, word) ? GROUPS[word] : undefined;
}

/** The verb GROUP SUB names, aliases resolved ("network list" → "network ls"); undefined if none. */
export function subVerbName(group: string, sub: string): string | undefined {
  const g = verbGroup(group);
  return g !== undefined && Object.hasOwn(g, sub) ? `${group} ${g[sub]}` : undefined;
}

export function findVerb(name: string): VerbDef | undefined {
  return VERBS.find((v) => v.name === name);
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

/** A string option's value; undefined when it is absent (or a flag, or a repeatable list). */
export function stringOption(values: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function takesValue(defs: Readonly<Record<string, OptDef>>, token: string): boolean {
  if (!token.startsWith('--') || token.includes('=')) return false;
  return defs[token.slice(2)]?.type === 'string';
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
    throw new UsageError(`unknown command "${first}" (see ctnet-fast --help)`);
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
      if (ns < rest.length) opts.push('--', rest[ns] ?? '');
      command = rest.slice(ns + 1);
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
