/**
 * cli/daemon/session.ts — one connection (or pipe pair) to the agent, from the first byte to
 * the close (docs/agent-protocol.md): the peer is checked before anything it sends is parsed
 * (access.ts), then the hello is negotiated (the highest version both ends speak, or an
 * EPROTO error naming both ranges), then one request is dispatched: `cli` to relay.ts,
 * `events` to the server's event stream, the rest to requests.ts.
 *
 * Layer: cli (docs/ARCHITECTURE.md, "Layers").
 */
import { PROTOCOL, PROTOCOL_MAX, PROTOCOL_MIN, REQUEST_TYPES } from '../protocol.js';
import { parseLine, type Channel, type Message } from './channel.js';
import type { Peer } from './access.js';
import { HANDLERS, type AgentServices, type Undo } from './requests.js';
import { inflightDone } from './ledger.js';
import { relay, type RelayServer } from './relay.js';

/** What a session needs from the server. */
export interface SessionServer extends AgentServices, RelayServer {
  /** Why this peer may not talk to us at all (undefined: it may). */
  refusal(peer: Peer | undefined): string | undefined;
  /** "ctnet-fast/VERSION". */
  readonly agentName: string;
  /** Follow events until the returned function is called. */
  subscribe(fn: (event: object) => void, end: () => void): () => void;
  track<T>(p: Promise<T>): Promise<T>;
  log(message: string): void;
}

/** How the transport names the peer: known at connect (socket), or proven per request (pipes). */
export type PeerOf = (req: Message) => Peer | undefined;

/** Write the last line; true when it reached the client's socket (false: the client is gone). */
function deliver(ch: Channel, m: object): Promise<boolean> {
  if (ch.deliver !== undefined) return ch.deliver(m);
  ch.send(m);
  ch.end();
  return Promise.resolve(true);
}

function error(ch: Channel, code: string, message: string, id?: unknown): void {
  ch.send({ v: PROTOCOL, type: 'error', ...(typeof id === 'number' ? { id } : {}), code, message });
  ch.end();
}

/**
 * A session: `feed` each line as it comes (it returns false once it wants no more);
 * `peerAtConnect` is the socket's SO_PEERCRED answer, checked before the first line is read.
 */
export class Session {
  readonly #s: SessionServer;
  readonly #ch: Channel;
  readonly #peerOf: PeerOf;
  #version = 0;

  constructor(s: SessionServer, ch: Channel, peerOf: PeerOf) {
    this.#s = s;
    this.#ch = ch;
    this.#peerOf = peerOf;
  }

  /** The socket's check at connect: false (and the connection answered and ended) when refused. */
  admit(peer: Peer | undefined): boolean {
    const why = this.#s.refusal(peer);
    if (why === undefined) return true;
    this.#s.log(`refused a connection: ${why}`);
    error(this.#ch, 'EACCES', `ctnet-fast agent: ${why}`);
    return false;
  }

  feed(line: string): boolean {
    const m = parseLine(line);
    if (this.#version === 0) return this.#hello(m);
    if (m === undefined || typeof m.type !== 'string') {
      error(this.#ch, 'EPROTO', 'expected a request object with a "type" (see docs/agent-protocol.md)', m?.id);
      return false;
    }
    if (m.v !== this.#version) {
      error(this.#ch, 'EPROTO', `request "v" is ${JSON.stringify(m.v ?? null)}, but this connection speaks version ${this.#version} (agreed in the hello): write every line in it`, m.id);
      return false;
    }
    if (typeof m.id !== 'number' || !Number.isSafeInteger(m.id)) {
      error(this.#ch, 'EPROTO', `request "${m.type}" has no numeric "id" (the answer echoes it): add "id":1`);
      return false;
    }
    const p = this.#request(m);
    // (a cli request counts itself in flight once it knows the caller's cwd, relay.ts; status and
    // stop are not work: they neither keep the agent from its idle exit nor make stop wait)
    void (m.type === 'cli' || m.type === 'status' || m.type === 'stop' ? p : this.#s.track(p)).catch((e: Error) => {
      this.#s.log(`internal error: ${e.stack ?? e.message}`);
      error(this.#ch, 'EFAILURE', `ctnet-fast agent: internal error: ${e.message}`, m.id);
    });
    return false;
  }

  #hello(m: Message | undefined): boolean {
    if (m !== undefined && m.type === undefined && (Array.isArray(m.argv) || typeof m.op === 'string')) {
      // a CLI of the daemon protocol (before the agent): it runs the command itself
      this.#ch.send({ local: `this agent (${this.#s.agentName}) speaks the agent protocol ${PROTOCOL_MIN}..${PROTOCOL_MAX} (hello first); your ctnet-fast is older` });
      this.#ch.end();
      return false;
    }
    if (m === undefined || m.type !== 'hello') {
      error(this.#ch, 'EPROTO', `expected a hello first: {"v":${PROTOCOL},"type":"hello","min":${PROTOCOL_MIN},"max":${PROTOCOL_MAX}} (see docs/agent-protocol.md)`);
      return false;
    }
    if (!Number.isSafeInteger(m.min) || !Number.isSafeInteger(m.max)) {
      error(this.#ch, 'EPROTO', `hello: "min" and "max" must be whole numbers (the protocol versions you speak; this agent speaks ${PROTOCOL_MIN}..${PROTOCOL_MAX}): {"v":${PROTOCOL},"type":"hello","min":${PROTOCOL_MIN},"max":${PROTOCOL_MAX}}`);
      return false;
    }
    const min = m.min as number;
    const max = m.max as number;
    const client = typeof m.client === 'string' ? m.client : 'the client';
    const version = Math.min(max, PROTOCOL_MAX);
    if (!(version >= min && version >= PROTOCOL_MIN)) {
      error(this.#ch, 'EPROTO', `no protocol version in common: ${client} speaks ${String(min)}..${String(max)}, this agent (${this.#s.agentName}) speaks ${PROTOCOL_MIN}..${PROTOCOL_MAX}; `
        + (max < PROTOCOL_MIN ? 'upgrade the client' : 'upgrade the agent'));
      return false;
    }
    this.#version = version;
    this.#ch.send({ v: version, type: 'hello', version, agent: this.#s.agentName });
    return true;
  }

  async #request(m: Message): Promise<void> {
    const ch = this.#ch;
    const type = m.type as string;
    const peer = this.#peerOf(m);
    if (type === 'cli') return relay(this.#s, ch, m, peer?.pid);
    const why = this.#s.refusal(peer);
    if (why !== undefined) return error(ch, 'EACCES', `ctnet-fast agent: ${why}`, m.id);
    if (peer === undefined) return; // (refusal said so)
    if (type === 'events') return this.#events(m);
    const handler = Object.hasOwn(HANDLERS, type) ? HANDLERS[type] : undefined;
    if (handler === undefined) {
      return error(ch, 'EPROTO', `unknown request type "${type}" (protocol ${this.#version}: ${REQUEST_TYPES.join(', ')})`, m.id);
    }
    if (type !== 'status' && type !== 'stop' && this.#s.stopping()) return error(ch, 'ESHUTDOWN', 'ctnet-fast agent is stopping; retry with the next one', m.id);
    const undo: Undo = {};
    let keep = false; // an undo that failed: its record stays for the next start
    try {
      let result: object;
      try {
        result = await handler(m, peer, this.#s, undo);
        if (type !== 'status' && type !== 'stop') this.#s.count('served');
      } catch (e) {
        const err = e as { code?: unknown; message?: unknown };
        return error(ch, typeof err.code === 'string' ? err.code : 'EFAILURE', String(err.message), m.id);
      }
      // a cni answer is the plugin's own output (exitCode, stdout, stderr); the others carry `result`
      const reply = type === 'cni' ? { v: this.#version, type: 'reply', id: m.id, ...result } : { v: this.#version, type: 'reply', id: m.id, result };
      const delivered = await deliver(ch, reply);
      const made = type !== 'cni' || (result as { exitCode?: unknown }).exitCode === 0;
      if (!delivered && made && undo.run !== undefined) {
        // the client got an error (it went away, timed out): its ADD is undone, never finished
        this.#s.log(`${type} ${String(m.id)}: the client went away before its answer: undoing it`);
        await undo.run().catch((e: Error) => { keep = true; this.#s.log(`undo failed: ${e.message} (the next start retries it)`); });
      }
    } finally {
      if (undo.file !== undefined && !keep) inflightDone(undo.file);
    }
  }

  #events(m: Message): void {
    const ch = this.#ch;
    const kinds = Array.isArray(m.kinds) ? new Set(m.kinds.filter((k): k is string => typeof k === 'string')) : undefined;
    ch.send({ v: this.#version, type: 'reply', id: m.id, result: { streaming: true } });
    const off = this.#s.subscribe((event) => {
      if (kinds === undefined || kinds.has((event as { kind: string }).kind)) ch.send({ v: this.#version, type: 'event', id: m.id, event });
    }, () => ch.end());
    if (ch.onClose !== undefined) ch.onClose(off);
    else { off(); ch.end(); }
  }
}
