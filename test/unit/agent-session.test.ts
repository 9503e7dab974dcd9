// Unit tests of one agent connection (src/cli/daemon/session.ts) with a fake server and channel:
// a refused peer gets one EACCES line and the end before any line is fed; the hello negotiates the
// highest common version or answers EPROTO naming both ranges (client older, client newer); a
// request before the hello, an unknown type and an old-protocol CLI line; a typed request's reply
// and error carry its id; access.ts refusal() admits root, the agent's uid and group members only.
import assert from 'node:assert/strict';
import { Session, type SessionServer } from '../../src/cli/daemon/session.js';
import { refusal } from '../../src/cli/daemon/access.js';
import type { Channel } from '../../src/cli/daemon/channel.js';

interface Fake { ch: Channel; sent: Array<Record<string, unknown>>; ended: () => boolean }

function channel(): Fake {
  const sent: Array<Record<string, unknown>> = [];
  let ended = false;
  return { sent, ended: () => ended, ch: { send: (m) => { sent.push(m as Record<string, unknown>); }, end: () => { ended = true; } } };
}

const served: string[] = [];
const server = {
  agentName: 'ctnet-fast/9.9.9', stateDir: '/nonexistent', ownUid: 0, uid: 0,
  refusal: (peer: { uid: number } | undefined) => (peer?.uid === 0 ? undefined : `uid ${String(peer?.uid)} is refused`),
  log: () => undefined, stopping: () => false, count: (what: string) => { served.push(what); },
  track: <T>(p: Promise<T>) => p, emit: () => undefined, subscribe: () => () => undefined,
  status: () => ({ pid: 1 }), stop: () => undefined,
} as unknown as SessionServer;
const ROOT = { pid: process.pid, uid: 0, gid: 0 };
const line = (o: unknown): string => JSON.stringify(o);
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('agent session (hello, versions, refusal)', () => {
  it('a refused peer: one EACCES line and the end, before anything is read', () => {
    const f = channel();
    const s = new Session(server, f.ch, () => ({ pid: 5, uid: 1000, gid: 1000 }));
    assert.equal(s.admit({ pid: 5, uid: 1000, gid: 1000 }), false);
    assert.deepEqual(f.sent, [{ v: 1, type: 'error', code: 'EACCES', message: 'ctnet-fast agent: uid 1000 is refused' }]);
    assert.equal(f.ended(), true);
  });

  it('hello: the highest common version; client newer or older: EPROTO naming both ranges, then the end', () => {
    const ok = channel();
    const s = new Session(server, ok.ch, () => ROOT);
    assert.equal(s.admit(ROOT), true);
    assert.equal(s.feed(line({ v: 1, type: 'hello', min: 1, max: 7, client: 'c/1' })), true);
    assert.deepEqual(ok.sent, [{ v: 1, type: 'hello', version: 1, agent: 'ctnet-fast/9.9.9' }]);
    for (const [min, max, advice] of [[2, 4, 'upgrade the agent'], [0, 0, 'upgrade the client']] as const) {
      const f = channel();
      assert.equal(new Session(server, f.ch, () => ROOT).feed(line({ v: min, type: 'hello', min, max, client: 'other/2' })), false);
      assert.deepEqual(f.sent, [{ v: 1, type: 'error', code: 'EPROTO',
        message: `no protocol version in common: other/2 speaks ${min}..${max}, this agent (ctnet-fast/9.9.9) speaks 1..1; ${advice}` }]);
      assert.equal(f.ended(), true);
    }
  });

  it('no hello first, an old-protocol CLI line, an unknown type, a status reply and a request error keep their id', async () => {
    const a = channel();
    new Session(server, a.ch, () => ROOT).feed(line({ v: 1, type: 'status', id: 3 }));
    assert.equal(a.sent[0]?.code, 'EPROTO');
    const b = channel();
    new Session(server, b.ch, () => ROOT).feed(line({ v: 1, pid: 1, argv: ['ls'] }));
    assert.match(String(b.sent[0]?.local), /speaks the agent protocol 1\.\.1 \(hello first\)/);
    const c = channel();
    const sc = new Session(server, c.ch, () => ROOT);
    sc.feed(line({ v: 1, type: 'hello', min: 1, max: 1 }));
    assert.equal(sc.feed(line({ v: 1, type: 'nope', id: 4 })), false);
    await settle();
    assert.deepEqual([c.sent[1]?.code, c.sent[1]?.id], ['EPROTO', 4]);
    const d = channel();
    const sd = new Session(server, d.ch, () => ROOT);
    sd.feed(line({ v: 1, type: 'hello', min: 1, max: 1 }));
    sd.feed(line({ v: 1, type: 'status', id: 5 }));
    await settle();
    assert.deepEqual(d.sent[1], { v: 1, type: 'reply', id: 5, result: { pid: 1 } });
    const e = channel();
    const se = new Session(server, e.ch, () => ROOT);
    se.feed(line({ v: 1, type: 'hello', min: 1, max: 1 }));
    se.feed(line({ v: 1, type: 'attach', id: 6 }));
    await settle();
    assert.deepEqual([e.sent[1]?.type, e.sent[1]?.id, e.sent[1]?.code], ['error', 6, 'EINVALID_INPUT']);
    assert.deepEqual(served, [], 'status and failures are not counted as served');
  });

  it('refusal: root and the agent\'s uid always; a group member by primary gid; others named with the group', () => {
    assert.equal(refusal({ pid: 0, uid: 0, gid: 0 }, 1234, -1), undefined);
    assert.equal(refusal({ pid: 0, uid: 1234, gid: 9 }, 1234, -1), undefined);
    assert.equal(refusal({ pid: 0, uid: 1000, gid: 77 }, 0, 77), undefined);
    assert.match(String(refusal({ pid: 0, uid: 1000, gid: 78 }, 0, 77)), /uid 1000 is neither root nor a member of the agent's group \(gid 77\)/);
    assert.match(String(refusal({ pid: 0, uid: 1000, gid: 78 }, 0, -1)), /none configured: root only/);
    assert.match(String(refusal(undefined, 0, 77)), /SO_PEERCRED unavailable/);
  });
});
