/**
 * state/ — the durable, crash-safe, multi-process store (SQLite). See store.ts.
 */
export { openStore, defaultStateDir, Store, STATE_FILE, DEFAULT_STATE_DIR, DEFAULT_BUSY_TIMEOUT_MS, type OpenStoreOptions } from './store.js';
export { SCHEMA_VERSION, MIGRATIONS, migrate } from './schema.js';
export { normalizeMapping, expandMapping, coalesceRows, describeHostPort, WILDCARD, type PortRow } from './ports.js';
export {
  ENDPOINT_STATES, STATE_ERRORS,
  type EndpointState, type JsonValue, type NetworkInput, type NetworkRecord, type EndpointRecord,
  type BeginAttachInput, type PortRecord, type LeaseRecord,
} from './types.js';
