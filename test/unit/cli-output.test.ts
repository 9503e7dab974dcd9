// Unit tests of what the CLI prints: tables, colour rules, the JSON/error documents and exit
// codes, progress only on a TTY, help texts, and the human renderings. No privileges.
import assert from 'node:assert/strict';
import { Output, describeError, errorLine, formatTable, useColor, EXIT, type Streams } from '../../src/cli/output.js';
import { helpFor, mainHelp, verbHelp } from '../../src/cli/help.js';
import { UsageError } from '../../src/cli/args.js';
import { VERBS } from '../../src/cli/table.js';
import { portText, endpointsTable, networksTable } from '../../src/cli/format.js';
import { missingCaps, effectiveCaps, checkPrivilege } from '../../src/cli/privilege.js';
import { buildReport, fromRtnl } from '../../src/cli/verbs/inspect.js';
import { CtnetError, EnvironmentError, InvalidInputError, NetlinkError } from '../../src/model/errors.js';
import type { EndpointInfo, NetworkInfo } from '../../src/model/types.js';

export function fakeStreams(tty = false): Streams & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out, err,
    stdout: { write: (s: string) => out.push(s), isTTY: tty },
    stderr: { write: (s: string) => err.push(s), isTTY: tty },
  };
}

const NET: NetworkInfo = {
  name: 'demo', subnet: '172.18.0.0/16', gateway: '172.18.0.1', bridge: 'ctbr-1234', bridgeMac: '02:00:00:00:00:01',
  mtu: 1500, internal: false, masquerade: true, endpoints: 2, createdAt: '2025-01-01T00:00:00.000Z',
};
const EP: EndpointInfo = {
  id: 'e1', network: 'demo', mode: 'bridge', netns: '/run/netns/c1', netnsName: 'c1', ownsNetns: true, ifname: 'eth0',
  hostIfname: 'ctv1', address: '172.18.0.2/16', ip: '172.18.0.2', gateway: '172.18.0.1', mac: '02:42:ac:12:00:02',
  ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostIp: '::1', hostPort: 53, hostPortEnd: 54, containerPort: 53, containerPortEnd: 54, protocol: 'udp' }],
  createdAt: '2025-01-01T00:00:00.000Z',
};

describe('cli output', () => {
  it('aligns table columns and leaves no trailing blanks', () => {
    const t = formatTable(['NAME', 'SUBNET'], [['a', '10.0.0.0/8'], ['longer-name', '-']]);
    assert.equal(t, 'NAME         SUBNET\na            10.0.0.0/8\nlonger-name  -\n');
  });

  it('colour only on a TTY and never with NO_COLOR or TERM=dumb', () => {
    assert.equal(useColor({ isTTY: true }, {}), true);
    assert.equal(useColor({ isTTY: false }, {}), false);
    assert.equal(useColor({ isTTY: true }, { NO_COLOR: '1' }), false);
    assert.equal(useColor({ isTTY: true }, { TERM: 'dumb' }), false);
    const s = fakeStreams(true);
    const o = new Output({ json: false, quiet: false, verbose: false }, s, { NO_COLOR: '1' });
    o.result({}, () => o.table(['A'], [['x']]));
    assert.equal(s.out.join(''), 'A\nx\n');
    const s2 = fakeStreams(true);
    const o2 = new Output({ json: false, quiet: false, verbose: false }, s2, {});
    o2.result({}, () => o2.table(['A'], [['x']]));
    assert.match(s2.out.join(''), /\x1b\[1mA\x1b\[0m/);
  });

  it('--json: exactly one JSON document on stdout, messages on stderr', () => {
    const s = fakeStreams();
    const o = new Output({ json: true, quiet: false, verbose: false }, s, {});
    o.info('working');
    o.result({ a: 1 }, () => 'human');
    assert.deepEqual(JSON.parse(s.out.join('')), { a: 1 });
    assert.deepEqual(s.err, ['working\n']);
    assert.throws(() => o.result({}, () => ''), /twice/);
  });

  it('errors: one line on stderr, an error object with --json, the documented exit codes', () => {
    const s = fakeStreams();
    const o = new Output({ json: true, quiet: false, verbose: false }, s, {});
    const code = o.error(new CtnetError('network "nope" not found', 'ENOTFOUND'));
    assert.equal(code, EXIT.NOT_FOUND);
    const doc = JSON.parse(s.out.join('')) as { error: { code: string; message: string; exitCode: number; hint?: string } };
    assert.equal(doc.error.code, 'ENOTFOUND');
    assert.equal(doc.error.exitCode, 3);
    assert.match(doc.error.hint ?? '', /network ls/);
    assert.equal(s.err.length, 1);
    assert.doesNotMatch(s.err[0] ?? '', /\n./);

    assert.equal(describeError(new UsageError('attach: missing NETNS', 'attach')).exitCode, EXIT.USAGE);
    assert.equal(describeError(new InvalidInputError('invalid port mapping "70000:80"')).exitCode, EXIT.USAGE);
    assert.equal(describeError(new EnvironmentError('nftables is not installed: apt-get install nftables', 'ENOTOOL')).exitCode, EXIT.ENVIRONMENT);
    const eperm = describeError(new NetlinkError({ errno: 1, op: 'RTM_NEWLINK' }), 'attach');
    assert.equal(eperm.exitCode, EXIT.ENVIRONMENT);
    assert.match(errorLine(eperm), /Operation not permitted.*: needs root .*sudo ctnet-fast attach/);
    assert.equal(describeError(new NetlinkError({ errno: 17, op: 'RTM_NEWLINK' })).exitCode, EXIT.FAILURE);
    assert.equal(describeError(new Error('boom\nat line 2')).message, 'boom | at line 2');
    assert.equal(describeError(Object.assign(new CtnetError('exec: x: command not found', 'ENOCMD'), { exitCode: 127 })).exitCode, 127);
    assert.equal(errorLine(describeError(new UsageError('attach: missing NETNS', 'attach'))), 'attach: missing NETNS (see ctnet-fast attach --help)');
  });

  it('no stack trace unless --verbose', () => {
    const s = fakeStreams();
    new Output({ json: false, quiet: false, verbose: false }, s, {}).error(new Error('kaput'));
    assert.equal(s.err.join(''), 'ctnet-fast: kaput\n');
  });

  it('progress appears only on a TTY, not with --quiet, and is cleared before the result', () => {
    const notty = fakeStreams(false);
    new Output({ json: false, quiet: false, verbose: false }, notty, {}).progress('attach')(1, 10);
    assert.deepEqual(notty.err, []);
    const quiet = fakeStreams(true);
    new Output({ json: false, quiet: true, verbose: false }, quiet, {}).progress('attach')(1, 10);
    assert.deepEqual(quiet.err, []);
    const tty = fakeStreams(true);
    const o = new Output({ json: false, quiet: false, verbose: false }, tty, {});
    const p = o.progress('attach');
    p(1, 10);
    assert.match(tty.err.join(''), /attach \[#*\.*\] 1\/10/);
    o.result({}, () => 'done');
    assert.match(tty.err[tty.err.length - 1] ?? '', /\r\x1b\[K/);
    assert.deepEqual(tty.out, ['done\n']);
  });

  it('help: the main help lists every verb; each verb help shows usage and an example', () => {
    const main = mainHelp();
    for (const v of VERBS) {
      assert.ok(main.includes(v.name), v.name);
      const h = verbHelp(v);
      assert.match(h, new RegExp(`^Usage: ctnet-fast ${v.name}`));
      assert.match(h, /Examples?:\n  (sudo )?ctnet-fast /);
      assert.match(h, /Exit codes: 0 ok/);
    }
    assert.match(helpFor('network') ?? '', /network create/);
    assert.match(helpFor('network list') ?? '', /Usage: ctnet-fast network ls/);
    assert.match(helpFor('netns delete') ?? '', /Usage: ctnet-fast netns del/);
    assert.equal(helpFor('nonsense'), undefined);
  });

  it('renders ports, networks and endpoints for people', () => {
    assert.equal(portText({ hostPort: 8080, containerPort: 80, protocol: 'tcp' }), '8080->80/tcp');
    assert.equal(portText({ hostIp: '127.0.0.1', hostPort: 9000, hostPortEnd: 9009, containerPort: 9000, containerPortEnd: 9009, protocol: 'udp' }), '127.0.0.1:9000-9009->9000-9009/udp');
    assert.equal(portText({ hostIp: '::1', hostPort: 53, containerPort: 53, protocol: 'udp' }), '[::1]:53->53/udp');
    const o = new Output({ json: false, quiet: false, verbose: false }, fakeStreams(), {});
    const nets = networksTable(o, [NET, { ...NET, name: 'iso', internal: true, masquerade: false, subnet6: 'fd00::/64' }]);
    assert.match(nets, /^NAME +SUBNET +GATEWAY +BRIDGE +MTU +ENDPOINTS +FLAGS\n/);
    assert.match(nets, /iso .*internal,ipv6/);
    const eps = endpointsTable(o, [EP]);
    assert.match(eps, /c1 +demo +bridge +eth0 +172\.18\.0\.2\/16 +02:42:ac:12:00:02 +ctv1 +8080->80\/tcp,\[::1\]:53-54->53-54\/udp/);
  });

  it('privilege check: names the missing capabilities and the fix', () => {
    assert.deepEqual(missingCaps(0n), ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    assert.deepEqual(missingCaps((1n << 12n) | (1n << 21n)), []);
    assert.equal(effectiveCaps('Name:\tnode\nCapEff:\t0000000000001000\n'), 0x1000n);
    assert.throws(() => checkPrivilege('attach', 'CapEff:\t0000000000000000\n'), (e: Error) => {
      assert.equal((e as CtnetError).code, 'EPERM');
      assert.match(e.message, /attach: permission denied .*CAP_NET_ADMIN and CAP_SYS_ADMIN.*sudo ctnet-fast attach/);
      assert.equal(describeError(e).exitCode, EXIT.ENVIRONMENT);
      return true;
    });
    assert.doesNotThrow(() => checkPrivilege('attach', 'CapEff:\t000001ffffffffff\n'));
  });

  it('inspect: turns ip -j output into devices, routes and neighbours', () => {
    const r = buildReport({
      links: [
        { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], mtu: 65536, operstate: 'UNKNOWN', link_type: 'loopback', address: '00:00:00:00:00:00' },
        { ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', link_type: 'ether', address: '02:42:ac:12:00:02', link_index: 7, link_netnsid: 0, linkinfo: { info_kind: 'veth' } },
      ],
      addrs: [{ ifindex: 2, ifname: 'eth0', addr_info: [{ family: 'inet', local: '172.18.0.2', prefixlen: 16 }] }],
      routes4: [{ dst: 'default', gateway: '172.18.0.1', dev: 'eth0', flags: [] }, { dst: '172.18.0.0/16', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '172.18.0.2' }],
      routes6: [],
      neigh: [{ dst: '172.18.0.1', dev: 'eth0', lladdr: '02:00:00:00:00:01', state: ['REACHABLE'] }],
    });
    assert.deepEqual(r.devices[1], { index: 2, name: 'eth0', kind: 'veth', state: 'UP', up: true, mtu: 1500, mac: '02:42:ac:12:00:02', peer: 'if7 (netnsid 0)', addresses: ['172.18.0.2/16'] });
    assert.equal(r.devices[0]?.mac, undefined);
    assert.deepEqual(r.routes[0], { family: 4, dst: 'default', via: '172.18.0.1', dev: 'eth0' });
    assert.deepEqual(r.neighbours, [{ dst: '172.18.0.1', dev: 'eth0', lladdr: '02:00:00:00:00:01', state: ['REACHABLE'] }]);
  });

  it('inspect: the addon dumps give the same shape as ip -j (main-table unicast routes, names for indexes)', () => {
    const r = fromRtnl(
      [
        { index: 1, name: 'lo', mtu: 65536, mac: '00:00:00:00:00:00', up: true, operState: 'UNKNOWN', flags: 0 },
        { index: 2, name: 'eth0', kind: 'veth', mtu: 1500, mac: '02:42:ac:12:00:02', up: true, operState: 'UP', flags: 0, link: 7, linkNetnsId: 0 },
        { index: 3, name: 'br', kind: 'bridge', mtu: 1500, mac: '02:00:00:00:00:01', up: true, operState: 'UP', flags: 0, alias: 'ctnet:br:x' },
        { index: 4, name: 'v1', kind: 'veth', mtu: 1500, up: false, operState: 'DOWN', flags: 0, master: 3 },
      ],
      [{ index: 2, family: 4, local: '172.18.0.2', prefixLen: 16, scope: 0, flags: 0 }],
      [
        { family: 4, dstLen: 0, gateway: '172.18.0.1', oif: 2, table: 254, protocol: 3, scope: 0, type: 1, flags: 0 },
        { family: 4, dst: '172.18.0.0', dstLen: 16, oif: 2, table: 254, protocol: 2, scope: 253, type: 1, prefsrc: '172.18.0.2', flags: 0 },
        { family: 4, dst: '172.18.0.2', dstLen: 32, oif: 2, table: 255, protocol: 2, scope: 254, type: 2, flags: 0 },
      ],
    );
    assert.deepEqual(r.devices.map((d) => [d.name, d.kind, d.mac, d.master, d.peer, d.addresses]), [
      ['lo', undefined, undefined, undefined, undefined, []],
      ['eth0', 'veth', '02:42:ac:12:00:02', undefined, 'if7 (netnsid 0)', ['172.18.0.2/16']],
      ['br', 'bridge', '02:00:00:00:00:01', undefined, undefined, []],
      ['v1', 'veth', undefined, 'br', undefined, []],
    ]);
    assert.deepEqual(r.routes, [
      { family: 4, dst: 'default', via: '172.18.0.1', dev: 'eth0' },
      { family: 4, dst: '172.18.0.0/16', dev: 'eth0', protocol: 'kernel', scope: 'link', src: '172.18.0.2' },
    ]);
  });
});
