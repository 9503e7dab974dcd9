/**
 * state/types.ts — the records the store gives back and the inputs it takes.
 *
 * Layer: state (types only). The domain shapes are model/types.ts's; these add only what
 * the store itself knows (intent state, the spec as given, owners of ports and leases).
 * See docs/ARCHITECTURE.md, "State model".
 */
import type { Mode, NetworkInfo, NetworkSpec, PortMapping } from '../model/types.js';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue };

export const ENDPOINT_STATES = ['pending', 'ready', 'detaching'] as const;
/**
 * pending   — intent recorded (lease, ports, host ifname), kernel work not known to be done;
 * ready     — attach finished;
 * detaching — detach started, kernel teardown not known to be done.
 * gc finishes or undoes every row not 'ready'.
 */
export type EndpointState = (typeof ENDPOINT_STATES)[number];

/** putNetwork's input: a NetworkSpec, optionally with the bridge MAC already chosen. */
export interface NetworkInput extends NetworkSpec {
  /** Default: derived from the network name (locally administered, stable). */
  readonly bridgeMac?: string;
}

/** A network as stored: NetworkInfo with every default resolved and its id, plus the spec as given. */
export interface NetworkRecord extends NetworkInfo {
  readonly id: string;
  readonly spec: NetworkSpec;
}

export interface EndpointRecord {
  readonly id: string;
  /** absent for a host/none endpoint recorded without a network */
  readonly network?: string;
  readonly mode: Mode;
  /** nsfs path of the container netns */
  readonly netns: string;
  readonly netnsName?: string;
  readonly ownsNetns: boolean;
  /** interface name inside the container */
  readonly ifname: string;
  /** host end of the veth (bridge mode) */
  readonly hostIfname?: string;
  /** plain addresses (no prefix), bridge mode */
  readonly ip?: string;
  readonly ip6?: string;
  readonly mac?: string;
  readonly state: EndpointState;
  readonly createdAt: string;
  readonly ports: readonly PortMapping[];
  /** whatever the caller stored with beginAttach/markReady (routes, …) */
  readonly data?: JsonValue;
  /** the container's name, DNS aliases and CNI CONTAINERID, when given at attach */
  readonly name?: string;
  readonly aliases?: readonly string[];
  readonly containerId?: string;
}

export interface BeginAttachInput {
  /** Network to attach to (required for mode 'bridge'). */
  readonly network?: string;
  /** Default 'bridge'. Only bridge mode gets addresses, a host ifname and ports. */
  readonly mode?: 'bridge' | 'host' | 'none';
  /** nsfs path of the container netns (e.g. /run/netns/c1 or /proc/123/ns/net). */
  readonly netns: string;
  readonly netnsName?: string;
  /** ctnet-fast creates the netns (and deletes it on detach). Default false. */
  readonly ownsNetns?: boolean;
  /** Interface name inside the container. Default "eth0". */
  readonly ifname?: string;
  /** Endpoint id. Default: 16 random hex digits. */
  readonly id?: string;
  /** Host veth name. Default: "ctv" + store tag + a sequence number (never reused). */
  readonly hostIfname?: string;
  /** Static addresses; default: allocated by IPAM (IPv6 only if the network has subnet6). */
  readonly ip?: string;
  readonly ip6?: string;
  /** Container MAC. Default: macFromIp(ip). */
  readonly mac?: string;
  /** Ports to publish, recorded in the same transaction (conflicts abort the attach). */
  readonly ports?: readonly PortMapping[];
  readonly data?: JsonValue;
  /** The container's name, its DNS aliases and its CNI CONTAINERID (stored as given). */
  readonly name?: string;
  readonly aliases?: readonly string[];
  readonly containerId?: string;
}

/** A published mapping with its owner (for the firewall's DNAT map). */
export interface PortRecord extends PortMapping {
  readonly hostIp: string;
  readonly endpointId: string;
  readonly network?: string;
  /** the owner's container address of the mapping's family (undefined if it has none) */
  readonly containerIp?: string;
}

export interface LeaseRecord {
  readonly network: string;
  readonly family: 4 | 6;
  readonly ip: string;
  readonly endpointId?: string;
}
