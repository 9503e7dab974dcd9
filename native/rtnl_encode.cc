// native/rtnl_encode.cc — see rtnl_encode.h.
//
// Our requests are byte-identical to iproute2's except for seq/pid and, where iproute2
// resolves a name to an ifindex first, the ifindex. One function per kind of op; every
// op reaching them passed validateOp(), so parsing here cannot fail.
#include "rtnl_encode.h"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include "rtnl_op.h"

#ifndef RTEXT_FILTER_SKIP_STATS
#define RTEXT_FILTER_SKIP_STATS (1 << 3)
#endif

namespace ctn {

namespace {

constexpr uint16_t kReqAck = NLM_F_REQUEST | NLM_F_ACK;
constexpr uint16_t kCreate = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
constexpr uint16_t kDump = NLM_F_REQUEST | NLM_F_DUMP;

int afOf(int family) { return family == 6 ? AF_INET6 : AF_INET; }
uint8_t afOrAny(int family) { return family ? static_cast<uint8_t>(afOf(family)) : static_cast<uint8_t>(AF_UNSPEC); }

// What every encoder of one op shares: the env, the buffer, the op's request name.
struct Enc {
  const EncodeEnv& env;
  MsgBuilder& b;
  std::vector<EncodedMsg>* msgs;
  const char* on;
  KErr err;

  void begin(uint16_t type, uint16_t flags, const void* hdr, size_t hlen) {
    uint32_t seq = env.nextSeq ? env.nextSeq() : 0;
    b.begin(type, flags, seq, env.pid, hdr, hlen);
    if (msgs) msgs->push_back(EncodedMsg{seq, on});
  }

  // The ifindex a LinkRef stands for: numbers as they are, names through the env.
  int index(const LinkRefC& r) {
    if (!r.byName) return r.index;
    if (!env.linkIndex) {
      err = invalErr(on, "link " + r.describe() + " must be given as an ifindex here (no netns to resolve names in)");
      return 0;
    }
    return env.linkIndex(r.name, &err);
  }

  int nsFd(const NsRefC& ns) {
    if (!env.nsFd) {
      err = invalErr(on, "netns reference cannot be resolved here");
      return -1;
    }
    return env.nsFd(ns, &err);
  }

  void putMac(const std::string& text) {
    uint8_t mac[6];
    if (!text.empty() && parseMac(text, mac)) b.put(IFLA_ADDRESS, mac, 6);
  }

  void putIp(uint16_t type, int family, const std::string& text) {
    uint8_t a[16];
    int alen = parseIp(family, text, a);
    b.put(type, a, static_cast<size_t>(alen));
  }
};

void putAfSpecAddrGenNone(MsgBuilder& b) {
  // IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE = IN6_ADDR_GEN_MODE_NONE } }
  size_t spec = b.nestStart(IFLA_AF_SPEC);
  size_t in6 = b.nestStart(AF_INET6);
  b.putU8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
  b.nestEnd(in6);
  b.nestEnd(spec);
}

void putBridgeData(const OpC& op, MsgBuilder& b) {
  if (!(op.brForwardDelay || op.brStp || op.brMcastSnooping || op.brVlanFiltering)) return;
  size_t data = b.nestStart(IFLA_INFO_DATA);
  if (op.brForwardDelay) b.putU32(IFLA_BR_FORWARD_DELAY, *op.brForwardDelay);
  if (op.brStp) b.putU32(IFLA_BR_STP_STATE, *op.brStp ? 1 : 0);
  if (op.brMcastSnooping) b.putU8(IFLA_BR_MCAST_SNOOPING, *op.brMcastSnooping ? 1 : 0);
  if (op.brVlanFiltering) b.putU8(IFLA_BR_VLAN_FILTERING, *op.brVlanFiltering ? 1 : 0);
  b.nestEnd(data);
}

void putVethPeer(const PeerC& p, int peerFd, Enc& e) {
  MsgBuilder& b = e.b;
  size_t data = b.nestStart(IFLA_INFO_DATA);
  size_t peer = b.nestStart(VETH_INFO_PEER);
  // VETH_INFO_PEER carries a whole struct ifinfomsg, then the peer's attributes.
  // Kernel quirk (seen on 6.18): the peer's ifi_index is honoured only when the
  // main link asks for an ifindex too (op.index); otherwise it is silently ignored.
  ifinfomsg pi{};
  pi.ifi_index = p.index;
  b.raw(&pi, sizeof pi);
  e.putMac(p.mac);
  if (p.mtu) b.putU32(IFLA_MTU, *p.mtu);
  // IFLA_NET_NS_FD inside the peer: it is born in that netns (no 12 ms move).
  if (p.ns) b.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(peerFd));
  b.putStrz(IFLA_IFNAME, p.name);
  b.nestEnd(peer);
  b.nestEnd(data);
}

KErr linkAdd(const OpC& op, Enc& e) {
  int master = op.master.set ? e.index(op.master) : 0;
  if (e.err) return e.err;
  int peerFd = op.peer && op.peer->ns ? e.nsFd(*op.peer->ns) : -1;
  if (e.err) return e.err;
  ifinfomsg ifi{};
  ifi.ifi_index = op.index;
  if (op.up.value_or(false) && !op.noIpv6LinkLocal) {
    ifi.ifi_flags = IFF_UP;
    ifi.ifi_change = IFF_UP;
  }
  MsgBuilder& b = e.b;
  e.begin(RTM_NEWLINK, kCreate, &ifi, sizeof ifi);
  e.putMac(op.mac);
  if (op.mtu) b.putU32(IFLA_MTU, *op.mtu);
  if (op.txqlen) b.putU32(IFLA_TXQLEN, *op.txqlen);
  if (op.master.set) b.putU32(IFLA_MASTER, static_cast<uint32_t>(master));
  b.putStrz(IFLA_IFNAME, op.name);
  size_t li = b.nestStart(IFLA_LINKINFO);
  b.putStr(IFLA_INFO_KIND, op.kind);  // no NUL, as iproute2 sends it (NLA_STRING)
  if (op.kind == "bridge") putBridgeData(op, b);
  else if (op.kind == "veth" && op.peer) putVethPeer(*op.peer, peerFd, e);
  b.nestEnd(li);
  b.end();
  return {};
}

// `ip link set X type bridge_slave hairpin on`: RTM_NEWLINK on an existing port whose
// IFLA_LINKINFO carries the master's slave options; the bridge applies them
// (br_port_slave_changelink) — the link must already be a bridge port.
void putHairpin(bool on, MsgBuilder& b) {
  size_t li = b.nestStart(IFLA_LINKINFO);
  b.putStr(IFLA_INFO_SLAVE_KIND, "bridge");
  size_t sd = b.nestStart(IFLA_INFO_SLAVE_DATA);
  b.putU8(IFLA_BRPORT_MODE, on ? 1 : 0);
  b.nestEnd(sd);
  b.nestEnd(li);
}

KErr linkSet(const OpC& op, Enc& e) {
  int master = op.master.set && !op.noMaster ? e.index(op.master) : 0;
  if (e.err) return e.err;
  int nsFd = op.ns ? e.nsFd(*op.ns) : -1;
  if (e.err) return e.err;
  ifinfomsg ifi{};
  bool lookupByName = op.link.byName && op.newName.empty();
  if (!lookupByName) {
    ifi.ifi_index = e.index(op.link);
    if (e.err) return e.err;
  }
  if (op.up) {
    ifi.ifi_flags = *op.up ? IFF_UP : 0;
    ifi.ifi_change = IFF_UP;
  }
  if (op.promisc) {
    ifi.ifi_flags |= *op.promisc ? IFF_PROMISC : 0;
    ifi.ifi_change |= IFF_PROMISC;
  }
  MsgBuilder& b = e.b;
  e.begin(RTM_NEWLINK, kReqAck, &ifi, sizeof ifi);
  if (op.ns) b.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(nsFd));
  e.putMac(op.mac);
  if (op.mtu) b.putU32(IFLA_MTU, *op.mtu);
  if (op.alias) b.putStr(IFLA_IFALIAS, *op.alias);
  if (op.master.set) b.putU32(IFLA_MASTER, static_cast<uint32_t>(master));
  // With ifi_index 0 the kernel looks the link up by IFLA_IFNAME; with an index,
  // IFLA_IFNAME renames it.
  if (lookupByName) b.putStrz(IFLA_IFNAME, op.link.name);
  else if (!op.newName.empty()) b.putStrz(IFLA_IFNAME, op.newName);
  if (op.noIpv6LinkLocal) putAfSpecAddrGenNone(b);
  if (op.hairpin) putHairpin(*op.hairpin, b);
  b.end();
  return {};
}

// linkDel / linkGet
KErr linkDelGet(const OpC& op, Enc& e) {
  ifinfomsg ifi{};
  if (!op.link.byName) ifi.ifi_index = op.link.index;
  bool get = op.type == OpType::LinkGet;
  e.begin(get ? RTM_GETLINK : RTM_DELLINK, kReqAck, &ifi, sizeof ifi);
  if (op.link.byName) e.b.putStrz(IFLA_IFNAME, op.link.name);
  if (get) e.b.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  e.b.end();
  return {};
}

KErr linkList(const OpC&, Enc& e) {
  ifinfomsg ifi{};
  e.begin(RTM_GETLINK, kDump, &ifi, sizeof ifi);
  e.b.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  e.b.end();
  return {};
}

// addrAdd / addrDel
KErr addrAddDel(const OpC& op, Enc& e) {
  int idx = e.index(op.link);
  if (e.err) return e.err;
  bool add = op.type == OpType::AddrAdd;
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(afOf(op.family));
  ifa.ifa_prefixlen = static_cast<uint8_t>(op.prefixLen);
  // IFA_F_NODAD fits the 8-bit header field, where iproute2 puts it (IFA_FLAGS is
  // only needed for flags above 0xff); the kernel reads both.
  ifa.ifa_flags = op.nodad ? IFA_F_NODAD : 0;
  uint8_t a[16];
  int alen = parseIp(op.family, op.local, a);
  // iproute2's default_scope(): host scope for 127/8 on add, else universe.
  if (add && op.family == 4 && a[0] == 127) ifa.ifa_scope = RT_SCOPE_HOST;
  ifa.ifa_index = static_cast<uint32_t>(idx);
  e.begin(add ? RTM_NEWADDR : RTM_DELADDR, add ? kCreate : kReqAck, &ifa, sizeof ifa);
  e.b.put(IFA_LOCAL, a, static_cast<size_t>(alen));
  if (!op.broadcast.empty()) e.putIp(IFA_BROADCAST, 4, op.broadcast);
  e.b.put(IFA_ADDRESS, a, static_cast<size_t>(alen));
  e.b.end();
  return {};
}

KErr addrList(const OpC& op, Enc& e) {
  ifaddrmsg ifa{};
  ifa.ifa_family = afOrAny(op.family);
  if (op.link.set) {
    // With NETLINK_GET_STRICT_CHK the kernel filters the dump by ifa_index.
    int idx = e.index(op.link);
    if (e.err) return e.err;
    ifa.ifa_index = static_cast<uint32_t>(idx);
  }
  e.begin(RTM_GETADDR, kDump, &ifa, sizeof ifa);
  e.b.end();
  return {};
}

uint8_t rtmTable(uint32_t table) {
  return table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
}

// routeAdd / routeDel
KErr routeAddDel(const OpC& op, Enc& e) {
  bool add = op.type == OpType::RouteAdd;
  int oif = op.link.set ? e.index(op.link) : 0;
  if (e.err) return e.err;
  uint32_t table = op.table.value_or(RT_TABLE_MAIN);
  rtmsg rt{};
  rt.rtm_family = static_cast<uint8_t>(afOf(op.family));
  rt.rtm_dst_len = op.dst.empty() ? 0 : static_cast<uint8_t>(op.dstLen.value_or(op.family == 4 ? 32 : 128));
  rt.rtm_table = rtmTable(table);
  if (add) {
    rt.rtm_protocol = RTPROT_BOOT;
    rt.rtm_scope = op.gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    rt.rtm_type = RTN_UNICAST;
  } else {
    rt.rtm_scope = RT_SCOPE_NOWHERE;  // "any scope" for a delete, as iproute2 sends
  }
  if (op.onlink) rt.rtm_flags = RTNH_F_ONLINK;
  e.begin(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? kCreate : kReqAck, &rt, sizeof rt);
  if (!op.dst.empty()) e.putIp(RTA_DST, op.family, op.dst);
  if (!op.gateway.empty()) e.putIp(RTA_GATEWAY, op.family, op.gateway);
  if (!op.src.empty()) e.putIp(RTA_PREFSRC, op.family, op.src);
  if (op.metric) e.b.putU32(RTA_PRIORITY, *op.metric);
  if (table >= 256) e.b.putU32(RTA_TABLE, table);
  if (op.link.set) e.b.putU32(RTA_OIF, static_cast<uint32_t>(oif));
  e.b.end();
  return {};
}

KErr routeList(const OpC& op, Enc& e) {
  rtmsg rt{};
  rt.rtm_family = afOrAny(op.family);
  uint32_t table = op.table.value_or(RT_TABLE_MAIN);
  rt.rtm_table = rtmTable(table);
  e.begin(RTM_GETROUTE, kDump, &rt, sizeof rt);
  // Strict checking: the kernel dumps only this table (we filter again on receipt).
  e.b.putU32(RTA_TABLE, table);
  e.b.end();
  return {};
}

}  // namespace

KErr encodeOp(const ValidOp& v, const EncodeEnv& env, MsgBuilder& b, std::vector<EncodedMsg>* msgs) {
  const OpC& op = v.op();
  Enc e{env, b, msgs, opName(op.type), {}};
  switch (op.type) {
    case OpType::LinkAdd: return linkAdd(op, e);
    case OpType::LinkSet: return linkSet(op, e);
    case OpType::LinkDel: case OpType::LinkGet: return linkDelGet(op, e);
    case OpType::LinkList: return linkList(op, e);
    case OpType::AddrAdd: case OpType::AddrDel: return addrAddDel(op, e);
    case OpType::AddrList: return addrList(op, e);
    case OpType::RouteAdd: case OpType::RouteDel: return routeAddDel(op, e);
    case OpType::RouteList: return routeList(op, e);
  }
  return invalErr(e.on, "unknown op");
}

void encodeLinkLookup(MsgBuilder& b, uint32_t seq, uint32_t pid, const std::string& name) {
  ifinfomsg ifi{};
  b.begin(RTM_GETLINK, kReqAck, seq, pid, &ifi, sizeof ifi);
  b.putStrz(IFLA_IFNAME, name);
  b.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  b.end();
}

}  // namespace ctn
