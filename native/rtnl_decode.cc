// native/rtnl_decode.cc — see rtnl_decode.h.
#include "rtnl_decode.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

#include "nl_msg.h"

namespace ctn {

namespace {

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

// The fixed header of `h` (struct T) and where its attributes start; nullptr with
// *why = `tooShort` when the message cannot hold the header.
template <typename T>
const uint8_t* fixedHeader(const nlmsghdr* h, T* hdr, size_t* alen, const char* tooShort, std::string* why) {
  const uint8_t* ap = msgPayload(h, sizeof(T), alen);
  if (!ap) {
    *why = tooShort;
    return nullptr;
  }
  std::memcpy(hdr, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN, sizeof(T));
  return ap;
}

// Only IPv4 and IPv6 are decoded; `what` names the object in *why.
bool ipFamily(uint8_t af, const char* what, std::string* why) {
  if (af == AF_INET || af == AF_INET6) return true;
  *why = std::string(what) + " family " + std::to_string(af);
  return false;
}

}  // namespace

bool decodeLink(const nlmsghdr* h, LinkC* out, std::string* why) {
  size_t alen;
  ifinfomsg ifi;
  const uint8_t* ap = fixedHeader(h, &ifi, &alen, "RTM_NEWLINK shorter than struct ifinfomsg", why);
  if (!ap) return false;
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
  ifaddrmsg ifa;
  const uint8_t* ap = fixedHeader(h, &ifa, &alen, "RTM_NEWADDR shorter than struct ifaddrmsg", why);
  if (!ap || !ipFamily(ifa.ifa_family, "address", why)) return false;
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
  rtmsg rt;
  const uint8_t* ap = fixedHeader(h, &rt, &alen, "RTM_NEWROUTE shorter than struct rtmsg", why);
  if (!ap || !ipFamily(rt.rtm_family, "route", why)) return false;
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
