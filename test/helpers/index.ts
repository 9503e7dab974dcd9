/**
 * test/helpers — shared test helpers (small, documented; reuse them):
 *  - oracle.ts   `ip -j …` wrappers (ipJson, ip, links, link, addrs, routes, netnsList)
 *  - cleanup.ts  removeLeftovers(prefix): links + /run/netns entries by name prefix
 *  - fds.ts      openFds(), fdTargets(): leak checks
 *  - sandbox.ts  assertSandbox(): privileged tests only inside test/sandbox.mjs
 *  - backends.ts BACKENDS, backendFor(name): one suite, both kernel backends
 */
export * from './oracle.js';
export * from './cleanup.js';
export * from './fds.js';
export * from './sandbox.js';
export * from './backends.js';
