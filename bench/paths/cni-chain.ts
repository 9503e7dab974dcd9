/**
 * bench/paths/cni-chain.ts — the reference CNI chain a runtime runs for a bridge network
 * with published ports: Debian's `bridge` (with `host-local` IPAM) then `portmap`, as libcni
 * runs a conflist — each plugin with the network's name and cniVersion, `portmap` with its
 * `runtimeConfig.portMappings` and the bridge's result as `prevResult`; DEL in reverse
 * order, each with the cached result. One published port per container (10000+i → 80/tcp).
 * The netns is the runtime's part: made before ADD and deleted after DEL, untimed.
 *
 * prepare(i): ip netns add kI (untimed)
 * attach(i):  bridge ADD ; portmap ADD
 * detach(i):  portmap DEL ; bridge DEL
 * cleanup(i): ip netns del kI (untimed)
 *
 * cni-ctnet / cni-ctnet-self (cni-ctnet.ts) run the same network and mapping through our
 * single plugin: the issue 11 targets compare them with this row.
 */
import { accessSync, constants } from 'node:fs';
import { ip, run } from '../lib/proc.js';
import { CNI_DIR, cniEnv, cniVersion } from './cni.js';
import type { ContainerPath } from './types.js';
import { Unavailable } from './unavailable.js';

/** The published port of container i, in the config shape runtimes send. */
export function benchPortMappings(i: number): Array<{ hostPort: number; containerPort: number; protocol: 'tcp' }> {
  return [{ hostPort: 10000 + (i % 50000), containerPort: 80, protocol: 'tcp' }];
}

export function cniChainPath(): ContainerPath {
  const net = { cniVersion: '1.0.0', name: 'benchnet' };
  const bridge = {
    ...net, type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/16' }]], dataDir: '/run/cni-bench/ipam' },
  };
  const results = new Map<number, unknown>();

  function plugin(type: string, command: 'ADD' | 'DEL', i: number, conf: unknown): string {
    return run(`${CNI_DIR}/${type}`, [], { input: JSON.stringify(conf), env: cniEnv(command, i) });
  }
  const portmap = (i: number, prevResult: unknown): unknown => ({
    ...net, type: 'portmap', capabilities: { portMappings: true }, snat: true,
    runtimeConfig: { portMappings: benchPortMappings(i) }, prevResult,
  });

  return {
    name: 'cni-chain',
    async setup() {
      for (const bin of ['bridge', 'host-local', 'portmap']) {
        try {
          accessSync(`${CNI_DIR}/${bin}`, constants.X_OK);
        } catch {
          throw new Unavailable(`${CNI_DIR}/${bin} is missing (Debian package containernetworking-plugins)`);
        }
      }
    },
    async prepare(i) {
      ip('netns', 'add', `k${i}`);
    },
    async attach(i) {
      const first = JSON.parse(plugin('bridge', 'ADD', i, bridge)) as unknown;
      const last = JSON.parse(plugin('portmap', 'ADD', i, portmap(i, first))) as unknown;
      results.set(i, last);
    },
    async detach(i) {
      const prev = results.get(i);
      plugin('portmap', 'DEL', i, portmap(i, prev));
      plugin('bridge', 'DEL', i, { ...bridge, prevResult: prev });
      results.delete(i);
    },
    async cleanup(i) {
      ip('netns', 'del', `k${i}`);
    },
    async close() {},
    info() {
      return {
        plugin: `containernetworking-plugins ${cniVersion()}: bridge + host-local + portmap`,
        runner: 'execFileSync: bridge ADD then portmap ADD per attach, portmap DEL then bridge DEL per detach; netns made and deleted untimed',
      };
    },
  };
}
