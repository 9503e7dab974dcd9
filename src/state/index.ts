/**
 * state/ — the durable, crash-safe, multi-process store (SQLite). See store.ts.
 */
export { openStore, Store, STATE_FILE, DEFAULT_BUSY_TIMEOUT_MS, type OpenStoreOptions } from './store.js';
export { defaultStateDir, DEFAULT_STATE_DIR } from './dir.js';
export { SCHEMA_VERSION, MIGRATIONS, migrate } from './schema.js';
export { normalizeMapping, expandMapping, coalesceRows, describeHostPort, WILDCARD, type PortRow } from './ports.js';
export {
  ENDPOINT_STATES,
  type EndpointState, type JsonValue, type NetworkInput, type NetworkRecord, type EndpointRecord,
  type BeginAttachInput, type PortRecord, type LeaseRecord,
} from './types.js';
