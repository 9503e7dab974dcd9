/**
 * test/unit/state-open.test.ts — what the store accepts as a store (issue 10 item 3),
 * the v2 → v3 migration, the fields schema v3 carries, and the one set of name/MAC rules.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, openStore, RESERVE_BYTES, RESERVE_FILE, SCHEMA_VERSION, STATE_FILE } from '../../src/state/index.js';
import { CODE, CtnetError, InvalidInputError, codeOf } from '../../src/model/errors.js';
import { storeProblems } from '../helpers/state.js';

describe('state: opening and schema v3', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'ctnet-open-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  describe('a visible state.db that is not a store is an error, and is left as it is', () => {
    const file = () => path.join(dir, STATE_FILE);
    const refused = (re: RegExp) => (e: unknown) =>
      e instanceof CtnetError && e.message.includes(file()) && re.test(e.message) && /nothing was changed/.test(e.message);
    function untouched(before: Buffer): void {
      assert.deepEqual(readFileSync(file()), before, 'the file was not rewritten');
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith(STATE_FILE) && f !== STATE_FILE), [], 'no -wal/-shm created beside it');
    }

    it('an empty file', () => {
      writeFileSync(file(), '');
      assert.throws(() => openStore(dir), refused(/empty/));
      untouched(Buffer.alloc(0));
    });
    it('a zero-filled file', () => {
      writeFileSync(file(), Buffer.alloc(8192));
      assert.throws(() => openStore(dir), refused(/not an SQLite database/));
      untouched(Buffer.alloc(8192));
    });
    it('a text file', () => {
      writeFileSync(file(), 'hello\n');
      assert.throws(() => openStore(dir), refused(/not an SQLite database/));
      untouched(Buffer.from('hello\n'));
    });
    it('a directory named state.db', () => {
      mkdirSync(file());
      assert.throws(() => openStore(dir), refused(/is a directory/));
      assert.ok(statSync(file()).isDirectory());
    });
    it('a truncated store', () => {
      const s = openStore(dir);
      for (let i = 0; i < 40; i++) s.putNetwork({ name: `n${i}`, subnet: `10.${i}.0.0/16`, labels: { pad: 'x'.repeat(500) } });
      s.close();
      const whole = readFileSync(file());
      assert.ok(whole.length > 8192);
      writeFileSync(file(), whole.subarray(0, 4096));
      assert.throws(() => openStore(dir), refused(/truncated/));
      untouched(whole.subarray(0, 4096));
    });
    it('an SQLite database without our schema', () => {
      const db = new Database(file());
      db.exec('CREATE TABLE other (x INTEGER)');
      db.close();
      const before = readFileSync(file());
      assert.throws(() => openStore(dir), refused(/no ctnet-fast schema/));
      assert.deepEqual(readFileSync(file()), before);
    });
  });

  it('creates the store complete and leaves no temporary file; writes the disk reserve', () => {
    const s = openStore(path.join(dir, 'st'));
    s.close();
    const names = readdirSync(path.join(dir, 'st')).sort();
    assert.deepEqual(names.filter((n) => n.includes('tmp')), []);
    assert.equal(statSync(path.join(dir, 'st', RESERVE_FILE)).size, RESERVE_BYTES);
    const db = new Database(path.join(dir, 'st', STATE_FILE), { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('migrates a v2 store to v3 keeping every row', () => {
    const file = path.join(dir, STATE_FILE);
    const db = new Database(file);
    MIGRATIONS[0]?.(db);
    MIGRATIONS[1]?.(db);
    db.pragma('user_version = 2');
    db.prepare(`INSERT INTO networks (name, subnet, subnet6, gateway, gateway6, bridge, bridge_mac, mtu, internal, masquerade, created_at, spec, cursor4)
      VALUES ('old', '10.9.0.0/24', 'fd00:9::/64', '10.9.0.1', 'fd00:9::1', 'br-old', '06:00:00:00:00:01', 1500, 0, 1, '2024-01-01T00:00:00.000Z', '{"name":"old","subnet":"10.9.0.0/24","subnet6":"fd00:9::/64"}', '1')`).run();
    db.prepare(`INSERT INTO endpoints (id, network, mode, netns, owns_netns, ifname, host_ifname, ip, ip6, mac, state, created_at)
      VALUES ('e1', 'old', 'bridge', '/run/netns/e1', 1, 'eth0', 'ctvabc1', '10.9.0.2', 'fd00:9::2', '02:42:0a:09:00:02', 'ready', '2024-01-01T00:00:00.000Z')`).run();
    db.prepare("INSERT INTO leases (network, family, ip, endpoint_id) VALUES ('old', 4, '10.9.0.2', 'e1'), ('old', 6, 'fd00:9::2', 'e1')").run();
    db.prepare("INSERT INTO ports (host_ip, proto, host_port, endpoint_id, container_port, range_start) VALUES ('0.0.0.0', 'tcp', 8080, 'e1', 80, 8080)").run();
    const tag = (db.prepare("SELECT value FROM meta WHERE key = 'ifname_tag'").get() as { value: string }).value;
    db.close();

    const s = openStore(dir);
    try {
      assert.equal(s.ifnameTag, tag);
      const net = s.getNetwork('old');
      assert.match(net?.id ?? '', /^[0-9a-f]{64}$/);
      assert.deepEqual({ ...net, id: undefined }, {
        name: 'old', id: undefined, subnet: '10.9.0.0/24', subnet6: 'fd00:9::/64', gateway: '10.9.0.1', gateway6: 'fd00:9::1', bridge: 'br-old',
        bridgeMac: '06:00:00:00:00:01', mtu: 1500, internal: false, masquerade: true, endpoints: 1, createdAt: '2024-01-01T00:00:00.000Z',
        spec: { name: 'old', subnet: '10.9.0.0/24', subnet6: 'fd00:9::/64' },
      });
      const ep = s.getEndpoint('e1');
      assert.equal(ep?.ip, '10.9.0.2');
      assert.equal(ep?.name, undefined);
      assert.deepEqual(ep?.ports, [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
      assert.deepEqual(s.listLeases().map((l) => l.ip), ['10.9.0.2', 'fd00:9::2']);
      assert.equal(s.beginAttach({ network: 'old', netns: '/run/netns/e2' }).ip, '10.9.0.3', 'the IPAM cursor survived');
      assert.deepEqual(storeProblems(s), []);
    } finally {
      s.close();
    }
  });

  describe('what v3 carries', () => {
    it('network labels and a stable id; endpoint name, aliases and CNI container id', () => {
      const s = openStore(dir);
      try {
        const { network } = s.putNetwork({ name: 'lab', subnet: '10.20.0.0/24', labels: { team: 'a', 'com.example/x': 'y' } });
        assert.deepEqual(network.labels, { team: 'a', 'com.example/x': 'y' });
        assert.equal(s.putNetwork({ name: 'lab', subnet: '10.20.0.0/24' }, { existOk: true }).network.id, network.id);
        assert.equal(s.putNetwork({ name: 'plain', subnet: '10.21.0.0/24' }).network.labels, undefined);
        const ep = s.beginAttach({ network: 'lab', netns: '/run/netns/l1', name: 'web-1', aliases: ['web', 'www.local'], containerId: 'abc123_def.0' });
        assert.deepEqual({ name: ep.name, aliases: ep.aliases, containerId: ep.containerId }, { name: 'web-1', aliases: ['web', 'www.local'], containerId: 'abc123_def.0' });
        assert.deepEqual(s.getEndpoint(ep.id), ep);
        assert.throws(() => s.beginAttach({ network: 'lab', netns: '/run/netns/l2', name: 'bad name' }), InvalidInputError);
        assert.throws(() => s.beginAttach({ network: 'lab', netns: '/run/netns/l2', aliases: ['ok', '-no'] }), /invalid alias "-no"/);
        assert.throws(() => s.putNetwork({ name: 'l2', subnet: '10.22.0.0/24', labels: { k: 1 as unknown as string } }), /label "k".*text/);
      } finally {
        s.close();
      }
    });

    it('IPv6-only networks and address ranges: stored, read back, allocated from; bad ranges refused naming the key', () => {
      const s = openStore(dir);
      try {
        const v6 = s.putNetwork({ name: 'v6', subnet6: 'fd00:6::/64' }).network;
        assert.deepEqual([v6.subnet, v6.gateway, v6.subnet6, v6.gateway6], [undefined, undefined, 'fd00:6::/64', 'fd00:6::1']);
        const e6 = s.beginAttach({ network: 'v6', netns: '/run/netns/v61' });
        assert.deepEqual([e6.ip, e6.ip6, e6.mac], [undefined, 'fd00:6::2', '02:43:00:00:00:02']);
        const r = s.putNetwork({ name: 'r', subnet: '10.30.0.0/24', ranges: [{ subnet: '10.31.0.0/24', rangeStart: '10.31.0.10' }] }).network;
        assert.deepEqual(r.ranges, [{ subnet: '10.30.0.0/24', gateway: '10.30.0.1' }, { subnet: '10.31.0.0/24', gateway: '10.31.0.1', rangeStart: '10.31.0.10' }]);
        assert.throws(() => s.putNetwork({ name: 'bad', subnet: '10.32.0.0/24', ranges: [{ subnet: '10.33.0.0/24', rangeStart: '10.33.0.20', rangeEnd: '10.33.0.10' }] }),
          (e: Error) => e instanceof InvalidInputError && /ranges\[0\]\.rangeStart "10\.33\.0\.20".*after ranges\[0\]\.rangeEnd/.test(e.message));
        assert.throws(() => s.putNetwork({ name: 'bad', subnet: '10.34.0.0/24', ranges: [{ subnet: '10.31.0.0/16' }] }), (e: Error) => codeOf(e) === CODE.overlap && /10\.31\.0\.0\/16.*overlaps 10\.31\.0\.0\/24 of network "r"/.test(e.message));
        assert.equal(s.getNetwork('bad'), undefined);
      } finally {
        s.close();
      }
    });
  });

  it('names and MACs follow validate/kernel.ts: bytes, not characters; no all-zero MAC', () => {
    const s = openStore(dir);
    try {
      s.putNetwork({ name: 'k', subnet: '10.40.0.0/24' });
      // 8 characters, 16 bytes: the kernel refuses it (IFNAMSIZ counts bytes)
      assert.throws(() => s.beginAttach({ network: 'k', netns: '/run/netns/k1', ifname: 'éééééééé' }), (e: Error) => e instanceof InvalidInputError && /16 bytes/.test(e.message));
      assert.throws(() => s.beginAttach({ network: 'k', netns: '/run/netns/k1', mac: '00:00:00:00:00:00' }), /all-zero/);
      assert.throws(() => s.putNetwork({ name: 'k2', subnet: '10.41.0.0/24', bridgeMac: '00:00:00:00:00:00' }), /all-zero/);
      assert.throws(() => s.putNetwork({ name: 'k2', subnet: '10.41.0.0/24', bridge: 'br%d' }), InvalidInputError);
      assert.deepEqual(s.listEndpoints(), []);
    } finally {
      s.close();
    }
  });
});

describe('state: reserved network names', () => {
  it('"host" and "none" are refused (attach --network host|none means those modes)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ctnet-reserved-'));
    try {
      const s = openStore(dir);
      for (const name of ['host', 'none']) {
        assert.throws(() => s.putNetwork({ name, subnet: '10.9.0.0/24' }), (e: Error) => e instanceof InvalidInputError && e.message.includes('reserved'));
      }
      assert.deepEqual(s.listNetworks(), []);
      s.putNetwork({ name: 'hosts', subnet: '10.9.0.0/24' });
      s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
