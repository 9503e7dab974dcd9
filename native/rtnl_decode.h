// native/rtnl_decode.h — rtnetlink decoders: RTM_NEWLINK/NEWADDR/NEWROUTE → Link/Addr/Route.
//
// Layer: native/. Pure functions over bytes: every length is checked by nl_msg's parser,
// so a malformed or truncated message is reported (false with *why), never read past.
#pragma once
#include <linux/netlink.h>

#include <string>

#include "rtnl_types.h"

namespace ctn {

bool decodeLink(const nlmsghdr* h, LinkC* out, std::string* why);
bool decodeAddr(const nlmsghdr* h, AddrC* out, std::string* why);
bool decodeRoute(const nlmsghdr* h, RouteC* out, std::string* why);

}  // namespace ctn
