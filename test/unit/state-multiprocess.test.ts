import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/state/index.js';
import { storeProblems } from '../helpers/state.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'state');

function start(script: string, args: readonly string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(fixtures, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolve with the first stdout line of `child` that matches `re`. */
function lineMatching(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '', err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n').slice(0, -1)) if (re.test(line)) { resolve(line); return; }
    });
    child.on('exit', (code, sig) => reject(new Error(`child exited (${code ?? sig}) before printing ${re}: ${buf}${err}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.on('exit', () => resolve());
  });
}

describe('state: many processes, crashes', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'ctnet-mp-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('8 processes creating the store and allocating 50 addresses each at once get 400 distinct addresses, no SQLITE_BUSY', async () => {
    const go = path.join(dir, 'go');
    const state = path.join(dir, 'state'); // does not exist yet: the children race to create it
    const children = Array.from({ length: 8 }, (_, w) => start('alloc-worker.ts', [state, String(w), '50', go]));
    const results = children.map((c) => lineMatching(c, /^\{/));
    await Promise.all(children.map((c) => lineMatching(c, /^ready$/)));
    writeFileSync(go, '');
    const lines = await Promise.all(results);
    await Promise.all(children.map(exited));
    const ips: string[] = [];
    for (const line of lines) {
      const r = JSON.parse(line) as { ips?: string[]; error?: string };
      assert.equal(r.error, undefined, r.error);
      ips.push(...(r.ips ?? []));
    }
    assert.equal(ips.length, 400);
    assert.equal(new Set(ips).size, 400, 'every address handed out once');
    const store = openStore(state);
    try {
      assert.deepEqual(storeProblems(store), []);
      assert.equal(store.listEndpoints({ network: 'shared', state: 'ready' }).length, 400);
      assert.equal(store.listLeases('shared').length, 800, '400 IPv4 + 400 IPv6 leases');
      // sequential allocation: exactly the first 400 addresses after the gateway
      const n = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
      const sorted = ips.map(n).sort((a, b) => a - b);
      assert.equal(sorted[0], n('10.77.0.2'));
      assert.equal(sorted[399], n('10.77.0.2') + 399);
    } finally {
      store.close();
    }
  });

  it('a process killed (SIGKILL) after beginAttach leaves a pending endpoint that gc can find; the store opens fine', async () => {
    const child = start('crash-worker.ts', [dir, 'pending']);
    const id = (await lineMatching(child, /^[0-9a-f]{16}$/)).trim();
    child.kill('SIGKILL');
    await exited(child);
    const store = openStore(dir);
    try {
      assert.deepEqual(storeProblems(store), []);
      const pending = store.listEndpoints({ state: 'pending' });
      assert.deepEqual(pending.map((e) => e.id), [id]);
      assert.equal(pending[0]?.ip, '10.66.0.2');
      assert.deepEqual(pending[0]?.ports.map((p) => p.hostPort), [8080]);
      // gc undoes it: everything released
      assert.ok(store.finishDetach(id));
      assert.deepEqual(store.listLeases(), []);
      assert.deepEqual(store.listPorts(), []);
    } finally {
      store.close();
    }
  });

  it('processes killed at random instants of constant churn leave a consistent store', async () => {
    for (let round = 0; round < 4; round++) {
      const child = start('crash-worker.ts', [dir, 'churn']);
      await lineMatching(child, /^running$/);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 250)));
      child.kill('SIGKILL');
      await exited(child);
      const store = openStore(dir);
      try {
        assert.deepEqual(storeProblems(store), [], `round ${round}`);
        const eps = store.listEndpoints();
        const leased = new Set(store.listLeases().map((l) => l.ip));
        assert.equal(leased.size, eps.length, 'one lease per endpoint, none leaked');
        for (const e of eps) assert.ok(leased.has(e.ip ?? ''), `endpoint ${e.id} holds its lease`);
        // what a gc would do: finish every unfinished row; then the store is usable again
        for (const e of [...store.listEndpoints({ state: 'pending' }), ...store.listEndpoints({ state: 'detaching' })]) store.finishDetach(e.id);
        assert.equal(store.listEndpoints().filter((e) => e.state !== 'ready').length, 0);
        assert.deepEqual(storeProblems(store), []);
      } finally {
        store.close();
      }
    }
  });
});
