// native/plan_steps.cc — one handler per kind of plan step (see plan_run.h): netns
// create/open/delete, sysctl, nft, conntrackDelete (conntrack.h) and rtnl (whose ops go to
// plan_batch.h).
#include <fcntl.h>
#include <unistd.h>

#include "conntrack.h"
#include "nft_elems.h"
#include "plan_batch.h"
#include "plan_run.h"

namespace ctn {

StepResultC& failStep(StepResultC& r, const KErr& e) {
  r.st = StepResultC::St::Failed;
  r.err = e;
  return r;
}

namespace {

bool validSysctlKey(const std::string& k, std::string* why) {
  if (k.empty()) { *why = "empty key"; return false; }
  if (k[0] == '/') { *why = "must not start with '/'"; return false; }
  if (k.find('\0') != std::string::npos) { *why = "contains NUL"; return false; }
  size_t start = 0;
  while (start <= k.size()) {
    size_t end = k.find('/', start);
    if (end == std::string::npos) end = k.size();
    std::string part = k.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") { *why = "has an empty, '.' or '..' component"; return false; }
    start = end + 1;
  }
  return true;
}

KErr writeSysctl(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sysErr("open", path);
  ssize_t n = ::write(fd, value.data(), value.size());
  KErr we = n < 0 ? sysErr("write", path + " = " + value) : KErr{};
  ::close(fd);
  if (we) return we;
  if (static_cast<size_t>(n) != value.size()) return mkErr(EIO, "write", path + ": short write");
  return {};
}

// The file's text without surrounding blanks (as `sysctl -n` prints it).
KErr readSysctl(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sysErr("open", path);
  std::string v;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      KErr re = sysErr("read", path);
      ::close(fd);
      return re;
    }
    if (n == 0 || v.size() > (1u << 20)) break;
    v.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
  size_t b = 0;
  while (b < v.size() && (v[b] == ' ' || v[b] == '\t')) b++;
  *out = v.substr(b);
  return {};
}

}  // namespace

StepResultC PlanRun::stepNetnsCreate(size_t i, const StepC& s) {
  StepResultC r;
  int fd;
  if (KErr e = s.from.empty() ? netnsCreate(s.path, &fd) : netnsAdopt(s.from, s.path, &fd)) {
    // unshare()/setns() may have succeeded before a later failure: know where we are.
    NsId now;
    if (currentNsId(&now)) w.cur_ = now;
    return failStep(r, e);
  }
  NsH* h = addHandle(fd, NsH::PlanNs);
  w.cur_ = h->id;  // both leave this thread inside the new netns
  // We are inside the new netns right now: make its socket here (no setns later).
  KErr se;
  h->sock = NlSock::open(&se);
  slots[i] = h;
  noteIdentity(h, &r);
  return r;
}

StepResultC PlanRun::stepNetnsOpen(size_t i, const StepC& s) {
  StepResultC r;
  int fd;
  if (KErr e = netnsOpen(s.path, &fd)) return failStep(r, e);
  NsH* h = addHandle(fd, NsH::PlanNs);
  slots[i] = h;
  // The socket the plan's later steps in this netns use, made now: its cookie is the result's.
  KErr se;
  (void)sockFor(h, &se);
  noteIdentity(h, &r);
  return r;
}

StepResultC PlanRun::stepNetnsDelete(const StepC& s) {
  StepResultC r;
  if (s.cookie || s.inode) {
    if (KErr e = checkIdentity(s)) return failStep(r, e);
  }
  NsId id;
  KErr e = netnsDelete(s.path, &id);
  cacheInvalidate(id);
  if (e) return failStep(r, e);
  return r;
}

StepResultC PlanRun::stepSysctl(size_t i, const StepC& s) {
  StepResultC r;
  std::string why;
  if (!validSysctlKey(s.key, &why)) return failStep(r, mkErr(EINVAL, "sysctl", "sysctl key '" + s.key + "': " + why));
  KErr e;
  NsH* h = resolve(s.ns, i, &e);
  if (!h) return failStep(r, e);
  // /proc/sys/net shows the netns of the thread that opens the file.
  if (KErr ee = isHome(h) ? goHome() : enter(h)) return failStep(r, ee);
  std::string path = "/proc/sys/" + s.key;
  if (s.value) {
    if (KErr we = writeSysctl(path, *s.value)) return failStep(r, we);
    return r;
  }
  std::string v;
  if (KErr re = readSysctl(path, &v)) return failStep(r, re);
  r.value = std::move(v);
  return r;
}

StepResultC PlanRun::stepNft(size_t i, const StepC& s) {
  StepResultC r;
  KErr e;
  NsH* h = resolve(s.ns, i, &e);
  if (!h) return failStep(r, e);
  if (!s.elems.empty()) return stepNftElems(h, s);
  std::shared_ptr<NftHolder> ctx = h->nft;
  bool cacheable = isHome(h) || h->src == NsH::PathNs;
  if (!ctx && cacheable) ctx = nftCached(h->id);
  if (!ctx) {
    // The context opens its netlink socket in nft_ctx_new: be inside the netns.
    if (KErr ee = isHome(h) ? goHome() : enter(h)) return failStep(r, ee);
    auto holder = std::make_shared<NftHolder>();
    holder->ctx = nftNew(&e);
    if (!holder->ctx) return failStep(r, e);
    ctx = holder;
    if (cacheable) nftStore(h->id, ctx);
  }
  h->nft = ctx;
  std::string out;
  if (KErr ne = nftRun(ctx->ctx, s.json, &out)) return failStep(r, ne);
  r.value = out;
  return r;
}

// The native form of an nft step: its elements over nfnetlink (nft_elems.h). The home
// netns's socket lives with the thread; another netns gets one for this step only.
StepResultC PlanRun::stepNftElems(NsH* h, const StepC& s) {
  StepResultC r;
  KErr e;
  std::unique_ptr<NlSock> own;
  NlSock* sock = nullptr;
  if (isHome(h)) {
    if (w.homeNfSock_ && w.homeNfSock_->broken()) w.homeNfSock_.reset();
    if (!w.homeNfSock_) {
      if (KErr ee = goHome()) return failStep(r, ee);
      w.homeNfSock_ = NlSock::open(&e, NETLINK_NETFILTER);
      if (!w.homeNfSock_) return failStep(r, e);
    }
    sock = w.homeNfSock_.get();
  } else {
    if (KErr ee = enter(h)) return failStep(r, ee);
    own = NlSock::open(&e, NETLINK_NETFILTER);
    if (!own) return failStep(r, e);
    sock = own.get();
  }
  if (KErr ne = nftElems(sock, s.elems)) return failStep(r, ne);
  return r;
}

namespace {

bool sameNs(const NsRefC& a, const NsRefC& b) { return a.kind == b.kind && a.n == b.n && a.path == b.path; }

}  // namespace

// Consecutive conntrackDelete steps in one netns share ONE dump (conntrack.h ctDeleteMany):
// the first of them computes every result of the group, the others take theirs.
StepResultC PlanRun::stepConntrack(size_t i, const StepC& s) {
  auto done = ctResults.find(i);
  if (done != ctResults.end()) {
    StepResultC r = std::move(done->second);
    ctResults.erase(done);
    return r;
  }
  size_t end = i + 1;
  while (end < plan.steps.size() && plan.steps[end].kind == StepKind::ConntrackDelete && plan.steps[end].bad.empty() &&
         sameNs(plan.steps[end].ns, s.ns))
    end++;
  StepResultC r;
  KErr e;
  NsH* h = resolve(s.ns, i, &e);
  if (!h) return failStep(r, e);
  // A ctnetlink socket acts on the netns it is opened in; it lives for this group only.
  if (KErr ee = isHome(h) ? goHome() : enter(h)) return failStep(r, ee);
  std::unique_ptr<NlSock> sock = NlSock::open(&e, NETLINK_NETFILTER);
  if (!sock) return failStep(r, e);
  std::vector<const CtFilterC*> fs;
  for (size_t k = i; k < end; k++) fs.push_back(&plan.steps[k].ct);
  std::vector<uint32_t> n;
  std::vector<KErr> errs = ctDeleteMany(sock.get(), fs, &n);
  for (size_t k = i; k < end; k++) {
    StepResultC rk;
    rk.deleted = n[k - i];
    if (errs[k - i]) failStep(rk, errs[k - i]);
    if (k == i) r = std::move(rk);
    else ctResults[k] = std::move(rk);
  }
  return r;
}

StepResultC PlanRun::stepRtnl(size_t i, const StepC& s) {
  StepResultC r;
  r.hasOps = true;
  r.ops.resize(s.ops.size());
  KErr e;
  NsH* h = resolve(s.ns, i, &e);
  NlSock* sock = h ? sockFor(h, &e) : nullptr;
  if (!sock) {
    for (auto& o : r.ops) {
      o.ok = false;
      o.err = e;
    }
    if (!s.ops.empty()) r.failedOp = 0;
    return failStep(r, e);
  }
  RtnlBatch(*this, sock, i, r.ops).run(s.ops);
  for (size_t k = 0; k < r.ops.size(); k++) {
    if (!r.ops[k].ok) {
      r.failedOp = static_cast<int>(k);
      return failStep(r, r.ops[k].err);
    }
  }
  return r;
}

}  // namespace ctn
