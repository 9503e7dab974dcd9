/**
 * test/helpers/backends.ts — the two kernel backends one privileged suite runs against.
 *
 *   for (const name of BACKENDS) describe(`… [${name}]`, () => { let b: Backend; before(async () => { b = await backendFor(name); }); … });
 *
 * 'native' goes through loadBackend('native'), so when the addon cannot load the suite's
 * before hook FAILS (never skips: a skipped privileged test must fail CI).
 */
import type { Backend } from '../../src/model/plan.js';
import { Iproute2Backend } from '../../src/backend/iproute2/index.js';
import { loadBackend } from '../../src/backend/select.js';

export const BACKENDS = ['iproute2', 'native'] as const;
export type BackendName = (typeof BACKENDS)[number];

export async function backendFor(name: BackendName): Promise<Backend> {
  if (name === 'iproute2') return new Iproute2Backend();
  return loadBackend('native', () => undefined);
}
