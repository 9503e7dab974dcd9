#!/usr/bin/env node
// bench/native-attach.mjs — one container's attach as ONE native plan, and its detach.
//
// Run as root inside the sandbox (never in the machine's netns):
//   node test/sandbox.mjs node bench/native-attach.mjs [ITERATIONS=500] [--ipv6]
// Default: IPv6 address generation off on both veth ends (as the floor's default);
// --ipv6 leaves the kernel default.
// Attach = netnsCreate + veth (peer born in the netns, host end up and mastered to an
// existing bridge) + lo up, eth0 up, addr, default route inside: one JS→native→JS
// crossing, timed from run() to the resolved promise. Detach = netnsDelete (umount +
// unlink; the kernel reaps the netns and veth later). Compared with DESIGN.md §3's
// floor (a C program doing only the syscalls: 0.97 ms attach, 0.24 ms detach);
// --floor runs that program alternately in the same sandbox, --reps=R repeats.
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.CTNET_SANDBOX !== '1') {
  console.error('run inside the sandbox: node test/sandbox.mjs node bench/native-attach.mjs');
  process.exit(2);
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = createRequire(import.meta.url)(path.join(root, 'build/Release/ctnet_native.node'));
const N = Number(process.argv[2] ?? 500);
const WARM = 30;
const FLOOR_ATTACH = 0.97;
const FLOOR_DETACH = 0.24;

function must(r, what) {
  if (!r.every((s) => s.ok)) throw new Error(`${what}: ${JSON.stringify(r)}`);
}
const ms = (a, b) => Number(b - a) / 1e6;
function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), p10: q(0.1), p90: q(0.9), p99: q(0.99), min: s[0], max: s[s.length - 1] };
}

must(await addon.run({ steps: [{ kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'bridge', name: 'ctnb-br', up: true }] }] }), 'bridge');
spawnSync('ip', ['addr', 'add', '10.40.0.1/16', 'dev', 'ctnb-br']);

function attachPlan(i, { ipv6 }) {
  const quiet = ipv6 ? {} : { noIpv6LinkLocal: true };
  const ip = `10.40.${1 + ((i % 60000) >> 8)}.${1 + (i & 0x7f)}`;
  return {
    steps: [
      { kind: 'netnsCreate', path: `/run/netns/ctnb-${i}` },
      { kind: 'rtnl', ns: { self: true }, ops: [{ op: 'linkAdd', kind: 'veth', name: `ctnb-v${i}`, up: true, master: 'ctnb-br', ...quiet, peer: { name: 'eth0', ns: { slot: 0 }, ...quiet } }] },
      { kind: 'rtnl', ns: { slot: 0 }, ops: [
        { op: 'linkSet', link: 'lo', up: true },
        { op: 'linkSet', link: 'eth0', up: true },
        { op: 'addrAdd', link: 'eth0', family: 4, local: ip, prefixLen: 16 },
        { op: 'routeAdd', family: 4, gateway: '10.40.0.1', link: 'eth0' },
      ] },
    ],
  };
}

// Like the floor (bench/floor/floor.c): attach all, then detach all, so the kernel's
// asynchronous netns reaping does not run during the attach phase. Warm-up cycles first.
async function round(base, n, opts) {
  const at = [];
  const de = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    must(await addon.run(attachPlan(base + i, opts)), `attach ${base + i}`);
    at.push(ms(t0, process.hrtime.bigint()));
  }
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    must(await addon.run({ steps: [{ kind: 'netnsDelete', path: `/run/netns/ctnb-${base + i}` }] }), `detach ${base + i}`);
    de.push(ms(t0, process.hrtime.bigint()));
  }
  // Let the kernel reap before the next round.
  for (let t = 0; t < 200; t++) {
    const r = spawnSync('ip', ['-o', 'link', 'show', 'master', 'ctnb-br'], { encoding: 'utf8' });
    if (r.stdout.trim() === '') break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return { at, de };
}
const ipv6 = process.argv.includes('--ipv6');
const reps = Number(process.argv.find((x) => x.startsWith('--reps='))?.slice(7) ?? 1);
// --floor: alternate with bench/floor/floor (same N, same sandbox, its own bridge) so the
// ratio is measured inside one run (this VM's noise is ±30 % between runs).
const floorBin = path.join(root, 'bench/floor/floor');
const withFloor = process.argv.includes('--floor');
if (withFloor) {
  for (const argv of [['link', 'add', 'ctb0', 'type', 'bridge'], ['link', 'set', 'ctb0', 'up'], ['addr', 'add', '172.18.0.1/16', 'dev', 'ctb0']]) spawnSync('ip', argv);
}
function floorRound(n) {
  const r = spawnSync(floorBin, ['-n', String(n), '-w', String(WARM), ...(ipv6 ? ['--ipv6'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`floor: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
await round(100000, WARM, { ipv6 });
const attach = [];
const detach = [];
const floorA = [];
const floorD = [];
const perRep = [];
for (let k = 0; k < reps; k++) {
  const { at, de } = await round(k * N, N, { ipv6 });
  attach.push(...at);
  detach.push(...de);
  if (withFloor) {
    const fl = floorRound(N);
    floorA.push(...fl.attach);
    floorD.push(...fl.detach);
    perRep.push({ native: stats(at).median, floor: stats(fl.attach).median });
  }
}
const a = stats(attach);
const d = stats(detach);
const f = (x) => x.toFixed(3);
console.log(JSON.stringify({ attach: a, detach: d }, (k, v) => (typeof v === 'number' && k !== 'n' ? Number(v.toFixed(4)) : v)));
console.log(`native attach: median ${f(a.median)} ms (p10 ${f(a.p10)}, p90 ${f(a.p90)}, p99 ${f(a.p99)}) = ${(a.median / FLOOR_ATTACH).toFixed(2)}x DESIGN's 0.97 ms floor`);
console.log(`native detach: median ${f(d.median)} ms (p90 ${f(d.p90)}, p99 ${f(d.p99)}); DESIGN's floor 0.24 ms`);
if (withFloor) {
  const fa = stats(floorA);
  const fd = stats(floorD);
  console.log(`floor  attach (same run): median ${f(fa.median)} ms (p10 ${f(fa.p10)}, p90 ${f(fa.p90)}) → native/floor = ${(a.median / fa.median).toFixed(2)}x (p10 ratio ${(a.p10 / fa.p10).toFixed(2)}x)`);
  console.log(`floor  detach (same run): median ${f(fd.median)} ms → native/floor = ${(d.median / fd.median).toFixed(2)}x`);
  console.log(`per rep (native, floor) medians: ${perRep.map((x) => `(${f(x.native)}, ${f(x.floor)})`).join(' ')}`);
}
addon.shutdown();
