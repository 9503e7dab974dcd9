/**
 * bench/paths/ctnet-bypath.ts — the library attaching into a netns someone else made and
 * names by path, as a CNI runtime hands one to a plugin: the yardstick of the issue 11 target
 * "CNI ADD within 2.5× of the library's own attach into a netns given by path (cold)".
 *
 * prepare(i): ip netns add kpI (untimed: the runtime's part)
 * attach(i):  net.attach({ netns: '/run/netns/kpI', publish: [10000+i → 80/tcp] })
 * detach(i):  ep.detach()
 * cleanup(i): ip netns del kpI (untimed)
 * The published port is the CNI rows' (cni-chain.ts), so the three rows do the same work.
 */
import type { Endpoint, Host, Network } from '../../src/index.js';
import { ip } from '../lib/proc.js';
import { backendsOf, openLibrary } from './ctnet.js';
import { benchPortMappings } from './cni-chain.js';
import type { ContainerPath } from './types.js';

export function ctnetByPathPath(): ContainerPath {
  let host: Host | undefined;
  let net: Network | undefined;
  const eps = new Map<number, Endpoint>();
  return {
    name: 'ctnet-bypath',
    async setup() {
      ({ host, net } = await openLibrary());
    },
    async prepare(i) {
      ip('netns', 'add', `kp${i}`);
    },
    async attach(i) {
      eps.set(i, await net!.attach({ netns: `/run/netns/kp${i}`, publish: benchPortMappings(i) }));
    },
    async detach(i) {
      const ep = eps.get(i);
      if (!ep) throw new Error(`no endpoint ${i}`);
      eps.delete(i);
      await ep.detach();
    },
    async cleanup(i) {
      ip('netns', 'del', `kp${i}`);
    },
    async close() {
      await host?.close();
    },
    info() {
      return { runner: 'net.attach({ netns: PATH, publish }) into a netns made untimed by ip netns add', ...backendsOf(host) };
    },
  };
}
