/**
 * topology/endpoint.ts — Endpoint: one container's attachment to a network, as the library
 * hands it out (detach, publish, unpublish), and applyPorts, the one way ports change on a
 * live endpoint.
 *
 * Layer: topology (docs/ARCHITECTURE.md, "Life of an attach" and "Firewall model").
 */
import { CtnetError, InvalidInputError } from '../model/errors.js';
import type { EndpointInfo, PortMapping } from '../model/types.js';
import { normalizeMappings } from '../validate/ports.js';
import type { EndpointRecord } from '../state/index.js';
import { firstFailure } from '../backend/result.js';
import { isMissingTable, publishBatchOf, unpublishBatchOf } from '../firewall/index.js';
import type { HostContext } from './context.js';
import { mappingFlowSteps, refreshHostAddrs, reportConntrack, untranslatedFlowSteps, withoutConntrack } from './conntrack.js';
import { takeAddressFlows } from './after-detach.js';
import { detachRecord } from './detach.js';
import { endpointInfo, firewallEndpoint, portKey } from './records.js';

export class Endpoint {
  readonly #ctx: HostContext;
  #rec: EndpointRecord;

  /** @internal */
  constructor(ctx: HostContext, rec: EndpointRecord) {
    this.#ctx = ctx;
    this.#rec = rec;
  }

  /** What the endpoint is now. Reads the state: one query for its network (prefix lengths, gateways). */
  get info(): EndpointInfo {
    const net = this.#rec.network !== undefined ? this.#ctx.store.getNetwork(this.#rec.network) : undefined;
    return endpointInfo(this.#rec, net);
  }
  get id(): string { return this.#rec.id; }
  /** "172.18.0.2/16". Reads the state, as `info` does (the prefix length is the network's). */
  get address(): string { return this.info.address; }
  get ip(): string { return this.#rec.ip ?? ''; }
  get mac(): string { return this.#rec.mac ?? ''; }
  get hostIfname(): string { return this.#rec.hostIfname ?? ''; }
  get netns(): string { return this.#rec.netns; }

  /** Detach: unpublish, release the address, and drop the netns we created (the kernel reaps the veth later). */
  async detach(): Promise<void> {
    await detachRecord(this.#ctx, this.#rec);
  }

  /** Publish ports ("8080:80/tcp", ranges, host IPs). A host port already published is an error; nothing half-done. */
  async publish(specs: ReadonlyArray<string | PortMapping>): Promise<PortMapping[]> {
    const ctx = this.#ctx;
    const mappings = normalizeMappings(specs);
    if (mappings.length === 0) return [];
    if (this.#rec.mode !== 'bridge') throw new InvalidInputError(`publish on ${this.#rec.netns}: only bridge-mode endpoints can publish ports`);
    const added = ctx.store.addPorts(this.#rec.id, mappings);
    try {
      await applyPorts(ctx, this.#rec, added, 'publish');
    } catch (e) {
      ctx.store.removePorts(this.#rec.id, added);
      throw e;
    }
    // keep our copy in step without re-reading every port (a container may publish thousands)
    this.#rec = { ...this.#rec, ports: this.#rec.ports.concat(added) };
    return added;
  }

  /** Remove exactly these mappings (they must be published by this endpoint). */
  async unpublish(specs: ReadonlyArray<string | PortMapping>): Promise<void> {
    const ctx = this.#ctx;
    const mappings = normalizeMappings(specs);
    if (mappings.length === 0) return;
    await applyPorts(ctx, this.#rec, mappings, 'unpublish');
    ctx.store.removePorts(this.#rec.id, mappings);
    const gone = new Set(mappings.map(portKey));
    this.#rec = { ...this.#rec, ports: this.#rec.ports.filter((m) => !gone.has(portKey(m))) };
  }
}

/**
 * Publish or unpublish: ONE plan in the host netns — the nft batch (when the firewall driver
 * rides in plans; otherwise applied just before) and the conntrack cleanup after it
 * (conntrack.ts: an unpublish deletes the flows DNAT'd by the removed mappings, a publish
 * the untranslated flows to its host ports, so the next packet reaches the container it now
 * names). Our tables found gone: restored from the state (Firewall.ensureBase) and tried
 * once more. Without mappings the firewall driver is not resolved at all; with firewall
 * 'none' nothing is done. A failed conntrack step is logged, never the operation's failure.
 */
export async function applyPorts(ctx: HostContext, rec: EndpointRecord, mappings: readonly PortMapping[], what: 'publish' | 'unpublish'): Promise<void> {
  if (mappings.length === 0 || !ctx.fw.active) return;
  const ep = firewallEndpoint(rec);
  if (what === 'publish') await refreshHostAddrs(ctx, 'first');
  const batch = what === 'publish' ? publishBatchOf(ep, mappings, ctx.fw.ruleOpts) : unpublishBatchOf(ep, mappings, ctx.fw.ruleOpts);
  const ct = [...await takeAddressFlows(ctx), ...(what === 'publish' ? untranslatedFlowSteps(ctx, mappings) : mappingFlowSteps(ctx, rec, mappings))];
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.fw.ensureBase();
      const fw = ctx.fw.contribute(batch, `${what} ports of ${rec.netns}`);
      await fw.applyRest();
      const steps = [...fw.steps, ...ct];
      const results = steps.length > 0 ? await ctx.backend.run({ steps: steps.map((s) => s.step) }) : [];
      const err = firstFailure(...withoutConntrack(steps, results));
      if (err !== undefined) throw err;
      reportConntrack(ctx, steps, results);
      return;
    } catch (e) {
      if (attempt === 1 && isMissingTable(e)) { ctx.fw.noticeFailure(e); continue; }
      throw e instanceof CtnetError ? e.withContext(`${what} on ${rec.netns}`) : e;
    }
  }
}
