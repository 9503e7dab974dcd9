/**
 * model/types.ts — the public shapes of the library's front door (Host, Network,
 * Endpoint) that the CLI and the benchmarks build on.
 *
 * Layer: model (types only). No I/O here.
 */

export interface HostOptions {
  /**
   * Where all host-side work happens (bridge, host veth ends, sysctls, nftables):
   * absent = the caller's own netns; a name (under /run/netns) or an nsfs path.
   * With `create: true` a missing named netns is created (a sandbox host).
   */
  readonly netns?: string;
  readonly createNetns?: boolean;
  /** Durable state (SQLite). Default: $CTNET_STATE_DIR or /run/ctnet-fast. */
  readonly stateDir?: string;
  /** Kernel backend: the addon (default when it loads) or `ip` processes. */
  readonly backend?: 'auto' | 'native' | 'iproute2';
  /** Firewall backend: in-process libnftables (default when present), `nft` processes, or none. */
  readonly firewall?: 'auto' | 'libnftables' | 'nft' | 'none';
  /** Called with one-line warnings (e.g. falling back to iproute2). Default: stderr. */
  readonly warn?: (message: string) => void;
  /**
   * Timing hook (bench/): called synchronously at each phase boundary of a bridge attach.
   * Absent (the default): the attach checks for it and does nothing more.
   */
  readonly trace?: (phase: AttachPhase) => void;
}

/**
 * Phase boundaries of a bridge attach: `validated` before the intent transaction (state,
 * IPAM), `recorded` after it, `planned` as the plan crosses into the backend, `ran` when
 * the backend answered (then the firewall rest and the return to the caller).
 */
export type AttachPhase = 'validated' | 'recorded' | 'planned' | 'ran';

/** Labels of a network: the caller's own key → value text (Docker/CNI labels). */
export type Labels = Readonly<Record<string, string>>;

/**
 * One address range of a network, as a CNI host-local `ranges` entry: a subnet, the part
 * of it handed out (default: all of it) and its gateway (default: its first address, which
 * the bridge carries).
 */
export interface AddressRange {
  readonly subnet: string;
  readonly rangeStart?: string;
  readonly rangeEnd?: string;
  readonly gateway?: string;
}

/**
 * What a caller asks for (Host.network, `network create`). The one input shape of a
 * network; the state adds the resolved defaults (NetworkInfo) and keeps this as given.
 */
export interface NetworkSpec {
  readonly name: string;
  /**
   * IPv4 subnet in CIDR form, e.g. "172.18.0.0/16". Absent with subnet6 (or IPv6 ranges)
   * alone: an IPv6-only network.
   */
  readonly subnet?: string;
  /** Optional IPv6 subnet (dual stack), e.g. "fd00:18::/64". */
  readonly subnet6?: string;
  /** Default: the subnet's first address. */
  readonly gateway?: string;
  readonly gateway6?: string;
  /** Bridge interface name. Default: "ctbr-" + a short hash of the network name. */
  readonly bridge?: string;
  /** Default 1500. */
  readonly mtu?: number;
  /** No egress: no masquerade, no forwarding out of the bridge. */
  readonly internal?: boolean;
  /** Masquerade traffic leaving the subnet through anything but its bridge. Default true. */
  readonly masquerade?: boolean;
  /**
   * Address ranges (CNI host-local `ranges`), of either family, in order: IPAM takes a
   * container's address from the first range of its family with a free one (one address per
   * family), the bridge carries every range's gateway, the container gets the prefix of its
   * range and its default route via that range's gateway. subnet/subnet6 (when given) is the
   * first range of its family, unless that family's first range restates it (then with its
   * rangeStart/rangeEnd). The network's subnet/gateway are its first range's.
   */
  readonly ranges?: readonly AddressRange[];
  /**
   * false: the bridge carries no gateway address (CNI `isGateway: false`); the containers
   * then get no default route unless an attach asks (AttachOptions.defaultRoute). Default true.
   */
  readonly gatewayOnBridge?: boolean;
  /** true: the bridge is in promiscuous mode (CNI `promiscMode`). Default false. */
  readonly promisc?: boolean;

  readonly labels?: Labels;
  /**
   * Create the network even when its subnet overlaps one of the host's routes (not its
   * addresses, never a special range), as Docker allows. Only read when
   * the network is created.
   */
  readonly ignoreHostRoutes?: boolean;
  /**
   * Containers may not reach the host (the gateway, any host address, 169.254.169.254),
   * except DNS on the gateway (udp/tcp 53) and `allowHostPorts`. Default false.
   */
  readonly blockHost?: boolean;
  /** With blockHost: ports of the gateway the containers may still reach: 8080, "8080/tcp", "5353/udp" (default tcp). */
  readonly allowHostPorts?: ReadonlyArray<number | string | HostPort>;
}

/** A port on the host that containers of a blockHost network may reach (on the gateway). */
export interface HostPort {
  readonly port: number;
  readonly protocol: Protocol;
}

/** A network as it is: its spec with every default resolved (what Host and the CLI show). */
export interface NetworkInfo {
  readonly name: string;
  /** stable id (64 hex digits), chosen when the network is created; never reused */
  readonly id?: string;
  /** IPv4 subnet (the first IPv4 range's); absent on an IPv6-only network */
  readonly subnet?: string;
  readonly subnet6?: string;
  readonly gateway?: string;
  readonly gateway6?: string;
  readonly bridge: string;
  readonly bridgeMac: string;
  readonly mtu: number;
  readonly internal: boolean;
  readonly masquerade: boolean;
  readonly endpoints: number;
  readonly createdAt: string;
  /** present when the spec had them: every range of both families, gateways resolved */
  readonly ranges?: readonly AddressRange[];
  /** present (false) when the bridge carries no gateway address */
  readonly gatewayOnBridge?: false;
  /** present (true) when the bridge is in promiscuous mode */
  readonly promisc?: true;

  readonly labels?: Labels;
  /** present (true) when containers may not reach the host; then allowHostPorts too (DNS not listed: always allowed) */
  readonly blockHost?: boolean;
  readonly allowHostPorts?: readonly HostPort[];
}

export type Protocol = 'tcp' | 'udp';

/** One published port or port range: [hostIp:]hostPort[-end]:containerPort[-end][/proto]. */
export interface PortMapping {
  readonly hostIp?: string;
  readonly hostPort: number;
  /** Inclusive end of a host port range (same length as the container range). */
  readonly hostPortEnd?: number;
  readonly containerPort: number;
  readonly containerPortEnd?: number;
  readonly protocol: Protocol;
}

export type Mode = 'bridge' | 'host' | 'none';

export interface AttachOptions {
  /** Container netns: a name under /run/netns (created if missing) or an nsfs path (/proc/PID/ns/net). */
  readonly netns: string;
  /** Interface name inside the container. Default "eth0". */
  readonly ifname?: string;
  /** Static IPv4 address (must be inside the subnet and free). Default: next free from IPAM. */
  readonly ip?: string;
  readonly ip6?: string;
  /** Container-side MAC. Default: derived from the IP (02:42-style, stable). */
  readonly mac?: string;
  /** Ports to publish, as specs ("8080:80/tcp") or objects. */
  readonly publish?: ReadonlyArray<string | PortMapping>;
  /**
   * Extra routes inside the container, besides the default route via the gateway: via an
   * address, via the gateway of the container's range (`viaGateway`: on a network with
   * ranges in several subnets, the one on-link), or on-link (neither).
   */
  readonly routes?: ReadonlyArray<{ readonly dst: string; readonly via?: string; readonly viaGateway?: boolean }>;
  /** The container's name (Docker's --name), its DNS aliases, and the CNI CONTAINERID. */
  readonly name?: string;
  readonly aliases?: readonly string[];
  readonly containerId?: string;
  /**
   * Add the default route(s) via the gateway of the container's range. Default: true for the
   * first network of a netns on a network whose bridge carries its gateway, else false.
   */
  readonly defaultRoute?: boolean;
  /** Hairpin mode on the host port (a container reaching its own published port). Default true. */
  readonly hairpin?: boolean;
}

export interface EndpointInfo {
  /** stable id, chosen at attach */
  readonly id: string;
  readonly name?: string;
  readonly aliases?: readonly string[];
  readonly containerId?: string;
  readonly network: string;
  readonly mode: Mode;
  /** nsfs path of the container netns */
  readonly netns: string;
  /** the name under /run/netns, when it has one */
  readonly netnsName?: string;
  /** whether ctnet-fast created the netns (and so deletes it on detach) */
  readonly ownsNetns: boolean;
  readonly ifname: string;
  readonly hostIfname: string;
  /** CIDR form, e.g. "172.18.0.2/16" ("" without an IPv4 address: an IPv6-only network) */
  readonly address: string;
  /** plain IP, e.g. "172.18.0.2" ("" without one) */
  readonly ip: string;
  /** the gateway of the range the address came from ("" without one) */
  readonly gateway: string;
  readonly address6?: string;
  readonly ip6?: string;
  readonly gateway6?: string;
  readonly mac: string;
  readonly ports: readonly PortMapping[];
  readonly createdAt: string;
}

export interface GcReport {
  /** What was (or, with dryRun, would be) done, one line each. */
  readonly actions: readonly string[];
  readonly errors: readonly string[];
}
