/**
 * state/ — the durable, crash-safe, multi-process store (SQLite). See store.ts and
 * docs/ARCHITECTURE.md, "State model".
 */
export { openStore, Store, STATE_FILE, DEFAULT_BUSY_TIMEOUT_MS, type OpenStoreOptions } from './store.js';
export { defaultStateDir, DEFAULT_STATE_DIR } from './dir.js';
export { SCHEMA_VERSION, MIGRATIONS, migrate } from './schema.js';
export { RESERVE_FILE, RESERVE_BYTES } from './reserve.js';
export { expandMapping, coalesceRows, type PortRow } from './ports.js';
/** The one normaliser of a mapping lives in validate/ports.ts; re-exported for the state's callers. */
export { normalizeMapping, WILDCARD } from '../validate/ports.js';
export type { EndpointFilter, LingeringLeases } from './endpoints.js';
export {
  ENDPOINT_STATES,
  type EndpointState, type JsonValue, type NetworkInput, type NetworkRecord, type EndpointRecord,
  type BeginAttachInput, type PortRecord, type LeaseRecord,
} from './types.js';
