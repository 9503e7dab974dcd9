// native/rtnl_types.h — C++ mirror of the plan contract (src/model/plan.ts).
//
// Layer: native/. Plain data converted from JS on the main thread (js_conv.cc) before a
// plan is queued, so worker threads never touch N-API. Field names follow the contract;
// kernel attribute names are cited where they are encoded (rtnl_encode.cc).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kerr.h"

namespace ctn {

struct NsRefC {
  enum Kind { Self, Path, Slot, Fd } kind = Self;
  std::string path;
  int n = 0;  // slot index or literal fd
};

struct LinkRefC {
  bool set = false;
  bool byName = false;
  int index = 0;
  std::string name;
  std::string describe() const { return byName ? "'" + name + "'" : "ifindex " + std::to_string(index); }
};

enum class OpType { LinkAdd, LinkSet, LinkDel, LinkGet, LinkList, AddrAdd, AddrDel, AddrList, RouteAdd, RouteDel, RouteList };

struct PeerC {
  std::string name;
  std::optional<NsRefC> ns;
  int index = 0;
  std::optional<uint32_t> mtu;
  std::string mac;
  std::optional<std::string> alias;
  bool noIpv6LinkLocal = false;
};

struct OpC {
  OpType type = OpType::LinkList;
  std::string bad;  // non-empty: the JS object was not a valid op (reported as EINVAL)
  // link
  std::string kind, name, mac;
  int index = 0;
  std::optional<uint32_t> mtu, txqlen;
  std::optional<bool> up;
  std::optional<bool> hairpin;  // linkSet: IFLA_BRPORT_MODE via IFLA_INFO_SLAVE_DATA
  std::optional<bool> promisc;  // linkSet: IFF_PROMISC
  LinkRefC master;        // linkAdd/linkSet
  bool noMaster = false;  // linkSet master: 0
  std::optional<std::string> alias;
  bool noIpv6LinkLocal = false;
  std::optional<PeerC> peer;
  std::optional<uint32_t> brForwardDelay;
  std::optional<bool> brStp, brMcastSnooping, brVlanFiltering;
  LinkRefC link;  // linkSet/Del/Get, addr*, route*
  std::optional<NsRefC> ns;  // linkSet: move
  std::string newName;       // linkSet name
  // addr/route
  int family = 0;  // 4 | 6 | 0 (any, for lists)
  std::string local, broadcast, dst, gateway, src;
  int prefixLen = 0;
  bool nodad = false;
  std::optional<int> dstLen;
  std::optional<uint32_t> metric, table;
  bool onlink = false;
};

enum class StepKind { NetnsCreate, NetnsOpen, NetnsDelete, Rtnl, Sysctl, Nft, ConntrackDelete };
const char* stepKindName(StepKind k);

// A conntrackDelete step's filter (ConntrackFilter of the contract), checked once on the JS
// thread (conntrack_js.cc): addresses in network byte order, family AF_INET or AF_INET6.
struct CtFilterC {
  enum By { Addr, Mapping } by = Addr;
  int family = 0;
  uint8_t addr[16] = {};  // Addr: the address; Mapping: replySrc (the container's address)
  uint8_t proto = 0;      // Mapping: IPPROTO_TCP / UDP / SCTP
  uint16_t portLo = 0, portHi = 0;  // Mapping: original destination ports, host order
  bool hasDst = false;
  uint8_t dst[16] = {};   // Mapping: original destination (the host IP), when hasDst
};

// One element op of an nft step's native form (nft_elems.h): keys (and a map's data) as
// the kernel stores them.
struct NftElemOpC {
  bool del = false;
  uint8_t family = 0;  // NFPROTO_IPV4 / IPV6 / BRIDGE / INET
  std::string table, set;
  std::vector<std::vector<uint8_t>> keys;
  std::vector<std::vector<uint8_t>> data;  // one per key for a map; empty for a set
};

struct StepC {
  StepKind kind = StepKind::Rtnl;
  std::string bad;
  std::string path;  // netns*
  std::string from;  // netnsCreate: adopt this pre-created netns instead of unshare()
  std::optional<uint64_t> cookie;  // netnsDelete: delete only the netns with this cookie
  std::optional<uint64_t> inode;   // netnsDelete: … and this nsfs inode
  NsRefC ns;         // rtnl/sysctl/nft
  std::vector<OpC> ops;
  std::string key;
  std::optional<std::string> value;
  std::string json;
  std::vector<NftElemOpC> elems;  // nft: when present, applied over nfnetlink instead of `json`
  CtFilterC ct;  // conntrackDelete
};

struct PlanC {
  std::vector<StepC> steps;
  bool stopOnError = true;
};

// ---- results ----
struct LinkC {
  int index = 0;
  std::string name;
  std::optional<std::string> kind;
  uint32_t mtu = 0;
  std::optional<std::string> mac;
  bool up = false;
  std::string operState = "UNKNOWN";
  uint32_t flags = 0;
  std::optional<uint32_t> master;
  std::optional<std::string> alias;
  std::optional<int32_t> link;
  std::optional<int32_t> linkNetnsId;
  std::optional<uint32_t> txqlen;
};

struct AddrC {
  int index = 0;
  int family = 4;
  std::string local;
  int prefixLen = 0;
  int scope = 0;
  uint32_t flags = 0;
  std::optional<std::string> label, broadcast;
};

struct RouteC {
  int family = 4;
  std::optional<std::string> dst;
  int dstLen = 0;
  std::optional<std::string> gateway;
  std::optional<uint32_t> oif;
  uint32_t table = 0;
  std::optional<uint32_t> metric;
  int protocol = 0, scope = 0, type = 0;
  std::optional<std::string> prefsrc;
  uint32_t flags = 0;
};

struct OpResultC {
  bool ok = true;
  KErr err;
  enum class V { None, Link, Links, Addrs, Routes } vk = V::None;
  std::vector<LinkC> links;  // V::Link uses links[0]
  std::vector<AddrC> addrs;
  std::vector<RouteC> routes;
};

struct StepResultC {
  enum class St { Ok, Failed, Skipped } st = St::Ok;
  StepKind kind = StepKind::Rtnl;
  KErr err;
  int failedOp = -1;
  bool hasOps = false;
  std::vector<OpResultC> ops;
  std::optional<std::string> value;
  std::optional<uint32_t> deleted;  // conntrackDelete: entries removed
  std::optional<uint64_t> cookie;   // netnsCreate/netnsOpen: the netns cookie (SO_NETNS_COOKIE)
  std::optional<uint64_t> inode;    // netnsCreate/netnsOpen: the nsfs inode of the netns
};

}  // namespace ctn
