// native/rtnl_followups.h — the follow-up RTM_NEWLINK "set" requests a created link needs.
//
// Layer: native/. Pure functions over rtnl_types.h. Kernel quirks (docs/ARCHITECTURE.md,
// Kernel facts; checked on 6.18): IFLA_AF_SPEC on create is refused with EAFNOSUPPORT and
// IFLA_IFALIAS on create is silently ignored, so both are sent in a "set" after the
// create's ack — never in the same sendmsg: if the create failed with EEXIST, a follow-up
// by name would modify someone else's link. A linkAdd with noIpv6LinkLocal and up is created down, gets
// addrgenmode none, then goes up, so the kernel never generates a link-local address.
// Follow-ups are ops of their own: each goes through validateOp() before it is encoded.
#pragma once
#include <vector>

#include "rtnl_types.h"

namespace ctn {

// The follow-ups of a linkAdd (none for any other op). `peerSide` = requests for the
// veth peer (to be sent in the peer's netns when peer.ns is given).
std::vector<OpC> followUps(const OpC& add, bool peerSide);
// The follow-ups that go on the create's own socket: its own, then the peer's when the
// peer is created in the same netns (no peer.ns). A peer elsewhere: followUps(add, true).
std::vector<OpC> followUpsHere(const OpC& add);

}  // namespace ctn
