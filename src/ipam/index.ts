/**
 * ipam/ — address allocation policy (pure; state/ stores what it decides).
 */
export {
  validatePool, defaultGateway, makePool, makeRangePool, rangeHolding, addressAt, positionOf, reservedReason, macFromIp,
  type Pool, type PoolRange, type RangeInput,
} from './pool.js';
export {
  allocateNext, claimStatic, noteReleased,
  type LeaseBackend, type Allocation,
} from './allocator.js';
