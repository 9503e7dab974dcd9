/**
 * cli/help.ts — help texts, generated from the verb table in table.ts (so they cannot
 * drift from what the parser accepts). Loaded only for --help / usage.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). No I/O.
 */
import { GLOBAL_OPTIONS, VERBS, findVerb, subVerbName, verbGroup, type OptDef, type VerbDef } from './table.js';

const EXIT_CODES = 'Exit codes: 0 ok · 1 failure · 2 usage error or invalid input · 3 not found · 4 missing privilege or tool';

function optionLines(defs: Readonly<Record<string, OptDef>>): string[] {
  const rows = Object.entries(defs).map(([name, d]) => {
    const flag = `${d.short !== undefined ? `-${d.short}, ` : '    '}--${name}${d.arg !== undefined ? ` ${d.arg}` : ''}`;
    return [flag, d.help + (d.multiple ? ' (repeatable)' : '')] as const;
  });
  const w = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, h]) => `  ${f.padEnd(w)}  ${h}`);
}

export function verbHelp(v: VerbDef): string {
  const lines = [
    `Usage: ctnet-fast ${v.name}${v.synopsis !== '' ? ` ${v.synopsis}` : ''}`,
    '',
    `${v.summary.charAt(0).toUpperCase()}${v.summary.slice(1)}.`,
  ];
  if (v.notes !== undefined) lines.push(...v.notes);
  if (Object.keys(v.options).length > 0) lines.push('', 'Options:', ...optionLines(v.options));
  lines.push('', 'Example' + (v.examples.length > 1 ? 's' : '') + ':', ...v.examples.map((e) => `  ${e}`));
  lines.push('', 'Global options: --host-netns NAME|PATH, --state-dir DIR, --json, --quiet, --verbose (see ctnet-fast --help)');
  lines.push(EXIT_CODES);
  return lines.join('\n') + '\n';
}

function groupHelp(group: string): string {
  const verbs = VERBS.filter((v) => v.name.startsWith(`${group} `));
  const w = Math.max(...verbs.map((v) => v.name.length));
  return [
    `Usage: ctnet-fast ${group} COMMAND`,
    '',
    ...verbs.map((v) => `  ${v.name.padEnd(w)}  ${v.summary}`),
    '',
    'Examples:',
    ...verbs.map((v) => `  ${v.examples[0] ?? ''}`),
    '',
    `Run 'ctnet-fast ${group} COMMAND --help' for details.`,
  ].join('\n') + '\n';
}

export function mainHelp(): string {
  const w = Math.max(...VERBS.map((v) => v.name.length));
  const section = (title: string, names: string[]): string[] => [
    title, ...names.map((n) => findVerb(n)).filter((v): v is VerbDef => v !== undefined).map((v) => `  ${v.name.padEnd(w)}  ${v.summary}`), '',
  ];
  return [
    'ctnet-fast — container networking for Linux, straight to the kernel (rtnetlink + nftables).',
    '',
    'Usage: ctnet-fast [GLOBAL OPTIONS] COMMAND [ARGS...]',
    '',
    ...section('Networks:', ['network create', 'network rm', 'network ls', 'network inspect']),
    ...section('Containers:', ['attach', 'detach', 'publish', 'unpublish', 'ls', 'exec']),
    ...section('Namespaces:', ['netns add', 'netns del', 'netns ls', 'inspect']),
    ...section('Maintenance:', ['gc', 'demo', 'version']),
    ...section('Agent (optional for the CLI, saves each command the ~40 ms of loading the library; serves CNI and runtimes):', ['agent start', 'agent stop', 'agent status', 'agent run', 'agent install', 'agent uninstall']),
    ...section('Old names of the agent verbs:', ['daemon start', 'daemon stop', 'daemon status', 'daemon run']),
    ...section('CNI plugin (containerd, CRI-O, podman, Kubernetes):', ['cni install', 'cni uninstall']),
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'NETNS is a name under /run/netns (attach creates it if missing) or a path such as /proc/PID/ns/net.',
    'Human output by default (no colour when not a TTY or NO_COLOR is set); --json prints one JSON',
    'document on stdout; messages and progress go to stderr.',
    EXIT_CODES,
    '',
    'Environment: CTNET_STATE_DIR (state directory), CTNET_BACKEND (auto|native|iproute2),',
    'CTNET_NATIVE_PATH (the addon file), CTNET_DAEMON=off (never use a running agent) or auto',
    '(start one on first use; it exits after 5 idle minutes), NO_COLOR.',
    'The CLI does no TLS: scripts can run it with',
    'NODE_EXTRA_CA_CERTS unset to spare every call the CA bundle load.',
    '',
    'Example: the tutorial in four commands',
    '  ctnet-fast network create demo --subnet 172.18.0.0/16',
    '  ctnet-fast attach netns0 netns1 --network demo',
    '  ctnet-fast publish netns0 8080:80',
    '  ctnet-fast exec netns0 -- ping -c1 172.18.0.3',
    '',
    "Run 'ctnet-fast COMMAND --help' for a command's options and examples.",
  ].join('\n') + '\n';
}

/** Help for a topic ("attach", "network", "network create", "network list"), or undefined if unknown. */
export function helpFor(topic: string | undefined): string | undefined {
  if (topic === undefined || topic === '') return mainHelp();
  if (verbGroup(topic) !== undefined) return groupHelp(topic);
  // the parser's own alias table, so `help network list` names the verb `network list` runs
  const [group = '', sub = '', extra] = topic.split(/\s+/);
  const v = findVerb(topic) ?? (extra === undefined ? findVerb(subVerbName(group, sub) ?? '') : undefined);
  return v === undefined ? undefined : verbHelp(v);
}
