/**
 * Privileged: named network namespaces through the library, on both backends — created
 * exactly as iproute2 does (visible to `ip netns list/exec`), opened by name/path/pid,
 * deleted without blocking, listed; bad names refused with nothing made.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { InvalidInputError, NetlinkError } from '../../src/model/errors.js';
import type { Backend } from '../../src/model/plan.js';
import { Rtnl } from '../../src/rtnl/index.js';
import {
  createNetns, deleteNetns, inHostMountNamespace, listNetns, mountNamespaceWarning, openNetns,
} from '../../src/netns/index.js';
import { BACKENDS, assertSandbox, backendFor, link, netnsList, removeLeftovers } from '../helpers/index.js';

const run = promisify(execFile);

for (const backendName of BACKENDS) {
  const P = backendName === 'iproute2' ? 'ctsi' : 'ctsn';

  describe(`netns lifecycle [${backendName}]`, function () {
    this.timeout(60_000);
    let backend: Backend;

    before(async () => {
      assertSandbox();
      backend = await backendFor(backendName);
      await removeLeftovers(P);
    });

    after(async () => {
      for (const n of await listNetns()) if (n.name.startsWith(P)) await deleteNetns(n.name, { backend, missingOk: true }).catch(() => undefined);
      await removeLeftovers(P);
      await backend?.close();
    });

    it('creates a named netns visible to ip netns list and usable by ip netns exec', async () => {
      const ns = await createNetns(`${P}-a`, backend);
      assert.deepEqual(ns, { path: `/run/netns/${P}-a`, name: `${P}-a`, ref: { path: `/run/netns/${P}-a` } });
      assert.ok((await netnsList()).includes(`${P}-a`));
      const out = await run('ip', ['netns', 'exec', `${P}-a`, 'ip', '-j', 'link'], { encoding: 'utf8' });
      assert.deepEqual((JSON.parse(out.stdout) as Array<{ ifname: string }>).map((l) => l.ifname), ['lo']);
      assert.ok((await listNetns()).some((n) => n.name === `${P}-a` && n.path === `/run/netns/${P}-a`));
    });

    it('refuses a duplicate name with EEXIST naming it', async () => {
      await assert.rejects(createNetns(`${P}-a`, backend), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'EEXIST' && e.message.includes(`create netns ${P}-a`));
    });

    it('opens by name, by path and by pid; missing is ENOENT naming it; a non-netns file is refused', async () => {
      assert.equal((await openNetns(`${P}-a`, backend)).path, `/run/netns/${P}-a`);
      assert.equal((await openNetns(`/run/netns/${P}-a`, backend)).name, `${P}-a`);
      assert.equal((await openNetns(`pid:${process.pid}`, backend)).path, `/proc/${process.pid}/ns/net`);
      await assert.rejects(openNetns(`${P}-missing`, backend), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'ENOENT' && e.message.includes(`${P}-missing`));
      mkdirSync('/run/ctnet-test', { recursive: true });
      writeFileSync(`/run/ctnet-test/${P}-plain`, '');
      await assert.rejects(openNetns(`/run/ctnet-test/${P}-plain`, backend), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'EINVAL' && e.message.includes(`${P}-plain`));
      await assert.rejects(openNetns('/proc/self/ns/mnt', backend), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'EINVAL' && e.message.includes('/proc/self/ns/mnt'));
    });

    it('works inside an opened netns through Rtnl', async () => {
      const ns = await openNetns(`${P}-a`, backend);
      const r = new Rtnl(backend, ns.ref);
      await r.link.set('lo', { up: true });
      assert.ok((await link('lo', `${P}-a`))?.flags.includes('UP'));
    });

    it('deletes without blocking; the kernel reaps the links inside later', async () => {
      await new Rtnl(backend).link.addVeth(`${P}-v0`, { name: 'eth0', ns: `${P}-a` });
      await deleteNetns(`${P}-a`, { backend });
      assert.ok(!(await netnsList()).includes(`${P}-a`));
      assert.ok(!existsSync(`/run/netns/${P}-a`));
      for (let i = 0; i < 100 && (await link(`${P}-v0`)) !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await link(`${P}-v0`), undefined, 'host end reaped with the netns');
    });

    it('deleting a missing netns is ENOENT naming it, unless missingOk', async () => {
      await assert.rejects(deleteNetns(`${P}-a`, { backend }), (e: unknown) =>
        e instanceof NetlinkError && e.code === 'ENOENT' && e.message.includes(`delete netns ${P}-a`));
      await deleteNetns(`${P}-a`, { backend, missingOk: true });
    });

    it('a netns file outside /run/netns: native creates it, iproute2 says it only supports /run/netns', async () => {
      mkdirSync('/run/ctnet-test', { recursive: true });
      const path = `/run/ctnet-test/${P}-elsewhere`;
      const [r] = await backend.run({ steps: [{ kind: 'netnsCreate', path }] });
      if (backendName === 'iproute2') {
        assert.ok(r && !r.ok && 'error' in r);
        assert.equal(r.error.code, 'EOPNOTSUPP');
        assert.match(r.error.message ?? '', /\/run\/netns/);
        assert.ok(!existsSync(path));
      } else {
        // (plus the netns's identity, cookie and inode: native-netns-identity.test.ts)
        assert.deepEqual({ ok: r?.ok, kind: r?.kind }, { ok: true, kind: 'netnsCreate' });
        await openNetns(path, backend);
        await deleteNetns(path, { backend });
        assert.ok(!existsSync(path));
      }
    });

    it('bad names are refused before anything is made', async () => {
      const before = readdirSync('/run/netns').sort();
      for (const bad of ['..', `${P}/x`, '', 'x'.repeat(256), `${P}\0x`, '.']) {
        await assert.rejects(createNetns(bad, backend), InvalidInputError, JSON.stringify(bad));
      }
      await assert.rejects(deleteNetns('../etc', { backend }), InvalidInputError);
      assert.deepEqual(readdirSync('/run/netns').sort(), before);
    });

    it('says it is not in the host mount namespace (the sandbox has its own)', () => {
      assert.equal(inHostMountNamespace(), false);
      assert.match(mountNamespaceWarning() ?? '', /mount namespace/);
    });
  });
}
