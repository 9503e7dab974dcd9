import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../src/state/index.js';
import { allocateNext, makePool, noteReleased, type LeaseBackend } from '../../src/ipam/index.js';
import { storeProblems } from '../helpers/state.js';
import { CtnetError, InvalidInputError } from '../../src/model/errors.js';

describe('ipam allocation (through the store)', () => {
  let dir: string;
  let store: Store;
  let n = 0;
  const attach = (network: string, extra: { ip?: string; ip6?: string } = {}) =>
    store.beginAttach({ network, netns: `/run/netns/t${n++}`, ...extra });

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ctnet-ipam-'));
    store = openStore(dir);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allocates sequentially after the gateway and reports exhaustion naming the network and its size', () => {
    store.putNetwork({ name: 'small', subnet: '10.1.0.0/29' });
    const ips = [1, 2, 3, 4, 5].map(() => attach('small').ip);
    assert.deepEqual(ips, ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.1.0.6']);
    assert.throws(() => attach('small'), (e: Error) =>
      e instanceof CtnetError && e.code === 'EEXHAUSTED' && /network "small".*all 5 usable addresses of 10\.1\.0\.0\/29/.test(e.message));
    // the failed attach left nothing behind
    assert.equal(store.listEndpoints({ network: 'small' }).length, 5);
    assert.deepEqual(storeProblems(store), []);
  });

  it('does not reuse a released address before wrapping; then reuses oldest release first', () => {
    store.putNetwork({ name: 'small', subnet: '10.1.0.0/29' });
    const a = attach('small'); // .2
    const b = attach('small'); // .3
    assert.ok(store.finishDetach(a.id));
    assert.equal(attach('small').ip, '10.1.0.4', 'released .2 must not come back before the pool wraps');
    assert.ok(store.finishDetach(b.id));
    attach('small'); attach('small'); // .5 .6: the cursor reaches the end
    assert.equal(attach('small').ip, '10.1.0.2', 'after wrapping, oldest release first');
    assert.equal(attach('small').ip, '10.1.0.3');
    assert.throws(() => attach('small'), /no free IPv4 address/);
    assert.deepEqual(storeProblems(store), []);
  });

  it('honours static requests and refuses bad ones with errors naming the address and network', () => {
    store.putNetwork({ name: 'demo', subnet: '10.2.0.0/24' });
    assert.equal(attach('demo', { ip: '10.2.0.50' }).ip, '10.2.0.50');
    assert.throws(() => attach('demo', { ip: '10.2.0.50' }), (e: Error) =>
      e instanceof CtnetError && e.code === 'EADDRINUSE' && /10\.2\.0\.50.*already in use on network "demo" \(by endpoint [0-9a-f]+\)/.test(e.message));
    assert.throws(() => attach('demo', { ip: '10.3.0.5' }), (e: Error) =>
      e instanceof InvalidInputError && /"10\.3\.0\.5".*network "demo".*outside the subnet 10\.2\.0\.0\/24/.test(e.message));
    assert.throws(() => attach('demo', { ip: '10.2.0.1' }), /"10\.2\.0\.1".*"demo".*the gateway/);
    assert.throws(() => attach('demo', { ip: '10.2.0.0' }), /the network address/);
    assert.throws(() => attach('demo', { ip: '10.2.0.255' }), /the broadcast address/);
    assert.throws(() => attach('demo', { ip: 'fd00::5' }), /not an IPv4 address/);
    assert.throws(() => attach('demo', { ip: 'nonsense' }), /"nonsense"/);
    // dynamic allocation skips the statically taken address
    for (let i = 2; i < 50; i++) attach('demo');
    assert.equal(attach('demo').ip, '10.2.0.51');
    assert.deepEqual(storeProblems(store), []);
  });

  it('a static request takes an address off the free list', () => {
    store.putNetwork({ name: 'small', subnet: '10.1.0.0/29' });
    const eps = [1, 2, 3, 4, 5].map(() => attach('small'));
    store.finishDetach(eps[0]!.id); // .2 → free list
    store.finishDetach(eps[1]!.id); // .3 → free list
    assert.equal(attach('small', { ip: '10.1.0.2' }).ip, '10.1.0.2');
    assert.equal(attach('small').ip, '10.1.0.3');
    assert.throws(() => attach('small'), /no free IPv4 address/);
    assert.deepEqual(storeProblems(store), []);
  });

  it('allocates IPv6 too when the network has subnet6 (cursor as a bigint)', () => {
    store.putNetwork({ name: 'dual', subnet: '10.4.0.0/24', subnet6: 'fd00:4::/64' });
    const a = attach('dual');
    assert.equal(a.ip6, 'fd00:4::2');
    assert.equal(attach('dual').ip6, 'fd00:4::3');
    assert.equal(attach('dual', { ip6: 'fd00:4::ffff:ffff:ffff:fff0' }).ip6, 'fd00:4::ffff:ffff:ffff:fff0');
    assert.throws(() => attach('dual', { ip6: 'fd00:5::1' }), /outside the subnet fd00:4::\/64/);
    assert.throws(() => attach('dual', { ip6: 'fd00:4::1' }), /the gateway/);
    store.putNetwork({ name: 'v4only', subnet: '10.5.0.0/24' });
    assert.throws(() => attach('v4only', { ip6: 'fd00::9' }), /has no IPv6 subnet/);
    store.finishDetach(a.id);
    assert.equal(attach('dual').ip6, 'fd00:4::4');
  });

  it('allocation cost does not grow with the number of leases (10 vs 20,000 in a /16)', function () {
    this.timeout(120_000);
    // The allocator's storage calls, counted: each is one SQL statement in the store
    // (state/endpoints.ts binds one statement per LeaseBackend method); the in-memory
    // backend keeps the same semantics (lease = insert-if-absent, FIFO free list).
    const leased = new Set<string>();
    const free: string[] = [];
    let calls = 0, allocations = 0;
    const backend: LeaseBackend = {
      tryLease: (ip) => { calls++; if (leased.has(ip)) return false; leased.add(ip); return true; },
      holderOf: (ip) => { calls++; return leased.has(ip) ? '' : undefined; },
      takeOldestFree: () => { calls++; return free.shift(); },
      addFree: (ip) => { calls++; if (!free.includes(ip)) free.push(ip); },
      removeFree: (ip) => { calls++; const i = free.indexOf(ip); if (i >= 0) free.splice(i, 1); },
    };
    const pool = makePool('big', '10.100.0.0/16');
    let cursor = 0n;
    const order: string[] = [];
    const alloc = (): string => {
      allocations++;
      const a = allocateNext(pool, cursor, backend);
      cursor = a.cursor;
      order.push(a.ip);
      return a.ip;
    };
    const perAlloc = (count: number): number => {
      calls = 0; allocations = 0;
      for (let i = 0; i < count; i++) alloc();
      return calls / allocations;
    };
    const release = (ip: string): void => {
      leased.delete(ip);
      noteReleased(pool, cursor, ip, backend);
    };
    const early = perAlloc(10);
    perAlloc(20_000 - 20);
    const late = perAlloc(10);
    assert.equal(early, 1, 'one probe-and-lease statement per allocation');
    assert.equal(late, early, `${late} backend calls per allocation at 20,000 leases vs ${early} at 10`);
    // after wrapping, allocations come from the free list: still bounded
    for (const ip of order.slice(0, 100)) release(ip);
    while (alloc() !== '10.100.255.254');
    const wrapped = perAlloc(10);
    assert.ok(wrapped <= 2, `${wrapped} backend calls per allocation from the free list`);
    assert.equal(leased.size, 65533 - 90); // capacity 65533 (65534 hosts minus the gateway) minus 90 still free
  });

  it('the store allocates a /16 through to its end and then from the free list', function () {
    this.timeout(120_000);
    store.putNetwork({ name: 'big', subnet: '10.100.0.0/16' });
    store.transaction(() => { for (let i = 0; i < 20_000; i++) attach('big'); });
    const eps = store.listEndpoints({ network: 'big' });
    store.transaction(() => { for (const e of eps.slice(0, 100)) store.finishDetach(e.id); });
    store.transaction(() => { while (attach('big').ip !== '10.100.255.254'); });
    store.transaction(() => { for (let i = 0; i < 10; i++) attach('big'); });
    assert.equal(store.listEndpoints({ network: 'big' }).length, 65533 - 90);
    assert.deepEqual(storeProblems(store), []);
  });
});
