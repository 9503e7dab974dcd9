/**
 * Privileged: no leaks. Many create/delete cycles of "netns + veth with its peer born inside"
 * through the library leave this process's open fds, the kernel's links and /run/netns as
 * they were. Native: 2,000 cycles. iproute2: 50 (one process per request, ~10 processes a
 * cycle — slow, and it holds nothing between plans anyway).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import type { Backend } from '../../src/model/plan.js';
import { Rtnl, ops } from '../../src/rtnl/index.js';
import { deleteNetns } from '../../src/netns/index.js';
import { BACKENDS, assertSandbox, backendFor, fdTargets, links, openFds, removeLeftovers } from '../helpers/index.js';

const CYCLES: Readonly<Record<(typeof BACKENDS)[number], number>> = { iproute2: 50, native: 2000 };

/** Which kind each "socket:[INODE]" is (netlink / unix / tcp…), from /proc/self/net. */
function describeSockets(entries: readonly string[]): string {
  const kinds = ['netlink', 'unix', 'tcp', 'tcp6', 'udp', 'udp6'];
  return entries.map((e) => {
    const ino = /socket:\[(\d+)\]/.exec(e)?.[1];
    if (ino === undefined) return e;
    const kind = kinds.find((k) => {
      try {
        return readFileSync(`/proc/self/net/${k}`, 'utf8').split('\n').some((l) => l.split(/\s+/).includes(ino));
      } catch {
        return false;
      }
    });
    return `${e} is ${kind ?? 'a socket of another netns'}`;
  }).join('; ');
}

async function settle(prefix: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = (await links()).map((l) => l.ifname).filter((n) => n.startsWith(prefix));
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const backendName of BACKENDS) {
  const P = backendName === 'iproute2' ? 'ctli' : 'ctln';
  const N = CYCLES[backendName];

  describe(`no leaks over ${N} create/delete cycles [${backendName}]`, function () {
    this.timeout(900_000);
    let backend: Backend;
    let rtnl: Rtnl;

    before(async () => {
      assertSandbox();
      backend = await backendFor(backendName);
      rtnl = new Rtnl(backend);
      await removeLeftovers(P);
    });

    after(async () => {
      await removeLeftovers(P);
      await backend?.close();
    });

    /** One container's life: netns + veth (peer born inside, both ends up) in ONE plan; then delete. */
    async function cycle(i: number | string): Promise<void> {
      const b = rtnl.batch();
      const ns = b.netnsCreate(`/run/netns/${P}-n${i}`);
      b.rtnl({ self: true }, [ops.vethAdd(`${P}${i}`, { name: 'eth0', ns }, { up: true })]);
      b.rtnl(ns, [ops.linkSet('lo', { up: true }), ops.linkSet('eth0', { up: true }), ops.addrAdd('eth0', '10.88.0.2/24')]);
      (await b.run()).throwIfFailed(`cycle ${i}`);
      // Every 10th cycle also exercises RTM_DELLINK; the rest rely on the netns teardown.
      if (typeof i === 'string' || i % 10 === 0) await rtnl.link.del(`${P}${i}`);
      await deleteNetns(`${P}-n${i}`, { backend });
    }

    it('leaves open fds, links and /run/netns as before', async () => {
      // Warm-up, several plans at once: the native backend runs plans on a small thread pool
      // and each thread opens its own home-netns socket the first time it is used.
      await Promise.all(['w0', 'w1', 'w2', 'w3'].map((w) => cycle(w)));
      assert.deepEqual(await settle(P, 30_000), []);
      const fds0 = openFds();
      const targets0 = fdTargets();
      const links0 = (await links()).map((l) => l.ifname).sort();
      const netns0 = readdirSync('/run/netns').sort();

      for (let i = 1; i <= N; i++) await cycle(i);

      const left = await settle(P, 120_000);
      assert.deepEqual(left, [], 'every host veth end reaped');
      assert.deepEqual((await links()).map((l) => l.ifname).sort(), links0);
      assert.deepEqual(readdirSync('/run/netns').sort(), netns0);
      let fds1 = openFds();
      // A socket closed asynchronously (a child's stdio, an idle native thread) may lag a
      // moment behind; a real per-cycle leak would be N fds and would not go away.
      for (let i = 0; i < 30 && fds1 !== fds0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        fds1 = openFds();
      }
      if (fds1 !== fds0) {
        const t1 = fdTargets();
        const extra = [...t1].filter(([fd, t]) => targets0.get(fd) !== t).map(([fd, t]) => `${fd}→${t}`);
        assert.fail(`open fds ${fds0} → ${fds1}: ${extra.slice(0, 20).join(', ')} (${describeSockets(extra)})`);
      }
    });
  });
}
