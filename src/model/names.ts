/**
 * model/names.ts — the ownership tags ctnet-fast gives what it creates.
 *
 * Layer: model (pure functions; no I/O). Name and MAC validation live in validate/kernel.ts;
 * bridge names, bridge MACs and host veth names are chosen by the state (state/store.ts).
 *
 * Ownership, so gc never touches what it did not make: a bridge carries the tag
 * "ctnet:br:NETWORK" in IFLA_IFALIAS, a host veth end "ctnet:ep:ID"; gc recognises a host
 * end by its name too: "ctv" + the store's random tag + a sequence number (never reused
 * soon: a deleted veth's name lingers in the kernel for ~30 ms, DESIGN.md §3).
 */
export const ALIAS_PREFIX = 'ctnet:';
export const bridgeAlias = (network: string): string => `${ALIAS_PREFIX}br:${network}`;
export const endpointAlias = (id: string): string => `${ALIAS_PREFIX}ep:${id}`;
