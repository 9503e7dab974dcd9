// native/rtnl_encode.h — rtnetlink encoders: a validated plan op → request bytes.
//
// Layer: native/. Pure functions over bytes: no sockets, no threads, no policy. Names
// are resolved by the caller through EncodeEnv (in the op's netns). Attribute order
// follows what iproute2 6.1 sends for the equivalent `ip` command (the golden fixtures in
// test/fixtures/native/ were captured from it).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kerr.h"
#include "nl_msg.h"
#include "rtnl_types.h"
#include "rtnl_validate.h"

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

// The op's own requests, appended to `b` (NLM_F_ACK on every non-dump request). For a
// linkAdd this is only the RTM_NEWLINK create; see rtnl_followups.h. Fails only when a
// name or netns cannot be resolved.
KErr encodeOp(const ValidOp& op, const EncodeEnv& env, MsgBuilder& b, std::vector<EncodedMsg>* msgs);

// RTM_GETLINK for one link by name, without stats (the batcher's name lookups).
void encodeLinkLookup(MsgBuilder& b, uint32_t seq, uint32_t pid, const std::string& name);

}  // namespace ctn
