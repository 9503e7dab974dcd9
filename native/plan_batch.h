// native/plan_batch.h — the ops of one rtnl step, sent in as few sendmsg() calls as the
// kernel's rules allow, with one result per op.
//
// Layer: native/ (internal to plan_*.cc). Ops go into one buffer until something forces
// a flush: a dump (only one may run per socket, so it is sent alone), an op naming a link
// made earlier in this step (the create's ack must be in before the name is looked up),
// and a created link's follow-ups (sent after the create's ack, the peer's on the peer's
// netns socket). Names no op of the step creates are resolved up front, all in one round
// trip. Each op is validated once, here, before it is encoded.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kerr.h"
#include "nl_msg.h"
#include "nl_sock.h"
#include "rtnl_encode.h"
#include "rtnl_types.h"
#include "rtnl_validate.h"

namespace ctn {

struct PlanRun;

class RtnlBatch {
 public:
  // `res` has one entry per op of the step; ops that fail get ok = false and their error.
  RtnlBatch(PlanRun& pr, NlSock* sock, size_t stepIdx, std::vector<OpResultC>& res)
      : pr_(pr), sock_(sock), stepIdx_(stepIdx), res_(res) {}
  void run(const std::vector<OpC>& ops);

 private:
  void runOp(size_t i, const OpC& op);
  void failOp(size_t i, const KErr& e);
  EncodeEnv env(NlSock* s, const char* opname);
  // RTM_GETLINK by name for each of `names`, all in one sendmsg. False on a transport
  // failure (*fatal); names the kernel does not know go to missing_.
  bool resolveNames(const std::vector<std::string>& names, KErr* fatal);
  // Sends the pending batch and records each request's error on its op.
  void flush();
  // Encodes `op` into the pending batch, with waiters for op index i.
  bool add(size_t i, const ValidOp& op, NlSock* s);
  void addFollowUp(size_t i, const OpC& op, NlSock* s);
  void dumpOp(size_t i, const ValidOp& op);
  // Sends follow-up "set" requests of a created link (alias, addrgenmode, up) once its
  // create is acknowledged: those of this netns in one batch, then the peer's in its own.
  void followUp(size_t i, const OpC& op);

  PlanRun& pr_;
  NlSock* sock_;
  size_t stepIdx_;
  std::vector<OpResultC>& res_;
  std::map<std::string, int> idx_;       // resolved names
  std::map<std::string, KErr> missing_;  // names the kernel did not know
  std::set<std::string> produced_;       // names some op of this step creates
  MsgBuilder b_;
  std::vector<std::unique_ptr<Waiter>> waiters_;
  std::vector<size_t> waiterOp_;
  std::set<std::string> pendingProduced_;  // created by a request not yet acknowledged
};

}  // namespace ctn
