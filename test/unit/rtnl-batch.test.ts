import assert from 'node:assert/strict';
import { InvalidInputError, NetlinkError, EnvironmentError } from '../../src/model/errors.js';
import { Batch, Rtnl, ops, loadBackend, Iproute2Backend } from '../../src/rtnl/index.js';
import type { Backend, Plan, StepResult } from '../../src/model/plan.js';

/** A backend that records plans and answers with canned results. */
class FakeBackend implements Backend {
  readonly name = 'native' as const;
  plans: Plan[] = [];
  constructor(private readonly answer: (p: Plan) => StepResult[]) {}
  async run(plan: Plan): Promise<readonly StepResult[]> {
    this.plans.push(plan);
    return this.answer(plan);
  }
  async close(): Promise<void> {}
}

describe('rtnl batch builder', () => {
  it('builds one plan across namespaces with slot refs', () => {
    const b = new Batch(new FakeBackend(() => []));
    const ns = b.netnsCreate('/run/netns/ctr-x');
    assert.deepEqual(ns, { slot: 0 });
    b.rtnl({ self: true }, [ops.vethAdd('ctr-v', { name: 'eth0', ns })]);
    b.rtnl(ns, [ops.linkSet('eth0', { up: true })]);
    b.sysctl(ns, 'net/ipv4/ip_forward', '1');
    assert.equal(b.plan().steps.length, 4);
    assert.deepEqual(b.plan().steps[2], { kind: 'rtnl', ns: { slot: 0 }, ops: [{ op: 'linkSet', link: 'eth0', up: true }] });
  });

  it('refuses bad input before running anything', () => {
    const fake = new FakeBackend(() => []);
    const b = new Batch(fake);
    assert.throws(() => b.rtnl({ slot: 3 }, []), InvalidInputError);
    const rt = b.rtnl({ self: true }, []);
    assert.throws(() => b.rtnl({ slot: rt }, []), /not an earlier netnsCreate/);
    assert.throws(() => b.netnsCreate('relative/x'), InvalidInputError);
    assert.throws(() => b.sysctl({ self: true }, 'net/../../etc'), InvalidInputError);
    assert.throws(() => b.rtnl({ self: true }, [{ op: 'linkDel', link: 'a/b' }]), /a\/b/);
    assert.equal(fake.plans.length, 0);
  });

  it('reports exactly the failing op and throws it with context', async () => {
    const fake = new FakeBackend((p) => [
      { ok: true, kind: 'netnsCreate' },
      {
        ok: false, kind: 'rtnl', failedOp: 1,
        error: { errno: 17, code: 'EEXIST', op: 'RTM_NEWLINK', message: 'File exists' },
        ops: [{ ok: true }, { ok: false, error: { errno: 17, code: 'EEXIST', op: 'RTM_NEWLINK', message: 'File exists' } }, { ok: true }],
      },
      { ok: false, kind: p.steps[2]?.kind ?? 'rtnl', skipped: true },
    ]);
    const b = new Batch(fake);
    const ns = b.netnsCreate('/run/netns/netns0');
    b.rtnl({ self: true }, [ops.bridgeAdd('br0'), ops.vethAdd('vethA', { name: 'eth0', ns }), ops.linkSet('br0', { up: true })]);
    b.rtnl(ns, [ops.linkSet('eth0', { up: true })]);
    const res = await b.run();
    assert.equal(res.ok, false);
    const f = res.failures();
    assert.equal(f.length, 1);
    assert.equal(f[0]?.step, 1);
    assert.equal(f[0]?.op, 1);
    assert.equal(f[0]?.context, 'create veth vethA→eth0 in netns0');
    assert.throws(() => res.throwIfFailed('attach c1'), (e: unknown) => {
      assert.ok(e instanceof NetlinkError);
      assert.equal(e.code, 'EEXIST');
      assert.equal(e.message, 'attach c1: create veth vethA→eth0 in netns0: EEXIST: File exists (RTM_NEWLINK)');
      return true;
    });
    assert.equal(res.opValue(1, 0), undefined);
    assert.throws(() => res.opValue(2, 0), /skipped/);
  });

  it('Rtnl calls validate first, send one plan, and add context on failure', async () => {
    const fake = new FakeBackend((p) => p.steps.map((s) => ({
      ok: false as const, kind: s.kind, failedOp: 0,
      error: { errno: 19, code: 'ENODEV', op: 'RTM_GETLINK', message: 'No such device' },
      ops: [{ ok: false as const, error: { errno: 19, code: 'ENODEV', op: 'RTM_GETLINK', message: 'No such device' } }],
    })));
    const r = new Rtnl(fake, 'netns0');
    await assert.rejects(r.link.get('a'.repeat(16)), InvalidInputError);
    assert.equal(fake.plans.length, 0);
    await assert.rejects(r.link.get('eth9'), { message: 'get link eth9 in netns0: ENODEV: No such device (RTM_GETLINK)' });
    assert.equal(await r.link.find('eth9'), undefined);
    assert.deepEqual(fake.plans[0], { steps: [{ kind: 'rtnl', ns: { path: '/run/netns/netns0' }, ops: [{ op: 'linkGet', link: 'eth9' }] }] });
  });
});

describe('backend selection', () => {
  const saved = process.env.CTNET_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.CTNET_BACKEND;
    else process.env.CTNET_BACKEND = saved;
  });

  it("'iproute2' gives the process backend without warning", async () => {
    const warnings: string[] = [];
    const b = await loadBackend('iproute2', (m) => warnings.push(m));
    assert.ok(b instanceof Iproute2Backend);
    assert.deepEqual(warnings, []);
  });

  it('CTNET_BACKEND overrides auto and is validated', async () => {
    process.env.CTNET_BACKEND = 'iproute2';
    assert.equal((await loadBackend('auto', () => undefined)).name, 'iproute2');
    process.env.CTNET_BACKEND = 'bogus';
    await assert.rejects(loadBackend('auto', () => undefined), InvalidInputError);
  });

  it("'auto' gives a backend (native, or iproute2 with exactly one warning naming the paths tried)", async () => {
    delete process.env.CTNET_BACKEND;
    const warnings: string[] = [];
    const b = await loadBackend('auto', (m) => warnings.push(m));
    if (b.name === 'iproute2') {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? '', /tried .*\//);
      await assert.rejects(loadBackend('native', () => undefined), (e: unknown) => e instanceof EnvironmentError && /\//.test(e.message));
    } else {
      assert.deepEqual(warnings, []);
    }
    await b.close();
  });
});
