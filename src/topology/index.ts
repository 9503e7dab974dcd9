/**
 * topology/ — Host, Network, Endpoint: the library's front door (host.ts, network.ts,
 * endpoint.ts; the work itself in attach.ts, detach.ts, gc.ts, prewarm.ts, plans.ts).
 */
export { Host } from './host.js';
export { Network } from './network.js';
export { Endpoint } from './endpoint.js';
export { watchFirewall } from './repair.js';
export type * from '../model/types.js';
