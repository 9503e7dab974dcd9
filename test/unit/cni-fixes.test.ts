/**
 * Unit: the CNI plugin's call checks found by the issue 11 new-user review — the keyed mutex
 * (keylock.ts), type/cniVersion/GC-STATUS versions and CNI_ARGS (input.ts), CNI_NETNS values
 * that are no network namespace and the non-root caller's rule (netns.ts), and handleCni's
 * error codes for them (no kernel: each fails before a Host is opened or used).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withKey, keysHeld } from '../../src/cni/keylock.js';
import { handleCni, type CniHosts } from '../../src/cni/index.js';
import { parseCniArgs } from '../../src/cni/config.js';
import { checkCniArgs, checkDocument } from '../../src/cni/input.js';
import { checkCaller, checkNetnsPath } from '../../src/cni/netns.js';
import { CniError } from '../../src/cni/errors.js';

const codeOf = (fn: () => void): number | undefined => {
  try { fn(); } catch (e) { return e instanceof CniError ? e.cniCode : -1; }
  return undefined;
};
const msgOf = (fn: () => void): string => {
  try { fn(); } catch (e) { return (e as Error).message; }
  return '';
};

describe('cni fixes (unit)', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(tmpdir(), 'cnifix-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('withKey runs calls of one key one after the other, in order, and other keys alongside', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const a = withKey('k', async () => { log.push('a start'); await gate; log.push('a end'); });
    const b = withKey('k', async () => { log.push('b'); });
    const c = withKey('other', async () => { log.push('c'); });
    await c;
    assert.deepEqual(log, ['a start', 'c']);
    release();
    await Promise.all([a, b]);
    assert.deepEqual(log, ['a start', 'c', 'a end', 'b']);
    // a failing call releases the key too
    await assert.rejects(withKey('k', async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await withKey('k', async () => 7), 7);
    assert.equal(keysHeld(), 0);
  });

  it('type must be ctnet-cni; cniVersion must be a string; GC and STATUS need 1.1.0', () => {
    const doc = (o: Record<string, unknown>): Record<string, unknown> => ({ cniVersion: '1.0.0', name: 'n', type: 'ctnet-cni', ...o });
    assert.equal(codeOf(() => checkDocument(doc({}), 'ADD')), undefined);
    assert.equal(codeOf(() => checkDocument(doc({ type: undefined }), 'ADD')), 7);
    assert.match(msgOf(() => checkDocument(doc({ type: undefined }), 'ADD')), /type: missing/);
    assert.match(msgOf(() => checkDocument(doc({ type: 'bridge' }), 'ADD')), /type: "bridge" is not this plugin/);
    assert.match(msgOf(() => checkDocument(doc({ cniVersion: 1.0 }), 'ADD')), /cniVersion: expected a string .*got 1 \(a number\)/);
    assert.equal(codeOf(() => checkDocument(doc({}), 'GC')), 1);
    assert.equal(codeOf(() => checkDocument(doc({ cniVersion: '0.4.0' }), 'STATUS')), 1);
    assert.equal(codeOf(() => checkDocument(doc({ cniVersion: '1.1.0' }), 'GC')), undefined);
  });

  it('CNI_ARGS: an unknown key without IgnoreUnknown=1 is code 7; IP= must be addresses, named', () => {
    const check = (s: string): number | undefined => codeOf(() => checkCniArgs(parseCniArgs(s)));
    assert.equal(check('FOO=bar'), 7);
    assert.match(msgOf(() => checkCniArgs(parseCniArgs('FOO=bar'))), /CNI_ARGS: unknown key "FOO"/);
    assert.equal(check('IgnoreUnknown=1;FOO=bar;K8S_POD_NAME=x'), undefined);
    assert.equal(check('IgnoreUnknown=true;K8S_POD_NAME=x'), undefined);
    assert.equal(check('IgnoreUnknown=0;K8S_POD_NAME=x'), 7);
    assert.equal(check('IP=10.1.0.5'), undefined);
    assert.equal(check('IP=10.1.0.5/24,fd00::5'), undefined);
    assert.match(msgOf(() => checkCniArgs(parseCniArgs('IgnoreUnknown=1;IP=999.1.1.1'))), /CNI_ARGS: IP "999\.1\.1\.1" is not an IP address/);
    assert.equal(check('IP=10.1.0.5/40'), 7);
  });

  it('CNI_NETNS: a file, a directory, /dev/null, another namespace type, /proc/self, the host netns: code 4 naming the cause', () => {
    const file = path.join(dir, 'f');
    writeFileSync(file, 'x');
    const cases: Array<[string, RegExp]> = [
      [file, /is a regular file, not a network namespace/],
      [dir, /is a directory, not a network namespace/],
      ['/dev/null', /is a device, not a network namespace/],
      ['/proc/1/ns/mnt', /is a mnt namespace, not a network namespace/],
      ['/proc/self/ns/net', /\/proc\/self names the plugin's own process/],
      [`/proc/${process.pid}/ns/net`, /host's own network namespace/],
    ];
    for (const [p, re] of cases) {
      assert.equal(codeOf(() => checkNetnsPath(p, undefined)), 4, p);
      assert.match(msgOf(() => checkNetnsPath(p, undefined)), re, p);
      assert.match(msgOf(() => checkNetnsPath(p, undefined)), new RegExp(`^CNI_NETNS ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
    assert.equal(codeOf(() => checkNetnsPath(path.join(dir, 'gone'), undefined)), undefined); // left to ADD (code 3)
  });

  it('a caller that is not root: only /proc/PID/ns/net of its own process in a user namespace of its own', () => {
    // root and the agent's own uid: anything
    assert.equal(codeOf(() => checkCaller({ uid: 0, pid: 1 }, '/run/netns/x')), undefined);
    const other = { uid: 4242, pid: process.pid };
    assert.match(msgOf(() => checkCaller(other, '/run/netns/x')), /may not name a pinned/);
    // a process not of its uid (ours: the test runs as root, or as someone else than 4242)
    assert.match(msgOf(() => checkCaller(other, `/proc/${process.pid}/ns/net`)), /does not own process/);
    assert.equal(codeOf(() => checkCaller(other, `/proc/${process.pid}/ns/net`)), 4);
  });

  it('handleCni answers these before touching a Host: lo, bad CNI_ARGS, wrong type, GC at 1.0.0', async () => {
    const hosts: CniHosts = { open: () => Promise.reject(new Error('no Host for this call')) };
    const conf = { cniVersion: '1.0.0', name: 'n', type: 'ctnet-cni', ipam: { type: 'host-local', subnet: '10.9.0.0/24' } };
    const env = (cmd: string, more: Record<string, string> = {}): Record<string, string> => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/x', ...more });
    const call = async (e: Record<string, string>, c: unknown = conf): Promise<{ cniVersion?: string; code: number; msg: string }> => {
      const r = await handleCni(hosts, { env: e, stdin: JSON.stringify(c) });
      assert.equal(r.exitCode, 1, r.stdout);
      return JSON.parse(r.stdout) as { cniVersion?: string; code: number; msg: string };
    };
    assert.deepEqual(await call(env('ADD', { CNI_IFNAME: 'lo' })), { cniVersion: '1.0.0', code: 4, msg: "CNI_IFNAME lo: the container's loopback interface already has that name; give the interface to create (eth0)" });
    assert.equal((await call(env('ADD', { CNI_ARGS: 'FOO=bar' }))).code, 7);
    assert.match((await call(env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;IP=999.1.1.1' }))).msg, /CNI_ARGS: IP/);
    assert.equal((await call(env('ADD'), { ...conf, type: 'bridge' })).code, 7);
    assert.equal((await call(env('GC'))).code, 1);
    assert.match((await call(env('ADD'), { ...conf, cniVersion: 1.0 })).msg, /cniVersion: expected a string/);
    assert.equal((await call(env('ADD'), { ...conf, ipam: { type: 'host-local', subnet: null, ranges: [[{ subnet: '10.9.0.0/24' }]] } })).msg, 'no Host for this call');
  });
});
