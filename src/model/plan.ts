/**
 * model/plan.ts — the shape of a *plan*: the unit of kernel work that crosses into a
 * backend once. Both backends (the C++ addon and the iproute2 process backend) execute
 * exactly this shape and answer with exactly these results.
 *
 * Layer: model (types only; used by every layer above: validate/, backend/, rtnl/, netns/, firewall/, topology/).
 * It is types only: no I/O, no policy, no names chosen.
 *
 * Vocabulary: kernel-level fields with iproute2-like op names. Every op documents the
 * `ip` command it equals; the iproute2 backend runs exactly that command.
 */

/** A network namespace inside a plan. */
export type NsRef =
  /** The addon's home netns: the netns the process was in when the addon loaded. */
  | { readonly self: true }
  /** Any nsfs file: `/run/netns/NAME`, `/proc/PID/ns/net`, a bind mount elsewhere. */
  | { readonly path: string }
  /** The netns created or opened by step number `slot` of the same plan. */
  | { readonly slot: number }
  /** Only for `encode()` (golden tests): a literal fd number to put into IFLA_NET_NS_FD. */
  | { readonly fd: number };

/** A link named by ifindex or by name (names are resolved in the op's netns). */
export type LinkRef = number | string;

export type Family = 4 | 6;

/** `ip link add NAME [address MAC] [mtu N] [master M] [up] type veth|bridge|dummy [peer name P netns NS …]` */
export interface LinkAddOp {
  readonly op: 'linkAdd';
  readonly kind: 'veth' | 'bridge' | 'dummy';
  readonly name: string;
  /** Ask for this ifindex (ifi_index); 0/absent lets the kernel choose. */
  readonly index?: number;
  readonly mtu?: number;
  /** "aa:bb:cc:dd:ee:ff" → IFLA_ADDRESS */
  readonly mac?: string;
  /** Create it UP (ifi_flags/ifi_change IFF_UP). Works for the host end; a veth peer can't be born UP. */
  readonly up?: boolean;
  /** IFLA_MASTER: enslave to this bridge in the same request. */
  readonly master?: LinkRef;
  /** IFLA_IFALIAS: we tag what we create ("ctnet:…") so gc never touches anything else. */
  readonly alias?: string;
  /** IFLA_TXQLEN */
  readonly txqlen?: number;
  /**
   * Bridge port hairpin mode for a link created with `master` (`ip link set NAME type
   * bridge_slave hairpin on`). Not accepted by a creating request: it rides in the
   * follow-up "set" with the alias and addrgenmode (no extra round trip when those exist).
   */
  readonly hairpin?: boolean;
  /**
   * IPv6 address generation off (IFLA_AF_SPEC/AF_INET6/IFLA_INET6_ADDR_GEN_MODE = NONE):
   * no link-local address, so no DAD/MLD/RS chatter flooded to every bridge port.
   */
  readonly noIpv6LinkLocal?: boolean;
  /** veth only: VETH_INFO_PEER. `ns` puts IFLA_NET_NS_FD inside the peer, so it is born there. */
  readonly peer?: {
    readonly name: string;
    readonly ns?: NsRef;
    readonly index?: number;
    readonly mtu?: number;
    readonly mac?: string;
    readonly alias?: string;
    readonly noIpv6LinkLocal?: boolean;
  };
  /** bridge only: IFLA_INFO_DATA attributes. */
  readonly bridge?: {
    /** IFLA_BR_FORWARD_DELAY in centiseconds (iproute2 takes cs too). */
    readonly forwardDelay?: number;
    /** IFLA_BR_STP_STATE */
    readonly stp?: boolean;
    /** IFLA_BR_MCAST_SNOOPING */
    readonly mcastSnooping?: boolean;
    /** IFLA_BR_VLAN_FILTERING */
    readonly vlanFiltering?: boolean;
  };
}

/** `ip link set LINK [up|down] [promisc on|off] [master M|nomaster] [netns NS] [mtu N] [name NEW] [address MAC] [alias A] [addrgenmode none] [type bridge_slave hairpin on|off]` */
export interface LinkSetOp {
  readonly op: 'linkSet';
  readonly link: LinkRef;
  readonly up?: boolean;
  /** Promiscuous mode (`ip link set LINK promisc on|off`, IFF_PROMISC): CNI's `promiscMode` on a bridge. */
  readonly promisc?: boolean;
  /** A bridge, or 0 for `nomaster`. */
  readonly master?: LinkRef | 0;
  /** Move the link into that netns (IFLA_NET_NS_FD). Costs ~12 ms in the kernel: avoid on hot paths. */
  readonly ns?: NsRef;
  readonly mtu?: number;
  readonly name?: string;
  readonly mac?: string;
  readonly alias?: string;
  /**
   * Bridge port hairpin mode (`ip link set LINK type bridge_slave hairpin on|off`): lets the
   * bridge send a frame back out of the port it came in on. Needed when a container reaches
   * its own published port: with br_netfilter the DNAT-ed packet is bridged back to its port.
   */
  readonly hairpin?: boolean;
  /**
   * `ip link set LINK addrgenmode none` (IFLA_AF_SPEC/AF_INET6/IFLA_INET6_ADDR_GEN_MODE): no
   * IPv6 link-local address. The kernel applies IFF_UP before IFLA_AF_SPEC in one message,
   * so send this in its own op BEFORE the op that sets the link up.
   */
  readonly noIpv6LinkLocal?: boolean;
}

/** `ip link del LINK` */
export interface LinkDelOp { readonly op: 'linkDel'; readonly link: LinkRef }
/** `ip -j link show LINK` */
export interface LinkGetOp { readonly op: 'linkGet'; readonly link: LinkRef }
/** `ip -j link show` */
export interface LinkListOp { readonly op: 'linkList' }

/** `ip addr add|del LOCAL/PREFIX [broadcast B] [nodad] dev LINK` */
export interface AddrOp {
  readonly op: 'addrAdd' | 'addrDel';
  readonly link: LinkRef;
  readonly family: Family;
  readonly local: string;
  readonly prefixLen: number;
  readonly broadcast?: string;
  /** IFA_F_NODAD (IPv6): usable at once, no duplicate-address-detection wait. */
  readonly nodad?: boolean;
}
/** `ip -j [-4|-6] addr show [dev LINK]` */
export interface AddrListOp { readonly op: 'addrList'; readonly family?: Family; readonly link?: LinkRef }

/** `ip route add|del DST/LEN|default [via GW] [dev LINK] [metric M] [table T] [onlink] [src S]` */
export interface RouteOp {
  readonly op: 'routeAdd' | 'routeDel';
  readonly family: Family;
  /** Absent means default (0.0.0.0/0 or ::/0). */
  readonly dst?: string;
  readonly dstLen?: number;
  readonly gateway?: string;
  readonly link?: LinkRef;
  readonly metric?: number;
  /** RT_TABLE_MAIN (254) when absent. */
  readonly table?: number;
  /** RTNH_F_ONLINK: the gateway is on the link even if no address says so. */
  readonly onlink?: boolean;
  readonly src?: string;
}
/** `ip -j [-4|-6] route show [table T]` (table absent: main) */
export interface RouteListOp { readonly op: 'routeList'; readonly family?: Family; readonly table?: number }

export type RtnlOp =
  | LinkAddOp | LinkSetOp | LinkDelOp | LinkGetOp | LinkListOp
  | AddrOp | AddrListOp | RouteOp | RouteListOp;

/**
 * Which netns a netnsCreate/netnsOpen step made or opened, as its ok result carries it and a
 * later netnsDelete checks it. Record both, pass back both.
 */
export interface NetnsIdentity {
  /**
   * The netns cookie (SO_NETNS_COOKIE, Linux >= 5.14) as a decimal string (a u64): unique for
   * the boot and never reused, the exact identity. Only the native backend reads it; absent
   * from the iproute2 backend and on kernels older than 5.14.
   */
  readonly cookie?: string;
  /**
   * The nsfs inode number of the netns (`stat -L PATH`, `ls -i /run/netns`). Weaker: the kernel
   * hands a freed netns's inode number out again (lowest free), so a netns deleted and
   * re-created between the record and the delete may have the same one: a mismatch proves
   * another netns, a match proves nothing alone.
   */
  readonly inode?: number;
}

/** One step of a plan. Steps run in order on one dedicated thread. */
/**
 * Element changes of one set or map, as the kernel stores them (an nft step's native form).
 * A key is the concatenation of its components, each padded with zeros to a multiple of
 * 4 bytes (ifname 16, ether_addr 6+2, ipv4_addr 4, ipv6_addr 16, inet_service 2+2).
 *   add     NEWSETELEM without NLM_F_EXCL: an identical element already there is a no-op
 *   del     the same add, then the delete, in one transaction: exact and idempotent
 * All ops of one step are one transaction.
 */
export interface NftElemOp {
  readonly family: 'ip' | 'ip6' | 'bridge' | 'inet';
  readonly table: string;
  readonly set: string;
  readonly del?: boolean;
  readonly keys: readonly Uint8Array[];
  /** A map's data, one per key. */
  readonly data?: readonly Uint8Array[];
}

export type Step =
  /**
   * `ip netns add NAME` at any path: file + bind mount of a fresh netns, /run/netns-style
   * shared propagation. With `from` (a pre-created netns file, e.g. a prewarm pool entry) that
   * netns is used instead of a new one: bound on `path`, then `from` is unmounted and removed.
   */
  | { readonly kind: 'netnsCreate'; readonly path: string; readonly from?: string }
  /** Open an existing netns file (fails ENOENT/EINVAL if it is not one). Later steps refer to it by slot. */
  | { readonly kind: 'netnsOpen'; readonly path: string }
  /**
   * `ip netns del NAME`: umount (MNT_DETACH) + unlink; returns at once, the kernel reaps the netns later.
   * With `cookie` and/or `inode` (from the netnsCreate/netnsOpen result that made or opened it)
   * only that netns is deleted: a file at `path` that is another netns (deleted and re-created
   * by someone else since) fails the step with ESTALE, naming the path and both values, and is
   * left alone. A missing file is ENOENT either way. The native backend checks both exactly;
   * the iproute2 backend cannot read a cookie and checks only `inode` (see NetnsIdentity).
   */
  | ({ readonly kind: 'netnsDelete'; readonly path: string } & NetnsIdentity)
  /** rtnetlink requests in one netns, sent in ONE sendmsg; each ack matched by sequence number. */
  | { readonly kind: 'rtnl'; readonly ns: NsRef; readonly ops: readonly RtnlOp[] }
  /** Read (no value) or write /proc/sys/KEY as seen from inside that netns, e.g. "net/ipv4/ip_forward". */
  | { readonly kind: 'sysctl'; readonly ns: NsRef; readonly key: string; readonly value?: string }
  /**
   * Run an nftables JSON command batch in that netns (libnftables in-process, or `nft -j -f -`).
   * With `elems` (the same batch's element changes, encoded as the kernel stores them) the
   * native backend sends those over nfnetlink itself and does not run `json` (~20 µs instead
   * of libnftables' cache fetch); other backends run `json`. Both must say the same thing.
   */
  | { readonly kind: 'nft'; readonly ns: NsRef; readonly json: string; readonly elems?: readonly NftElemOp[] }
  /**
   * Delete the conntrack entries of that netns that `filter` matches (ctnetlink dump +
   * IPCTNL_MSG_CT_DELETE in-process, or `conntrack -D` processes). An entry already gone is
   * not an error. Its result carries `deleted`, the number of entries this step removed.
   */
  | ConntrackDeleteStep;

/**
 * Which conntrack entries a `conntrackDelete` step removes. The family (IPv4/IPv6) is that of
 * the addresses; all addresses of one filter are of one family.
 */
export type ConntrackFilter =
  /**
   * Every entry with `addr` as source or destination of its original or reply tuple: the
   * flows of a removed container address, both ways
   * (`conntrack -D -s A`, `-d A`, `-r A` (reply source), `-q A` (reply destination)).
   */
  | { readonly match: 'addr'; readonly addr: string }
  /**
   * The flows DNAT'd by one published mapping: original protocol and destination port
   * `port`..`portEnd` (default `port`), original destination `dst` when the mapping has a
   * host IP, and reply source `replySrc`, the container's address
   * (`conntrack -D -p PROTO --orig-port-dst P [--orig-dst D] --reply-src C`).
   */
  | {
    readonly match: 'mapping';
    readonly proto: 'tcp' | 'udp' | 'sctp';
    readonly port: number;
    readonly portEnd?: number;
    readonly dst?: string;
    readonly replySrc: string;
  };

/** `conntrack -D …` in that netns for one filter (see ConntrackFilter). */
export interface ConntrackDeleteStep {
  readonly kind: 'conntrackDelete';
  readonly ns: NsRef;
  readonly filter: ConntrackFilter;
}

export interface Plan {
  readonly steps: readonly Step[];
  /** Default true: after a failed step, later steps are not run (reported as skipped). */
  readonly stopOnError?: boolean;
}

/** What the kernel said about one failed request. */
export interface KernelError {
  readonly errno: number;
  /** errno name, e.g. "EEXIST" */
  readonly code: string;
  /** e.g. "RTM_NEWLINK", "setns", "mount", "nft" */
  readonly op: string;
  /** The kernel's NLMSGERR_ATTR_MSG text (or libnftables' error text), if any. */
  readonly message?: string;
}

export interface Link {
  readonly index: number;
  readonly name: string;
  /** IFLA_INFO_KIND: "veth", "bridge"… absent for plain devices such as lo */
  readonly kind?: string;
  readonly mtu: number;
  readonly mac?: string;
  /** IFF_UP is set */
  readonly up: boolean;
  /** IFLA_OPERSTATE as iproute2 prints it: UP, DOWN, UNKNOWN, LOWERLAYERDOWN… */
  readonly operState: string;
  /** ifi_flags */
  readonly flags: number;
  readonly master?: number;
  readonly alias?: string;
  /** IFLA_LINK: for a veth, the peer's ifindex (in the peer's netns) */
  readonly link?: number;
  /** IFLA_LINK_NETNSID: set when the peer lives in another netns */
  readonly linkNetnsId?: number;
  readonly txqlen?: number;
}

export interface Addr {
  readonly index: number;
  readonly family: Family;
  readonly local: string;
  readonly prefixLen: number;
  readonly scope: number;
  readonly flags: number;
  readonly label?: string;
  readonly broadcast?: string;
}

export interface Route {
  readonly family: Family;
  /** absent: default route */
  readonly dst?: string;
  readonly dstLen: number;
  readonly gateway?: string;
  readonly oif?: number;
  readonly table: number;
  readonly metric?: number;
  readonly protocol: number;
  readonly scope: number;
  /** RTN_UNICAST = 1, RTN_LOCAL = 2, … */
  readonly type: number;
  readonly prefsrc?: string;
  readonly flags: number;
}

export type OpValue = undefined | Link | readonly Link[] | readonly Addr[] | readonly Route[];

export type OpResult =
  | { readonly ok: true; readonly value?: OpValue }
  | { readonly ok: false; readonly error: KernelError };

export type StepResult =
  /**
   * `deleted`: set by a `conntrackDelete` step only, the number of entries it removed.
   * `cookie`, `inode` (NetnsIdentity): set by netnsCreate/netnsOpen only, the netns it made or opened.
   */
  | ({ readonly ok: true; readonly kind: Step['kind']; readonly ops?: readonly OpResult[]; readonly value?: string; readonly deleted?: number } & NetnsIdentity)
  /** `failedOp` is the index of the first failing op of an rtnl step; `ops` still has every op's own result. */
  | { readonly ok: false; readonly kind: Step['kind']; readonly error: KernelError; readonly failedOp?: number; readonly ops?: readonly OpResult[] }
  | { readonly ok: false; readonly kind: Step['kind']; readonly skipped: true };

/** What both backends implement. */
export interface Backend {
  readonly name: 'native' | 'iproute2';
  run(plan: Plan): Promise<readonly StepResult[]>;
  /**
   * Whether this backend runs `nft` steps in-process (libnftables loaded) and why not.
   * Absent: it has no in-process nftables (the iproute2 backend runs them as `nft` processes).
   */
  nftAvailable?(): { ok: boolean; reason?: string };
  /** Release sockets, threads, nft contexts (the process may keep running). */
  close(): Promise<void>;
}

/** The addon's own exports (native/addon.cc). */
export interface NativeAddon {
  readonly abiVersion: number;
  /** Execute a plan on a dedicated namespace thread (never the JS thread, never libuv's pool). */
  run(plan: Plan): Promise<StepResult[]>;
  /** Build the bytes of one request (seq and pid as given) — for golden tests. */
  encode(op: RtnlOp, seq: number): Buffer;
  /** Parse a buffer of rtnetlink messages (dump replies); malformed input gives { error } and never crashes. */
  decode(buf: Buffer): { messages: Array<{ type: number; flags: number; seq: number; value?: Link | Addr | Route; error?: KernelError }> } | { error: string };
  /** Whether libnftables.so.1 could be loaded (and why not). */
  nftAvailable(): { ok: boolean; reason?: string };
  /** Drop cached sockets and nft contexts; stop idle threads. */
  shutdown(): void;
}
