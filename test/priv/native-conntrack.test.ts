/**
 * test/priv/native-conntrack.test.ts — the `conntrackDelete` step on both backends (the
 * addon's ctnetlink dump + delete, and `conntrack -D` processes), against real UDP flows.
 *
 * Two namespaces joined by a veth: "a" (10.77.0.1, fd77::1) sends, "b" (10.77.0.2, fd77::2)
 * has a container-like address on lo (10.77.1.2, fd77:1::2) and a DNAT rule publishing
 * udp 8080 → that address:80, so its conntrack table holds DNAT'd flows (reply source
 * 10.77.1.2) beside plain ones. Oracle: `conntrack -L -o extended` inside "b". Flows are
 * sent by a small node dgram program run with `ip netns exec a node -e …` (argument arrays).
 * Root, sandbox only; docs/ARCHITECTURE.md, Kernel facts (a changed DNAT map keeps flows).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Backend, ConntrackFilter, StepResult } from '../../src/model/plan.js';
import { BACKENDS, assertSandbox, backendFor, ip, removeLeftovers } from '../helpers/index.js';

const run = promisify(execFile);
const P = 'ctct-';
const A = `${P}a`;
const B = `${P}b`;
const B_PATH = `/run/netns/${B}`;

interface Fam { readonly v: 4 | 6; readonly a: string; readonly b: string; readonly c: string }
const FAMS: readonly Fam[] = [
  { v: 4, a: '10.77.0.1', b: '10.77.0.2', c: '10.77.1.2' },
  { v: 6, a: 'fd77::1', b: 'fd77::2', c: 'fd77:1::2' },
];

/** One flow a → dst:dport from sport; in "b" it shows as `sport>dport` (original tuple). */
interface Flow { readonly sport: number; readonly dst: string; readonly dport: number }
/** Per family: two DNAT'd flows of the mapping, one to b itself, one straight to the container address. */
const flows = (f: Fam): Flow[] => [
  { sport: 5001, dst: f.b, dport: 8080 },
  { sport: 5002, dst: f.b, dport: 8080 },
  { sport: 5003, dst: f.b, dport: 9090 },
  { sport: 5004, dst: f.c, dport: 7070 },
];

const SENDER = `
const dgram = require('node:dgram');
const [src, flows] = [process.argv[1], JSON.parse(process.argv[2])];
Promise.all(flows.map((f) => new Promise((ok, ko) => {
  const s = dgram.createSocket({ type: src.includes(':') ? 'udp6' : 'udp4' });
  s.on('error', ko);
  s.bind({ port: f.sport, address: src }, () => s.send('x', f.dport, f.dst, (e) => { s.close(); e ? ko(e) : ok(); }));
}))).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
`;

async function send(f: Fam, list: readonly Flow[]): Promise<void> {
  await run('ip', ['netns', 'exec', A, process.execPath, '-e', SENDER, f.a, JSON.stringify(list)]);
}

/** The UDP entries of b's table as "src:sport>dst:dport|replySrc" (oracle: conntrack -L). */
async function entries(f: Fam): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'exec', B, 'conntrack', '-L', '-f', f.v === 4 ? 'ipv4' : 'ipv6', '-p', 'udp', '-o', 'extended'], { encoding: 'utf8' });
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const get = (k: string) => [...l.matchAll(new RegExp(`\\b${k}=(\\S+)`, 'g'))].map((m) => m[1]);
    const [src, rsrc] = get('src');
    const [dst] = get('dst');
    const [sport] = get('sport');
    const [dport] = get('dport');
    return `${src}:${sport}>${dst}:${dport}|${rsrc}`;
  }).filter((e) => e.startsWith(`${f.a}:`)).sort();
}

const key = (f: Fam, fl: Flow): string => `${f.a}:${fl.sport}>${fl.dst}:${fl.dport}|${fl.dport === 8080 ? f.c : fl.dst}`;

/** Send `list` and wait until b's table shows every one of them (the kernel adds them as packets arrive). */
async function establish(f: Fam, list: readonly Flow[]): Promise<void> {
  await send(f, list);
  const want = list.map((fl) => key(f, fl));
  for (let i = 0; i < 200; i++) {
    const have = await entries(f);
    if (want.every((w) => have.includes(w))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`conntrack in ${B} never showed ${want.join(', ')}: ${(await entries(f)).join(', ')}`);
}

async function ctDelete(b: Backend, filter: ConntrackFilter): Promise<StepResult> {
  const [r] = await b.run({ steps: [{ kind: 'conntrackDelete', ns: { path: B_PATH }, filter }] });
  assert.ok(r !== undefined);
  return r;
}

function deleted(r: StepResult): number {
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.kind, 'conntrackDelete');
  assert.equal(typeof r.deleted, 'number', JSON.stringify(r));
  return r.deleted ?? -1;
}

describe('conntrackDelete step (privileged): real UDP flows, conntrack -L as the oracle', function () {
  this.timeout(120_000);
  let dir = '';

  before(async () => {
    assertSandbox();
    await removeLeftovers(P);
    await ip(['netns', 'add', A]);
    await ip(['netns', 'add', B]);
    await ip(['link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', B], A);
    for (const [ns, dev] of [[A, 'va'], [B, 'vb']] as const) {
      await ip(['link', 'set', 'lo', 'up'], ns);
      await ip(['link', 'set', dev, 'up'], ns);
    }
    await ip(['addr', 'add', '10.77.0.1/24', 'dev', 'va'], A);
    await ip(['addr', 'add', 'fd77::1/64', 'dev', 'va', 'nodad'], A);
    await ip(['addr', 'add', '10.77.0.2/24', 'dev', 'vb'], B);
    await ip(['addr', 'add', 'fd77::2/64', 'dev', 'vb', 'nodad'], B);
    await ip(['addr', 'add', '10.77.1.2/32', 'dev', 'lo'], B);
    await ip(['addr', 'add', 'fd77:1::2/128', 'dev', 'lo'], B);
    await ip(['route', 'add', '10.77.1.0/24', 'via', '10.77.0.2'], A);
    await ip(['-6', 'route', 'add', 'fd77:1::/64', 'via', 'fd77::2'], A);
    // The published port: udp 8080 on b → the "container" address, port 80 (a NAT chain
    // also turns conntrack on in b).
    dir = mkdtempSync(path.join(tmpdir(), 'ctct-'));
    const rules = path.join(dir, 'rules.nft');
    writeFileSync(rules, [
      'table inet ctct {',
      '  chain pre {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      '    meta nfproto ipv4 udp dport 8080 dnat ip to 10.77.1.2:80',
      '    meta nfproto ipv6 udp dport 8080 dnat ip6 to [fd77:1::2]:80',
      '  }',
      '}',
    ].join('\n') + '\n');
    await run('ip', ['netns', 'exec', B, 'nft', '-f', rules]);
  });
  after(async () => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    await removeLeftovers(P);
  });

  for (const name of BACKENDS) {
    describe(`[${name}]`, () => {
      let b: Backend;
      before(async () => { b = await backendFor(name); });

      for (const f of FAMS) {
        it(`IPv${f.v}: a mapping's filter deletes exactly its DNAT'd flows and returns their count`, async () => {
          const all = flows(f);
          await establish(f, all);
          const before = await entries(f);
          // Another host IP: nothing of this mapping.
          const other = f.v === 4 ? '10.77.0.9' : 'fd77::9';
          assert.equal(deleted(await ctDelete(b, { match: 'mapping', proto: 'udp', port: 8080, dst: other, replySrc: f.c })), 0);
          // Another protocol: nothing.
          assert.equal(deleted(await ctDelete(b, { match: 'mapping', proto: 'tcp', port: 8080, replySrc: f.c })), 0);
          assert.deepEqual(await entries(f), before, 'no entry deleted by filters that do not match');
          const n = deleted(await ctDelete(b, { match: 'mapping', proto: 'udp', port: 8000, portEnd: 8080, dst: f.b, replySrc: f.c }));
          assert.equal(n, 2);
          const after = await entries(f);
          assert.deepEqual(after, before.filter((e) => !e.includes(`>${f.b}:8080|`)), 'exactly the two DNAT\'d flows are gone');
          assert.ok(after.includes(key(f, all[2]!)) && after.includes(key(f, all[3]!)));
          // Without a host IP (published on every address): same flows, again.
          await establish(f, all.slice(0, 2));
          assert.equal(deleted(await ctDelete(b, { match: 'mapping', proto: 'udp', port: 8080, replySrc: f.c })), 2);
          assert.deepEqual(await entries(f), after);
        });

        it(`IPv${f.v}: an address filter deletes every flow with that address in either tuple`, async () => {
          const all = flows(f);
          await establish(f, all);
          const before = await entries(f);
          const n = deleted(await ctDelete(b, { match: 'addr', addr: f.c }));
          // The two DNAT'd flows (reply source) and the one sent to it directly (original destination).
          assert.equal(n, 3);
          assert.deepEqual(await entries(f), before.filter((e) => !e.includes(f.c)));
          assert.deepEqual(await entries(f), [key(f, all[2]!)]);
          // The sender's address: the rest of its flows, both ways.
          assert.equal(deleted(await ctDelete(b, { match: 'addr', addr: f.a })), 1);
          assert.deepEqual(await entries(f), []);
          assert.equal(deleted(await ctDelete(b, { match: 'addr', addr: f.a })), 0, 'nothing left: 0, not an error');
        });
      }

      it('refuses a bad filter with EINVAL and deletes nothing', async () => {
        const f = FAMS[0]!;
        await establish(f, flows(f));
        const before = await entries(f);
        const bad: unknown[] = [
          { match: 'addr', addr: '10.77.1.2/32' },
          { match: 'addr', addr: 'fe80::1%eth0' },
          { match: 'mapping', proto: 'icmp', port: 80, replySrc: f.c },
          { match: 'mapping', proto: 'udp', port: 0, replySrc: f.c },
          { match: 'mapping', proto: 'udp', port: 90, portEnd: 80, replySrc: f.c },
          { match: 'mapping', proto: 'udp', port: 80, dst: 'fd77::2', replySrc: f.c },
          { match: 'other' },
        ];
        for (const filter of bad) {
          const r = await ctDelete(b, filter as ConntrackFilter);
          assert.ok(!r.ok && 'error' in r && r.error.code === 'EINVAL', `${JSON.stringify(filter)} → ${JSON.stringify(r)}`);
        }
        assert.deepEqual(await entries(f), before);
        await ctDelete(b, { match: 'addr', addr: f.a });
      });
    });
  }
});
