/**
 * The kernel work of a network, an attach and a detach, as plans — checked without privileges.
 * These pin the design: ONE plan per attach, the peer born inside the netns (no move), the host
 * end up and mastered in the creating request, and a detach of an owned netns that is only an
 * unmount (no 30 ms veth delete on the caller's path).
 */
import assert from 'node:assert/strict';
import { attachSteps, detachSteps, networkSteps, networkSysctls, type NetworkView } from '../../src/topology/plans.js';
import type { LinkAddOp, RtnlOp, Step } from '../../src/model/plan.js';

const net: NetworkView = {
  name: 'demo', subnet: '172.18.0.0/16', prefixLen: 16, gateway: '172.18.0.1', broadcast: '172.18.255.255',
  bridge: 'ctbr-1', bridgeMac: '06:01:02:03:04:05', mtu: 1500, internal: false, masquerade: true,
};
const host = { self: true } as const;
const ep = { id: 'e1', netnsPath: '/run/netns/c1', createNetns: true, ifname: 'eth0', hostIfname: 'ctv1', ip: '172.18.0.2', mac: '02:42:ac:12:00:02', routes: [] };

function rtnlOps(s: Step | undefined): readonly RtnlOp[] {
  assert.equal(s?.kind, 'rtnl');
  return (s as Extract<Step, { kind: 'rtnl' }>).ops;
}

describe('topology plans', () => {
  it('an attach is one plan: netns, veth born across with master+up, in-netns config — no move, no nft without ports', () => {
    const steps = attachSteps(host, net, 7, ep).map((s) => s.step);
    assert.deepEqual(steps.map((s) => s.kind), ['netnsCreate', 'rtnl', 'rtnl']);
    const [veth] = rtnlOps(steps[1]) as [LinkAddOp];
    assert.equal(veth.op, 'linkAdd');
    assert.equal(veth.kind, 'veth');
    assert.equal(veth.master, 7);
    assert.equal(veth.up, true);
    assert.deepEqual(veth.peer?.ns, { slot: 0 });
    assert.equal(veth.noIpv6LinkLocal, true, 'the host end: no IPv6 addrconf work on up');
    assert.ok(!JSON.stringify(steps).includes('"ns":{"path"'), 'nothing is moved between namespaces');
    const inside = rtnlOps(steps[2]);
    assert.deepEqual((steps[2] as Extract<Step, { kind: 'rtnl' }>).ns, { slot: 0 });
    assert.deepEqual(inside.map((o) => o.op), ['linkSet', 'linkSet', 'linkSet', 'addrAdd', 'routeAdd']);
    assert.deepEqual(inside[1], { op: 'linkSet', link: 2, noIpv6LinkLocal: true }, 'IPv4-only: no IPv6 chatter flooded to every bridge port');
    assert.deepEqual(inside[3], { op: 'addrAdd', link: 2, family: 4, local: '172.18.0.2', prefixLen: 16, broadcast: '172.18.255.255' });
    assert.deepEqual(inside[4], { op: 'routeAdd', family: 4, gateway: '172.18.0.1', link: 2 });
  });

  it('published ports ride in the same plan; the host port is in hairpin mode (set in the create\'s follow-up)', () => {
    const publish = [{ step: { kind: 'nft', ns: host, json: '{"nftables":[]}' } as const, label: 'publish ports of /run/netns/c1' }];
    const steps = attachSteps(host, net, 7, ep, publish).map((s) => s.step);
    assert.deepEqual(steps.map((s) => s.kind), ['netnsCreate', 'rtnl', 'rtnl', 'nft']);
    assert.equal(rtnlOps(steps[1]).length, 1);
    assert.equal((rtnlOps(steps[1])[0] as LinkAddOp).hairpin, true);
  });

  it('an existing netns is opened, its interface found by name, and a second network adds no default route', () => {
    const steps = attachSteps(host, net, 7, { ...ep, createNetns: false, ifname: 'eth1', defaultRoute: false }).map((s) => s.step);
    assert.equal(steps[0]?.kind, 'netnsOpen');
    const inside = rtnlOps(steps[2]);
    assert.deepEqual(inside.map((o) => o.op), ['linkSet', 'linkSet', 'linkSet', 'addrAdd']);
    assert.equal((inside[2] as { link: unknown }).link, 'eth1');
  });

  it('detaching an owned netns is only an unmount (the kernel reaps the veth)', () => {
    assert.deepEqual(detachSteps({ netnsPath: '/run/netns/c1', ownsNetns: true }).map((s) => s.step),
      [{ kind: 'netnsDelete', path: '/run/netns/c1' }]);
    assert.deepEqual(detachSteps({ netnsPath: '/proc/1/ns/net', ownsNetns: false }), []);
  });

  it('a network is its bridge (up, stable MAC, no STP delay, tagged) with the gateway, plus forwarding sysctls', () => {
    // the create and the addresses are separate steps: a failed create (EEXIST: someone
    // else's interface of that name) stops the plan before an address lands on it
    const [s, a] = networkSteps(host, net, 'x1z').map((x) => x.step);
    const [br] = rtnlOps(s) as [LinkAddOp];
    assert.equal(rtnlOps(s).length, 1);
    const [addr] = rtnlOps(a) as [RtnlOp];
    assert.equal(br.kind, 'bridge');
    assert.equal(br.mac, '06:01:02:03:04:05');
    assert.equal(br.alias, 'ctnet:br:x1z:demo');
    assert.deepEqual(br.bridge, { forwardDelay: 0, stp: false });
    assert.deepEqual(addr, { op: 'addrAdd', link: 'ctbr-1', family: 4, local: '172.18.0.1', prefixLen: 16, broadcast: '172.18.255.255' });
    const keys = networkSysctls(host, net).map((x) => (x.step as { key: string }).key);
    assert.deepEqual(keys, ['net/ipv4/ip_forward', 'net/ipv4/conf/ctbr-1/route_localnet']);
    assert.deepEqual(networkSysctls(host, { ...net, internal: true }).map((x) => (x.step as { key: string }).key), ['net/ipv4/conf/ctbr-1/route_localnet']);
  });
});
