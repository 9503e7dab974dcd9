/**
 * Unit: the anti-spoofing guard and blockHost elements (issue 10 item 14) as golden JSON, and
 * what they refuse. The privileged test (test/priv/firewall-guard.test.ts) sends real traffic.
 */
import assert from 'node:assert/strict';
import { golden } from '../fixtures/firewall/golden.js';
import {
  addNetworkElements, removeNetworkElements, guardElements, removeGuardElements, attachElements, baseRuleset, SET,
} from '../../src/firewall/index.js';
import { parsePortSpec } from '../../src/validate/ports.js';
import { InvalidInputError } from '../../src/model/errors.js';

const ep = { hostIfname: 'ctvabc1', mac: '02:42:AC:12:00:02', ip: '172.18.0.2', ip6: 'fd00:18::2' } as const;
const blockNet = {
  bridge: 'ctbr-blk', subnet: '172.21.0.0/16', gateway: '172.21.0.1', subnet6: 'fd00:21::/64', gateway6: 'fd00:21::1',
  blockHost: true, allowHostPorts: [{ port: 8125, protocol: 'udp' as const }, { port: 9100, protocol: 'tcp' as const }],
};

type Cmd = Record<string, { element: { family: string; name: string; elem: unknown[] } }>;
const cmds = (j: string): Cmd[] => (JSON.parse(j) as { nftables: Cmd[] }).nftables;

describe('firewall/elements: anti-spoofing guard and blockHost', () => {
  it('one guard element per endpoint and family, in table bridge ctnet; its removal adds then deletes', () => {
    golden('guard.json', guardElements(ep));
    golden('unguard.json', removeGuardElements(ep));
    const only4 = cmds(guardElements({ hostIfname: 'ctvabc2', mac: '02:42:ac:12:00:03', ip: '172.18.0.3' }));
    assert.equal(only4.length, 1);
    assert.deepEqual([only4[0]?.add?.element.family, only4[0]?.add?.element.name, only4[0]?.add?.element.elem.length], ['bridge', SET.guard4, 1]);
    assert.deepEqual(cmds(removeGuardElements(ep)).map((c) => Object.keys(c)[0]), ['add', 'add', 'delete', 'delete']);
    assert.ok(!guardElements(ep, { ipv6: false }).includes(SET.guard6));
  });
  it('an attach adds its guard and its ports in one batch', () => {
    const j = attachElements(ep, [parsePortSpec('8080:80')]);
    assert.deepEqual(cmds(j).map((c) => c.add?.element.name), [SET.guard4, SET.guard6, 'pub_any_addr', 'pub_any_port', 'pub_any_addr', 'pub_any_port']);
    assert.equal(attachElements(ep, []), guardElements(ep));
  });
  it('refuses what would not be JSON-safe or is not an endpoint', () => {
    assert.throws(() => guardElements({ ...ep, hostIfname: 'a b' }), InvalidInputError);
    assert.throws(() => guardElements({ ...ep, mac: 'zz' }), InvalidInputError);
    assert.throws(() => guardElements({ ...ep, ip: '1.2.3' }), InvalidInputError);
    assert.throws(() => guardElements(null as never), InvalidInputError);
  });
  it('a blockHost network: its bridge in blockhost, DNS and the allowed ports on its gateways', () => {
    golden('network-block-host-add.json', addNetworkElements(blockNet));
    const rm = cmds(removeNetworkElements(blockNet));
    assert.ok(rm.some((c) => c.delete?.element.name === SET.hostAllow));
    const allow4 = cmds(addNetworkElements(blockNet)).find((c) => c.add?.element.family === 'ip' && c.add.element.name === SET.hostAllow);
    assert.equal(allow4?.add?.element.elem.length, 4); // udp/53, tcp/53, 8125/udp, 9100/tcp
    assert.ok(!addNetworkElements({ ...blockNet, blockHost: false }).includes(SET.hostAllow));
    assert.throws(() => addNetworkElements({ ...blockNet, gateway: undefined }), InvalidInputError);
    assert.throws(() => addNetworkElements({ ...blockNet, allowHostPorts: [{ port: 0, protocol: 'tcp' }] }), InvalidInputError);
  });
  it('the base ruleset has the bridge table with its guard chain, and the input chain', () => {
    const b = baseRuleset();
    assert.ok(b.includes('"family":"bridge"') && b.includes('"guard"') && b.includes('"hook":"input"'));
  });
});
