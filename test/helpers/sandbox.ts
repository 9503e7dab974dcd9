/**
 * test/helpers/sandbox.ts — refuse to run privileged tests outside the sandbox
 * (`node test/run.mjs …` / `node test/sandbox.mjs …`: fresh net + mount namespace, private
 * /run). Call `assertSandbox()` in every privileged suite's `before` hook.
 */
import { readlinkSync } from 'node:fs';
import { outerNamespace } from '../../src/netns/mount-ns.js';

export function inSandbox(): boolean {
  if (process.env.CTNET_SANDBOX !== '1') return false;
  try {
    // A fresh netns: ours differs from the machine's (PID 1's, or our outermost readable ancestor's).
    const outer = outerNamespace('net');
    return outer !== undefined && readlinkSync('/proc/self/ns/net') !== outer;
  } catch {
    return false;
  }
}

export function assertSandbox(): void {
  if (!inSandbox()) {
    throw new Error('privileged test outside the sandbox: run it with `node test/run.mjs FILES` (never in the machine\'s own netns)');
  }
}
