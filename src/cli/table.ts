/**
 * cli/table.ts — the verb table of `ctnet-fast`: every verb's name, summary, synopsis,
 * options, examples, which module runs it and whether the agent may serve it; the global
 * options; the groups ("network", "netns", "agent", "daemon") and their aliases.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). Data only: no I/O and no import. One table
 * read by the parser (args.ts), the help (help.ts), the dispatch (main.ts), the daemon
 * (daemon.ts) and the bin (bin/ctnet-fast.cjs, through dist/bundle/table.cjs made from it
 * by bin-table.ts at `npm run bundle`).
 */

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
  /** The module (src/cli/verbs/MODULE.ts, or cli/daemon.ts) and export that run it; absent: main.ts answers it (version). */
  readonly impl?: readonly [module: VerbModule, name: string];
  /** The daemon may run it for a caller (the bin sends only these; the daemon declines the rest). */
  readonly daemon?: true;
}

/** The modules that implement verbs (the dispatch in main.ts has one literal import for each). */
export type VerbModule = 'network' | 'netns' | 'attach' | 'publish' | 'exec' | 'inspect' | 'gc' | 'demo' | 'daemon' | 'cni';

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

const IDLE: OptDef = { type: 'string', arg: 'SECONDS', help: 'exit after this long without a request (default 0: never)' };
const CONFIG: OptDef = { type: 'string', arg: 'FILE', help: 'agent config (JSON: group, metricsListen)' };
const UNIT_DIR: OptDef = { type: 'string', arg: 'DIR', help: 'where the unit goes (default /etc/systemd/system)' };

/** The agent's verbs (cli/daemon.ts, docs/agent-protocol.md); `daemon …` are their old names. */
function agentVerbs(group: 'agent' | 'daemon'): VerbDef[] {
  const old = group === 'daemon' ? ' (old name of agent)' : '';
  const none = { minPositionals: 0, maxPositionals: 0, positionalName: '' } as const;
  const verbs: VerbDef[] = [
    {
      name: `${group} start`, impl: ['daemon', 'start'], summary: `start the resident agent in the background: one server for the CLI, the CNI plugin and runtimes${old}`,
      synopsis: '[--idle-timeout SECONDS] [--config FILE]', options: { 'idle-timeout': IDLE, config: CONFIG }, ...none,
      examples: [
        `sudo ctnet-fast ${group} start`,
        `sudo ctnet-fast ${group} start --config /etc/ctnet-fast/agent.json   # {"group": "ctnet"}: members may talk to it`,
        'export CTNET_DAEMON=auto   # instead: the first command starts one (idle exit after 300 s)',
        'CTNET_DAEMON=off ctnet-fast attach c1 --network demo   # bypass it',
      ],
      notes: [
        'While it runs, attach, detach, publish, unpublish, ls, network and gc are sent to it (named pipes',
        'under STATE_DIR/agent.pipes/, else STATE_DIR/agent.sock) and its answer is printed as if the command',
        "ran here: a single attach costs Node's start-up + ~4 ms. The CNI shim and other clients use the",
        'same socket and protocol (docs/agent-protocol.md). A caller in another netns or mount namespace,',
        'or with other CTNET_* settings, runs the command itself. Log: STATE_DIR/agent.log.',
        'At start it runs gc over the intent log: a killed agent leaves nothing half done.',
      ],
    },
    {
      name: `${group} stop`, impl: ['daemon', 'stop'], summary: `stop the agent (after the requests it is running)${old}`, synopsis: '', options: {}, ...none,
      examples: [`sudo ctnet-fast ${group} stop`, `sudo ctnet-fast ${group} stop --json`],
    },
    {
      name: `${group} status`, impl: ['daemon', 'status'], summary: `is an agent running? (exit 0 yes, 3 no)${old}`, synopsis: '', options: {}, ...none,
      examples: [`ctnet-fast ${group} status`, `ctnet-fast ${group} status --json`],
    },
    {
      name: `${group} run`, impl: ['daemon', 'run'], summary: `run the agent in the foreground (systemd: see agent install)${old}`,
      synopsis: '[--idle-timeout SECONDS] [--config FILE]', options: { 'idle-timeout': IDLE, config: CONFIG }, ...none,
      examples: [`sudo ctnet-fast ${group} run`, `sudo ctnet-fast ${group} run --config /etc/ctnet-fast/agent.json --json`],
      notes: ['Stops on SIGTERM or SIGINT, after the requests it is running.'],
    },
  ];
  if (group === 'daemon') return verbs;
  return [...verbs,
    {
      name: 'agent install', impl: ['daemon', 'install'], summary: 'write the systemd unit ctnet-fast-agent.service that runs agent run',
      synopsis: '[--unit-dir DIR] [--config FILE]', options: { 'unit-dir': UNIT_DIR, config: CONFIG }, ...none,
      examples: [
        'sudo ctnet-fast agent install   # then: systemctl daemon-reload && systemctl enable --now ctnet-fast-agent',
        'ctnet-fast agent install --unit-dir ./units --config /etc/ctnet-fast/agent.json --json',
      ],
      notes: ['It does not run systemctl. It overwrites only a unit it wrote itself.'],
    },
    {
      name: 'agent uninstall', impl: ['daemon', 'uninstall'], summary: 'remove the unit agent install wrote (and nothing else)',
      synopsis: '[--unit-dir DIR]', options: { 'unit-dir': UNIT_DIR }, ...none,
      examples: ['sudo ctnet-fast agent uninstall   # after: systemctl disable --now ctnet-fast-agent', 'ctnet-fast agent uninstall --unit-dir ./units --json'],
    },
  ];
}

export const VERBS: readonly VerbDef[] = [
  {
    name: 'network create', impl: ['network', 'create'], daemon: true, summary: 'create a bridge network (or check that it exists with these settings)',
    synopsis: 'NAME (--subnet CIDR [--subnet6 CIDR] | --subnet6 CIDR) [--gateway IP] [--bridge IFNAME] [--mtu N] [--internal] [--no-masquerade] [--ignore-host-routes] [--block-host [--allow-host-port PORT[/PROTO]]...]',
    options: {
      subnet: { type: 'string', arg: 'CIDR', help: 'IPv4 subnet, e.g. 172.18.0.0/16 (required)' },
      subnet6: { type: 'string', arg: 'CIDR', help: 'IPv6 subnet for dual stack, e.g. fd00:18::/64' },
      gateway: { type: 'string', arg: 'IP', help: 'bridge address (default: the first address of the subnet)' },
      gateway6: { type: 'string', arg: 'IP', help: 'IPv6 bridge address (default: the first address of --subnet6)' },
      bridge: { type: 'string', arg: 'IFNAME', help: 'bridge interface name (default: ctbr- + a hash of NAME)' },
      mtu: { type: 'string', arg: 'N', help: 'MTU of the bridge and every veth (default 1500)' },
      internal: { type: 'boolean', help: 'no egress: no masquerade, no forwarding out of the bridge' },
      'no-masquerade': { type: 'boolean', help: 'do not masquerade traffic leaving the subnet' },
      'ignore-host-routes': { type: 'boolean', help: "create it even if the subnet overlaps one of the host's routes (never its addresses)" },
      'block-host': { type: 'boolean', help: 'containers cannot reach the host (gateway, host addresses, 169.254.169.254) except DNS on the gateway' },
      'allow-host-port': { type: 'string', multiple: true, arg: 'PORT[/PROTO]', help: 'with --block-host: a gateway port containers may still reach (tcp by default)' },
    },
    minPositionals: 1, maxPositionals: 1, positionalName: HOST_OR_NETWORK,
    examples: [
      'ctnet-fast network create demo --subnet 172.18.0.0/16',
      'ctnet-fast network create lab --subnet 10.20.0.0/24 --ignore-host-routes   # 10.20.0.0/16 is routed elsewhere, use it anyway',
      'ctnet-fast network create apps --subnet 172.30.0.0/16 --block-host --allow-host-port 8125/udp --allow-host-port 9100',
    ],
    notes: [
      'Running it again with the same settings does nothing; different settings are an error.',
      "A new subnet may not be a special range (loopback, multicast, link-local, 0.0.0.0/8…), contain one of the host's",
      "addresses, or overlap a host route other than the default route (unless --ignore-host-routes).",
    ],
  },
  {
    name: 'network rm', impl: ['network', 'rm'], daemon: true, summary: 'remove networks (their bridge, rules and state)',
    synopsis: 'NAME... [--force]',
    options: { force: { type: 'boolean', short: 'f', help: 'detach every endpoint first (otherwise a network in use is an error)' } },
    minPositionals: 1, maxPositionals: Infinity, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast network rm demo', 'ctnet-fast network rm --force demo'],
  },
  {
    name: 'network ls', impl: ['network', 'ls'], daemon: true, summary: 'list networks', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast network ls', 'ctnet-fast network ls --json'],
  },
  {
    name: 'network inspect', impl: ['network', 'inspect'], daemon: true, summary: 'show one network and its endpoints', synopsis: 'NAME', options: {},
    minPositionals: 1, maxPositionals: 1, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast network inspect demo --json'],
  },
  {
    name: 'netns add', impl: ['netns', 'add'], summary: 'create named network namespaces (the names `ip netns` sees)', synopsis: 'NAME...', options: {},
    minPositionals: 1, maxPositionals: Infinity, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast netns add netns0'],
  },
  {
    name: 'netns del', impl: ['netns', 'del'], summary: 'delete named network namespaces', synopsis: 'NAME...', options: {},
    minPositionals: 1, maxPositionals: Infinity, positionalName: HOST_OR_NETWORK,
    examples: ['ctnet-fast netns del netns0'],
  },
  {
    name: 'netns ls', impl: ['netns', 'ls'], summary: 'list named network namespaces', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast netns ls'],
  },
  {
    name: 'attach', impl: ['attach', 'attach'], daemon: true, summary: 'connect containers (netns) to a network; several in one process',
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
    name: 'detach', impl: ['attach', 'detach'], daemon: true, summary: 'disconnect containers from their network (deletes the netns if attach created it)',
    synopsis: 'NETNS... [--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'only the endpoint on this network' } },
    minPositionals: 1, maxPositionals: Infinity, positionalName: 'NETNS',
    examples: ['ctnet-fast detach netns0', 'ctnet-fast detach netns0 --network demo'],
  },
  {
    name: 'publish', impl: ['publish', 'publish'], daemon: true, summary: 'publish ports of an attached container',
    synopsis: 'NETNS SPEC... [--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'the endpoint on this network (when on several)' } },
    minPositionals: 2, maxPositionals: Infinity, positionalName: 'NETNS SPEC',
    examples: ['ctnet-fast publish netns0 8080:80 127.0.0.1:5353:53/udp 9000-9009:9000-9009'],
    notes: ['SPEC: [HOSTIP:]HOSTPORT[-END]:CPORT[-END][/tcp|udp]'],
  },
  {
    name: 'unpublish', impl: ['publish', 'unpublish'], daemon: true, summary: 'stop publishing ports of an attached container',
    synopsis: 'NETNS SPEC... [--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'the endpoint on this network (when on several)' } },
    minPositionals: 2, maxPositionals: Infinity, positionalName: 'NETNS SPEC',
    examples: ['ctnet-fast unpublish netns0 8080:80'],
  },
  {
    name: 'exec', impl: ['exec', 'exec'], summary: 'run a command inside a netns (like nsenter --net, without an nsenter process)',
    synopsis: 'NETNS -- CMD [ARG...]', options: {},
    minPositionals: 1, maxPositionals: 1, positionalName: 'NETNS',
    examples: ['ctnet-fast exec netns0 -- ip -j addr', 'ctnet-fast exec /proc/1234/ns/net -- ping -c1 172.18.0.1'],
    notes: ['The command replaces ctnet-fast (same pid, stdio and exit status).'],
  },
  {
    name: 'inspect', impl: ['inspect', 'inspect'], summary: "show a netns's network stack: devices, addresses, routes, neighbours, our nft tables",
    synopsis: '[NETNS]', options: {},
    minPositionals: 0, maxPositionals: 1, positionalName: 'NETNS',
    examples: ['ctnet-fast inspect', 'ctnet-fast inspect netns0 --json'],
    notes: ['Without NETNS: the host netns (or --host-netns).'],
  },
  {
    name: 'ls', impl: ['attach', 'ls'], daemon: true, summary: 'list endpoints (attached containers)', synopsis: '[--network NAME]',
    options: { network: { type: 'string', short: 'n', arg: 'NAME', help: 'only endpoints of this network' } },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast ls', 'ctnet-fast ls --network demo --json'],
  },
  {
    name: 'gc', impl: ['gc', 'gc'], daemon: true, summary: 'reconcile state with the kernel (finish or undo interrupted work, drop stale state)',
    synopsis: '[--dry-run]',
    options: { 'dry-run': { type: 'boolean', help: 'only say what would be done' } },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast gc --dry-run', 'ctnet-fast gc'],
  },
  {
    name: 'demo', impl: ['demo', 'demo'], summary: "build the tutorial's network in a sandbox, prove it with traffic, time it against ip, clean up",
    synopsis: '', options: {
      'no-compare': { type: 'boolean', help: 'skip the timed rebuild with ip processes' },
    },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['sudo ctnet-fast demo', 'sudo ctnet-fast demo --json'],
    notes: ["Runs inside its own network + mount namespace (unshare): the machine's own network is never touched."],
  },
  ...agentVerbs('agent'),
  ...agentVerbs('daemon'),
  {
    name: 'cni install', impl: ['cni', 'install'], summary: 'place the CNI plugin ctnet-cni and a sample conflist for containerd, CRI-O, podman',
    synopsis: '[--bin-dir DIR] [--conf-dir DIR] [--name NAME] [--subnet CIDR] [--force]',
    options: {
      'bin-dir': { type: 'string', arg: 'DIR', help: 'CNI plugin directory (default /opt/cni/bin); gets ctnet-cni and its manifest ctnet-cni.json' },
      'conf-dir': { type: 'string', arg: 'DIR', help: 'CNI config directory (default /etc/cni/net.d); gets 50-NAME.conflist' },
      name: { type: 'string', arg: 'NAME', help: 'network name of the sample conflist (default ctnet)' },
      subnet: { type: 'string', arg: 'CIDR', help: 'subnet of the sample conflist (default 10.89.0.0/16)' },
      force: { type: 'boolean', help: 'replace files there that ctnet-fast cni install did not place' },
    },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: [
      'sudo ctnet-fast cni install',
      'sudo ctnet-fast cni install --name pods --subnet 10.244.1.0/24 --json',
      'sudo ctnet-fast cni install --bin-dir /usr/lib/cni --conf-dir /etc/cni/net.d   # Debian\'s plugin directory',
    ],
    notes: [
      'The manifest records every file with its sha256, and where node and this package are: with no agent',
      'running the plugin runs self-contained through them (it trusts the manifest only when root owns it).',
    ],
  },
  {
    name: 'cni uninstall', impl: ['cni', 'uninstall'], summary: 'remove exactly what cni install placed (refuses files changed since)',
    synopsis: '[--bin-dir DIR]',
    options: { 'bin-dir': { type: 'string', arg: 'DIR', help: 'the --bin-dir given to cni install (default /opt/cni/bin)' } },
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['sudo ctnet-fast cni uninstall', 'sudo ctnet-fast cni uninstall --bin-dir /usr/lib/cni --json'],
  },
  {
    name: 'version', summary: 'print the version', synopsis: '', options: {},
    minPositionals: 0, maxPositionals: 0, positionalName: '',
    examples: ['ctnet-fast version', 'ctnet-fast version --json'],
  },
];

/** Verb groups with sub-verbs, and the aliases each accepts. */
export const GROUPS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  network: { create: 'create', add: 'create', rm: 'rm', remove: 'rm', delete: 'rm', del: 'rm', ls: 'ls', list: 'ls', inspect: 'inspect', show: 'inspect' },
  netns: { add: 'add', create: 'add', del: 'del', delete: 'del', rm: 'del', ls: 'ls', list: 'ls' },
  agent: { start: 'start', stop: 'stop', status: 'status', run: 'run', install: 'install', uninstall: 'uninstall' },
  daemon: { start: 'start', stop: 'stop', status: 'status', run: 'run' },
  cni: { install: 'install', uninstall: 'uninstall', remove: 'uninstall' },
};
export const ALIASES: Readonly<Record<string, string>> = { help: 'help', '--version': 'version', '-V': 'version' };

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
