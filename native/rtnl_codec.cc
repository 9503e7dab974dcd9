// native/rtnl_codec.cc — see rtnl_codec.h.
//
// Attribute order follows what iproute2 6.1 sends for the equivalent `ip` command (the
// golden fixtures in test/fixtures/native/ were captured from it), so our requests are
// byte-identical to iproute2's except for seq/pid and, where iproute2 resolves a name
// to an ifindex first, the ifindex.
#include "rtnl_codec.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cstdio>
#include <cstring>

#ifndef RTEXT_FILTER_SKIP_STATS
#define RTEXT_FILTER_SKIP_STATS (1 << 3)
#endif

namespace ctn {

namespace {

constexpr uint16_t kReqAck = NLM_F_REQUEST | NLM_F_ACK;
constexpr uint16_t kCreate = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

KErr inval(const char* op, const std::string& msg) { return mkErr(EINVAL, op, msg); }

int afOf(int family) { return family == 6 ? AF_INET6 : AF_INET; }

// The ifindex a LinkRef stands for: numbers as they are, names through the env.
int refIndex(const LinkRefC& r, const EncodeEnv& env, const char* op, KErr* err) {
  if (!r.byName) return r.index;
  if (!env.linkIndex) {
    *err = inval(op, "link " + r.describe() + " must be given as an ifindex here (no netns to resolve names in)");
    return 0;
  }
  return env.linkIndex(r.name, err);
}

int nsFdOf(const NsRefC& ns, const EncodeEnv& env, const char* op, KErr* err) {
  if (!env.nsFd) {
    *err = inval(op, "netns reference cannot be resolved here");
    return -1;
  }
  return env.nsFd(ns, err);
}

void putAfSpecAddrGenNone(MsgBuilder& b) {
  // IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE = IN6_ADDR_GEN_MODE_NONE } }
  size_t spec = b.nestStart(IFLA_AF_SPEC);
  size_t in6 = b.nestStart(AF_INET6);
  b.putU8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
  b.nestEnd(in6);
  b.nestEnd(spec);
}

std::string macText(const uint8_t* p, size_t n) {
  std::string s;
  char tmp[4];
  for (size_t i = 0; i < n; i++) {
    std::snprintf(tmp, sizeof tmp, i ? ":%02x" : "%02x", p[i]);
    s += tmp;
  }
  return s;
}

bool ipText(int af, const Attr& a, std::string* out) {
  size_t want = af == AF_INET6 ? 16 : 4;
  if (!a.present() || a.len < want) return false;
  char buf[INET6_ADDRSTRLEN];
  uint8_t tmp[16];
  std::memcpy(tmp, a.data, want);
  if (!inet_ntop(af, tmp, buf, sizeof buf)) return false;
  *out = buf;
  return true;
}

KErr validateLinkRef(const LinkRefC& r, const char* op, const char* what) {
  std::string why;
  if (!r.set) return inval(op, std::string(what) + " is required");
  if (r.byName) {
    if (!validIfName(r.name, &why)) return inval(op, std::string(what) + " '" + r.name + "': " + why);
  } else if (r.index <= 0) {
    return inval(op, std::string(what) + " ifindex " + std::to_string(r.index) + " is not a positive integer");
  }
  return {};
}

KErr validateMac(const std::string& mac, const char* op, const std::string& obj) {
  uint8_t m[6];
  if (!mac.empty() && !parseMac(mac, m))
    return inval(op, obj + ": MAC '" + mac + "' is not of the form aa:bb:cc:dd:ee:ff");
  return {};
}

KErr validateMtu(const std::optional<uint32_t>& mtu, const char* op, const std::string& obj) {
  if (mtu && (*mtu < 68 || *mtu > 65535)) return inval(op, obj + ": mtu " + std::to_string(*mtu) + " out of range 68..65535");
  return {};
}

}  // namespace

const char* opName(OpType t) {
  switch (t) {
    case OpType::LinkAdd: case OpType::LinkSet: return "RTM_NEWLINK";
    case OpType::LinkDel: return "RTM_DELLINK";
    case OpType::LinkGet: case OpType::LinkList: return "RTM_GETLINK";
    case OpType::AddrAdd: return "RTM_NEWADDR";
    case OpType::AddrDel: return "RTM_DELADDR";
    case OpType::AddrList: return "RTM_GETADDR";
    case OpType::RouteAdd: return "RTM_NEWROUTE";
    case OpType::RouteDel: return "RTM_DELROUTE";
    case OpType::RouteList: return "RTM_GETROUTE";
  }
  return "RTM_?";
}

bool isDumpOp(const OpC& op) {
  return op.type == OpType::LinkList || op.type == OpType::AddrList || op.type == OpType::RouteList;
}

bool validIfName(const std::string& n, std::string* why) {
  // dev_valid_name(): 1..IFNAMSIZ-1 bytes, not "." or "..", no '/', ':' or whitespace.
  if (n.empty()) { *why = "empty name"; return false; }
  if (n.size() >= IFNAMSIZ) { *why = "longer than 15 bytes"; return false; }
  if (n == "." || n == "..") { *why = "reserved name"; return false; }
  for (unsigned char c : n) {
    if (c == '/' || c == ':' || std::isspace(c) || c == 0) {
      *why = "contains '/', ':', NUL or whitespace";
      return false;
    }
  }
  return true;
}

bool parseMac(const std::string& s, uint8_t out[6]) {
  if (s.size() != 17) return false;
  for (int i = 0; i < 6; i++) {
    int v = 0;
    for (int j = 0; j < 2; j++) {
      char c = s[i * 3 + j];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    if (i < 5 && s[i * 3 + 2] != ':') return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

int parseIp(int family, const std::string& s, uint8_t out[16]) {
  if (s.find('\0') != std::string::npos) return 0;
  if (family == 4) return inet_pton(AF_INET, s.c_str(), out) == 1 ? 4 : 0;
  if (family == 6) return inet_pton(AF_INET6, s.c_str(), out) == 1 ? 16 : 0;
  return 0;
}

std::vector<std::string> namesNeeded(const OpC& op) {
  std::vector<std::string> v;
  switch (op.type) {
    case OpType::LinkAdd:
      if (op.master.set && op.master.byName) v.push_back(op.master.name);
      break;
    case OpType::LinkSet:
      if (op.master.set && op.master.byName) v.push_back(op.master.name);
      if (op.link.byName && !op.newName.empty()) v.push_back(op.link.name);
      break;
    case OpType::AddrAdd: case OpType::AddrDel: case OpType::AddrList:
    case OpType::RouteAdd: case OpType::RouteDel:
      if (op.link.set && op.link.byName) v.push_back(op.link.name);
      break;
    default: break;
  }
  return v;
}

std::vector<std::string> namesProduced(const OpC& op) {
  std::vector<std::string> v;
  if (op.type == OpType::LinkAdd) {
    v.push_back(op.name);
    if (op.peer && !op.peer->ns) v.push_back(op.peer->name);
  } else if (op.type == OpType::LinkSet && !op.newName.empty()) {
    v.push_back(op.newName);
  }
  return v;
}

KErr validateOp(const OpC& op) {
  const char* on = opName(op.type);
  if (!op.bad.empty()) return inval(on, op.bad);
  std::string why;
  switch (op.type) {
    case OpType::LinkAdd: {
      std::string obj = "link '" + op.name + "'";
      if (!validIfName(op.name, &why)) return inval(on, "link name '" + op.name + "': " + why);
      if (op.kind != "veth" && op.kind != "bridge" && op.kind != "dummy")
        return inval(on, obj + ": kind '" + op.kind + "' is not veth, bridge or dummy");
      if (op.index < 0) return inval(on, obj + ": index must be >= 0");
      if (KErr e = validateMac(op.mac, on, obj)) return e;
      if (KErr e = validateMtu(op.mtu, on, obj)) return e;
      if (op.master.set) {
        if (KErr e = validateLinkRef(op.master, on, "master")) return e;
      }
      if (op.alias && op.alias->size() >= 256) return inval(on, obj + ": alias longer than 255 bytes");
      if (op.peer) {
        if (op.kind != "veth") return inval(on, obj + ": peer is only for kind veth");
        const PeerC& p = *op.peer;
        if (!validIfName(p.name, &why)) return inval(on, obj + ": peer name '" + p.name + "': " + why);
        if (p.index < 0) return inval(on, obj + ": peer index must be >= 0");
        if (KErr e = validateMac(p.mac, on, obj + " peer '" + p.name + "'")) return e;
        if (KErr e = validateMtu(p.mtu, on, obj + " peer '" + p.name + "'")) return e;
        if (p.alias && p.alias->size() >= 256) return inval(on, obj + ": peer alias longer than 255 bytes");
      }
      bool br = op.brForwardDelay || op.brStp || op.brMcastSnooping || op.brVlanFiltering;
      if (br && op.kind != "bridge") return inval(on, obj + ": bridge options are only for kind bridge");
      return {};
    }
    case OpType::LinkSet: {
      if (KErr e = validateLinkRef(op.link, on, "link")) return e;
      std::string obj = "link " + op.link.describe();
      if (op.master.set && !op.noMaster) {
        if (KErr e = validateLinkRef(op.master, on, "master")) return e;
      }
      if (!op.newName.empty() && !validIfName(op.newName, &why)) return inval(on, obj + ": new name '" + op.newName + "': " + why);
      if (KErr e = validateMac(op.mac, on, obj)) return e;
      if (KErr e = validateMtu(op.mtu, on, obj)) return e;
      if (op.alias && op.alias->size() >= 256) return inval(on, obj + ": alias longer than 255 bytes");
      return {};
    }
    case OpType::LinkDel: case OpType::LinkGet:
      return validateLinkRef(op.link, on, "link");
    case OpType::LinkList:
      return {};
    case OpType::AddrAdd: case OpType::AddrDel: {
      if (KErr e = validateLinkRef(op.link, on, "link")) return e;
      if (op.family != 4 && op.family != 6) return inval(on, "family must be 4 or 6");
      uint8_t a[16];
      std::string obj = "address " + op.local + "/" + std::to_string(op.prefixLen) + " on " + op.link.describe();
      if (!parseIp(op.family, op.local, a)) return inval(on, obj + ": '" + op.local + "' is not an IPv" + std::to_string(op.family) + " address");
      int maxLen = op.family == 4 ? 32 : 128;
      if (op.prefixLen < 0 || op.prefixLen > maxLen) return inval(on, obj + ": prefix length out of range 0.." + std::to_string(maxLen));
      if (!op.broadcast.empty()) {
        if (op.family != 4) return inval(on, obj + ": broadcast is IPv4 only");
        if (!parseIp(4, op.broadcast, a)) return inval(on, obj + ": broadcast '" + op.broadcast + "' is not an IPv4 address");
      }
      return {};
    }
    case OpType::AddrList:
      if (op.family != 0 && op.family != 4 && op.family != 6) return inval(on, "family must be 4 or 6");
      if (op.link.set) return validateLinkRef(op.link, on, "link");
      return {};
    case OpType::RouteAdd: case OpType::RouteDel: {
      if (op.family != 4 && op.family != 6) return inval(on, "family must be 4 or 6");
      uint8_t a[16];
      std::string fam = "IPv" + std::to_string(op.family);
      std::string obj = "route " + (op.dst.empty() ? std::string("default") : op.dst + "/" + std::to_string(op.dstLen.value_or(-1)));
      int maxLen = op.family == 4 ? 32 : 128;
      if (!op.dst.empty() && !parseIp(op.family, op.dst, a)) return inval(on, obj + ": dst '" + op.dst + "' is not an " + fam + " address");
      if (op.dstLen && (*op.dstLen < 0 || *op.dstLen > maxLen)) return inval(on, obj + ": dstLen out of range 0.." + std::to_string(maxLen));
      if (op.dst.empty() && op.dstLen && *op.dstLen != 0) return inval(on, obj + ": dstLen without dst");
      if (!op.gateway.empty() && !parseIp(op.family, op.gateway, a)) return inval(on, obj + ": gateway '" + op.gateway + "' is not an " + fam + " address");
      if (!op.src.empty() && !parseIp(op.family, op.src, a)) return inval(on, obj + ": src '" + op.src + "' is not an " + fam + " address");
      if (op.link.set) {
        if (KErr e = validateLinkRef(op.link, on, "link")) return e;
      }
      if (op.gateway.empty() && !op.link.set && op.type == OpType::RouteAdd) return inval(on, obj + ": needs a gateway or a link");
      if (op.table && *op.table == 0) return inval(on, obj + ": table 0 is not a table");
      return {};
    }
    case OpType::RouteList:
      if (op.family != 0 && op.family != 4 && op.family != 6) return inval(on, "family must be 4 or 6");
      return {};
  }
  return inval(on, "unknown op");
}

KErr encodeOp(const OpC& op, const EncodeEnv& env, MsgBuilder& b, std::vector<EncodedMsg>* msgs) {
  if (KErr e = validateOp(op)) return e;
  const char* on = opName(op.type);
  KErr err;
  auto begin = [&](uint16_t type, uint16_t flags, const void* hdr, size_t hlen) {
    uint32_t seq = env.nextSeq ? env.nextSeq() : 0;
    b.begin(type, flags, seq, env.pid, hdr, hlen);
    if (msgs) msgs->push_back(EncodedMsg{seq, on});
  };

  switch (op.type) {
    case OpType::LinkAdd: {
      int master = 0;
      if (op.master.set) {
        master = refIndex(op.master, env, on, &err);
        if (err) return err;
      }
      int peerFd = -1;
      if (op.peer && op.peer->ns) {
        peerFd = nsFdOf(*op.peer->ns, env, on, &err);
        if (err) return err;
      }
      ifinfomsg ifi{};
      ifi.ifi_index = op.index;
      if (op.up.value_or(false) && !op.noIpv6LinkLocal) {
        ifi.ifi_flags = IFF_UP;
        ifi.ifi_change = IFF_UP;
      }
      begin(RTM_NEWLINK, kCreate, &ifi, sizeof ifi);
      uint8_t mac[6];
      if (!op.mac.empty() && parseMac(op.mac, mac)) b.put(IFLA_ADDRESS, mac, 6);
      if (op.mtu) b.putU32(IFLA_MTU, *op.mtu);
      if (op.txqlen) b.putU32(IFLA_TXQLEN, *op.txqlen);
      if (op.master.set) b.putU32(IFLA_MASTER, static_cast<uint32_t>(master));
      b.putStrz(IFLA_IFNAME, op.name);
      size_t li = b.nestStart(IFLA_LINKINFO);
      b.putStr(IFLA_INFO_KIND, op.kind);  // no NUL, as iproute2 sends it (NLA_STRING)
      if (op.kind == "bridge" && (op.brForwardDelay || op.brStp || op.brMcastSnooping || op.brVlanFiltering)) {
        size_t data = b.nestStart(IFLA_INFO_DATA);
        if (op.brForwardDelay) b.putU32(IFLA_BR_FORWARD_DELAY, *op.brForwardDelay);
        if (op.brStp) b.putU32(IFLA_BR_STP_STATE, *op.brStp ? 1 : 0);
        if (op.brMcastSnooping) b.putU8(IFLA_BR_MCAST_SNOOPING, *op.brMcastSnooping ? 1 : 0);
        if (op.brVlanFiltering) b.putU8(IFLA_BR_VLAN_FILTERING, *op.brVlanFiltering ? 1 : 0);
        b.nestEnd(data);
      } else if (op.kind == "veth" && op.peer) {
        const PeerC& p = *op.peer;
        size_t data = b.nestStart(IFLA_INFO_DATA);
        size_t peer = b.nestStart(VETH_INFO_PEER);
        // VETH_INFO_PEER carries a whole struct ifinfomsg, then the peer's attributes.
        // Kernel quirk (seen on 6.18): the peer's ifi_index is honoured only when the
        // main link asks for an ifindex too (op.index); otherwise it is silently ignored.
        ifinfomsg pi{};
        pi.ifi_index = p.index;
        b.raw(&pi, sizeof pi);
        if (!p.mac.empty() && parseMac(p.mac, mac)) b.put(IFLA_ADDRESS, mac, 6);
        if (p.mtu) b.putU32(IFLA_MTU, *p.mtu);
        // IFLA_NET_NS_FD inside the peer: it is born in that netns (no 12 ms move).
        if (p.ns) b.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(peerFd));
        b.putStrz(IFLA_IFNAME, p.name);
        b.nestEnd(peer);
        b.nestEnd(data);
      }
      b.nestEnd(li);
      b.end();
      return {};
    }
    case OpType::LinkSet: {
      int master = 0;
      if (op.master.set && !op.noMaster) {
        master = refIndex(op.master, env, on, &err);
        if (err) return err;
      }
      int nsFd = -1;
      if (op.ns) {
        nsFd = nsFdOf(*op.ns, env, on, &err);
        if (err) return err;
      }
      ifinfomsg ifi{};
      bool lookupByName = op.link.byName && op.newName.empty();
      if (!lookupByName) {
        ifi.ifi_index = refIndex(op.link, env, on, &err);
        if (err) return err;
      }
      if (op.up) {
        ifi.ifi_flags = *op.up ? IFF_UP : 0;
        ifi.ifi_change = IFF_UP;
      }
      begin(RTM_NEWLINK, kReqAck, &ifi, sizeof ifi);
      if (op.ns) b.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(nsFd));
      uint8_t mac[6];
      if (!op.mac.empty() && parseMac(op.mac, mac)) b.put(IFLA_ADDRESS, mac, 6);
      if (op.mtu) b.putU32(IFLA_MTU, *op.mtu);
      if (op.alias) b.putStr(IFLA_IFALIAS, *op.alias);
      if (op.master.set) b.putU32(IFLA_MASTER, static_cast<uint32_t>(master));
      // With ifi_index 0 the kernel looks the link up by IFLA_IFNAME; with an index,
      // IFLA_IFNAME renames it.
      if (lookupByName) b.putStrz(IFLA_IFNAME, op.link.name);
      else if (!op.newName.empty()) b.putStrz(IFLA_IFNAME, op.newName);
      if (op.noIpv6LinkLocal) putAfSpecAddrGenNone(b);
      if (op.hairpin) {
        // `ip link set X type bridge_slave hairpin on`: RTM_NEWLINK on an existing port whose
        // IFLA_LINKINFO carries the master's slave options; the bridge applies them
        // (br_port_slave_changelink) — the link must already be a bridge port.
        size_t li = b.nestStart(IFLA_LINKINFO);
        b.putStr(IFLA_INFO_SLAVE_KIND, "bridge");
        size_t sd = b.nestStart(IFLA_INFO_SLAVE_DATA);
        b.putU8(IFLA_BRPORT_MODE, *op.hairpin ? 1 : 0);
        b.nestEnd(sd);
        b.nestEnd(li);
      }
      b.end();
      return {};
    }
    case OpType::LinkDel: case OpType::LinkGet: {
      ifinfomsg ifi{};
      if (!op.link.byName) ifi.ifi_index = op.link.index;
      bool get = op.type == OpType::LinkGet;
      begin(get ? RTM_GETLINK : RTM_DELLINK, kReqAck, &ifi, sizeof ifi);
      if (op.link.byName) b.putStrz(IFLA_IFNAME, op.link.name);
      if (get) b.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
      b.end();
      return {};
    }
    case OpType::LinkList: {
      ifinfomsg ifi{};
      begin(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, &ifi, sizeof ifi);
      b.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
      b.end();
      return {};
    }
    case OpType::AddrAdd: case OpType::AddrDel: {
      int idx = refIndex(op.link, env, on, &err);
      if (err) return err;
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
      begin(add ? RTM_NEWADDR : RTM_DELADDR, add ? kCreate : kReqAck, &ifa, sizeof ifa);
      b.put(IFA_LOCAL, a, alen);
      if (!op.broadcast.empty()) {
        uint8_t bc[16];
        parseIp(4, op.broadcast, bc);
        b.put(IFA_BROADCAST, bc, 4);
      }
      b.put(IFA_ADDRESS, a, alen);
      b.end();
      return {};
    }
    case OpType::AddrList: {
      ifaddrmsg ifa{};
      ifa.ifa_family = op.family ? static_cast<uint8_t>(afOf(op.family)) : static_cast<uint8_t>(AF_UNSPEC);
      if (op.link.set) {
        // With NETLINK_GET_STRICT_CHK the kernel filters the dump by ifa_index.
        int idx = refIndex(op.link, env, on, &err);
        if (err) return err;
        ifa.ifa_index = static_cast<uint32_t>(idx);
      }
      begin(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &ifa, sizeof ifa);
      b.end();
      return {};
    }
    case OpType::RouteAdd: case OpType::RouteDel: {
      bool add = op.type == OpType::RouteAdd;
      int oif = 0;
      if (op.link.set) {
        oif = refIndex(op.link, env, on, &err);
        if (err) return err;
      }
      uint32_t table = op.table.value_or(RT_TABLE_MAIN);
      rtmsg rt{};
      rt.rtm_family = static_cast<uint8_t>(afOf(op.family));
      rt.rtm_dst_len = op.dst.empty() ? 0 : static_cast<uint8_t>(op.dstLen.value_or(op.family == 4 ? 32 : 128));
      rt.rtm_table = table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
      if (add) {
        rt.rtm_protocol = RTPROT_BOOT;
        rt.rtm_scope = op.gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
        rt.rtm_type = RTN_UNICAST;
      } else {
        rt.rtm_scope = RT_SCOPE_NOWHERE;  // "any scope" for a delete, as iproute2 sends
      }
      if (op.onlink) rt.rtm_flags = RTNH_F_ONLINK;
      begin(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? kCreate : kReqAck, &rt, sizeof rt);
      uint8_t a[16];
      int alen;
      if (!op.dst.empty()) {
        alen = parseIp(op.family, op.dst, a);
        b.put(RTA_DST, a, alen);
      }
      if (!op.gateway.empty()) {
        alen = parseIp(op.family, op.gateway, a);
        b.put(RTA_GATEWAY, a, alen);
      }
      if (!op.src.empty()) {
        alen = parseIp(op.family, op.src, a);
        b.put(RTA_PREFSRC, a, alen);
      }
      if (op.metric) b.putU32(RTA_PRIORITY, *op.metric);
      if (table >= 256) b.putU32(RTA_TABLE, table);
      if (op.link.set) b.putU32(RTA_OIF, static_cast<uint32_t>(oif));
      b.end();
      return {};
    }
    case OpType::RouteList: {
      rtmsg rt{};
      rt.rtm_family = op.family ? static_cast<uint8_t>(afOf(op.family)) : static_cast<uint8_t>(AF_UNSPEC);
      uint32_t table = op.table.value_or(RT_TABLE_MAIN);
      rt.rtm_table = table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
      begin(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, &rt, sizeof rt);
      // Strict checking: the kernel dumps only this table (we filter again on receipt).
      b.putU32(RTA_TABLE, table);
      b.end();
      return {};
    }
  }
  return inval(on, "unknown op");
}

std::vector<OpC> followUps(const OpC& add, bool peerSide) {
  std::vector<OpC> out;
  if (add.type != OpType::LinkAdd) return out;
  auto setByName = [](const std::string& name) {
    OpC s;
    s.type = OpType::LinkSet;
    s.link.set = true;
    s.link.byName = true;
    s.link.name = name;
    return s;
  };
  if (peerSide) {
    if (!add.peer) return out;
    if (add.peer->alias || add.peer->noIpv6LinkLocal) {
      OpC s = setByName(add.peer->name);
      s.alias = add.peer->alias;
      s.noIpv6LinkLocal = add.peer->noIpv6LinkLocal;
      out.push_back(std::move(s));
    }
    return out;
  }
  if (add.alias || add.noIpv6LinkLocal || add.hairpin) {
    OpC s = setByName(add.name);
    s.alias = add.alias;
    s.noIpv6LinkLocal = add.noIpv6LinkLocal;
    s.hairpin = add.hairpin;  // bridge port option: the link is enslaved by the create
    out.push_back(std::move(s));
  }
  if (add.noIpv6LinkLocal && add.up.value_or(false)) {
    OpC s = setByName(add.name);
    s.up = true;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<OpC> followUpsHere(const OpC& add) {
  std::vector<OpC> out = followUps(add, false);
  if (add.peer && !add.peer->ns) {
    std::vector<OpC> peer = followUps(add, true);
    out.insert(out.end(), peer.begin(), peer.end());
  }
  return out;
}

// ---- decoders ----

bool decodeLink(const nlmsghdr* h, LinkC* out, std::string* why) {
  size_t alen;
  const uint8_t* ap = msgPayload(h, sizeof(ifinfomsg), &alen);
  if (!ap) { *why = "RTM_NEWLINK shorter than struct ifinfomsg"; return false; }
  ifinfomsg ifi;
  std::memcpy(&ifi, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN, sizeof ifi);
  Attr tb[IFLA_MAX + 1];
  if (!parseAttrs(ap, alen, tb, IFLA_MAX, why)) return false;
  LinkC l;
  l.index = ifi.ifi_index;
  l.flags = ifi.ifi_flags;
  l.up = (ifi.ifi_flags & IFF_UP) != 0;
  l.name = tb[IFLA_IFNAME].str();
  uint32_t u;
  if (tb[IFLA_MTU].u32(&u)) l.mtu = u;
  if (tb[IFLA_ADDRESS].present() && tb[IFLA_ADDRESS].len > 0) l.mac = macText(tb[IFLA_ADDRESS].data, tb[IFLA_ADDRESS].len);
  uint8_t os;
  static const char* const kOper[] = {"UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"};
  if (tb[IFLA_OPERSTATE].u8(&os)) l.operState = os < 7 ? kOper[os] : "UNKNOWN";
  if (tb[IFLA_MASTER].u32(&u)) l.master = u;
  if (tb[IFLA_IFALIAS].present()) l.alias = tb[IFLA_IFALIAS].str();
  int32_t s;
  if (tb[IFLA_LINK].s32(&s)) l.link = s;
  if (tb[IFLA_LINK_NETNSID].s32(&s)) l.linkNetnsId = s;
  if (tb[IFLA_TXQLEN].u32(&u)) l.txqlen = u;
  if (tb[IFLA_LINKINFO].present()) {
    Attr li[IFLA_INFO_MAX + 1];
    if (!parseAttrs(tb[IFLA_LINKINFO].data, tb[IFLA_LINKINFO].len, li, IFLA_INFO_MAX, why)) return false;
    if (li[IFLA_INFO_KIND].present()) l.kind = li[IFLA_INFO_KIND].str();
  }
  *out = std::move(l);
  return true;
}

bool decodeAddr(const nlmsghdr* h, AddrC* out, std::string* why) {
  size_t alen;
  const uint8_t* ap = msgPayload(h, sizeof(ifaddrmsg), &alen);
  if (!ap) { *why = "RTM_NEWADDR shorter than struct ifaddrmsg"; return false; }
  ifaddrmsg ifa;
  std::memcpy(&ifa, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN, sizeof ifa);
  if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) { *why = "address family " + std::to_string(ifa.ifa_family); return false; }
  Attr tb[IFA_MAX + 1];
  if (!parseAttrs(ap, alen, tb, IFA_MAX, why)) return false;
  AddrC a;
  a.index = static_cast<int>(ifa.ifa_index);
  a.family = ifa.ifa_family == AF_INET6 ? 6 : 4;
  a.prefixLen = ifa.ifa_prefixlen;
  a.scope = ifa.ifa_scope;
  a.flags = ifa.ifa_flags;
  uint32_t u;
  if (tb[IFA_FLAGS].u32(&u)) a.flags = u;
  if (!ipText(ifa.ifa_family, tb[IFA_LOCAL], &a.local) && !ipText(ifa.ifa_family, tb[IFA_ADDRESS], &a.local)) {
    *why = "RTM_NEWADDR without a usable IFA_LOCAL/IFA_ADDRESS";
    return false;
  }
  if (tb[IFA_LABEL].present()) a.label = tb[IFA_LABEL].str();
  std::string bc;
  if (ipText(ifa.ifa_family, tb[IFA_BROADCAST], &bc)) a.broadcast = bc;
  *out = std::move(a);
  return true;
}

bool decodeRoute(const nlmsghdr* h, RouteC* out, std::string* why) {
  size_t alen;
  const uint8_t* ap = msgPayload(h, sizeof(rtmsg), &alen);
  if (!ap) { *why = "RTM_NEWROUTE shorter than struct rtmsg"; return false; }
  rtmsg rt;
  std::memcpy(&rt, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN, sizeof rt);
  if (rt.rtm_family != AF_INET && rt.rtm_family != AF_INET6) { *why = "route family " + std::to_string(rt.rtm_family); return false; }
  Attr tb[RTA_MAX + 1];
  if (!parseAttrs(ap, alen, tb, RTA_MAX, why)) return false;
  RouteC r;
  r.family = rt.rtm_family == AF_INET6 ? 6 : 4;
  r.dstLen = rt.rtm_dst_len;
  r.protocol = rt.rtm_protocol;
  r.scope = rt.rtm_scope;
  r.type = rt.rtm_type;
  r.flags = rt.rtm_flags;
  r.table = rt.rtm_table;
  uint32_t u;
  if (tb[RTA_TABLE].u32(&u)) r.table = u;
  std::string s;
  if (ipText(rt.rtm_family, tb[RTA_DST], &s)) r.dst = s;
  if (ipText(rt.rtm_family, tb[RTA_GATEWAY], &s)) r.gateway = s;
  if (ipText(rt.rtm_family, tb[RTA_PREFSRC], &s)) r.prefsrc = s;
  if (tb[RTA_OIF].u32(&u)) r.oif = u;
  if (tb[RTA_PRIORITY].u32(&u)) r.metric = u;
  *out = std::move(r);
  return true;
}

}  // namespace ctn
