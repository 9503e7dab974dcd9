/**
 * ipam/ — address allocation policy (pure; state/ stores what it decides).
 */
export {
  validatePool, defaultGateway, makePool, addressAt, positionOf, reservedReason, macFromIp, type Pool,
} from './pool.js';
export {
  allocateNext, claimStatic, noteReleased,
  type LeaseBackend, type Allocation,
} from './allocator.js';
