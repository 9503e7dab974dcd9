/**
 * validate/index.ts — the one validation rule set, in one import: kernel object checks
 * (kernel.ts), netns names and paths (netns.ts), port specs (ports.ts) and network subnets
 * (subnet.ts).
 *
 * Layer: validate (pure: no I/O; docs/ARCHITECTURE.md "Layers", "Errors").
 */
export * from './kernel.js';
export * from './netns.js';
export * from './ports.js';
export * from './subnet.js';
