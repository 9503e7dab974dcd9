/**
 * bench/primitives.ts — per-primitive cost, native backend vs iproute2 backend, through the
 * typed primitives of src/rtnl (the same calls, the same kernel work), plus one container's
 * worth of work as a single batch. Run inside a sandbox: `npm run bench:primitives`.
 *
 * Prints a table and writes bench/results/primitives.json. Timings only; nothing asserted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rtnl } from '../src/rtnl/index.js';
import { loadBackend } from '../src/backend/select.js';
import { Iproute2Backend } from '../src/backend/iproute2/index.js';
import type { Backend } from '../src/model/plan.js';
import { assertSandbox } from '../test/helpers/sandbox.js';
import { median } from './lib/stats.js';

assertSandbox();
const here = path.dirname(fileURLToPath(import.meta.url));
const N = { native: Number(process.env.N_NATIVE ?? 300), iproute2: Number(process.env.N_IP ?? 30) };

interface Row { primitive: string; command: string; native: number; iproute2: number }

async function measure(backend: Backend, n: number): Promise<Record<string, number>> {
  const r = new Rtnl(backend);
  const out: Record<string, number[]> = {};
  const time = async (k: string, f: () => Promise<unknown>): Promise<void> => {
    const t = performance.now();
    await f();
    (out[k] ??= []).push(performance.now() - t);
  };
  await r.link.addBridge('pbr0', { up: true });
  await r.addr.add('pbr0', '10.77.0.1/16');
  for (let i = 0; i < n; i++) {
    const br = `pb${i}`;
    await time('link.addBridge', () => r.link.addBridge(br));
    await time('link.set up', () => r.link.set(br, { up: true }));
    await time('link.get', () => r.link.get(br));
    await time('addr.add', () => r.addr.add(br, `10.${100 + (i % 100)}.${i >> 8 & 255}.1/24`));
    await time('route.add', () => r.route.add({ dst: `10.200.${i % 250}.0/24`, via: '10.77.0.2', dev: 'pbr0' }));
    await time('route.del', () => r.route.del({ dst: `10.200.${i % 250}.0/24`, via: '10.77.0.2', dev: 'pbr0' }));
    await time('addr.del', () => r.addr.del(br, `10.${100 + (i % 100)}.${i >> 8 & 255}.1/24`));
    await time('link.del (bridge)', () => r.link.del(br));
    const nsPath = `/run/netns/pn${i}`;
    await time('netns create', async () => { const b = r.batch(); b.netnsCreate(nsPath); (await b.run()).throwIfFailed(); });
    await time('veth add (peer born in netns, master, up)', () => r.link.addVeth(`pv${i}`, { name: 'eth0', ns: nsPath }, { up: true, master: 'pbr0' }));
    await time('netns delete', async () => { const b = r.batch(); b.netnsDelete(nsPath); (await b.run()).throwIfFailed(); });
    // one container's worth as ONE batch: netns, veth into it on the bridge, lo up, eth0 up, address, default route
    const cPath = `/run/netns/pc${i}`;
    await time('container unit (one batch)', async () => {
      const b = r.batch();
      const ns = b.netnsCreate(cPath);
      b.rtnl({ self: true }, [{ op: 'linkAdd', kind: 'veth', name: `pcv${i}`, up: true, master: 'pbr0', noIpv6LinkLocal: true, peer: { name: 'eth0', ns } }]);
      b.rtnl(ns, [{ op: 'linkSet', link: 'lo', up: true }, { op: 'linkSet', link: 'eth0', noIpv6LinkLocal: true }, { op: 'linkSet', link: 'eth0', up: true },
        { op: 'addrAdd', link: 'eth0', family: 4, local: `10.77.${1 + (i >> 8)}.${i & 255}`, prefixLen: 16 }, { op: 'routeAdd', family: 4, gateway: '10.77.0.1', link: 'eth0' }]);
      (await b.run()).throwIfFailed();
    });
    const d = r.batch();
    d.netnsDelete(cPath);
    (await d.run()).throwIfFailed();
  }
  await r.link.del('pbr0');
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, median(v)]));
}

const COMMANDS: Record<string, string> = {
  'link.addBridge': 'ip link add NAME type bridge',
  'link.set up': 'ip link set NAME up',
  'link.get': 'ip -j link show NAME',
  'addr.add': 'ip addr add A/24 dev NAME',
  'route.add': 'ip route add NET/24 via GW dev DEV',
  'route.del': 'ip route del NET/24 via GW dev DEV',
  'addr.del': 'ip addr del A/24 dev NAME',
  'link.del (bridge)': 'ip link del NAME',
  'netns create': 'ip netns add NAME',
  'veth add (peer born in netns, master, up)': 'ip link add V master BR up type veth peer name eth0 netns NS',
  'netns delete': 'ip netns del NAME',
  'container unit (one batch)': 'the 6 steps of one container',
};

const native = await loadBackend('native', () => undefined);
const ipr = new Iproute2Backend();
process.stderr.write(`native: ${N.native} rounds…\n`);
const nat = await measure(native, N.native);
process.stderr.write(`iproute2: ${N.iproute2} rounds…\n`);
const ip = await measure(ipr, N.iproute2);
await native.close();
const rows: Row[] = Object.keys(nat).map((k) => ({ primitive: k, command: COMMANDS[k] ?? '', native: nat[k] ?? NaN, iproute2: ip[k] ?? NaN }));
console.log(`${'primitive'.padEnd(44)} ${'native ms'.padStart(10)} ${'iproute2 ms'.padStart(12)} ${'ratio'.padStart(8)}`);
for (const r of rows) console.log(`${r.primitive.padEnd(44)} ${r.native.toFixed(3).padStart(10)} ${r.iproute2.toFixed(3).padStart(12)} ${(r.iproute2 / r.native).toFixed(1).padStart(7)}×`);
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'primitives.json'), JSON.stringify({ date: new Date().toISOString(), rounds: N, medianMs: rows }, null, 2));
