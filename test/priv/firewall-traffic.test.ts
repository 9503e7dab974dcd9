/**
 * Privileged: ctnet-fast's nftables rules proven with REAL traffic on the tutorial's
 * topology built by hand (test/fixtures/firewall/lab.ts), inside test/sandbox.mjs.
 * Oracles: TCP/UDP servers that answer with the peer address they saw, ping, and
 * `nft -j list ruleset`. Run: node test/run.mjs 'test/priv/firewall-*.test.ts'
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  Firewall, baseRuleset, unpublishElements, type FirewallBackendName, type FirewallOptions,
} from '../../src/firewall/index.js';
import { parsePortSpec } from '../../src/validate/ports.js';
import { runNftArgs } from '../../src/backend/nft-process.js';
import { addNetwork, listOwnTables, removeNetwork, tablesOf } from '../fixtures/firewall/nft.js';
import { NetlinkError } from '../../src/model/errors.js';
import * as lab from '../fixtures/firewall/lab.js';
import { C1, C2, C3, C4, NET_A, NET_B, NET_I, OUT } from '../fixtures/firewall/lab.js';
import { nativeFirewall } from '../fixtures/firewall/native.js';

const fwNet = (n: lab.Net) => ({
  bridge: n.bridge, subnet: n.subnet,
  ...(n.subnet6 !== undefined ? { subnet6: n.subnet6 } : {}),
  ...(n.internal === true ? { internal: true } : {}),
});
const ep = (c: lab.Container) => ({ ip: c.ip, ...(c.ip6 !== undefined ? { ip6: c.ip6 } : {}) });

const C1_PORTS = ['8080:80', '127.0.0.1:8081:81', '9000-9002:10000-10002', '5353:53/udp', `${OUT.hostIp}:8082:80`, `[${OUT.hostIp6}]:8083:80`].map(parsePortSpec);
const C2_PORTS = ['8090:80'].map(parsePortSpec);

// The 'libnftables' variant runs when the native backend (src/backend/native.ts) loads;
// otherwise it is left out, and said so once on stderr.
const native = await nativeFirewall();
if (native.opts === undefined) process.stderr.write(`firewall traffic tests: libnftables variant left out: ${native.why}\n`);
const variants: Array<{ name: FirewallBackendName; opts: FirewallOptions }> = [
  { name: 'nft', opts: { firewall: 'nft' } },
  ...(native.opts !== undefined ? [{ name: 'libnftables' as const, opts: native.opts }] : []),
];

describe('firewall (privileged): real traffic through ctnet-fast rules', function () {
  this.timeout(120000);
  const servers: lab.Server[] = [];

  before(async () => {
    lab.assertSandbox();
    await new Firewall({ firewall: 'nft' }).removeAll();
    await lab.build();
    assert.equal(readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim(), '1',
      'br_netfilter must be active in the sandbox for bridged traffic to reach the forward hook');
    servers.push(
      await lab.startServer(C1.ns, 'c1', [80, 81, 10000, 10001, 10002], [53]),
      await lab.startServer(C2.ns, 'c2', [80]),
      await lab.startServer(C3.ns, 'c3', [80]),
      await lab.startServer(C4.ns, 'c4', [80]),
      await lab.startServer(OUT.ns, 'out', [7000]),
    );
  });

  after(async () => {
    for (const s of servers) s.stop();
    await new Firewall({ firewall: 'nft' }).removeAll().catch(() => undefined);
    await lab.cleanup();
  });

  it('without our rules the lab is wide open (the tests below are meaningful)', async () => {
    // no masquerade: the outside sees the container address; the outside reaches containers directly
    assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: OUT.ip, port: 7000 }]), [`out ${C1.ip} 7000`]);
    assert.deepEqual(await lab.probeFrom(OUT.ns, [{ host: C1.ip, port: 80 }]), [`c1 ${OUT.ip} 80`]);
    assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: C3.ip, port: 80 }]), [`c3 ${C1.ip} 80`]);
  });

  for (const v of variants) {
    describe(`backend ${v.name}`, function () {
      let fw: Firewall;

      before(async () => {
        fw = new Firewall(v.opts);
        assert.equal(fw.backendName, v.name);
        await fw.removeAll();
        for (const n of [NET_A, NET_B, NET_I]) await addNetwork(fw, fwNet(n));
        await fw.publish(ep(C1), C1_PORTS);
        await fw.publish(ep(C2), C2_PORTS);
      });
      after(async () => { await fw.removeAll(); });
      const t = (title: string, fn: () => Promise<void>) => it(title, fn);

      t('nft lists only our tables: ip, ip6 and bridge ctnet', async () => {
        const all = tablesOf(await runNftArgs(['-j', 'list', 'ruleset']));
        assert.deepEqual(all.map((x) => `${x.family} ${x.name}`).sort(), ['bridge ctnet', 'ip ctnet', 'ip6 ctnet']);
        assert.deepEqual((await listOwnTables(fw.ns)).sort(), ['ip ctnet', 'ip6 ctnet']);
      });

      t('container → outside is masqueraded to the host address (IPv4 and IPv6)', async () => {
        assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: OUT.ip, port: 7000 }, { host: OUT.ip6, port: 7000 }]),
          [`out ${OUT.hostIp} 7000`, `out ${OUT.hostIp6} 7000`]);
        assert.deepEqual(await lab.probeFrom(C3.ns, [{ host: OUT.ip, port: 7000 }]), [`out ${OUT.hostIp} 7000`]);
        assert.ok(await lab.ping(C1.ns, OUT.ip));
      });

      t('published ports answer from the outside (tcp, a range, udp, a host-IP mapping), without SNAT', async () => {
        assert.deepEqual(await lab.probeFrom(OUT.ns, [
          { host: OUT.hostIp, port: 8080 },
          { host: OUT.hostIp, port: 9000 },
          { host: OUT.hostIp, port: 9002 },
          { proto: 'udp', host: OUT.hostIp, port: 5353 },
          { host: OUT.hostIp, port: 8082 },
          { host: OUT.hostIp, port: 8090 },
          { host: OUT.hostIp6, port: 8080 },
          { host: OUT.hostIp6, port: 8083 },
          { host: OUT.hostIp, port: 8083 },
        ]), [
          `c1 ${OUT.ip} 80`, `c1 ${OUT.ip} 10000`, `c1 ${OUT.ip} 10002`, `c1 ${OUT.ip} 53`, `c1 ${OUT.ip} 80`, `c2 ${OUT.ip} 80`,
          `c1 ${OUT.ip6} 80`, `c1 ${OUT.ip6} 80`, 'ERR ECONNREFUSED',
        ]);
        // published on 127.0.0.1 only: on the outside address it is not DNAT-ed, so the host
        // itself answers (nothing listens there: refused)
        assert.deepEqual(await lab.probeFrom(OUT.ns, [{ host: OUT.hostIp, port: 8081 }]), ['ERR ECONNREFUSED']);
      });

      t('published ports answer from the host itself, and on 127.0.0.1 (route_localnet + masquerade)', async () => {
        assert.deepEqual(await lab.probeFromHost([
          { host: OUT.hostIp, port: 8080 },
          { host: NET_A.gw, port: 9001 },
          { host: '127.0.0.1', port: 8081 },
          { host: '127.0.0.1', port: 8080 },
          { proto: 'udp', host: '127.0.0.1', port: 5353 },
          { host: OUT.hostIp6, port: 8080 },
          { host: OUT.hostIp6, port: 8083 },
        ]), [
          `c1 ${OUT.hostIp} 80`, `c1 ${NET_A.gw} 10001`, `c1 ${NET_A.gw} 81`, `c1 ${NET_A.gw} 80`, `c1 ${NET_A.gw} 53`,
          `c1 ${OUT.hostIp6} 80`, `c1 ${OUT.hostIp6} 80`,
        ]);
      });

      t('hairpin: a sibling and the container itself reach a published port through the host address', async () => {
        // masqueraded to the gateway, so replies come back through the host and match
        assert.deepEqual(await lab.probeFrom(C2.ns, [{ host: OUT.hostIp, port: 8080 }, { proto: 'udp', host: OUT.hostIp, port: 5353 }]),
          [`c1 ${NET_A.gw} 80`, `c1 ${NET_A.gw} 53`]);
        assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: OUT.hostIp, port: 8080 }, { host: OUT.hostIp, port: 8090 }, { host: OUT.hostIp6, port: 8080 }]),
          [`c1 ${NET_A.gw} 80`, `c2 ${NET_A.gw} 80`, `c1 ${NET_A.gw6!} 80`]);
        // from another network, published ports are reachable too (Docker's behaviour), no SNAT needed
        assert.deepEqual(await lab.probeFrom(C3.ns, [{ host: OUT.hostIp, port: 8080 }]), [`c1 ${C3.ip} 80`]);
        // Why the topology must set hairpin mode on every bridge port: with br_netfilter the
        // DNAT-ed frame is bridged back out of the port it came in on, which a bridge refuses
        // unless the port is in hairpin mode. The sibling case does not need it.
        await lab.ip('link', 'set', C1.hostIf, 'type', 'bridge_slave', 'hairpin', 'off');
        try {
          assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: OUT.hostIp, port: 8080 }]), ['ERR TIMEOUT']);
          assert.deepEqual(await lab.probeFrom(C2.ns, [{ host: OUT.hostIp, port: 8080 }]), [`c1 ${NET_A.gw} 80`]);
        } finally {
          await lab.ip('link', 'set', C1.hostIf, 'type', 'bridge_slave', 'hairpin', 'on');
        }
      });

      t('containers of one network reach each other (bridged traffic passes forward with iif = oif = the bridge)', async () => {
        assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: C2.ip, port: 80 }]), [`c2 ${C1.ip} 80`]);
        assert.ok(await lab.ping(C2.ns, C1.ip));
        // Proof that the forward hook sees the BRIDGE as iif/oif: without the "br . br" element
        // of @intra the same traffic hits "oifname @bridges drop".
        const intra = `{"nftables":[{"delete":{"element":{"family":"ip","table":"ctnet","name":"intra","elem":[{"concat":["${NET_A.bridge}","${NET_A.bridge}"]}]}}}]}`;
        await fw.apply(intra);
        try {
          assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: C2.ip, port: 80 }]), ['ERR TIMEOUT']);
        } finally {
          await fw.apply(intra.replace('"delete"', '"add"'));
        }
        assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: C2.ip, port: 80 }]), [`c2 ${C1.ip} 80`]);
      });

      t('the rules also hold with br_netfilter off (bridge-nf-call-iptables=0)', async () => {
        const key = 'net/bridge/bridge-nf-call-iptables';
        lab.writeSysctl(key, '0');
        try {
          assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: C2.ip, port: 80 }, { host: OUT.hostIp, port: 8080 }, { host: C3.ip, port: 80 }]),
            [`c2 ${C1.ip} 80`, `c1 ${NET_A.gw} 80`, 'ERR TIMEOUT']);
          assert.deepEqual(await lab.probeFrom(C2.ns, [{ host: OUT.hostIp, port: 8080 }, { host: OUT.ip, port: 7000 }]),
            [`c1 ${NET_A.gw} 80`, `out ${OUT.hostIp} 7000`]);
        } finally {
          lab.writeSysctl(key, '1');
        }
      });

      t('two networks cannot reach each other; the outside cannot reach containers directly', async () => {
        assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: C3.ip, port: 80 }]), ['ERR TIMEOUT']);
        assert.deepEqual(await lab.probeFrom(C3.ns, [{ host: C1.ip, port: 80 }, { host: C2.ip, port: 80 }]), ['ERR TIMEOUT', 'ERR TIMEOUT']);
        assert.equal(await lab.ping(C1.ns, C3.ip), false);
        assert.deepEqual(await lab.probeFrom(OUT.ns, [{ host: C1.ip, port: 80 }, { host: C1.ip6!, port: 80 }]), ['ERR TIMEOUT', 'ERR TIMEOUT']);
      });

      t('the internal network has no egress and nothing gets in (the host still reaches it)', async () => {
        assert.deepEqual(await lab.probeFrom(C4.ns, [{ host: OUT.ip, port: 7000 }, { host: C1.ip, port: 80 }, { host: OUT.hostIp, port: 8080 }]),
          ['ERR TIMEOUT', 'ERR TIMEOUT', 'ERR TIMEOUT']);
        assert.equal(await lab.ping(C4.ns, OUT.ip), false);
        assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: C4.ip, port: 80 }]), ['ERR TIMEOUT']);
        assert.deepEqual(await lab.probeFromHost([{ host: C4.ip, port: 80 }]), [`c4 ${NET_I.gw} 80`]);
      });

      t('unpublish removes exactly its mapping; someone else\'s is refused and kept', async () => {
        const m8080 = C1_PORTS.slice(0, 1);
        await fw.unpublish(ep(C1), m8080);
        await fw.unpublish(ep(C1), m8080); // idempotent
        // c2 may not unpublish c1's range: the transaction aborts (EEXIST), nothing deleted
        await assert.rejects(fw.apply(unpublishElements(ep(C2), [parsePortSpec('9000-9002:10000-10002')])),
          (e: unknown) => e instanceof NetlinkError && e.code === 'EEXIST');
        assert.deepEqual(await lab.probeFrom(OUT.ns, [
          { host: OUT.hostIp, port: 8080 }, { host: OUT.hostIp6, port: 8080 }, { host: OUT.hostIp, port: 9001 },
          { host: OUT.hostIp, port: 8090 }, { host: OUT.hostIp, port: 8082 },
        ]), ['ERR ECONNREFUSED', 'ERR ECONNREFUSED', `c1 ${OUT.ip} 10001`, `c2 ${OUT.ip} 80`, `c1 ${OUT.ip} 80`]);
        await fw.publish(ep(C1), m8080);
        assert.deepEqual(await lab.probeFrom(OUT.ns, [{ host: OUT.hostIp, port: 8080 }]), [`c1 ${OUT.ip} 80`]);
      });

      t('removing a network removes its masquerade; re-installing the base keeps every element', async () => {
        await fw.apply(baseRuleset());
        assert.deepEqual(await lab.probeFrom(OUT.ns, [{ host: OUT.hostIp, port: 8090 }]), [`c2 ${OUT.ip} 80`]);
        await removeNetwork(fw, fwNet(NET_B));
        // no longer masqueraded (and no longer isolated: its bridge is not ours any more)
        assert.deepEqual(await lab.probeFrom(C3.ns, [{ host: OUT.ip, port: 7000 }]), [`out ${C3.ip} 7000`]);
        await addNetwork(fw, fwNet(NET_B));
        assert.deepEqual(await lab.probeFrom(C3.ns, [{ host: OUT.ip, port: 7000 }]), [`out ${OUT.hostIp} 7000`]);
      });

      t('removeAll deletes our tables and the rules stop applying', async () => {
        await fw.removeAll();
        assert.deepEqual(tablesOf(await runNftArgs(['-j', 'list', 'ruleset'])), []);
        assert.deepEqual(await listOwnTables(fw.ns), []);
        await fw.removeAll(); // idempotent
        assert.deepEqual(await lab.probeFrom(C1.ns, [{ host: OUT.ip, port: 7000 }]), [`out ${C1.ip} 7000`]);
      });
    });
  }
});
