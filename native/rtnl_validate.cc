// native/rtnl_validate.cc — see rtnl_validate.h. Every limit comes from limits.h.
#include "rtnl_validate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>

#include "limits.h"
#include "rtnl_op.h"

namespace ctn {

namespace {

using namespace limits;

KErr validateLinkRef(const LinkRefC& r, const char* op, const char* what) {
  std::string why;
  if (!r.set) return invalErr(op, std::string(what) + " is required");
  if (r.byName) {
    if (!validIfName(r.name, &why)) return invalErr(op, std::string(what) + " '" + r.name + "': " + why);
  } else if (r.index <= 0) {
    return invalErr(op, std::string(what) + " ifindex " + std::to_string(r.index) + " is not a positive integer");
  }
  return {};
}

KErr validateMac(const std::string& mac, const char* op, const std::string& obj) {
  if (mac.empty()) return {};
  uint8_t m[MAC_LEN];
  if (!parseMac(mac, m)) return invalErr(op, obj + ": MAC '" + mac + "' is not of the form aa:bb:cc:dd:ee:ff");
  bool zero = true;
  for (uint8_t o : m) zero = zero && o == 0;
  if (zero) return invalErr(op, obj + ": MAC '" + mac + "' is all-zero");
  if (m[0] & MAC_MULTICAST_BIT) return invalErr(op, obj + ": MAC '" + mac + "' is a multicast address");
  return {};
}

KErr validateMtu(const std::optional<uint32_t>& mtu, const char* op, const std::string& obj) {
  if (mtu && (*mtu < MTU_MIN || *mtu > MTU_MAX))
    return invalErr(op, obj + ": mtu " + std::to_string(*mtu) + " out of range " + std::to_string(MTU_MIN) + ".." + std::to_string(MTU_MAX));
  return {};
}

KErr validateAlias(const std::optional<std::string>& alias, const char* op, const std::string& what) {
  if (alias && alias->size() > ALIAS_MAX) return invalErr(op, what + " longer than " + std::to_string(ALIAS_MAX) + " bytes");
  return {};
}

// `family` 4|6, or also 0 (any) for dumps.
KErr validateFamily(int family, bool anyOk, const char* op) {
  if (family == 4 || family == 6 || (anyOk && family == 0)) return {};
  return invalErr(op, "family must be 4 or 6");
}

int maxPrefixLen(int family) { return family == 4 ? 32 : 128; }

KErr validatePeer(const PeerC& p, const char* on, const std::string& obj) {
  std::string why;
  std::string peer = obj + " peer '" + p.name + "'";
  if (!validIfName(p.name, &why)) return invalErr(on, obj + ": peer name '" + p.name + "': " + why);
  if (p.index < 0) return invalErr(on, obj + ": peer index must be >= 0");
  if (KErr e = validateMac(p.mac, on, peer)) return e;
  if (KErr e = validateMtu(p.mtu, on, peer)) return e;
  return validateAlias(p.alias, on, obj + ": peer alias");
}

KErr validateLinkAdd(const OpC& op, const char* on) {
  std::string why;
  std::string obj = "link '" + op.name + "'";
  if (!validIfName(op.name, &why)) return invalErr(on, "link name '" + op.name + "': " + why);
  if (op.kind != "veth" && op.kind != "bridge" && op.kind != "dummy")
    return invalErr(on, obj + ": kind '" + op.kind + "' is not veth, bridge or dummy");
  if (op.index < 0) return invalErr(on, obj + ": index must be >= 0");
  if (KErr e = validateMac(op.mac, on, obj)) return e;
  if (KErr e = validateMtu(op.mtu, on, obj)) return e;
  if (op.master.set) {
    if (KErr e = validateLinkRef(op.master, on, "master")) return e;
  }
  if (KErr e = validateAlias(op.alias, on, obj + ": alias")) return e;
  if (op.peer) {
    if (op.kind != "veth") return invalErr(on, obj + ": peer is only for kind veth");
    if (KErr e = validatePeer(*op.peer, on, obj)) return e;
  }
  bool br = op.brForwardDelay || op.brStp || op.brMcastSnooping || op.brVlanFiltering;
  if (br && op.kind != "bridge") return invalErr(on, obj + ": bridge options are only for kind bridge");
  return {};
}

KErr validateLinkSet(const OpC& op, const char* on) {
  std::string why;
  if (KErr e = validateLinkRef(op.link, on, "link")) return e;
  std::string obj = "link " + op.link.describe();
  if (op.master.set && !op.noMaster) {
    if (KErr e = validateLinkRef(op.master, on, "master")) return e;
  }
  if (!op.newName.empty() && !validIfName(op.newName, &why)) return invalErr(on, obj + ": new name '" + op.newName + "': " + why);
  if (KErr e = validateMac(op.mac, on, obj)) return e;
  if (KErr e = validateMtu(op.mtu, on, obj)) return e;
  return validateAlias(op.alias, on, obj + ": alias");
}

// addrAdd / addrDel
KErr validateAddr(const OpC& op, const char* on) {
  if (KErr e = validateLinkRef(op.link, on, "link")) return e;
  if (KErr e = validateFamily(op.family, false, on)) return e;
  uint8_t a[16];
  std::string obj = "address " + op.local + "/" + std::to_string(op.prefixLen) + " on " + op.link.describe();
  if (!parseIp(op.family, op.local, a)) return invalErr(on, obj + ": '" + op.local + "' is not an IPv" + std::to_string(op.family) + " address");
  int maxLen = maxPrefixLen(op.family);
  if (op.prefixLen < 0 || op.prefixLen > maxLen) return invalErr(on, obj + ": prefix length out of range 0.." + std::to_string(maxLen));
  if (!op.broadcast.empty()) {
    if (op.family != 4) return invalErr(on, obj + ": broadcast is IPv4 only");
    if (!parseIp(4, op.broadcast, a)) return invalErr(on, obj + ": broadcast '" + op.broadcast + "' is not an IPv4 address");
  }
  return {};
}

// routeAdd / routeDel
KErr validateRoute(const OpC& op, const char* on) {
  if (KErr e = validateFamily(op.family, false, on)) return e;
  uint8_t a[16];
  std::string fam = "IPv" + std::to_string(op.family);
  std::string obj = "route " + (op.dst.empty() ? std::string("default") : op.dst + "/" + std::to_string(op.dstLen.value_or(-1)));
  int maxLen = maxPrefixLen(op.family);
  auto notIp = [&](const char* what, const std::string& ip) {
    return invalErr(on, obj + ": " + what + " '" + ip + "' is not an " + fam + " address");
  };
  if (!op.dst.empty() && !parseIp(op.family, op.dst, a)) return notIp("dst", op.dst);
  if (op.dstLen && (*op.dstLen < 0 || *op.dstLen > maxLen)) return invalErr(on, obj + ": dstLen out of range 0.." + std::to_string(maxLen));
  if (op.dst.empty() && op.dstLen && *op.dstLen != 0) return invalErr(on, obj + ": dstLen without dst");
  if (!op.gateway.empty() && !parseIp(op.family, op.gateway, a)) return notIp("gateway", op.gateway);
  if (!op.src.empty() && !parseIp(op.family, op.src, a)) return notIp("src", op.src);
  if (op.link.set) {
    if (KErr e = validateLinkRef(op.link, on, "link")) return e;
  }
  if (op.gateway.empty() && !op.link.set && op.type == OpType::RouteAdd) return invalErr(on, obj + ": needs a gateway or a link");
  if (op.table && *op.table == 0) return invalErr(on, obj + ": table 0 is not a table");
  return {};
}

KErr check(const OpC& op) {
  const char* on = opName(op.type);
  if (!op.bad.empty()) return invalErr(on, op.bad);
  switch (op.type) {
    case OpType::LinkAdd: return validateLinkAdd(op, on);
    case OpType::LinkSet: return validateLinkSet(op, on);
    case OpType::LinkDel: case OpType::LinkGet: return validateLinkRef(op.link, on, "link");
    case OpType::LinkList: return {};
    case OpType::AddrAdd: case OpType::AddrDel: return validateAddr(op, on);
    case OpType::AddrList: {
      if (KErr e = validateFamily(op.family, true, on)) return e;
      return op.link.set ? validateLinkRef(op.link, on, "link") : KErr{};
    }
    case OpType::RouteAdd: case OpType::RouteDel: return validateRoute(op, on);
    case OpType::RouteList: return validateFamily(op.family, true, on);
  }
  return invalErr(on, "unknown op");
}

}  // namespace

std::optional<ValidOp> validateOp(const OpC& op, KErr* err) {
  if (KErr e = check(op)) {
    *err = std::move(e);
    return std::nullopt;
  }
  return ValidOp(op);
}

bool validIfName(const std::string& n, std::string* why) {
  if (n.empty()) { *why = "empty name"; return false; }
  if (n.size() > IFNAME_MAX) { *why = "longer than " + std::to_string(IFNAME_MAX) + " bytes"; return false; }
  for (std::string_view r : IFNAME_RESERVED) {
    if (n == r) { *why = "reserved name"; return false; }
  }
  for (unsigned char c : n) {
    if (c == 0 || std::isspace(c) || IFNAME_FORBIDDEN.find(static_cast<char>(c)) != std::string_view::npos) {
      *why = "contains ";
      for (char f : IFNAME_FORBIDDEN) *why += std::string("'") + f + "', ";
      *why += "NUL or whitespace";
      return false;
    }
  }
  return true;
}

bool parseMac(const std::string& s, uint8_t out[6]) {
  if (s.size() != MAC_LEN * 3 - 1) return false;
  for (size_t i = 0; i < MAC_LEN; i++) {
    int v = 0;
    for (size_t j = 0; j < 2; j++) {
      char c = s[i * 3 + j];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    if (i < MAC_LEN - 1 && s[i * 3 + 2] != ':') return false;
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

}  // namespace ctn
