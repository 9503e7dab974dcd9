/**
 * cni/keylock.ts — an in-process keyed mutex: the agent serves many plugin calls at once on
 * one Host, and the spec lets a runtime race ADD, DEL and CHECK of the same attachment (a
 * cleanup process's DEL while ADD still runs). Calls for one key — (state dir, network,
 * CNI_CONTAINERID, CNI_IFNAME) — run one after the other in arrival order; other keys run
 * concurrently. Across processes the store's own locking serialises what it must; this
 * closes the window where a DEL finds no record yet while an ADD is making it.
 *
 * Layer: cni (docs/ARCHITECTURE.md, "CNI").
 */

/** Per key, the tail of its queue: the promise the next call waits on. */
const tails = new Map<string, Promise<void>>();

/** Run `fn` once every earlier call for `key` has finished (settled either way). */
export async function withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => { release = resolve; });
  const tail = before.then(() => mine);
  tails.set(key, tail);
  await before;
  try {
    return await fn();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key); // nobody queued behind: forget the key
  }
}

/** How many keys have calls running or queued (for tests: 0 once every call returned). */
export function keysHeld(): number {
  return tails.size;
}
