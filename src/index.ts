/**
 * ctnet-fast — public entry point of the library.
 */
export * from './errors.js';
export type * from './native/contract.js';
