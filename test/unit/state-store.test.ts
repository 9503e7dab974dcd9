import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, openStore, SCHEMA_VERSION, STATE_FILE, type Store } from '../../src/state/index.js';
import { storeProblems } from '../helpers/state.js';
import { CtnetError, InvalidInputError } from '../../src/model/errors.js';

describe('state/store', () => {
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'ctnet-state-')), 'nested', 'state');
    store = openStore(dir);
  });
  afterEach(() => {
    store.close();
    rmSync(path.dirname(path.dirname(dir)), { recursive: true, force: true });
  });

  describe('opening', () => {
    it('creates the directory 0700, one private WAL database, schema versioned', () => {
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(path.join(dir, STATE_FILE)).mode & 0o077, 0);
      const db = new Database(path.join(dir, STATE_FILE), { readonly: true });
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      db.close();
    });

    it('honours $CTNET_STATE_DIR and reopens existing state', () => {
      store.putNetwork({ name: 'keep', subnet: '10.8.0.0/24' });
      store.close();
      const old = process.env['CTNET_STATE_DIR'];
      process.env['CTNET_STATE_DIR'] = dir;
      try {
        store = openStore();
        assert.equal(store.dir, dir);
        assert.equal(store.getNetwork('keep')?.subnet, '10.8.0.0/24');
      } finally {
        if (old === undefined) delete process.env['CTNET_STATE_DIR']; else process.env['CTNET_STATE_DIR'] = old;
      }
    });

    it('says which directory it cannot use (and does not hang where mkdir answers ENOENT, as under /proc)', () => {
      assert.throws(() => openStore('/proc/ctnet-nope/state'), /cannot open the state in \/proc\/ctnet-nope\/state .*CTNET_STATE_DIR.*ENOENT/);
      assert.throws(() => openStore(path.join(dir, STATE_FILE, 'x')), /ENOTDIR/);
    });

    it('migrates a store of schema v1 (drops the unread endpoints_unfinished index)', () => {
      store.close();
      const v1 = path.join(dir, 'v1');
      mkdirSync(v1);
      const db = new Database(path.join(v1, STATE_FILE));
      MIGRATIONS[0]?.(db);
      db.pragma('user_version = 1');
      db.close();
      store = openStore(v1);
      assert.equal(store.ifnameTag.length, 3);
      const check = new Database(path.join(v1, STATE_FILE), { readonly: true });
      assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE name = 'endpoints_unfinished'").all(), []);
      check.close();
    });

    it('refuses a store written by a newer schema', () => {
      store.close();
      const db = new Database(path.join(dir, STATE_FILE));
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      db.close();
      assert.throws(() => openStore(dir), (e: Error) => e instanceof CtnetError && e.code === 'ESCHEMA' && /newer/.test(e.message));
      const db2 = new Database(path.join(dir, STATE_FILE));
      db2.pragma(`user_version = ${SCHEMA_VERSION}`);
      db2.close();
      store = openStore(dir);
    });
  });

  describe('networks', () => {
    it('resolves defaults and round-trips', () => {
      const { network, created } = store.putNetwork({ name: 'demo', subnet: '172.18.0.0/16', subnet6: 'fd00:18::/64' });
      assert.ok(created);
      assert.equal(network.gateway, '172.18.0.1');
      assert.equal(network.gateway6, 'fd00:18::1');
      assert.match(network.bridge, /^ctbr-[0-9a-f]{8}$/);
      assert.match(network.bridgeMac, /^06(:[0-9a-f]{2}){5}$/);
      assert.equal(network.mtu, 1500);
      assert.equal(network.internal, false);
      assert.equal(network.masquerade, true);
      assert.equal(network.endpoints, 0);
      assert.deepEqual(network.spec, { name: 'demo', subnet: '172.18.0.0/16', subnet6: 'fd00:18::/64' });
      assert.deepEqual(store.getNetwork('demo'), network);
      const internal = store.putNetwork({ name: 'iso', subnet: '10.9.0.0/24', internal: true, bridge: 'br-iso', gateway: '10.9.0.254', mtu: 9000 }).network;
      assert.equal(internal.masquerade, false);
      assert.equal(internal.bridge, 'br-iso');
      assert.deepEqual(store.listNetworks().map((n) => n.name), ['demo', 'iso']);
    });

    it('refuses duplicates, bridge reuse, overlaps and /31 /32, naming the objects', () => {
      store.putNetwork({ name: 'a', subnet: '10.0.0.0/16', subnet6: 'fd00:a::/64', bridge: 'br-a' });
      assert.throws(() => store.putNetwork({ name: 'a', subnet: '10.1.0.0/16' }), (e: Error) =>
        e instanceof CtnetError && e.code === 'EEXIST' && /network "a" already exists with subnet 10\.0\.0\.0\/16 \(asked 10\.1\.0\.0\/16\)/.test(e.message));
      assert.equal(store.putNetwork({ name: 'a', subnet: '10.0.0.0/16', subnet6: 'fd00:a::/64', bridge: 'br-a' }, { existOk: true }).created, false);
      assert.throws(() => store.putNetwork({ name: 'b', subnet: '10.1.0.0/16', bridge: 'br-a' }), /bridge br-a is already used by network "a"/);
      assert.throws(() => store.putNetwork({ name: 'b', subnet: '10.0.128.0/17' }), (e: Error) =>
        e instanceof CtnetError && e.code === 'EOVERLAP' && /10\.0\.128\.0\/17 of network "b" overlaps 10\.0\.0\.0\/16 of network "a"/.test(e.message));
      assert.throws(() => store.putNetwork({ name: 'b', subnet: '10.1.0.0/16', subnet6: 'fd00:a::/48' }), /fd00:a::\/48 of network "b" overlaps fd00:a::\/64/);
      assert.throws(() => store.putNetwork({ name: 'b', subnet: '10.1.0.0/31' }), (e: Error) => e instanceof InvalidInputError && /"10\.1\.0\.0\/31".*too small/.test(e.message));
      assert.throws(() => store.putNetwork({ name: 'b', subnet: '10.1.0.0/32' }), /too small/);
      assert.throws(() => store.putNetwork({ name: 'bad name', subnet: '10.1.0.0/24' }), /invalid network name "bad name"/);
      assert.throws(() => store.putNetwork({ name: 'b', subnet: '10.1.0.0/24', bridge: 'a-very-long-bridge-name' }), /bridge name/);
      assert.equal(store.findOverlappingNetwork('10.0.5.0/24')?.name, 'a');
      assert.equal(store.findOverlappingNetwork('10.0.5.0/24', 'a'), undefined);
      assert.equal(store.findOverlappingNetwork('fd00:a::/56')?.name, 'a');
      assert.equal(store.findOverlappingNetwork('10.2.0.0/16'), undefined);
      assert.deepEqual(store.listNetworks().map((n) => n.name), ['a'], 'failed creations left nothing');
    });

    it('deletes only a network without endpoints, and its IPAM state with it', () => {
      store.putNetwork({ name: 'demo', subnet: '10.3.0.0/24' });
      const ep = store.beginAttach({ network: 'demo', netns: '/run/netns/x' });
      assert.throws(() => store.deleteNetwork('demo'), (e: Error) =>
        e instanceof CtnetError && e.code === 'EBUSY' && new RegExp(`"demo" still has 1 endpoint\\(s\\) \\(e\\.g\\. ${ep.id}, pending\\)`).test(e.message));
      store.finishDetach(ep.id);
      assert.equal(store.deleteNetwork('demo')?.name, 'demo');
      assert.equal(store.deleteNetwork('demo'), undefined);
      assert.deepEqual(store.listLeases(), []);
      // recreated: allocation starts over
      store.putNetwork({ name: 'demo', subnet: '10.3.0.0/24' });
      assert.equal(store.beginAttach({ network: 'demo', netns: '/run/netns/x' }).ip, '10.3.0.2');
    });
  });

  describe('endpoints and intent', () => {
    beforeEach(() => { store.putNetwork({ name: 'demo', subnet: '172.18.0.0/16' }); });

    it('beginAttach records a pending endpoint with lease, host ifname and MAC; markReady; detach releases', () => {
      const ep = store.beginAttach({ network: 'demo', netns: '/run/netns/c1', netnsName: 'c1', ownsNetns: true, data: { routes: [] } });
      assert.equal(ep.state, 'pending');
      assert.equal(ep.ip, '172.18.0.2');
      assert.equal(ep.mac, '02:42:ac:12:00:02');
      assert.equal(ep.ifname, 'eth0');
      assert.match(ep.hostIfname ?? '', /^ctv[0-9a-z]{3}[0-9a-z]+$/);
      assert.ok((ep.hostIfname ?? '').length <= 15);
      assert.deepEqual(store.getEndpoint(ep.id), ep);
      assert.deepEqual(store.listEndpoints({ state: 'pending' }).map((e) => e.id), [ep.id]);
      assert.equal(store.getNetwork('demo')?.endpoints, 1);
      store.markReady(ep.id);
      store.markReady(ep.id); // idempotent
      assert.equal(store.getEndpoint(ep.id)?.state, 'ready');
      assert.deepEqual(store.listEndpoints({ state: 'pending' }), []);
      assert.equal(store.findEndpoint({ netns: '/run/netns/c1' })?.id, ep.id);
      assert.equal(store.findEndpoint({ netns: '/run/netns/c1', network: 'demo' })?.id, ep.id);
      assert.equal(store.findEndpoint({ netns: '/run/netns/c1', network: 'other' }), undefined);
      const d = store.beginDetach(ep.id);
      assert.equal(d?.state, 'detaching');
      assert.throws(() => store.markReady(ep.id), /is detaching/);
      assert.deepEqual(store.listEndpoints({ state: 'detaching' }).map((e) => e.id), [ep.id]);
      assert.equal(store.finishDetach(ep.id), true);
      assert.equal(store.finishDetach(ep.id), false);
      assert.equal(store.beginDetach(ep.id), undefined);
      assert.equal(store.getEndpoint(ep.id), undefined);
      assert.deepEqual(store.listLeases(), []);
      assert.throws(() => store.markReady(ep.id), (e: Error) => e instanceof CtnetError && e.code === 'ENOTFOUND');
      assert.deepEqual(storeProblems(store), []);
    });

    it('host ifnames are never reused; one netns attaches once per network', () => {
      const a = store.beginAttach({ network: 'demo', netns: '/run/netns/a' });
      store.finishDetach(a.id);
      const b = store.beginAttach({ network: 'demo', netns: '/run/netns/a' });
      assert.notEqual(b.hostIfname, a.hostIfname);
      assert.throws(() => store.beginAttach({ network: 'demo', netns: '/run/netns/a' }), (e: Error) =>
        e instanceof CtnetError && e.code === 'EEXIST' && new RegExp(`/run/netns/a is already attached to network "demo" \\(endpoint ${b.id}, pending\\)`).test(e.message));
      assert.throws(() => store.beginAttach({ network: 'nope', netns: '/run/netns/z' }), (e: Error) =>
        e instanceof CtnetError && e.code === 'ENOTFOUND' && /network "nope"/.test(e.message));
      assert.throws(() => store.beginAttach({ network: 'demo', netns: '/run/netns/z', hostIfname: b.hostIfname! }), /host interface name .* already used/);
      assert.throws(() => store.beginAttach({ network: 'demo', netns: '/run/netns/z', id: b.id }), new RegExp(`endpoint ${b.id} already exists`));
      assert.deepEqual(store.listEndpoints().map((e) => e.id), [b.id], 'failed attaches left nothing');
      assert.deepEqual(store.listLeases().map((l) => l.ip), ['172.18.0.3']);
    });

    it('explicit id, ifname, MAC and mode none/host', () => {
      const ep = store.beginAttach({ network: 'demo', netns: '/proc/1/ns/net', id: 'ctr-1', ifname: 'net1', mac: '02:AA:bb:cc:dd:ee', hostIfname: 'vethctr1' });
      assert.equal(ep.id, 'ctr-1');
      assert.equal(ep.ifname, 'net1');
      assert.equal(ep.mac, '02:aa:bb:cc:dd:ee');
      assert.equal(ep.hostIfname, 'vethctr1');
      assert.throws(() => store.beginAttach({ network: 'demo', netns: '/x', mac: '01:00:5e:00:00:01' }), /multicast/);
      const none = store.beginAttach({ mode: 'none', netns: '/run/netns/n' });
      assert.equal(none.ip, undefined);
      assert.equal(none.network, undefined);
      assert.equal(none.hostIfname, undefined);
      assert.throws(() => store.beginAttach({ mode: 'bridge', netns: '/x' }), /needs a network/);
      assert.throws(() => store.beginAttach({ mode: 'host', netns: '/x', ports: [{ hostPort: 1, containerPort: 1, protocol: 'tcp' }] }), /only be published in bridge mode/);
    });

    it('markReady can replace the stored data', () => {
      const ep = store.beginAttach({ network: 'demo', netns: '/run/netns/d', data: { step: 1 } });
      store.markReady(ep.id);
      assert.deepEqual(store.getEndpoint(ep.id)?.data, { step: 1 }, 'without data, markReady keeps it');
      store.markReady(ep.id, { data: { step: 2, hostIfindex: 7 } });
      assert.deepEqual(store.getEndpoint(ep.id)?.data, { step: 2, hostIfindex: 7 });
    });

    it('store.transaction makes several calls atomic', () => {
      assert.throws(() => store.transaction(() => {
        store.beginAttach({ network: 'demo', netns: '/run/netns/t1' });
        store.setMeta('k', 'v');
        throw new Error('boom');
      }), /boom/);
      assert.deepEqual(store.listEndpoints(), []);
      assert.equal(store.getMeta('k'), undefined);
      assert.equal(store.beginAttach({ network: 'demo', netns: '/run/netns/t1' }).ip, '172.18.0.2', 'the rolled-back allocation did not move the cursor');
    });

    it('a store call that fails inside store.transaction is undone even if the error is caught', () => {
      const a = store.beginAttach({ network: 'demo', netns: '/run/netns/a', ports: [{ hostPort: 80, containerPort: 80, protocol: 'tcp' }] });
      store.transaction(() => {
        assert.throws(() => store.beginAttach({ network: 'demo', netns: '/run/netns/b', ports: [{ hostPort: 80, containerPort: 80, protocol: 'tcp' }] }), /already published/);
        store.beginAttach({ network: 'demo', netns: '/run/netns/c' });
      });
      assert.deepEqual(store.listEndpoints().map((e) => e.netns), [a.netns, '/run/netns/c']);
      assert.deepEqual(store.listLeases().map((l) => l.ip), ['172.18.0.2', '172.18.0.3'], 'the failed attach leaked no lease and did not move the cursor');
      assert.deepEqual(storeProblems(store), []);
    });
  });

  describe('ports', () => {
    let a: string, b: string;
    beforeEach(() => {
      store.putNetwork({ name: 'demo', subnet: '172.18.0.0/16', subnet6: 'fd00:18::/64' });
      a = store.beginAttach({ network: 'demo', netns: '/run/netns/a' }).id;
      b = store.beginAttach({ network: 'demo', netns: '/run/netns/b' }).id;
    });

    it('refuses the same host ip/proto/port twice, naming the port and its holder', () => {
      store.addPorts(a, [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
      assert.throws(() => store.addPorts(b, [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 81, protocol: 'tcp' }]), (e: Error) =>
        e instanceof CtnetError && e.code === 'EPORTINUSE' &&
        new RegExp(`host port 127\\.0\\.0\\.1:8080/tcp is already published by endpoint ${a} on network "demo" \\(netns /run/netns/a\\) → container port 80`).test(e.message));
      assert.throws(() => store.addPorts(a, [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]), /already published by this endpoint/);
    });

    it('0.0.0.0 overlaps every IPv4 host address (both ways); :: every IPv6 one; tcp and udp are separate', () => {
      store.addPorts(a, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]); // absent hostIp = 0.0.0.0
      assert.throws(() => store.addPorts(b, [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]),
        new RegExp(`127\\.0\\.0\\.1:8080/tcp is already published by endpoint ${a}.* as 0\\.0\\.0\\.0:8080/tcp`));
      store.addPorts(b, [{ hostPort: 8080, containerPort: 80, protocol: 'udp' }]);
      store.addPorts(b, [{ hostIp: '::', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
      store.addPorts(a, [{ hostIp: '10.0.0.1', hostPort: 9090, containerPort: 90, protocol: 'tcp' }]);
      assert.throws(() => store.addPorts(b, [{ hostIp: '0.0.0.0', hostPort: 9090, containerPort: 90, protocol: 'tcp' }]),
        /0\.0\.0\.0:9090\/tcp is already published by endpoint .* as 10\.0\.0\.1:9090\/tcp/);
      assert.throws(() => store.addPorts(a, [{ hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]), /\[::1\]:8080\/tcp .* as \[::\]:8080\/tcp/);
      store.addPorts(a, [{ hostIp: '::1', hostPort: 9090, containerPort: 90, protocol: 'tcp' }]);
    });

    it('ranges conflict port by port, all-or-nothing, and come back as given', () => {
      store.addPorts(a, [{ hostPort: 7000, hostPortEnd: 7010, containerPort: 8000, containerPortEnd: 8010, protocol: 'tcp' }]);
      assert.throws(() => store.addPorts(b, [
        { hostPort: 6000, containerPort: 6000, protocol: 'tcp' },
        { hostPort: 7010, hostPortEnd: 7020, containerPort: 7010, containerPortEnd: 7020, protocol: 'tcp' },
      ]), /0\.0\.0\.0:7010\/tcp is already published/);
      assert.deepEqual(store.getEndpoint(b)?.ports, [], 'a refused batch publishes nothing');
      assert.deepEqual(store.getEndpoint(a)?.ports, [{ hostIp: '0.0.0.0', hostPort: 7000, hostPortEnd: 7010, containerPort: 8000, containerPortEnd: 8010, protocol: 'tcp' }]);
      assert.throws(() => store.addPorts(b, [{ hostPort: 1, hostPortEnd: 3, containerPort: 1, protocol: 'tcp' }]), /ranges differ in length/);
      assert.throws(() => store.addPorts(b, [{ hostPort: 70000, containerPort: 1, protocol: 'tcp' }]), /70000 is not a port/);
      assert.throws(() => store.addPorts(b, [{ hostPort: 1, containerPort: 1, protocol: 'sctp' as 'tcp' }]), /tcp or udp/);
      assert.throws(() => store.addPorts('nope', [{ hostPort: 1, containerPort: 1, protocol: 'tcp' }]), /endpoint nope not found/);
    });

    it('removePorts removes exactly its own; listPorts gives the DNAT view; detach drops the rest', () => {
      store.addPorts(a, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 53, containerPort: 53, protocol: 'udp' }]);
      store.addPorts(b, [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }, { hostIp: '::', hostPort: 8081, containerPort: 80, protocol: 'tcp' }]);
      assert.equal(store.removePorts(b, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]), 0, "not b's");
      assert.equal(store.removePorts(a, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]), 1);
      assert.deepEqual(store.getEndpoint(a)?.ports, [{ hostIp: '0.0.0.0', hostPort: 53, containerPort: 53, protocol: 'udp' }]);
      const view = store.listPorts().map((p) => `${p.endpointId === a ? 'a' : 'b'} ${p.hostIp} ${p.protocol} ${p.hostPort} → ${p.containerIp ?? '-'}:${p.containerPort}`).sort();
      assert.deepEqual(view, ['a 0.0.0.0 udp 53 → 172.18.0.2:53', 'b 0.0.0.0 tcp 8081 → 172.18.0.3:80', 'b :: tcp 8081 → fd00:18::3:80']);
      assert.equal(store.listPorts({ endpointId: b }).length, 2);
      store.addPorts(b, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]); // freed by a's removal
      assert.equal(store.removePorts(b), 3);
      store.finishDetach(a);
      assert.deepEqual(store.listPorts(), []);
      assert.deepEqual(storeProblems(store), []);
    });

    it('beginAttach records ports in the same transaction; a conflict aborts the attach', () => {
      store.addPorts(a, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
      assert.throws(() => store.beginAttach({ network: 'demo', netns: '/run/netns/c', ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }), /8080\/tcp is already published/);
      assert.equal(store.findEndpoint({ netns: '/run/netns/c' }), undefined);
      assert.equal(store.listLeases().length, 4, 'no lease leaked by the aborted attach');
      const c = store.beginAttach({ network: 'demo', netns: '/run/netns/c', ports: [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }] });
      assert.equal(c.ip, '172.18.0.4');
      assert.deepEqual(c.ports, [{ hostIp: '0.0.0.0', hostPort: 8081, containerPort: 80, protocol: 'tcp' }]);
      // a filtered list carries exactly its endpoints' ports
      assert.deepEqual(store.listEndpoints({ netns: '/run/netns/c' }).map((e) => e.ports), [c.ports]);
      assert.deepEqual(store.listEndpoints({ network: 'demo', netns: '/run/netns/a' }).map((e) => e.ports), [[{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]]);
      assert.deepEqual(store.listEndpoints({ network: 'demo', state: 'pending' }).map((e) => e.ports.length), [1, 0, 1]);
    });
  });

  describe('counters and meta', () => {
    it('nextSeq counts per name; meta sets, reads, deletes', () => {
      assert.deepEqual([store.nextSeq('x'), store.nextSeq('x'), store.nextSeq('y'), store.nextSeq('x')], [1, 2, 1, 3]);
      store.setMeta('firewall.base', 'v1');
      store.setMeta('firewall.base', 'v2');
      assert.equal(store.getMeta('firewall.base'), 'v2');
      assert.equal(store.deleteMeta('firewall.base'), true);
      assert.equal(store.deleteMeta('firewall.base'), false);
      assert.equal(store.getMeta('firewall.base'), undefined);
    });
  });
});
