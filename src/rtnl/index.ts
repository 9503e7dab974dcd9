/**
 * rtnl/index.ts — the rtnl layer's public surface: typed link/addr/route/sysctl primitives
 * (Rtnl), validated op builders (ops), the multi-netns plan builder (Batch), the iproute2
 * backend and backend selection.
 */
export { Rtnl } from './rtnl.js';
export type { VethPeer, LinkChanges, LinkApi, AddrApi, RouteApi, SysctlApi } from './rtnl.js';
export { Batch, BatchResult } from './batch.js';
export { toNetlinkError } from '../backend/result.js';
export { checkSysctlKey } from '../validate/kernel.js';
export type { Failure } from './batch.js';
export * as ops from './ops.js';
export type { VethPeerSpec, BridgeSpec, LinkCommonSpec, LinkAddSpec, LinkSetSpec, AddrSpec, RouteSpec } from './ops.js';
export { describeOp, nsLabel, checkOp, checkNsRef } from './ops.js';
export { Iproute2Backend } from '../backend/iproute2/index.js';
export { loadBackend, tryNative, defaultBackend } from '../backend/select.js';
export type { BackendPreference } from '../backend/select.js';
export {
  checkIfname, checkLinkRef, checkMac, checkMtu, checkAlias, IFNAME_MAX, MTU_MIN, MTU_MAX,
} from '../validate/kernel.js';
