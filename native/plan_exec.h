// native/plan_exec.h — runs one plan on the calling namespace thread.
//
// Layer: native/. Executes steps in order (netns files, rtnetlink batches, sysctl,
// nftables) and returns one StepResultC per step. Moves the calling thread between
// namespaces with setns() and brings it home at the end; the JS thread never runs this.
#pragma once
#include <memory>
#include <vector>

#include "netns.h"
#include "nl_sock.h"
#include "rtnl_types.h"

namespace ctn {

class Worker {
 public:
  Worker();
  ~Worker();
  std::vector<StepResultC> run(const PlanC& plan);
  // The thread could not return to its home netns: it must not run further plans.
  bool lost() const { return lost_; }

 private:
  friend struct PlanRun;
  NsId cur_;
  std::unique_ptr<NlSock> homeSock_;
  std::unique_ptr<NlSock> homeNfSock_;  // NETLINK_NETFILTER, for nft element steps (nft_elems.h)
  bool lost_ = false;
};

}  // namespace ctn
