// native/rtnl_op.h — facts about one rtnetlink op of a plan, before any byte is built:
// its request's name, whether it is a dump, and the link names it needs and makes.
//
// Layer: native/. Pure functions over rtnl_types.h; used by validation, the encoder and
// the plan's batcher (which orders name lookups by them).
#pragma once
#include <string>
#include <vector>

#include "rtnl_types.h"

namespace ctn {

const char* opName(OpType t);  // "RTM_NEWLINK"…
bool isDumpOp(const OpC& op);  // linkList / addrList / routeList

// Names that `op` needs resolved to ifindexes (master, addr/route dev…).
std::vector<std::string> namesNeeded(const OpC& op);
// Names `op` creates or renames (a later op's reference must wait for its ack).
std::vector<std::string> namesProduced(const OpC& op);

}  // namespace ctn
