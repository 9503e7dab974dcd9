// native/plan_run.h — one plan being run on a namespace thread (internal to plan_*.cc).
//
// Layer: native/. A PlanRun owns the plan's namespace handles: every netns a step refers
// to gets one (fd + identity), made in plan_handles.cc. Sockets: the home netns socket
// lives with the thread (no setns after the first plan); path namespaces use the bounded
// shared cache (ns_cache.h); namespaces created or opened by the plan get a socket that
// is closed at the end of the plan, so a deleted container netns is never kept alive by
// us. The thread only setns()s when it must create a socket/context or touch /proc/sys of
// another netns, and returns home before the plan's result is posted. Step handlers are in
// plan_steps.cc, the rtnetlink batcher of an rtnl step in plan_batch.cc.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "netns.h"
#include "ns_cache.h"
#include "nl_sock.h"
#include "plan_exec.h"
#include "rtnl_types.h"

namespace ctn {

// A netns the plan refers to.
struct NsH {
  enum Src { HomeNs, PathNs, PlanNs } src = PlanNs;
  int fd = -1;
  bool ownFd = false;
  NsId id;
  std::unique_ptr<NlSock> sock;  // plan-owned, or checked out (PathNs)
  bool checkedOut = false;
  std::shared_ptr<NftHolder> nft;
};

struct PlanRun {
  Worker& w;
  const PlanC& plan;
  std::vector<std::unique_ptr<NsH>> handles;
  std::vector<NsH*> slots;  // the handle a netnsCreate/netnsOpen step made, by step index
  std::map<std::string, NsH*> byPath;
  std::map<size_t, StepResultC> ctResults;  // later steps of a conntrackDelete group (plan_steps.cc)
  NsH homeH;

  PlanRun(Worker& wk, const PlanC& p);
  ~PlanRun();  // gives back checked-out sockets, closes the plan's own

  // ---- handles and sockets (plan_handles.cc)
  bool isHome(const NsH* h) const;
  KErr enter(NsH* h);  // setns this thread into h
  KErr goHome();
  // Where `r`, used by step `stepIdx`, points; nullptr with *err set when it cannot.
  NsH* resolve(const NsRefC& r, size_t stepIdx, KErr* err);
  // A handle owning `fd` (a netns this plan opened or created): `foreign` says where its
  // socket and nft context come from, unless the fd turns out to be the home netns.
  NsH* addHandle(int fd, NsH::Src foreign);
  NlSock* sockFor(NsH* h, KErr* err);
  // The netns cookie of h: from the socket the plan already has there, else a throwaway one
  // made inside it (this thread enters it).
  KErr cookieOf(NsH* h, uint64_t* out);
  // A netnsCreate/netnsOpen result's identity: h's nsfs inode and cookie (absent if unreadable).
  void noteIdentity(NsH* h, StepResultC* r);
  // netnsDelete with a cookie/inode: whether s.path is still that netns. ESTALE (naming the
  // path and both values) when it is another one; the file's open handle is held to the
  // plan's end, so its inode cannot be handed out again between the check and the unmount.
  KErr checkIdentity(const StepC& s);

  // ---- steps (plan_steps.cc)
  std::vector<StepResultC> run();
  StepResultC stepNetnsCreate(size_t i, const StepC& s);
  StepResultC stepNetnsOpen(size_t i, const StepC& s);
  StepResultC stepNetnsDelete(const StepC& s);
  StepResultC stepSysctl(size_t i, const StepC& s);
  StepResultC stepNft(size_t i, const StepC& s);
  StepResultC stepNftElems(NsH* h, const StepC& s);
  StepResultC stepRtnl(size_t i, const StepC& s);
  StepResultC stepConntrack(size_t i, const StepC& s);
};

// Marks `r` failed with `e`.
StepResultC& failStep(StepResultC& r, const KErr& e);

}  // namespace ctn
