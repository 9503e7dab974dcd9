// native/plan_exec.cc — see plan_exec.h: a Worker runs a plan's steps in order
// (plan_steps.cc) with the plan's namespace handles (plan_handles.cc, plan_run.h).
#include "plan_exec.h"

#include "kill_hook.h"
#include "plan_run.h"

namespace ctn {

const char* stepKindName(StepKind k) {
  switch (k) {
    case StepKind::NetnsCreate: return "netnsCreate";
    case StepKind::NetnsOpen: return "netnsOpen";
    case StepKind::NetnsDelete: return "netnsDelete";
    case StepKind::Rtnl: return "rtnl";
    case StepKind::Sysctl: return "sysctl";
    case StepKind::Nft: return "nft";
    case StepKind::ConntrackDelete: return "conntrackDelete";
  }
  return "?";
}

std::vector<StepResultC> PlanRun::run() {
  std::vector<StepResultC> out;
  bool stop = false;
  for (size_t i = 0; i < plan.steps.size(); i++) {
    const StepC& s = plan.steps[i];
    StepResultC r;
    if (stop || w.lost_) {
      r.st = StepResultC::St::Skipped;
    } else {
      uint64_t n = killHookBefore();  // the crash tests' hook (kill_hook.h); inert by default
      if (!s.bad.empty()) {
        failStep(r, mkErr(EINVAL, stepKindName(s.kind), s.bad));
      } else {
        switch (s.kind) {
          case StepKind::NetnsCreate: r = stepNetnsCreate(i, s); break;
          case StepKind::NetnsOpen: r = stepNetnsOpen(i, s); break;
          case StepKind::NetnsDelete: r = stepNetnsDelete(s); break;
          case StepKind::Rtnl: r = stepRtnl(i, s); break;
          case StepKind::Sysctl: r = stepSysctl(i, s); break;
          case StepKind::Nft: r = stepNft(i, s); break;
          case StepKind::ConntrackDelete: r = stepConntrack(i, s); break;
        }
      }
      killHookAfter(n);
    }
    r.kind = s.kind;
    if (r.st == StepResultC::St::Failed && plan.stopOnError) stop = true;
    out.push_back(std::move(r));
  }
  return out;
}

Worker::Worker() {
  if (!currentNsId(&cur_)) cur_ = home().id;
}

Worker::~Worker() = default;

std::vector<StepResultC> Worker::run(const PlanC& plan) {
  std::vector<StepResultC> out;
  {
    PlanRun pr(*this, plan);
    out = pr.run();
    // Home before the plan's sockets are closed and before the result is posted.
    KErr e = pr.goHome();
    (void)e;
  }
  return out;
}

}  // namespace ctn
