/**
 * topology/ — Host, Network, Endpoint: the library's front door. See host.ts.
 */
export { Host, Network, Endpoint } from './host.js';
export type * from '../model/types.js';
