/** bench/paths/unavailable.ts — a path that cannot run on this machine (reported, not failed). */
export class Unavailable extends Error {
  override name = 'Unavailable';
}
