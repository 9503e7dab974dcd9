// native/conntrack.h — delete conntrack entries through ctnetlink (the conntrackDelete step).
//
// Layer: native/. Kernel vocabulary only: the filter says which entries (by address, or by
// a published mapping's protocol, destination ports and reply source), never why. Used by
// plan_steps.cc on a namespace thread, with a NETLINK_NETFILTER socket opened in the netns
// whose table is cleaned. docs/ARCHITECTURE.md, Kernel facts: a changed DNAT map does not
// move existing flows, so unpublish, detach and re-publish delete them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kerr.h"
#include "nl_sock.h"
#include "rtnl_types.h"

namespace ctn {

// Dumps the conntrack table of `sock`'s netns (IPCTNL_MSG_CT_GET, NLM_F_DUMP), keeps the
// entries `f` matches and deletes each by its original tuple and id (IPCTNL_MSG_CT_DELETE),
// many per sendmsg. An entry already gone (ENOENT) is not an error. *deleted counts the
// entries this call removed, also when it then fails.
KErr ctDelete(NlSock* sock, const CtFilterC& f, uint32_t* deleted);
// The same for several filters with ONE dump (the kernel walks its whole hash table per
// dump: consecutive conntrackDelete steps of a plan share one). An entry goes to the first
// filter that matches it; per filter: its count in (*deleted)[i], its error in the result.
std::vector<KErr> ctDeleteMany(NlSock* sock, const std::vector<const CtFilterC*>& fs, std::vector<uint32_t>* deleted);

}  // namespace ctn
