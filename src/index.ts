/**
 * ctnet-fast — container networking that talks to the kernel directly.
 *
 *   const host = await Host.open();
 *   const net  = await host.network({ name: 'demo', subnet: '172.18.0.0/16' });
 *   const c    = await net.attach({ netns: 'netns0', publish: ['8080:80/tcp'] });
 *   await c.detach();
 */
export * from './model/errors.js';
export { Host, Network, Endpoint } from './topology/index.js';
export type * from './model/types.js';
export type * from './model/plan.js';
export { Rtnl, loadBackend, Iproute2Backend } from './rtnl/index.js';
export { createNetns, openNetns, deleteNetns, listNetns, resolveNetns } from './netns/index.js';
export { parsePortSpec, formatPortSpec } from './validate/ports.js';
