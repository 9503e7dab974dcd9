// native/plan_exec.cc — see plan_exec.h.
//
// Namespace handling per plan: every netns a step refers to gets a handle (fd +
// identity). Sockets: the home netns socket lives with the thread (no setns after the
// first plan); path namespaces use the bounded shared cache; namespaces created or
// opened by the plan get a socket that is closed at the end of the plan, so a deleted
// container netns is never kept alive by us. The thread only setns()s when it must
// create a socket/context or touch /proc/sys of another netns, and returns home before
// the plan's result is posted.
#include "plan_exec.h"

#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>

#include "ns_cache.h"
#include "rtnl_decode.h"
#include "rtnl_encode.h"
#include "rtnl_followups.h"
#include "rtnl_op.h"
#include "rtnl_validate.h"

namespace ctn {

const char* stepKindName(StepKind k) {
  switch (k) {
    case StepKind::NetnsCreate: return "netnsCreate";
    case StepKind::NetnsOpen: return "netnsOpen";
    case StepKind::NetnsDelete: return "netnsDelete";
    case StepKind::Rtnl: return "rtnl";
    case StepKind::Sysctl: return "sysctl";
    case StepKind::Nft: return "nft";
  }
  return "?";
}

namespace {

constexpr int kDumpTries = 5;

struct NsH {
  enum Src { HomeNs, PathNs, PlanNs } src = PlanNs;
  int fd = -1;
  bool ownFd = false;
  NsId id;
  std::unique_ptr<NlSock> sock;  // plan-owned, or checked out (PathNs)
  bool checkedOut = false;
  std::shared_ptr<NftHolder> nft;
};

}  // namespace

struct PlanRun {
  Worker& w;
  const PlanC& plan;
  std::vector<std::unique_ptr<NsH>> handles;
  std::vector<NsH*> slots;
  std::map<std::string, NsH*> byPath;
  NsH homeH;

  PlanRun(Worker& wk, const PlanC& p) : w(wk), plan(p), slots(p.steps.size(), nullptr) {
    homeH.src = NsH::HomeNs;
    homeH.fd = home().fd;
    homeH.id = home().id;
  }

  ~PlanRun() {
    for (auto& h : handles) {
      if (h->checkedOut) sockGiveBack(h->id, std::move(h->sock));
      h->sock.reset();
      h->nft.reset();
      if (h->ownFd && h->fd >= 0) ::close(h->fd);
    }
  }

  bool isHome(const NsH* h) const { return h->src == NsH::HomeNs || h->id == home().id; }

  KErr enter(NsH* h) {
    if (w.cur_ == h->id) return {};
    if (::setns(h->fd, CLONE_NEWNET) != 0) return sysErr("setns", "enter netns");
    w.cur_ = h->id;
    return {};
  }

  KErr goHome() {
    if (w.cur_ == home().id) return {};
    if (::setns(home().fd, CLONE_NEWNET) != 0) {
      w.lost_ = true;
      return sysErr("setns", "return to home netns");
    }
    w.cur_ = home().id;
    return {};
  }

  NsH* resolve(const NsRefC& r, size_t stepIdx, KErr* err) {
    switch (r.kind) {
      case NsRefC::Self: return &homeH;
      case NsRefC::Fd:
        *err = mkErr(EINVAL, "setns", "netns {fd} references are only valid for encode()");
        return nullptr;
      case NsRefC::Slot:
        if (r.n < 0 || static_cast<size_t>(r.n) >= stepIdx || !slots[static_cast<size_t>(r.n)]) {
          *err = mkErr(EINVAL, "setns", "netns {slot: " + std::to_string(r.n) + "}: step " + std::to_string(r.n) +
                                            " is not an earlier netnsCreate/netnsOpen step that succeeded");
          return nullptr;
        }
        return slots[static_cast<size_t>(r.n)];
      case NsRefC::Path: {
        auto it = byPath.find(r.path);
        if (it != byPath.end()) return it->second;
        int fd;
        if (KErr e = netnsOpen(r.path, &fd)) {
          *err = e;
          return nullptr;
        }
        return byPath[r.path] = addHandle(fd, NsH::PathNs);
      }
    }
    return nullptr;
  }

  // A handle owning `fd` (a netns this plan opened or created): `foreign` says where its
  // socket and nft context come from, unless the fd turns out to be the home netns.
  NsH* addHandle(int fd, NsH::Src foreign) {
    auto h = std::make_unique<NsH>();
    h->fd = fd;
    h->ownFd = true;
    nsIdOfFd(fd, &h->id);
    h->src = h->id == home().id ? NsH::HomeNs : foreign;
    handles.push_back(std::move(h));
    return handles.back().get();
  }

  NlSock* sockFor(NsH* h, KErr* err) {
    if (isHome(h)) {
      if (!w.homeSock_ || w.homeSock_->broken()) {
        w.homeSock_.reset();
        if (KErr e = goHome()) { *err = e; return nullptr; }
        w.homeSock_ = NlSock::open(err);
      }
      return w.homeSock_.get();
    }
    if (h->sock && !h->sock->broken()) return h->sock.get();
    if (h->src == NsH::PathNs && !h->checkedOut) {
      h->sock = sockCheckout(h->id);
      h->checkedOut = true;
      if (h->sock) return h->sock.get();
    }
    if (KErr e = enter(h)) { *err = e; return nullptr; }
    h->sock = NlSock::open(err);
    return h->sock.get();
  }

  // ---------------------------------------------------------------- steps
  StepResultC stepNetnsCreate(size_t i, const StepC& s) {
    StepResultC r;
    int fd;
    if (KErr e = s.from.empty() ? netnsCreate(s.path, &fd) : netnsAdopt(s.from, s.path, &fd)) {
      // unshare()/setns() may have succeeded before a later failure: know where we are.
      NsId now;
      if (currentNsId(&now)) w.cur_ = now;
      return fail(r, e);
    }
    NsH* h = addHandle(fd, NsH::PlanNs);
    w.cur_ = h->id;  // both leave this thread inside the new netns
    // We are inside the new netns right now: make its socket here (no setns later).
    KErr se;
    h->sock = NlSock::open(&se);
    slots[i] = h;
    return r;
  }

  StepResultC stepNetnsOpen(size_t i, const StepC& s) {
    StepResultC r;
    int fd;
    if (KErr e = netnsOpen(s.path, &fd)) return fail(r, e);
    slots[i] = addHandle(fd, NsH::PlanNs);
    return r;
  }

  StepResultC stepNetnsDelete(const StepC& s) {
    StepResultC r;
    NsId id;
    KErr e = netnsDelete(s.path, &id);
    cacheInvalidate(id);
    if (e) return fail(r, e);
    return r;
  }

  static bool validSysctlKey(const std::string& k, std::string* why) {
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

  StepResultC stepSysctl(size_t i, const StepC& s) {
    StepResultC r;
    std::string why;
    if (!validSysctlKey(s.key, &why)) return fail(r, mkErr(EINVAL, "sysctl", "sysctl key '" + s.key + "': " + why));
    KErr e;
    NsH* h = resolve(s.ns, i, &e);
    if (!h) return fail(r, e);
    // /proc/sys/net shows the netns of the thread that opens the file.
    if (KErr ee = isHome(h) ? goHome() : enter(h)) return fail(r, ee);
    std::string path = "/proc/sys/" + s.key;
    if (s.value) {
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return fail(r, sysErr("open", path));
      ssize_t n = ::write(fd, s.value->data(), s.value->size());
      KErr we = n < 0 ? sysErr("write", path + " = " + *s.value) : KErr{};
      ::close(fd);
      if (we) return fail(r, we);
      if (static_cast<size_t>(n) != s.value->size()) return fail(r, mkErr(EIO, "write", path + ": short write"));
      return r;
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(r, sysErr("open", path));
    std::string v;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        KErr re = sysErr("read", path);
        ::close(fd);
        return fail(r, re);
      }
      if (n == 0 || v.size() > (1u << 20)) break;
      v.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
    size_t b = 0;
    while (b < v.size() && (v[b] == ' ' || v[b] == '\t')) b++;
    r.value = v.substr(b);
    return r;
  }

  StepResultC stepNft(size_t i, const StepC& s) {
    StepResultC r;
    KErr e;
    NsH* h = resolve(s.ns, i, &e);
    if (!h) return fail(r, e);
    std::shared_ptr<NftHolder> ctx = h->nft;
    bool cacheable = isHome(h) || h->src == NsH::PathNs;
    if (!ctx && cacheable) ctx = nftCached(h->id);
    if (!ctx) {
      // The context opens its netlink socket in nft_ctx_new: be inside the netns.
      if (KErr ee = isHome(h) ? goHome() : enter(h)) return fail(r, ee);
      auto holder = std::make_shared<NftHolder>();
      holder->ctx = nftNew(&e);
      if (!holder->ctx) return fail(r, e);
      ctx = holder;
      if (cacheable) nftStore(h->id, ctx);
    }
    h->nft = ctx;
    std::string out;
    if (KErr ne = nftRun(ctx->ctx, s.json, &out)) return fail(r, ne);
    r.value = out;
    return r;
  }

  static StepResultC& fail(StepResultC& r, const KErr& e) {
    r.st = StepResultC::St::Failed;
    r.err = e;
    return r;
  }

  // ---------------------------------------------------------------- rtnl
  struct Rtnl {
    PlanRun& pr;
    NlSock* sock;
    NsH* nsh;
    size_t stepIdx;
    std::vector<OpResultC>& res;
    std::map<std::string, int> idx;       // resolved names
    std::map<std::string, KErr> missing;  // names the kernel did not know
    MsgBuilder b;
    std::vector<std::unique_ptr<Waiter>> waiters;
    std::vector<size_t> waiterOp;
    std::set<std::string> pendingProduced;

    void failOp(size_t i, const KErr& e) {
      if (res[i].ok) {
        res[i].ok = false;
        res[i].err = e;
      }
    }

    EncodeEnv env(NlSock* s, const char* opname) {
      EncodeEnv e;
      e.pid = 0;
      e.nextSeq = [s] { return s->nextSeq(); };
      std::string on = opname;
      e.linkIndex = [this, on](const std::string& name, KErr* err) -> int {
        auto it = idx.find(name);
        if (it != idx.end()) return it->second;
        auto m = missing.find(name);
        std::string extra = m != missing.end() && !m->second.msg.empty() ? " (" + m->second.msg + ")" : "";
        *err = mkErr(ENODEV, on, "link '" + name + "' not found in this netns" + extra);
        return 0;
      };
      e.nsFd = [this](const NsRefC& r, KErr* err) -> int {
        NsH* h = pr.resolve(r, stepIdx, err);
        return h ? h->fd : -1;
      };
      return e;
    }

    // RTM_GETLINK by name for each of `names`, all in one sendmsg.
    bool resolveNames(const std::vector<std::string>& names, KErr* fatal) {
      if (names.empty()) return true;
      MsgBuilder rb;
      std::vector<std::unique_ptr<Waiter>> ws;
      std::vector<Waiter*> wp;
      std::vector<int> found(names.size(), 0);
      for (size_t k = 0; k < names.size(); k++) {
        ifinfomsg ifi{};
        uint32_t seq = sock->nextSeq();
        rb.begin(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, 0, &ifi, sizeof ifi);
        rb.putStrz(IFLA_IFNAME, names[k]);
        rb.putU32(IFLA_EXT_MASK, 1u << 3);  // RTEXT_FILTER_SKIP_STATS
        rb.end();
        auto wt = std::make_unique<Waiter>();
        wt->seq = seq;
        wt->op = "RTM_GETLINK";
        int* slot = &found[k];
        wt->onData = [slot](const nlmsghdr* h) {
          if (h->nlmsg_type != RTM_NEWLINK) return;
          size_t al;
          if (msgPayload(h, sizeof(ifinfomsg), &al)) {
            ifinfomsg ifi2;
            std::memcpy(&ifi2, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN, sizeof ifi2);
            *slot = ifi2.ifi_index;
          }
        };
        wp.push_back(wt.get());
        ws.push_back(std::move(wt));
      }
      if (!sock->exchange(rb.bytes().data(), rb.size(), wp, fatal)) return false;
      for (size_t k = 0; k < names.size(); k++) {
        if (!ws[k]->err && found[k] > 0) idx[names[k]] = found[k];
        else missing[names[k]] = ws[k]->err;
      }
      return true;
    }

    void flush() {
      if (waiters.empty()) {
        b.clear();
        return;
      }
      std::vector<Waiter*> wp;
      for (auto& w : waiters) wp.push_back(w.get());
      KErr fatal;
      sock->exchange(b.bytes().data(), b.size(), wp, &fatal);
      for (size_t k = 0; k < waiters.size(); k++)
        if (waiters[k]->err) failOp(waiterOp[k], waiters[k]->err);
      waiters.clear();
      waiterOp.clear();
      b.clear();
      pendingProduced.clear();
    }

    // Encode `op` into the pending batch, with waiters for op index i.
    bool add(size_t i, const ValidOp& v, NlSock* s) {
      const OpC& op = v.op();
      std::vector<EncodedMsg> msgs;
      KErr e = encodeOp(v, env(s, opName(op.type)), b, &msgs);
      if (e) {
        failOp(i, e);
        return false;
      }
      for (const EncodedMsg& m : msgs) {
        auto w = std::make_unique<Waiter>();
        w->seq = m.seq;
        w->op = m.op;
        if (op.type == OpType::LinkGet) {
          OpResultC* rr = &res[i];
          w->onData = [rr](const nlmsghdr* h) {
            if (h->nlmsg_type != RTM_NEWLINK) return;
            LinkC l;
            std::string why;
            if (decodeLink(h, &l, &why)) {
              rr->vk = OpResultC::V::Link;
              rr->links.assign(1, std::move(l));
            }
          };
        }
        waiters.push_back(std::move(w));
        waiterOp.push_back(i);
      }
      return true;
    }

    // A follow-up is an op of its own: checked once, here.
    void addFollowUp(size_t i, const OpC& op, NlSock* s) {
      KErr e;
      std::optional<ValidOp> v = validateOp(op, &e);
      if (!v) return failOp(i, e);
      add(i, *v, s);
    }

    void dumpOp(size_t i, const ValidOp& v) {
      const OpC& op = v.op();
      OpResultC& r = res[i];
      uint32_t wantTable = op.table.value_or(RT_TABLE_MAIN);
      int wantIdx = 0;
      for (int attempt = 0; attempt < kDumpTries; attempt++) {
        r.links.clear();
        r.addrs.clear();
        r.routes.clear();
        MsgBuilder db;
        std::vector<EncodedMsg> msgs;
        EncodeEnv e = env(sock, opName(op.type));
        KErr ee = encodeOp(v, e, db, &msgs);
        if (ee) return failOp(i, ee);
        if (op.type == OpType::AddrList && op.link.set) wantIdx = op.link.byName ? idx[op.link.name] : op.link.index;
        Waiter w;
        w.seq = msgs.at(0).seq;
        w.dump = true;
        w.op = msgs.at(0).op;
        std::string bad;
        w.onData = [&](const nlmsghdr* h) {
          std::string why;
          if (op.type == OpType::LinkList && h->nlmsg_type == RTM_NEWLINK) {
            LinkC l;
            if (decodeLink(h, &l, &why)) r.links.push_back(std::move(l));
            else bad = why;
          } else if (op.type == OpType::AddrList && h->nlmsg_type == RTM_NEWADDR) {
            AddrC a;
            if (!decodeAddr(h, &a, &why)) return;  // other families (e.g. none we decode): skip
            if (op.family && a.family != op.family) return;
            if (wantIdx && a.index != wantIdx) return;
            r.addrs.push_back(std::move(a));
          } else if (op.type == OpType::RouteList && h->nlmsg_type == RTM_NEWROUTE) {
            RouteC rt;
            if (!decodeRoute(h, &rt, &why)) return;  // MPLS etc.
            if (op.family && rt.family != op.family) return;
            if (rt.table != wantTable) return;
            if (rt.flags & RTM_F_CLONED) return;  // cache entries: `ip route show` hides them
            r.routes.push_back(std::move(rt));
          }
        };
        std::vector<Waiter*> wp{&w};
        KErr fatal;
        sock->exchange(db.bytes().data(), db.size(), wp, &fatal);
        if (w.err) {
          // A table that does not exist has no routes.
          if (op.type == OpType::RouteList && w.err.err == ENOENT) {
            r.routes.clear();
            r.vk = OpResultC::V::Routes;
            return;
          }
          return failOp(i, w.err);
        }
        if (!bad.empty()) return failOp(i, mkErr(EBADMSG, opName(op.type), "malformed dump reply: " + bad));
        if (w.intr) continue;
        r.vk = op.type == OpType::LinkList ? OpResultC::V::Links : op.type == OpType::AddrList ? OpResultC::V::Addrs : OpResultC::V::Routes;
        return;
      }
      failOp(i, mkErr(EAGAIN, opName(op.type), "dump interrupted " + std::to_string(kDumpTries) + " times (NLM_F_DUMP_INTR)"));
    }

    // Sends follow-up "set" requests of a created link (alias, addrgenmode, up) once its
    // create is acknowledged: those of this netns in one batch, then the peer's in its own.
    void followUp(size_t i, const OpC& op) {
      std::vector<OpC> here = followUpsHere(op);
      std::vector<OpC> peer = op.peer && op.peer->ns ? followUps(op, true) : std::vector<OpC>{};
      if (here.empty() && peer.empty()) return;
      flush();
      if (!res[i].ok) return;
      for (const OpC& f : here) addFollowUp(i, f, sock);
      flush();
      if (!peer.empty() && res[i].ok) {
        KErr e;
        NsH* ph = pr.resolve(*op.peer->ns, stepIdx, &e);
        NlSock* ps = ph ? pr.sockFor(ph, &e) : nullptr;
        if (!ps) return failOp(i, e);
        NlSock* saved = sock;
        sock = ps;
        for (const OpC& f : peer) addFollowUp(i, f, ps);
        flush();
        sock = saved;
      }
    }

    void run(const std::vector<OpC>& ops) {
      // Names no op of this step creates can be resolved up front, in one round trip.
      std::set<std::string> produced, needed;
      for (const OpC& op : ops) {
        for (auto& n : namesProduced(op)) produced.insert(n);
      }
      for (const OpC& op : ops) {
        if (!op.bad.empty()) continue;
        for (auto& n : namesNeeded(op))
          if (!produced.count(n)) needed.insert(n);
      }
      KErr fatal;
      if (!resolveNames(std::vector<std::string>(needed.begin(), needed.end()), &fatal)) {
        for (size_t i = 0; i < ops.size(); i++) failOp(i, fatal);
        return;
      }
      for (size_t i = 0; i < ops.size(); i++) {
        const OpC& op = ops[i];
        KErr e;
        std::optional<ValidOp> v = validateOp(op, &e);  // the only check of this op
        if (!v) {
          failOp(i, e);
          continue;
        }
        if (isDumpOp(op)) {
          flush();
          std::vector<std::string> late;
          for (auto& n : namesNeeded(op))
            if (!idx.count(n)) late.push_back(n);
          if (!late.empty() && !resolveNames(late, &fatal)) {
            failOp(i, fatal);
            continue;
          }
          dumpOp(i, *v);
          continue;
        }
        std::vector<std::string> late;
        for (auto& n : namesNeeded(op))
          if (!idx.count(n) && (produced.count(n) || pendingProduced.count(n))) late.push_back(n);
        if (!late.empty()) {
          // A link made earlier in this step: its ack must be in before we look it up.
          flush();
          if (!resolveNames(late, &fatal)) {
            failOp(i, fatal);
            continue;
          }
        }
        if (!add(i, *v, sock)) continue;
        for (auto& n : namesProduced(op)) pendingProduced.insert(n);
        if (op.type == OpType::LinkAdd) followUp(i, op);
      }
      flush();
    }
  };

  StepResultC stepRtnl(size_t i, const StepC& s) {
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
      return fail(r, e);
    }
    Rtnl rt{*this, sock, h, i, r.ops, {}, {}, {}, {}, {}, {}};
    rt.run(s.ops);
    for (size_t k = 0; k < r.ops.size(); k++) {
      if (!r.ops[k].ok) {
        r.failedOp = static_cast<int>(k);
        return fail(r, r.ops[k].err);
      }
    }
    return r;
  }

  std::vector<StepResultC> run() {
    std::vector<StepResultC> out;
    bool stop = false;
    for (size_t i = 0; i < plan.steps.size(); i++) {
      const StepC& s = plan.steps[i];
      StepResultC r;
      if (stop || w.lost_) {
        r.st = StepResultC::St::Skipped;
      } else if (!s.bad.empty()) {
        fail(r, mkErr(EINVAL, stepKindName(s.kind), s.bad));
      } else {
        switch (s.kind) {
          case StepKind::NetnsCreate: r = stepNetnsCreate(i, s); break;
          case StepKind::NetnsOpen: r = stepNetnsOpen(i, s); break;
          case StepKind::NetnsDelete: r = stepNetnsDelete(s); break;
          case StepKind::Rtnl: r = stepRtnl(i, s); break;
          case StepKind::Sysctl: r = stepSysctl(i, s); break;
          case StepKind::Nft: r = stepNft(i, s); break;
        }
      }
      r.kind = s.kind;
      if (r.st == StepResultC::St::Failed && plan.stopOnError) stop = true;
      out.push_back(std::move(r));
    }
    return out;
  }
};

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
