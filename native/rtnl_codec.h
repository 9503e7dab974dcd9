// native/rtnl_codec.h — rtnetlink encoders (plan ops → request bytes) and decoders
// (RTM_NEWLINK/NEWADDR/NEWROUTE → Link/Addr/Route).
//
// Layer: native/. Pure functions over bytes: no sockets, no threads, no policy. Names
// are resolved by the caller through EncodeEnv (in the op's netns); input is validated
// here before any byte is built and refused with EINVAL naming the object.
#pragma once
#include <linux/netlink.h>

#include <functional>
#include <string>
#include <vector>

#include "kerr.h"
#include "nl_msg.h"
#include "rtnl_types.h"

namespace ctn {

struct EncodeEnv {
  // ifindex of a link name in the op's netns; 0 with *err set when it cannot.
  std::function<int(const std::string& name, KErr* err)> linkIndex;
  // fd for IFLA_NET_NS_FD; -1 with *err set when it cannot.
  std::function<int(const NsRefC& ns, KErr* err)> nsFd;
  std::function<uint32_t()> nextSeq;
  uint32_t pid = 0;
};

// One request message of an op inside a batch buffer.
struct EncodedMsg {
  uint32_t seq = 0;
  const char* op = "";  // "RTM_NEWLINK"…
};

const char* opName(OpType t);
bool isDumpOp(const OpC& op);  // linkList / addrList / routeList

// Checks everything that can be checked without the kernel (names, MACs, IPs, ranges).
KErr validateOp(const OpC& op);

// The op's own requests, appended to `b` (NLM_F_ACK on every non-dump request). For a
// linkAdd this is only the RTM_NEWLINK create; see followUps().
KErr encodeOp(const OpC& op, const EncodeEnv& env, MsgBuilder& b, std::vector<EncodedMsg>* msgs);

// Kernel quirks handled with follow-up RTM_NEWLINK "set" requests after a successful
// create (checked on 6.18: IFLA_AF_SPEC on create is refused with EAFNOSUPPORT and
// IFLA_IFALIAS on create is silently ignored). `peerSide` = requests for the veth peer
// (to be sent in the peer's netns when peer.ns is given). A linkAdd with
// noIpv6LinkLocal and up is created down, gets addrgenmode none, then goes up, so the
// kernel never generates a link-local address.
std::vector<OpC> followUps(const OpC& add, bool peerSide);
// The follow-ups that go on the create's own socket: its own, then the peer's when the
// peer is created in the same netns (no peer.ns). A peer elsewhere: followUps(add, true).
std::vector<OpC> followUpsHere(const OpC& add);

// Names that `op` needs resolved to ifindexes (master, addr/route dev…).
std::vector<std::string> namesNeeded(const OpC& op);
// Names `op` creates or renames (a later op's reference must wait for its ack).
std::vector<std::string> namesProduced(const OpC& op);

// ---- decoding ----
bool decodeLink(const nlmsghdr* h, LinkC* out, std::string* why);
bool decodeAddr(const nlmsghdr* h, AddrC* out, std::string* why);
bool decodeRoute(const nlmsghdr* h, RouteC* out, std::string* why);

// Validation helpers (exported for tests through encode()).
bool validIfName(const std::string& n, std::string* why);
bool parseMac(const std::string& s, uint8_t out[6]);
// family 4|6; returns byte length (4/16) or 0 when `s` is not an IP literal of that family.
int parseIp(int family, const std::string& s, uint8_t out[16]);

}  // namespace ctn
