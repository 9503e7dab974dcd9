import assert from 'node:assert/strict';
import { decodeAddrs, decodeLinks, decodeRoutes, linkFlagsFromNames, IFF } from '../../src/backend/iproute2/decode.js';
import { kernelErrorFromStderr } from '../../src/backend/iproute2/errors.js';
import { ipCommand, sysctlPath } from '../../src/backend/iproute2/index.js';

// Captured from iproute2 6.1 (`ip -d -j link show`, `ip -N -j addr show`, `ip -N -d -j route show`).
const LINKS = [
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, operstate: 'UNKNOWN', txqlen: 1000, address: '00:00:00:00:00:00' },
  { ifindex: 2, link_index: 2, ifname: 'va', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'], mtu: 1500, master: 'br0', operstate: 'DOWN', txqlen: 1000, address: '0a:06:e0:d8:44:20', link_netnsid: 0, linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' }, ifalias: 'ctnet:hi' },
  { ifindex: 3, ifname: 'br0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', txqlen: 1000, address: '0a:06:e0:d8:44:20', linkinfo: { info_kind: 'bridge' } },
  { ifindex: 4, link: 'vc', ifname: 'vd', flags: ['BROADCAST', 'MULTICAST', 'M-DOWN'], mtu: 1500, operstate: 'DOWN', linkinfo: { info_kind: 'veth' } },
  { ifindex: 5, link: 'vd', ifname: 'vc', flags: ['BROADCAST', 'MULTICAST'], mtu: 1500, operstate: 'DOWN', linkinfo: { info_kind: 'veth' } },
];

describe('iproute2 backend: JSON → contract shapes', () => {
  it('link flags: names → ifi_flags, RUNNING = UP and not NO-CARRIER', () => {
    assert.equal(linkFlagsFromNames(['LOOPBACK', 'UP', 'LOWER_UP']), IFF.LOOPBACK | IFF.UP | IFF.LOWER_UP | IFF.RUNNING);
    assert.equal(linkFlagsFromNames(['NO-CARRIER', 'BROADCAST', 'UP']), IFF.BROADCAST | IFF.UP);
    assert.equal(linkFlagsFromNames(['BROADCAST', 'M-DOWN']), IFF.BROADCAST);
  });

  it('links: master and same-netns peer names resolved to ifindex; kind, alias, netnsid kept', () => {
    const [lo, va, br, vd] = decodeLinks(LINKS);
    assert.deepEqual(lo, { index: 1, name: 'lo', mtu: 65536, mac: '00:00:00:00:00:00', up: true, operState: 'UNKNOWN', flags: 0x10049, txqlen: 1000 });
    assert.equal(va?.master, 3);
    assert.equal(va?.link, 2);
    assert.equal(va?.linkNetnsId, 0);
    assert.equal(va?.kind, 'veth');
    assert.equal(va?.alias, 'ctnet:hi');
    assert.equal(va?.up, true);
    assert.equal(br?.operState, 'UP');
    assert.equal(vd?.link, 5);
    assert.equal(vd?.up, false);
  });

  it('addresses: flattened, permanent unless "dynamic", nodad flag, numeric scope', () => {
    const raw = [{ ifindex: 3, ifname: 'br0', addr_info: [
      { family: 'inet', local: '10.0.0.1', prefixlen: 24, scope: '0', label: 'br0', broadcast: '10.0.0.255' },
      { family: 'inet6', local: 'fd00::1', prefixlen: 64, scope: '0', nodad: true },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: '253', dynamic: true, tentative: true },
    ] }];
    assert.deepEqual(decodeAddrs(raw), [
      { index: 3, family: 4, local: '10.0.0.1', prefixLen: 24, scope: 0, flags: 0x80, label: 'br0', broadcast: '10.0.0.255' },
      { index: 3, family: 6, local: 'fd00::1', prefixLen: 64, scope: 0, flags: 0x82 },
      { index: 3, family: 6, local: 'fe80::1', prefixLen: 64, scope: 253, flags: 0x40 },
    ]);
  });

  it('routes: default/host/prefix destinations, numbers from -N, dev → oif', () => {
    const raw = [
      { type: '1', dst: 'default', gateway: '10.0.0.1', dev: 'br0', table: '254', protocol: '3', scope: '0', flags: ['onlink'] },
      { type: '1', dst: '10.0.0.0/24', dev: 'br0', table: '254', protocol: '2', scope: '253', prefsrc: '10.0.0.1', flags: ['linkdown'] },
      { type: '2', dst: '10.0.0.1', dev: 'br0', table: '255', protocol: '2', scope: '254', flags: [] },
    ];
    const r = decodeRoutes(raw, 4, new Map([['br0', 3]]));
    assert.deepEqual(r[0], { family: 4, dstLen: 0, gateway: '10.0.0.1', oif: 3, table: 254, protocol: 3, scope: 0, type: 1, flags: 4 });
    assert.deepEqual(r[1], { family: 4, dst: '10.0.0.0', dstLen: 24, oif: 3, table: 254, protocol: 2, scope: 253, type: 1, prefsrc: '10.0.0.1', flags: 16 });
    assert.equal(r[2]?.dstLen, 32);
    assert.equal(r[2]?.type, 2);
    // names (without -N) map too
    const [n] = decodeRoutes([{ dst: '10.9.0.0/16', dev: 'x', protocol: 'static', scope: 'link', table: 'main', type: 'unicast', flags: [] }], 4, new Map());
    assert.equal(n?.protocol, 4);
    assert.equal(n?.scope, 253);
    assert.equal(n?.table, 254);
    assert.equal(n?.oif, undefined);
  });
});

describe('iproute2 backend: stderr → KernelError', () => {
  it('strerror answers map to the exact errno', () => {
    assert.deepEqual(kernelErrorFromStderr('RTNETLINK answers: File exists\n', 'RTM_NEWLINK'),
      { errno: 17, code: 'EEXIST', op: 'RTM_NEWLINK', message: 'RTNETLINK answers: File exists' });
    assert.equal(kernelErrorFromStderr('RTNETLINK answers: No such process', 'RTM_DELROUTE').code, 'ESRCH');
    assert.equal(kernelErrorFromStderr('RTNETLINK answers: Operation not permitted', 'RTM_NEWLINK').code, 'EPERM');
    assert.equal(kernelErrorFromStderr('RTNETLINK answers: Transport endpoint is not connected', 'RTM_NEWLINK').errno, 107);
  });
  it('iproute2-side lookups and extended acks map by text', () => {
    assert.equal(kernelErrorFromStderr('Cannot find device "nope"', 'RTM_DELLINK').code, 'ENODEV');
    assert.equal(kernelErrorFromStderr('Device "nope" does not exist.', 'RTM_GETLINK').code, 'ENODEV');
    assert.equal(kernelErrorFromStderr('Error: argument "nope" is wrong: Device does not exist', 'RTM_NEWLINK').code, 'ENODEV');
    assert.equal(kernelErrorFromStderr('Error: ipv4: Address already assigned.', 'RTM_NEWADDR').code, 'EEXIST');
    assert.equal(kernelErrorFromStderr('Error: ipv4: Address not found.', 'RTM_DELADDR').code, 'EADDRNOTAVAIL');
    assert.equal(kernelErrorFromStderr('Error: Unknown device type.', 'RTM_NEWLINK').code, 'EOPNOTSUPP');
    assert.equal(kernelErrorFromStderr('Error: Something new.', 'RTM_NEWLINK').code, 'EINVAL');
    assert.equal(kernelErrorFromStderr('Error: ipv6: FIB table does not exist.\nDump terminated', 'RTM_GETROUTE').code, 'ENOENT');
    const ns = kernelErrorFromStderr('Cannot open network namespace "x": No such file or directory', 'RTM_GETLINK');
    assert.equal(ns.code, 'ENOENT');
    assert.equal(ns.op, 'setns');
    assert.equal(kernelErrorFromStderr('Cannot create namespace file "/run/netns/x": File exists', 'mount').code, 'EEXIST');
  });
});

describe('iproute2 backend: command lines', () => {
  it('ip -n NAME for /run/netns names, nsenter for other paths, plain ip for self', () => {
    assert.deepEqual(ipCommand(undefined, ['link', 'show']), ['ip', ['link', 'show']]);
    assert.deepEqual(ipCommand('/run/netns/x', ['link']), ['ip', ['-n', 'x', 'link']]);
    assert.deepEqual(ipCommand('/proc/7/ns/net', ['link']), ['nsenter', ['--net=/proc/7/ns/net', '--', 'ip', 'link']]);
    assert.deepEqual(ipCommand('/run/netns/a/b', ['link']), ['nsenter', ['--net=/run/netns/a/b', '--', 'ip', 'link']]);
  });
  it('sysctl keys: dotted form converted, slash form kept literally, traversal refused', () => {
    assert.equal(sysctlPath('net.ipv4.ip_forward'), 'net/ipv4/ip_forward');
    assert.equal(sysctlPath('net/ipv4/conf/eth0.5/forwarding'), 'net/ipv4/conf/eth0.5/forwarding');
    assert.throws(() => sysctlPath('net/../../etc/passwd'));
    assert.throws(() => sysctlPath('/net/ipv4'));
  });
});
