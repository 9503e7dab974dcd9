/**
 * cli/verbs/demo.ts — `demo`: build the tutorial's network (two containers on a bridge,
 * NAT to an "outside world", a published port), prove every step with real traffic, time
 * it against the same steps done with `ip` processes, and clean up.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers"). SAFETY: it never touches the machine's own
 * network. The first invocation re-executes itself in the sandbox of cli/sandbox.ts (the
 * one the tests run in: fresh network + mount namespaces, a private tmpfs on /run, and a
 * user namespace when not root), and the inner one refuses to run unless its namespaces
 * are new. Everything — links, routes, nftables, /run/netns, state — dies with that
 * process. The outside world is a netns of the sandbox with TEST-NET-1 addresses
 * (192.0.2.1/24 host side, 192.0.2.2/24 outside); no packet goes anywhere else. Helper
 * programs (ping, `node -e` servers and clients) run with argument arrays, never a shell.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Context } from '../context.js';
import { runInSandbox, sandboxMarker, setUpSandbox, type SandboxSpec } from '../sandbox.js';
import { CtnetError, EnvironmentError, CODE } from '../../model/errors.js';
import type { Host } from '../lib.js';
import { formatTable } from '../output.js';

const SANDBOX: SandboxSpec = { what: 'demo', marker: 'CTNET_DEMO_SANDBOX', userns: true, fix: 'sudo ctnet-fast demo', tmpfs: 'ctnet-demo' };
const SUBNET = '172.18.0.0/16';
const HOST_OUT = '192.0.2.1';
const OUTSIDE = '192.0.2.2';
const PUBLISH = '8080:80';

export interface DemoStep {
  readonly step: string;
  /** In-process library time (null: not applicable). */
  readonly ctnetMs: number | null;
  /** The same step with `ip` (and iptables/nft) processes, run from Node (null: skipped). */
  readonly ipMs: number | null;
  /** ipMs / ctnetMs */
  readonly ratio: number | null;
  readonly ipProcesses: number;
}
export interface DemoCheck { readonly build: 'ctnet-fast' | 'ip'; readonly check: string; readonly ok: boolean; readonly detail: string }
export interface DemoReport {
  readonly sandbox: { readonly kind: 'unshare'; readonly pid: number; readonly netns: string; readonly description: string };
  readonly backend: string;
  readonly firewall: string;
  readonly ipFirewallTool: 'iptables' | 'nft' | 'none';
  readonly steps: readonly DemoStep[];
  readonly totals: { readonly ctnetMs: number; readonly ipMs: number | null; readonly ratio: number | null };
  readonly checks: readonly DemoCheck[];
  readonly ok: boolean;
}

interface Proc { ok: boolean; status: number | null; stdout: string; stderr: string; missing: boolean }

function run(file: string, args: readonly string[], timeoutMs = 10_000): Proc {
  const r = spawnSync(file, [...args], { encoding: 'utf8', timeout: timeoutMs, env: helperEnv() });
  return {
    ok: r.status === 0, status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').trim(),
    missing: (r.error as { code?: string } | undefined)?.code === 'ENOENT',
  };
}

/** Helper processes do no TLS: skip the extra CA bundle load (it costs ~50 ms a process). */
function helperEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env[SANDBOX.marker];
  return env;
}

function notInstalled(file: string, what: string): EnvironmentError {
  return new EnvironmentError(`demo: ${file} is not installed (${what}): apt-get install ${file === 'ip' ? 'iproute2' : file === 'nft' ? 'nftables' : file}`, CODE.noTool);
}

function must(file: string, args: readonly string[], what: string): void {
  const r = run(file, args);
  if (r.missing) throw notInstalled(file, what);
  if (!r.ok) throw new CtnetError(`demo: ${what}: ${file} ${args.join(' ')}: ${r.stderr.split('\n')[0] ?? `exit ${r.status}`}`, CODE.failure);
}

/** Time a list of commands run one after another (the tutorial's way). */
function timeCommands(cmds: ReadonlyArray<readonly [string, readonly string[]] | (() => void)>, what: string): { ms: number; procs: number } {
  let procs = 0;
  const t0 = performance.now();
  for (const c of cmds) {
    if (typeof c === 'function') { c(); continue; }
    procs++;
    const r = spawnSync(c[0], [...c[1]], { encoding: 'utf8', env: helperEnv() });
    if (r.status !== 0) {
      if ((r.error as { code?: string } | undefined)?.code === 'ENOENT') throw notInstalled(c[0], `ip build ${what}`);
      throw new CtnetError(`demo (ip build) ${what}: ${c[0]} ${c[1].join(' ')}: ${(r.stderr ?? '').trim().split('\n')[0] ?? ''}`, CODE.failure);
    }
  }
  return { ms: performance.now() - t0, procs };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

function ping(fromNs: string | undefined, ip: string): { ok: boolean; detail: string } {
  const argv = ['-c1', '-W1', ip];
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = fromNs === undefined ? run('ping', argv) : run('ip', ['netns', 'exec', fromNs, 'ping', ...argv]);
    if (r.missing) return { ok: false, detail: 'ping is not installed: apt-get install iputils-ping' };
    if (r.ok) {
      const t = /time[=<]([\d.]+) ?ms/.exec(r.stdout);
      return { ok: true, detail: `1 packet, rtt ${t?.[1] ?? '?'} ms` };
    }
    last = (r.stderr || r.stdout).split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? `exit ${r.status}`;
  }
  return { ok: false, detail: last };
}

/** A `node -e PROGRAM` inside a netns (argv array: not a shell); resolves once it prints "ready". */
function startServer(ns: string, program: string, args: readonly string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', program, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: helperEnv() });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server in ${ns} did not start: ${err.trim()}`)); }, 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) { clearTimeout(timer); resolve(child); }
    });
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server in ${ns} exited (${code}): ${err.trim()}`)); });
  });
}

const HTTP_SERVER = `const ip=process.argv[1];require('http').createServer((q,s)=>{s.end('hello from netns0 ('+ip+'); you are '+q.socket.remoteAddress+'\\n')}).listen(80,'0.0.0.0',()=>console.log('ready'))`;
const WHOAMI_SERVER = `require('net').createServer(c=>{c.end(c.remoteAddress+'\\n')}).listen(7000,process.argv[1],()=>console.log('ready'))`;
/** node -e CLIENT HOST PORT [http]: print what the server sends (an HTTP GET when asked). */
const CLIENT = `const [h,p,mode]=process.argv.slice(1);const t=setTimeout(()=>{console.error('timeout');process.exit(2)},4000);
if(mode==='http'){require('http').get({host:h,port:+p,path:'/'},r=>{let d='';r.on('data',x=>d+=x);r.on('end',()=>{clearTimeout(t);process.stdout.write(d)})}).on('error',e=>{console.error(e.message);process.exit(1)})}
else{const c=require('net').connect(+p,h);let d='';c.on('data',x=>d+=x);c.on('end',()=>{clearTimeout(t);process.stdout.write(d)});c.on('error',e=>{console.error(e.message);process.exit(1)})}`;

function client(ns: string, host: string, port: number, mode: 'http' | 'tcp'): { ok: boolean; text: string } {
  const r = run('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, host, String(port), mode]);
  return { ok: r.ok, text: (r.ok ? r.stdout : r.stderr).trim() };
}

function hostFetch(host: string, port: number): Promise<{ ok: boolean; text: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', timeout: 4000, agent: false }, (res) => {
      let d = '';
      res.on('data', (x: Buffer) => { d += x.toString(); });
      res.on('end', () => resolve({ ok: res.statusCode === 200, text: d.trim() }));
    });
    req.on('timeout', () => { req.destroy(); resolve({ ok: false, text: 'timeout' }); });
    req.on('error', (e) => resolve({ ok: false, text: e.message }));
  });
}

function ipFirewallTool(): 'iptables' | 'nft' | 'none' {
  if (!run('iptables', ['--version']).missing) return 'iptables';
  if (!run('nft', ['--version']).missing) return 'nft';
  return 'none';
}

type Cmd = readonly [string, readonly string[]];

/** The tutorial's commands for one container (`ip -n NS` stands in for `nsenter --net=… ip`). */
function ipAttachCmds(ns: string, host: string, peer: string, addr: string): Cmd[] {
  return [
    ['ip', ['netns', 'add', ns]],
    ['ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]],
    ['ip', ['link', 'set', host, 'master', 'br0']],
    ['ip', ['link', 'set', host, 'up']],
    ['ip', ['link', 'set', peer, 'netns', ns]],
    ['ip', ['-n', ns, 'link', 'set', 'lo', 'up']],
    ['ip', ['-n', ns, 'link', 'set', peer, 'up']],
    ['ip', ['-n', ns, 'addr', 'add', `${addr}/16`, 'dev', peer]],
    ['ip', ['-n', ns, 'route', 'add', 'default', 'via', '172.18.0.1']],
  ];
}

function natCmds(tool: 'iptables' | 'nft' | 'none', what: 'masq' | 'publish' | 'teardown', target: string): Cmd[] {
  if (tool === 'iptables') {
    const masq = ['-t', 'nat', '-A', 'POSTROUTING', '-s', SUBNET, '!', '-o', 'br0', '-j', 'MASQUERADE'];
    const dnat = (chain: string) => ['-t', 'nat', '-A', chain, '-d', HOST_OUT, '-p', 'tcp', '-m', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', `${target}:80`];
    if (what === 'masq') return [['iptables', masq]];
    if (what === 'publish') return [['iptables', dnat('PREROUTING')], ['iptables', dnat('OUTPUT')]];
    const del = (a: string[]) => a.map((x) => (x === '-A' ? '-D' : x));
    return [['iptables', del(dnat('PREROUTING'))], ['iptables', del(dnat('OUTPUT'))], ['iptables', del(masq)]];
  }
  if (tool === 'nft') {
    if (what === 'masq') {
      return [
        ['nft', ['add', 'table', 'ip', 'tutorial']],
        ['nft', ['add', 'chain', 'ip', 'tutorial', 'postrouting', '{ type nat hook postrouting priority 100 ; }']],
        ['nft', ['add', 'rule', 'ip', 'tutorial', 'postrouting', 'ip', 'saddr', SUBNET, 'oifname', '!=', 'br0', 'masquerade']],
      ];
    }
    if (what === 'publish') {
      const rule = (chain: string): Cmd => ['nft', ['add', 'rule', 'ip', 'tutorial', chain, 'ip', 'daddr', HOST_OUT, 'tcp', 'dport', '8080', 'dnat', 'to', `${target}:80`]];
      return [
        ['nft', ['add', 'chain', 'ip', 'tutorial', 'prerouting', '{ type nat hook prerouting priority -100 ; }']],
        ['nft', ['add', 'chain', 'ip', 'tutorial', 'output', '{ type nat hook output priority -100 ; }']],
        rule('prerouting'), rule('output'),
      ];
    }
    return [['nft', ['delete', 'table', 'ip', 'tutorial']]];
  }
  return [];
}

async function inside(ctx: Context, marker: string): Promise<number> {
  const out = ctx.out;
  const sandbox = setUpSandbox(marker, SANDBOX); // refuses unless these namespaces are new
  const description = `a private network + mount namespace made with unshare (pid ${process.pid}${sandbox.userns ? ', inside a user namespace mapping you to root' : ''}) and a tmpfs /run of its own; the machine's own interfaces, routes, firewall and /run/netns are not touched, and everything vanishes when the demo exits`;
  out.info(`ctnet-fast demo: running in ${description}`);

  const steps: DemoStep[] = [];
  const checks: DemoCheck[] = [];
  const status = (m: string): void => out.status(`demo: ${m}…`);
  const check = (build: DemoCheck['build'], name: string, r: { ok: boolean; detail: string }): void => {
    checks.push({ build, check: name, ok: r.ok, detail: r.detail });
    if (!out.json && !out.quiet) out.clearProgress();
  };
  const compare = ctx.options['no-compare'] !== true;
  const tool = compare ? ipFirewallTool() : 'none';
  const servers: ChildProcess[] = [];
  let host: Host | undefined;
  let backend = '?';
  let firewall = '?';

  // The outside world: a netns behind a veth with TEST-NET-1 addresses (not timed: scaffolding).
  status('outside world');
  must('ip', ['netns', 'add', 'outside'], 'outside netns');
  must('ip', ['link', 'add', 'vout', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'outside'], 'outside veth');
  must('ip', ['addr', 'add', `${HOST_OUT}/24`, 'dev', 'vout'], 'outside veth address');
  must('ip', ['link', 'set', 'vout', 'up'], 'outside veth up');
  must('ip', ['-n', 'outside', 'addr', 'add', `${OUTSIDE}/24`, 'dev', 'eth0'], 'outside address');
  must('ip', ['-n', 'outside', 'link', 'set', 'eth0', 'up'], 'outside up');
  must('ip', ['-n', 'outside', 'link', 'set', 'lo', 'up'], 'outside lo up');

  const rows: Array<{ step: string; ctnet: number | null }> = [];
  try {
    // ---- ctnet-fast build (in-process library calls, timed) ----
    status('open host');
    const [h, tOpen] = await timed(async () => {
      const { Host } = await import('../../topology/host.js');
      return Host.open({
        // the demo's state lives on its private /run, never in the caller's state dir
        stateDir: '/run/ctnet-fast-demo',
        warn: (m) => { if (/mount namespace/.test(m)) out.debug(m); else out.warn(m); },
        ...(ctx.global.backend !== undefined ? { backend: ctx.global.backend } : {}),
        ...(ctx.global.firewall !== undefined ? { firewall: ctx.global.firewall } : {}),
      });
    });
    host = h;
    backend = h.backendName;
    try { firewall = h.firewallName; } catch (e) { firewall = `unavailable (${(e as Error).message})`; }
    rows.push({ step: 'open host (load library + addon, base ruleset)', ctnet: tOpen });
    status(`network create demo ${SUBNET}`);
    const [net, tNet] = await timed(() => h.network({ name: 'demo', subnet: SUBNET }));
    rows.push({ step: `network create demo ${SUBNET}`, ctnet: tNet });
    status('attach netns0');
    const [ep0, tA0] = await timed(() => net.attach({ netns: 'netns0' }));
    rows.push({ step: 'attach netns0', ctnet: tA0 });
    status('attach netns1');
    const [ep1, tA1] = await timed(() => net.attach({ netns: 'netns1' }));
    rows.push({ step: 'attach netns1', ctnet: tA1 });
    status(`publish ${PUBLISH} on netns0`);
    const [, tPub] = await timed(() => ep0.publish([PUBLISH]));
    rows.push({ step: `publish ${PUBLISH} on netns0`, ctnet: tPub });
    const ip0 = ep0.info.ip;
    const ip1 = ep1.info.ip;
    const gw = net.info.gateway ?? '';

    // ---- prove it with traffic ----
    status('checks');
    check('ctnet-fast', `netns0 → netns1: ping ${ip1}`, ping('netns0', ip1));
    check('ctnet-fast', `netns1 → netns0: ping ${ip0}`, ping('netns1', ip0));
    check('ctnet-fast', `host → netns0: ping ${ip0}`, ping(undefined, ip0));
    check('ctnet-fast', `netns0 → host (bridge ${gw}): ping`, ping('netns0', gw));
    check('ctnet-fast', `netns0 → outside ${OUTSIDE}: ping (routed, masqueraded)`, ping('netns0', OUTSIDE));
    try {
      servers.push(await startServer('outside', WHOAMI_SERVER, [OUTSIDE]));
      const r = client('netns0', OUTSIDE, 7000, 'tcp');
      check('ctnet-fast', `netns0 → outside TCP: outside sees the host address ${HOST_OUT} (NAT)`, { ok: r.ok && r.text === HOST_OUT, detail: r.ok ? `source seen: ${r.text}` : r.text });
    } catch (e) {
      check('ctnet-fast', 'netns0 → outside TCP (NAT)', { ok: false, detail: (e as Error).message });
    }
    try {
      servers.push(await startServer('netns0', HTTP_SERVER, [ip0]));
      const r = client('outside', HOST_OUT, 8080, 'http');
      check('ctnet-fast', `outside → ${HOST_OUT}:8080 → netns0:80 (published port, HTTP)`, { ok: r.ok && r.text.startsWith('hello from netns0'), detail: r.text });
      const hr = await hostFetch(HOST_OUT, 8080);
      check('ctnet-fast', `host → ${HOST_OUT}:8080 → netns0:80 (published port, HTTP)`, { ok: hr.ok && hr.text.startsWith('hello from netns0'), detail: hr.text });
    } catch (e) {
      check('ctnet-fast', 'HTTP through the published port', { ok: false, detail: (e as Error).message });
    }
    for (const s of servers.splice(0)) s.kill('SIGKILL');

    // ---- teardown, timed ----
    status('detach');
    const [, tDet] = await timed(async () => { await ep0.detach(); await ep1.detach(); });
    rows.push({ step: 'detach netns0 + netns1', ctnet: tDet });
    status('network rm demo');
    const [, tRm] = await timed(() => net.remove());
    rows.push({ step: 'network rm demo', ctnet: tRm });
    await h.close();
    host = undefined;
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    if (host !== undefined) await host.close().catch(() => undefined);
  }

  // ---- the same with ip processes (timed), proven with two pings, torn down ----
  const ipTimes = new Map<string, { ms: number; procs: number }>();
  if (compare) {
    status('ip build');
    ipTimes.set(`network create demo ${SUBNET}`, timeCommands([
      ['ip', ['link', 'add', 'br0', 'type', 'bridge']],
      ['ip', ['link', 'set', 'br0', 'up']],
      ['ip', ['addr', 'add', '172.18.0.1/16', 'dev', 'br0']],
      () => writeFileSync('/proc/sys/net/ipv4/ip_forward', '1\n'),
      ...natCmds(tool, 'masq', ''),
    ], 'bridge'));
    ipTimes.set('attach netns0', timeCommands(ipAttachCmds('netns0', 'veth0', 'ceth0', '172.18.0.10'), 'netns0'));
    ipTimes.set('attach netns1', timeCommands(ipAttachCmds('netns1', 'veth1', 'ceth1', '172.18.0.20'), 'netns1'));
    ipTimes.set(`publish ${PUBLISH} on netns0`, timeCommands(natCmds(tool, 'publish', '172.18.0.10'), 'publish'));
    status('ip checks');
    check('ip', 'netns0 → netns1: ping 172.18.0.20', ping('netns0', '172.18.0.20'));
    check('ip', `netns0 → outside ${OUTSIDE}: ping (masqueraded)`, ping('netns0', OUTSIDE));
    status('ip teardown');
    ipTimes.set('detach netns0 + netns1', timeCommands([['ip', ['netns', 'del', 'netns0']], ['ip', ['netns', 'del', 'netns1']]], 'teardown'));
    ipTimes.set('network rm demo', timeCommands([['ip', ['link', 'del', 'br0']], ...natCmds(tool, 'teardown', '172.18.0.10')], 'teardown'));
  }
  run('ip', ['netns', 'del', 'outside']);
  out.clearProgress();

  for (const r of rows) {
    const ip = ipTimes.get(r.step);
    steps.push({
      step: r.step, ctnetMs: r.ctnet, ipMs: ip?.ms ?? null,
      ratio: ip !== undefined && r.ctnet !== null && r.ctnet > 0 ? ip.ms / r.ctnet : null, ipProcesses: ip?.procs ?? 0,
    });
  }
  const comparable = steps.filter((s) => s.ipMs !== null);
  const cTotal = comparable.reduce((a, s) => a + (s.ctnetMs ?? 0), 0);
  const iTotal = compare ? comparable.reduce((a, s) => a + (s.ipMs ?? 0), 0) : null;
  const report: DemoReport = {
    sandbox: { kind: 'unshare', pid: process.pid, netns: sandbox.netns, description },
    backend, firewall, ipFirewallTool: tool, steps,
    totals: { ctnetMs: cTotal, ipMs: iTotal, ratio: iTotal !== null && cTotal > 0 ? iTotal / cTotal : null },
    checks, ok: checks.length > 0 && checks.every((c) => c.ok),
  };
  out.result(report, () => renderDemo(ctx, report));
  return report.ok ? 0 : 1;
}

export function renderDemo(ctx: Pick<Context, 'out'>, r: DemoReport): string {
  const out = ctx.out;
  const f = (v: number | null): string => (v === null ? '-' : v.toFixed(v < 10 ? 2 : 1));
  const lines: string[] = [];
  lines.push(`ctnet-fast demo — the tutorial's network, built, proven and torn down`);
  lines.push(`  where:   ${r.sandbox.description}`);
  lines.push(`  outside: netns "outside" behind a veth, ${HOST_OUT}/24 (host) ↔ ${OUTSIDE}/24 (TEST-NET-1, never a real address)`);
  lines.push(`  ctnet-fast: backend ${r.backend}, firewall ${r.firewall} (library calls in this process)`);
  if (r.steps.some((s) => s.ipMs !== null)) {
    lines.push(`  ip:      iproute2${r.ipFirewallTool !== 'none' ? ` + ${r.ipFirewallTool}` : ''} processes run one by one from Node (\`ip -n NS\` for the tutorial's \`nsenter … ip\`)`);
  }
  lines.push('');
  for (const build of ['ctnet-fast', 'ip'] as const) {
    const cs = r.checks.filter((c) => c.build === build);
    if (cs.length === 0) continue;
    lines.push(out.bold(`Checks (${build === 'ip' ? 'the same network built with ip' : 'network built by ctnet-fast'}):`));
    for (const c of cs) lines.push(`  ${c.ok ? out.green('ok  ') : out.red('FAIL')}  ${c.check}  — ${c.detail}`);
    lines.push('');
  }
  const rows = r.steps.map((s) => [s.step, f(s.ctnetMs), f(s.ipMs), s.ratio === null ? '-' : `${s.ratio.toFixed(1)}×`, s.ipProcesses > 0 ? String(s.ipProcesses) : '-']);
  rows.push(['total (steps with both)', f(r.totals.ctnetMs), f(r.totals.ipMs), r.totals.ratio === null ? '-' : `${r.totals.ratio.toFixed(1)}×`,
    String(r.steps.reduce((a, s) => a + s.ipProcesses, 0) || '-')]);
  lines.push(formatTable(['STEP', 'CTNET-FAST MS', 'IP-PROCESSES MS', 'RATIO', 'IP PROCS'], rows, out.colorOut ? (h) => out.bold(h) : undefined).trimEnd());
  lines.push('');
  lines.push('ctnet-fast times are in-process library calls; every `ctnet-fast` command line also pays Node\'s start-up.');
  lines.push(r.ok ? out.green('All checks passed; everything was torn down.') : out.red(`${r.checks.filter((c) => !c.ok).length} check(s) FAILED.`));
  return lines.join('\n') + '\n';
}

export async function demo(ctx: Context): Promise<number> {
  const marker = sandboxMarker(ctx.env, SANDBOX);
  if (marker === undefined) {
    // re-run this same command line in the sandbox
    const script = process.argv[1];
    if (script === undefined) throw new CtnetError('demo: cannot find the ctnet-fast script to re-execute', CODE.failure);
    return runInSandbox([process.execPath, ...process.execArgv, script, ...ctx.argv], ctx.env, SANDBOX);
  }
  if (!existsSync('/proc/self/ns/net')) throw new EnvironmentError('demo: /proc is not mounted', CODE.environment);
  return inside(ctx, marker);
}
