/**
 * bench/paths/cni.ts — the CNI reference bridge plugin (Debian's containernetworking-
 * plugins, /usr/lib/cni) with host-local IPAM, invoked exactly as containerd's libcni
 * does: the netns made first (here with `ip netns add`), then the plugin binary with
 * CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in its environment (on top of
 * the caller's own) and the network config as JSON on stdin. DEL gets the ADD result as
 * `prevResult`, as libcni injects it from its cache.
 *
 * attach(i):  ip netns add kI ; bridge ADD                 (bridge execs host-local)
 * detach(i):  bridge DEL ; ip netns del kI
 * With ipMasq the plugin also runs iptables (Debian: iptables-nft) per container.
 */
import { accessSync, constants } from 'node:fs';
import { ip, run } from '../lib/proc.js';
import type { ContainerPath } from './types.js';
import { Unavailable } from './unavailable.js';

export const CNI_DIR = '/usr/lib/cni';

export function cniVersion(): string {
  try {
    return run('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins']).trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The environment a runtime gives a plugin for container i (on top of the caller's own). */
export function cniEnv(command: 'ADD' | 'DEL', i: number): NodeJS.ProcessEnv {
  return { ...process.env, CNI_COMMAND: command, CNI_CONTAINERID: `bench-${i}`, CNI_NETNS: `/run/netns/k${i}`, CNI_IFNAME: 'eth0', CNI_PATH: CNI_DIR };
}

export function cniPath(opts: { readonly ipMasq: boolean }): ContainerPath {
  const conf = {
    cniVersion: '1.0.0',
    name: 'benchnet',
    type: 'bridge',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: opts.ipMasq,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/16' }]], dataDir: '/run/cni-bench/ipam' },
  };
  const confJson = JSON.stringify(conf);
  const results = new Map<number, unknown>();

  function plugin(command: 'ADD' | 'DEL', i: number, stdin: string): string {
    return run(`${CNI_DIR}/bridge`, [], { input: stdin, env: cniEnv(command, i) });
  }

  return {
    name: opts.ipMasq ? 'cni-masq' : 'cni',
    async setup() {
      for (const bin of ['bridge', 'host-local']) {
        try {
          accessSync(`${CNI_DIR}/${bin}`, constants.X_OK);
        } catch {
          throw new Unavailable(`${CNI_DIR}/${bin} is missing (Debian package containernetworking-plugins)`);
        }
      }
      // The plugin creates and addresses cni0 itself on the first ADD (a warm-up).
    },
    async attach(i) {
      ip('netns', 'add', `k${i}`);
      const out = plugin('ADD', i, confJson);
      results.set(i, JSON.parse(out));
    },
    async detach(i) {
      plugin('DEL', i, JSON.stringify({ ...conf, prevResult: results.get(i) }));
      results.delete(i);
      ip('netns', 'del', `k${i}`);
    },
    async close() {},
    info() {
      return {
        plugin: `containernetworking-plugins ${cniVersion()}`,
        ipMasq: opts.ipMasq,
        runner: 'execFileSync: ip netns add + bridge ADD (+ host-local) per attach; bridge DEL + ip netns del per detach',
      };
    },
  };
}
