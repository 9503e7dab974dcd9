/**
 * Stale flows (issue 10 item 15), wired: unpublish, detach and re-publish delete the
 * conntrack entries they leave behind, in their own plan. A UDP flow (one fixed 5-tuple)
 * from an "outside" netns to a published host port reaches container A; after unpublish
 * (or detach of A) and a publish of the same host port to B, the next packets of the same
 * 5-tuple reach B (without the cleanup conntrack keeps sending them to A until the entry
 * times out). Oracles: `conntrack -L` in the host netns, and which container received.
 * Everything is named "wct-" and removed afterwards; root, sandbox only.
 */
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Host, type Endpoint, type Network } from '../../src/index.js';
import { assertSandbox, backendFor, ip, removeLeftovers } from '../helpers/index.js';

const run = promisify(execFile);
const OUT = 'wct-out';
const HOST_IP = '10.82.0.1';
const OUT_IP = '10.82.0.2';
const PORT = 19000;
const SPORT = 41000;

/** A UDP receiver in `ns` on port 9999 printing one line per datagram. */
const RECEIVER = `
const u = require('node:dgram').createSocket('udp4');
u.on('message', (m) => process.stdout.write(String(m) + '\\n'));
u.bind(9999, () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), 120000).unref();
`;
/** Three datagrams from OUT_IP:SPORT to HOST_IP:PORT (always the same 5-tuple). */
const SENDER = `
const u = require('node:dgram').createSocket('udp4');
u.bind({ address: process.argv[1], port: Number(process.argv[2]) }, () => {
  let n = 0;
  const t = setInterval(() => { u.send(process.argv[5], Number(process.argv[4]), process.argv[3]); if (++n === 3) { clearInterval(t); setTimeout(() => process.exit(0), 100); } }, 50);
});
`;

interface Receiver { lines: string[]; stop(): void }

async function receiver(ns: string): Promise<Receiver> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += String(d);
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const l of parts) { if (l === 'ready') resolve(); else lines.push(l); }
    });
    child.once('exit', () => reject(new Error(`receiver in ${ns} exited`)));
  });
  return { lines, stop: () => { child.kill('SIGKILL'); } };
}

async function burst(tag: string): Promise<void> {
  await run('ip', ['netns', 'exec', OUT, process.execPath, '-e', SENDER, OUT_IP, String(SPORT), HOST_IP, String(PORT), tag], { timeout: 10000 });
  await new Promise((r) => setTimeout(r, 200));
}

/** The reply sources of our flow's entries in the host netns's table (oracle: conntrack -L). */
async function flowReplySources(): Promise<string[]> {
  const { stdout } = await run('conntrack', ['-L', '-f', 'ipv4', '-p', 'udp', '-o', 'extended'], { encoding: 'utf8' });
  return stdout.split('\n').filter((l) => l.includes(`sport=${SPORT} `) && l.includes(`dport=${PORT} `)).map((l) => {
    const srcs = [...l.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]);
    return srcs[1] ?? '';
  });
}

describe('wire: conntrack cleanup on unpublish, detach and re-publish (conntrack -L, real UDP)', function () {
  this.timeout(120000);
  let dir = '';
  let host: Host;
  let net: Network;
  let a: Endpoint;
  let b: Endpoint;
  const rx: Receiver[] = [];
  const warnings: string[] = [];

  before(async () => {
    assertSandbox();
    await removeLeftovers('wct-');
    dir = mkdtempSync(path.join(tmpdir(), 'wct-state-'));
    host = await Host.open({ stateDir: dir, backendInstance: await backendFor('native'), warn: (m) => warnings.push(m) });
    net = await host.network({ name: 'wct-n', subnet: '10.81.0.0/24', bridge: 'wct-br' });
    await ip(['netns', 'add', OUT]);
    await ip(['link', 'add', 'wct-h', 'type', 'veth', 'peer', 'name', 'wct-o', 'netns', OUT]);
    await ip(['addr', 'add', `${HOST_IP}/24`, 'dev', 'wct-h']);
    await ip(['link', 'set', 'wct-h', 'up']);
    await ip(['link', 'set', 'lo', 'up'], OUT);
    await ip(['addr', 'add', `${OUT_IP}/24`, 'dev', 'wct-o'], OUT);
    await ip(['link', 'set', 'wct-o', 'up'], OUT);
    await ip(['route', 'add', 'default', 'via', HOST_IP], OUT);
    a = await net.attach({ netns: 'wct-a', publish: [`${PORT}:9999/udp`] });
    b = await net.attach({ netns: 'wct-b' });
    rx.push(await receiver('wct-a'), await receiver('wct-b'));
  });
  after(async () => {
    for (const r of rx) r.stop();
    await host?.close().catch(() => undefined);
    await removeLeftovers('wct-');
    await run('nft', ['flush', 'ruleset']).catch(() => undefined);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const got = (r: Receiver | undefined, tag: string): number => (r?.lines ?? []).filter((l) => l === tag).length;

  it('unpublish from A then publish to B: the same 5-tuple reaches B; A\'s entries are gone', async () => {
    const [ra, rb] = rx;
    await burst('u1');
    assert.ok(got(ra, 'u1') > 0 && got(rb, 'u1') === 0, `A received (${ra?.lines.join(',')}), B did not`);
    assert.deepEqual(await flowReplySources(), [a.ip], 'one entry, DNAT\'d to A');
    await a.unpublish([`${PORT}:9999/udp`]);
    assert.deepEqual(await flowReplySources(), [], 'unpublish deleted the flow DNAT\'d to A');
    await b.publish([`${PORT}:9999/udp`]);
    await burst('u2');
    assert.equal(got(ra, 'u2'), 0, 'nothing more reaches A');
    assert.ok(got(rb, 'u2') > 0, 'the same 5-tuple reaches B');
    assert.deepEqual(await flowReplySources(), [b.ip]);
    await b.unpublish([`${PORT}:9999/udp`]);
  });

  it('packets sent while nothing is published (an untranslated entry) do not keep a re-published port from B', async () => {
    const [ra, rb] = rx;
    await a.publish([`${PORT}:9999/udp`]);
    await burst('r1');
    assert.ok(got(ra, 'r1') > 0);
    await a.unpublish([`${PORT}:9999/udp`]);
    await burst('r2'); // to the host itself now: an entry without translation
    assert.equal(got(ra, 'r2') + got(rb, 'r2'), 0);
    assert.deepEqual(await flowReplySources(), [HOST_IP], 'an untranslated entry (reply source: the host address)');
    await b.publish([`${PORT}:9999/udp`]);
    assert.deepEqual(await flowReplySources(), [], 'the publish deleted it');
    await burst('r3');
    assert.ok(got(rb, 'r3') > 0, 'the same 5-tuple reaches B');
    assert.equal(got(ra, 'r3'), 0);
  });

  it('detach of B then publish to A: the same 5-tuple reaches A; B\'s entries are gone', async () => {
    const [ra, rb] = rx;
    await burst('d1');
    assert.ok(got(rb, 'd1') > 0);
    const bip = b.ip;
    assert.deepEqual(await flowReplySources(), [bip]);
    rb?.stop();
    await b.detach();
    // a detach deletes its flows right after it returns, off the caller's path (conntrack.ts
    // scheduleAddressFlows: a ctnetlink dump walks the whole table): poll briefly
    let stdout = '';
    for (let i = 0; i < 40; i++) {
      stdout = (await run('conntrack', ['-L', '-f', 'ipv4'], { encoding: 'utf8' })).stdout;
      if (!stdout.split('\n').some((l) => l.includes(`=${bip} `))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(!stdout.split('\n').some((l) => l.includes(`=${bip} `)), `no entry of ${bip} left:\n${stdout}`);
    await a.publish([`${PORT}:9999/udp`]);
    await burst('d2');
    assert.ok(got(ra, 'd2') > 0, 'the same 5-tuple reaches A');
    assert.deepEqual(await flowReplySources(), [a.ip]);
    assert.deepEqual(warnings.filter((w) => /conntrack/.test(w)), [], 'no conntrack failure was logged');
  });
});
