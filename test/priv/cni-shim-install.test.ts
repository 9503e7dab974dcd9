/**
 * Privileged: `ctnet-fast cni install | uninstall` (src/cli/verbs/cni.ts) into temp
 * directories, and the installed plugin running self-contained through its manifest
 * (native/cni-shim/fallback.c → node dist/bundle/cni.cjs): a real ADD, CHECK and DEL checked
 * with ip -j. Uninstall leaves the directories exactly as before install, and refuses a file
 * changed since install, and a manifest others could have edited or that names paths outside
 * the bin/conf dirs (exit 4, nothing removed). Root: the plugin trusts ctnet-cni.json only when root owns it.
 * Run: node test/run.mjs test/priv/cni-shim-install.test.ts
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import { assertSandbox, ip, ipJson, removeLeftovers } from '../helpers/index.js';
import { cniError, requireShim, ROOT, runShim, tempDir } from '../unit/cni-shim-support.js';

const P = 'cshi-';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const streams = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
  const code = await main(argv, streams, { PATH: process.env['PATH'] ?? '/usr/bin:/bin' });
  return { code, out: out.join(''), err: err.join('') };
}

/** Every entry under dir: relative path, type, mode and content hash, sorted. */
function snapshot(dir: string): string[] {
  const rows: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = lstatSync(p);
      const what = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : createHash('sha256').update(readFileSync(p)).digest('hex');
      rows.push(`${path.relative(dir, p)} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${what}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return rows.sort();
}

describe('cni install / uninstall (privileged)', function () {
  this.timeout(120000);
  let t: { dir: string; remove: () => void };
  let bin = '';
  let conf = '';
  before(() => { assertSandbox(); requireShim(); });
  beforeEach(() => {
    t = tempDir();
    chmodSync(t.dir, 0o755);
    bin = path.join(t.dir, 'opt', 'cni', 'bin'); // created by install
    conf = path.join(t.dir, 'net.d');              // exists before, with someone else's file
    mkdirSync(conf);
    writeFileSync(path.join(conf, '10-other.conflist'), '{"name":"other"}\n');
  });
  afterEach(() => t.remove());

  it('places the plugin, its manifest and a conflist; uninstall leaves the directories as before', async () => {
    const before = snapshot(t.dir);
    const r = await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf, '--name', 'pods', '--subnet', '10.213.0.0/24', '--json']);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { manifest: string; installed: Array<{ path: string; kind: string; sha256: string }> };
    assert.equal(doc.manifest, path.join(bin, 'ctnet-cni.json'));
    assert.deepEqual(doc.installed.map((p) => [p.path, p.kind]), [[path.join(bin, 'ctnet-cni'), 'plugin'], [path.join(conf, '50-pods.conflist'), 'conflist']]);
    assert.deepEqual(readFileSync(path.join(bin, 'ctnet-cni')), readFileSync(path.join(ROOT, 'build', 'Release', 'ctnet-cni')));
    assert.equal(lstatSync(path.join(bin, 'ctnet-cni')).mode & 0o777, 0o755);
    const m = JSON.parse(readFileSync(doc.manifest, 'utf8')) as { node: string; pkg: string };
    assert.equal(m.node, process.execPath);
    assert.equal(m.pkg, ROOT);
    const list = JSON.parse(readFileSync(path.join(conf, '50-pods.conflist'), 'utf8')) as { name: string; plugins: Array<{ type: string; ipam: { ranges: unknown } }> };
    assert.equal(list.name, 'pods');
    assert.equal(list.plugins[0]!.type, 'ctnet-cni');
    assert.deepEqual(list.plugins[0]!.ipam.ranges, [[{ subnet: '10.213.0.0/24' }]]);
    // Installing again is an upgrade in place (the files are ours as recorded).
    assert.equal((await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf, '--name', 'pods', '--subnet', '10.213.0.0/24'])).code, 0);

    const u = await cli(['cni', 'uninstall', '--bin-dir', bin, '--json']);
    assert.equal(u.code, 0, u.err);
    assert.deepEqual(snapshot(t.dir), before);
    const again = await cli(['cni', 'uninstall', '--bin-dir', bin]);
    assert.equal(again.code, 3, 'nothing installed any more: not found');
  });

  it('uninstall refuses a file changed after install (content, or replaced by a link) and removes nothing', async () => {
    assert.equal((await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf])).code, 0);
    const installed = snapshot(t.dir);
    appendFileSync(path.join(conf, '50-ctnet.conflist'), ' ');
    const changed = snapshot(t.dir);
    const r = await cli(['cni', 'uninstall', '--bin-dir', bin]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(path.join(conf, '50-ctnet.conflist')), r.err);
    assert.deepEqual(snapshot(t.dir), changed, 'nothing removed');
    rmSync(path.join(bin, 'ctnet-cni'));
    symlinkSync('/bin/true', path.join(bin, 'ctnet-cni'));
    writeFileSync(path.join(conf, '50-ctnet.conflist'), readFileSync(path.join(ROOT, 'package.json'))); // still changed
    const r2 = await cli(['cni', 'uninstall', '--bin-dir', bin, '--json']);
    assert.equal(r2.code, 1);
    assert.match(r2.out, /no longer a regular file/);
    assert.ok(installed.length > 0);
    rmSync(path.join(bin, 'ctnet-cni'));
    rmSync(path.join(conf, '50-ctnet.conflist'));
    assert.equal((await cli(['cni', 'uninstall', '--bin-dir', bin])).code, 0, 'what is gone is not refused');
    assert.ok(!existsSync(path.join(t.dir, 'opt')));
  });

  it('install does not overwrite a file it did not place, unless --force', async () => {
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, 'ctnet-cni'), 'someone else\n');
    const before = snapshot(t.dir);
    const r = await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(path.join(bin, 'ctnet-cni')), r.err);
    assert.deepEqual(snapshot(t.dir), before, 'nothing installed');
    assert.equal((await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf, '--force'])).code, 0);
    assert.equal((await cli(['cni', 'uninstall', '--bin-dir', bin])).code, 0);
    assert.deepEqual(readdirSync(bin), [], 'the replaced file was ours after --force; the dir install did not create stays');
  });

  it('uninstall refuses (exit 4) a manifest others could have edited, or one naming files or directories outside the bin/conf dirs; nothing is removed', async () => {
    assert.equal((await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf])).code, 0);
    const manifest = path.join(bin, 'ctnet-cni.json');
    const original = readFileSync(manifest, 'utf8');
    const victimDir = path.join(t.dir, 'victim');
    mkdirSync(victimDir);
    const victim = path.join(victimDir, 'precious');
    writeFileSync(victim, 'keep me\n');
    const hash = createHash('sha256').update('keep me\n').digest('hex');
    const after = snapshot(t.dir);
    const refused = async (why: RegExp, what: string): Promise<void> => {
      const r = await cli(['cni', 'uninstall', '--bin-dir', bin]);
      assert.equal(r.code, 4, `${what}: ${r.err}`);
      assert.ok(r.err.includes(manifest), `${what}: the manifest is named: ${r.err}`);
      assert.match(r.err, why, what);
    };
    chmodSync(manifest, 0o666);
    await refused(/is writable by its group \(mode 666\).*chown root:root .*chmod 0644/, 'mode 0666');
    assert.deepEqual(snapshot(t.dir).filter((l) => !l.startsWith('opt/cni/bin/ctnet-cni.json ')), after.filter((l) => !l.startsWith('opt/cni/bin/ctnet-cni.json ')), 'nothing removed');
    chmodSync(manifest, 0o644);
    chownSync(manifest, 65534, 65534);
    await refused(/is owned by uid 65534, not root/, 'owned by nobody');
    chownSync(manifest, 0, 0);
    const m = JSON.parse(original) as { installed: Array<{ path: string; kind: string; sha256: string }>; createdDirs: string[] };
    writeFileSync(manifest, JSON.stringify({ ...m, installed: [...m.installed, { path: victim, kind: 'conflist', sha256: hash }] }));
    await refused(/names the file ".*victim\/precious", outside what cni install places/, 'a file outside');
    writeFileSync(manifest, JSON.stringify({ ...m, createdDirs: [...m.createdDirs, victimDir] }));
    await refused(/names the directory ".*victim", outside/, 'a directory outside');
    assert.equal(readFileSync(victim, 'utf8'), 'keep me\n');
    writeFileSync(manifest, original);
    assert.equal((await cli(['cni', 'uninstall', '--bin-dir', bin])).code, 0, 'the manifest as install wrote it');
    assert.ok(existsSync(victim) && !existsSync(path.join(t.dir, 'opt')));
  });

  it('the installed plugin runs self-contained through its manifest, and refuses an untrusted one', async () => {
    assert.equal((await cli(['cni', 'install', '--bin-dir', bin, '--conf-dir', conf])).code, 0);
    const exe = path.join(bin, 'ctnet-cni');
    const state = path.join(t.dir, 'state');
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: bin, CTNET_STATE_DIR: state };
    const e = cniError(await runShim({ exe, env, stdin: '{"cniVersion":"1.0.0","name":"n","type":"ctnet-cni","mtu":"x"}' }));
    assert.equal(e.code, 7, 'the handler (dist/bundle/cni.cjs) answered');
    assert.match(e.msg, /mtu/);
    chmodSync(path.join(bin, 'ctnet-cni.json'), 0o664);
    const u = cniError(await runShim({ exe, env, stdin: '{"cniVersion":"1.0.0","name":"n","type":"ctnet-cni","mtu":"x"}' }));
    assert.equal(u.code, 11);
    assert.ok(u.msg.includes(`${path.join(bin, 'ctnet-cni.json')} is not trusted`), u.msg);
    chmodSync(path.join(bin, 'ctnet-cni.json'), 0o644);
  });
});

describe('ctnet-cni self-contained: ADD, CHECK, DEL against the kernel (privileged)', function () {
  this.timeout(120000);
  let t: { dir: string; remove: () => void };
  before(async () => { assertSandbox(); requireShim(); t = tempDir(); await removeLeftovers(P); await ip(['netns', 'add', `${P}c1`]); });
  after(async () => { await removeLeftovers(P); t.remove(); });

  it('attaches the netns (address, default route on eth0) and DEL removes it', async () => {
    const config = JSON.stringify({
      cniVersion: '1.1.0', name: `${P}net`, type: 'ctnet-cni', bridge: `${P}br`, isGateway: true, isDefaultGateway: true,
      ctnetStateDir: path.join(t.dir, 'state'), ipam: { type: 'host-local', subnet: '10.214.0.0/24' },
    });
    const env = (command: string): Record<string, string> => ({
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: `${P}c1`,
      CNI_NETNS: `/run/netns/${P}c1`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni',
    });
    const add = await runShim({ env: env('ADD'), stdin: config });
    assert.equal(add.status, 0, `${add.stdout.toString()} ${add.stderr.toString()}`);
    const result = JSON.parse(add.stdout.toString()) as { ips: Array<{ address: string; interface: number }>; interfaces: Array<{ name: string; sandbox?: string }> };
    const addr = result.ips[0]!.address;
    assert.equal(result.interfaces[result.ips[0]!.interface]!.sandbox, `/run/netns/${P}c1`);
    const links = await ipJson<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>(['addr', 'show', 'dev', 'eth0'], `${P}c1`);
    assert.deepEqual(links.flatMap((l) => l.addr_info).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), [addr]);
    const routes = await ipJson<{ dst: string; gateway?: string; dev: string }>(['route', 'show', 'default'], `${P}c1`);
    assert.deepEqual(routes.map((r) => [r.dst, r.gateway, r.dev]), [['default', '10.214.0.1', 'eth0']]);

    const check = await runShim({ env: env('CHECK'), stdin: JSON.stringify({ ...JSON.parse(config) as object, prevResult: result }) });
    assert.equal(check.status, 0, check.stdout.toString());
    const del = await runShim({ env: env('DEL'), stdin: JSON.stringify({ ...JSON.parse(config) as object, prevResult: result }) });
    assert.equal(del.status, 0, del.stdout.toString());
    assert.deepEqual(await ipJson(['link', 'show', 'dev', 'eth0'], `${P}c1`).catch(() => []), [], 'eth0 is gone');
  });
});
