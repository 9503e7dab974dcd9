/**
 * model/names.ts — the ownership tags ctnet-fast gives what it creates.
 *
 * Layer: model (pure functions; no I/O). Name and MAC validation live in validate/kernel.ts;
 * bridge names, bridge MACs and host veth names are chosen by the state (state/store.ts).
 * See docs/ARCHITECTURE.md, "State model".
 *
 * Ownership, so gc never touches what it did not make, nor what another store made:
 *  - a bridge carries "ctnet:br:STORETAG:NETWORK" in IFLA_IFALIAS (STORETAG: the store's
 *    random tag, the one in its host veth names). Bridges made before the tag carry
 *    "ctnet:br:NETWORK": such a bridge is ours only when NETWORK is a network of this store,
 *    and then it is known, so gc never deletes an old-form bridge.
 *  - a host veth end carries "ctnet:ep:ID" (ID: the endpoint's random id), and its name is
 *    "ctv" + the store's tag + a sequence number (never reused soon: a deleted veth's name
 *    lingers in the kernel for ~30 ms). A link is taken for ours only when both agree.
 * Network names never contain ':' (state/networks.ts), so the alias parses one way.
 */
export const ALIAS_PREFIX = 'ctnet:';
export const bridgeAlias = (storeTag: string, network: string): string => `${ALIAS_PREFIX}br:${storeTag}:${network}`;
export const endpointAlias = (id: string): string => `${ALIAS_PREFIX}ep:${id}`;

/** What a bridge alias says: the network, and the store's tag (absent in the old form). */
export function parseBridgeAlias(alias: string | undefined): { readonly storeTag?: string; readonly network: string } | undefined {
  const m = /^ctnet:br:(?:([a-z0-9]+):)?([^:]+)$/.exec(alias ?? '');
  if (m === null || m[2] === undefined) return undefined;
  return m[1] !== undefined ? { storeTag: m[1], network: m[2] } : { network: m[2] };
}

/** The endpoint id an endpoint alias names, or undefined when `alias` is not one. */
export function parseEndpointAlias(alias: string | undefined): string | undefined {
  const m = /^ctnet:ep:(.+)$/.exec(alias ?? '');
  return m?.[1];
}
