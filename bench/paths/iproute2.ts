/**
 * bench/paths/iproute2.ts — the tutorial's path: nine `ip` processes per container, run
 * one after another from Node with execFileSync. This is what ctnet-fast replaces.
 *
 * attach(i):  ip netns add cI
 *             ip link add vethI type veth peer name cethI
 *             ip link set cethI netns cI            (the ~12 ms netns move)
 *             ip link set vethI master ctb0
 *             ip link set vethI up
 *             ip -n cI link set lo up
 *             ip -n cI link set cethI up
 *             ip -n cI addr add 172.18.x.y/16 dev cethI
 *             ip -n cI route add default via 172.18.0.1
 * detach(i):  ip netns del cI                       (the kernel reaps the veth with the netns)
 */
import { ip, versionOf } from '../lib/proc.js';
import { containerIp, GATEWAY, type ContainerPath } from './types.js';

const BRIDGE = 'ctb0';

export function iproute2Path(): ContainerPath {
  return {
    name: 'iproute2',
    async setup() {
      ip('link', 'add', BRIDGE, 'type', 'bridge');
      ip('addr', 'add', `${GATEWAY}/16`, 'dev', BRIDGE);
      ip('link', 'set', BRIDGE, 'up');
    },
    async attach(i) {
      const ns = `c${i}`, host = `veth${i}`, peer = `ceth${i}`;
      ip('netns', 'add', ns);
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', ns);
      ip('link', 'set', host, 'master', BRIDGE);
      ip('link', 'set', host, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', peer, 'up');
      ip('-n', ns, 'addr', 'add', `${containerIp(i)}/16`, 'dev', peer);
      ip('-n', ns, 'route', 'add', 'default', 'via', GATEWAY);
    },
    async detach(i) {
      ip('netns', 'del', `c${i}`);
    },
    async close() {},
    info() {
      return { iproute2: versionOf('ip', ['-V']), runner: 'execFileSync, 9 processes per attach, 1 per detach' };
    },
  };
}
