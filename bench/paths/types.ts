/**
 * bench/paths/types.ts — what a Node-driven path implements. Each runs inside its own
 * fresh net+mount namespace (bench/worker.ts checks that before calling setup()).
 */

export interface ContainerPath {
  readonly name: string;
  /** Untimed: the bridge/network every container joins. */
  setup(): Promise<void>;
  /**
   * Untimed, before attach(i): what a runtime has done before it calls this path (the CNI
   * paths: the netns the runtime makes and hands the plugin). Absent: nothing.
   */
  prepare?(i: number): Promise<void>;
  /** Timed: container i gets its netns, veth on the bridge, address, default route. */
  attach(i: number): Promise<void>;
  /** Timed: what a user of this path does to remove container i. */
  detach(i: number): Promise<void>;
  /** Untimed, after detach(i): what a runtime does afterwards (the CNI paths: delete the netns). */
  cleanup?(i: number): Promise<void>;
  /** Untimed: release what the path holds (the namespace dies with the worker anyway). */
  close(): Promise<void>;
  /** Versions and settings worth printing beside the numbers. */
  info(): Record<string, unknown>;
}

/** The addresses every path hands out: 172.18.0.0/16, gateway .0.1, container i at i+2. */
export const SUBNET = '172.18.0.0/16';
export const GATEWAY = '172.18.0.1';
export function containerIp(i: number): string {
  const host = i + 2;
  if (host > 65533) throw new Error(`container index ${i} does not fit in ${SUBNET}`);
  return `172.18.${host >> 8}.${host & 255}`;
}
