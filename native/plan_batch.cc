// native/plan_batch.cc — see plan_batch.h.
#include "plan_batch.h"

#include <linux/rtnetlink.h>

#include <cstring>

#include "plan_run.h"
#include "rtnl_decode.h"
#include "rtnl_followups.h"
#include "rtnl_op.h"

namespace ctn {

namespace {

constexpr int kDumpTries = 5;

// Keeps the replies of one dump that match what `op` asked for: the kernel's own
// filtering is partial (other families, other tables, cached routes).
struct DumpInto {
  const OpC& op;
  OpResultC& r;
  int index = 0;      // addrList of one link: its ifindex
  uint32_t table = 0; // routeList
  std::string bad;    // a link reply that did not decode

  void take(const nlmsghdr* h) {
    std::string why;
    if (op.type == OpType::LinkList && h->nlmsg_type == RTM_NEWLINK) {
      LinkC l;
      if (decodeLink(h, &l, &why)) r.links.push_back(std::move(l));
      else bad = why;
    } else if (op.type == OpType::AddrList && h->nlmsg_type == RTM_NEWADDR) {
      AddrC a;
      if (!decodeAddr(h, &a, &why)) return;  // other families (e.g. none we decode): skip
      if (op.family && a.family != op.family) return;
      if (index && a.index != index) return;
      r.addrs.push_back(std::move(a));
    } else if (op.type == OpType::RouteList && h->nlmsg_type == RTM_NEWROUTE) {
      RouteC rt;
      if (!decodeRoute(h, &rt, &why)) return;  // MPLS etc.
      if (op.family && rt.family != op.family) return;
      if (rt.table != table) return;
      if (rt.flags & RTM_F_CLONED) return;  // cache entries: `ip route show` hides them
      r.routes.push_back(std::move(rt));
    }
  }
};

OpResultC::V dumpKind(OpType t) {
  return t == OpType::LinkList ? OpResultC::V::Links : t == OpType::AddrList ? OpResultC::V::Addrs : OpResultC::V::Routes;
}

}  // namespace

void RtnlBatch::failOp(size_t i, const KErr& e) {
  if (res_[i].ok) {
    res_[i].ok = false;
    res_[i].err = e;
  }
}

EncodeEnv RtnlBatch::env(NlSock* s, const char* opname) {
  EncodeEnv e;
  e.pid = 0;
  e.nextSeq = [s] { return s->nextSeq(); };
  std::string on = opname;
  e.linkIndex = [this, on](const std::string& name, KErr* err) -> int {
    auto it = idx_.find(name);
    if (it != idx_.end()) return it->second;
    auto m = missing_.find(name);
    std::string extra = m != missing_.end() && !m->second.msg.empty() ? " (" + m->second.msg + ")" : "";
    *err = mkErr(ENODEV, on, "link '" + name + "' not found in this netns" + extra);
    return 0;
  };
  e.nsFd = [this](const NsRefC& r, KErr* err) -> int {
    NsH* h = pr_.resolve(r, stepIdx_, err);
    return h ? h->fd : -1;
  };
  return e;
}

bool RtnlBatch::resolveNames(const std::vector<std::string>& names, KErr* fatal) {
  if (names.empty()) return true;
  MsgBuilder rb;
  std::vector<std::unique_ptr<Waiter>> ws;
  std::vector<Waiter*> wp;
  std::vector<int> found(names.size(), 0);
  for (size_t k = 0; k < names.size(); k++) {
    uint32_t seq = sock_->nextSeq();
    encodeLinkLookup(rb, seq, 0, names[k]);
    auto wt = std::make_unique<Waiter>();
    wt->seq = seq;
    wt->op = "RTM_GETLINK";
    int* slot = &found[k];
    wt->onData = [slot](const nlmsghdr* h) {
      if (h->nlmsg_type != RTM_NEWLINK) return;
      size_t al;
      if (msgPayload(h, sizeof(ifinfomsg), &al)) {
        ifinfomsg ifi;
        std::memcpy(&ifi, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN, sizeof ifi);
        *slot = ifi.ifi_index;
      }
    };
    wp.push_back(wt.get());
    ws.push_back(std::move(wt));
  }
  if (!sock_->exchange(rb.bytes().data(), rb.size(), wp, fatal)) return false;
  for (size_t k = 0; k < names.size(); k++) {
    if (!ws[k]->err && found[k] > 0) idx_[names[k]] = found[k];
    else missing_[names[k]] = ws[k]->err;
  }
  return true;
}

void RtnlBatch::flush() {
  if (waiters_.empty()) {
    b_.clear();
    return;
  }
  std::vector<Waiter*> wp;
  for (auto& w : waiters_) wp.push_back(w.get());
  KErr fatal;
  sock_->exchange(b_.bytes().data(), b_.size(), wp, &fatal);
  for (size_t k = 0; k < waiters_.size(); k++)
    if (waiters_[k]->err) failOp(waiterOp_[k], waiters_[k]->err);
  waiters_.clear();
  waiterOp_.clear();
  b_.clear();
  pendingProduced_.clear();
}

bool RtnlBatch::add(size_t i, const ValidOp& v, NlSock* s) {
  const OpC& op = v.op();
  std::vector<EncodedMsg> msgs;
  if (KErr e = encodeOp(v, env(s, opName(op.type)), b_, &msgs)) {
    failOp(i, e);
    return false;
  }
  for (const EncodedMsg& m : msgs) {
    auto w = std::make_unique<Waiter>();
    w->seq = m.seq;
    w->op = m.op;
    if (op.type == OpType::LinkGet) {
      OpResultC* rr = &res_[i];
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
    waiters_.push_back(std::move(w));
    waiterOp_.push_back(i);
  }
  return true;
}

void RtnlBatch::addFollowUp(size_t i, const OpC& op, NlSock* s) {
  KErr e;
  std::optional<ValidOp> v = validateOp(op, &e);
  if (!v) return failOp(i, e);
  add(i, *v, s);
}

void RtnlBatch::dumpOp(size_t i, const ValidOp& v) {
  const OpC& op = v.op();
  OpResultC& r = res_[i];
  for (int attempt = 0; attempt < kDumpTries; attempt++) {
    r.links.clear();
    r.addrs.clear();
    r.routes.clear();
    MsgBuilder db;
    std::vector<EncodedMsg> msgs;
    if (KErr e = encodeOp(v, env(sock_, opName(op.type)), db, &msgs)) return failOp(i, e);
    DumpInto into{op, r, 0, op.table.value_or(RT_TABLE_MAIN), {}};
    if (op.type == OpType::AddrList && op.link.set) into.index = op.link.byName ? idx_[op.link.name] : op.link.index;
    Waiter w;
    w.seq = msgs.at(0).seq;
    w.dump = true;
    w.op = msgs.at(0).op;
    w.onData = [&into](const nlmsghdr* h) { into.take(h); };
    std::vector<Waiter*> wp{&w};
    KErr fatal;
    sock_->exchange(db.bytes().data(), db.size(), wp, &fatal);
    if (w.err) {
      // A table that does not exist has no routes.
      if (op.type == OpType::RouteList && w.err.err == ENOENT) {
        r.routes.clear();
        r.vk = OpResultC::V::Routes;
        return;
      }
      return failOp(i, w.err);
    }
    if (!into.bad.empty()) return failOp(i, mkErr(EBADMSG, opName(op.type), "malformed dump reply: " + into.bad));
    if (w.intr) continue;
    r.vk = dumpKind(op.type);
    return;
  }
  failOp(i, mkErr(EAGAIN, opName(op.type), "dump interrupted " + std::to_string(kDumpTries) + " times (NLM_F_DUMP_INTR)"));
}

void RtnlBatch::followUp(size_t i, const OpC& op) {
  std::vector<OpC> here = followUpsHere(op);
  std::vector<OpC> peer = op.peer && op.peer->ns ? followUps(op, true) : std::vector<OpC>{};
  if (here.empty() && peer.empty()) return;
  flush();
  if (!res_[i].ok) return;
  for (const OpC& f : here) addFollowUp(i, f, sock_);
  flush();
  if (!peer.empty() && res_[i].ok) {
    KErr e;
    NsH* ph = pr_.resolve(*op.peer->ns, stepIdx_, &e);
    NlSock* ps = ph ? pr_.sockFor(ph, &e) : nullptr;
    if (!ps) return failOp(i, e);
    NlSock* saved = sock_;
    sock_ = ps;
    for (const OpC& f : peer) addFollowUp(i, f, ps);
    flush();
    sock_ = saved;
  }
}

void RtnlBatch::run(const std::vector<OpC>& ops) {
  // Names no op of this step creates can be resolved up front, in one round trip.
  for (const OpC& op : ops) {
    for (auto& n : namesProduced(op)) produced_.insert(n);
  }
  std::set<std::string> needed;
  for (const OpC& op : ops) {
    if (!op.bad.empty()) continue;
    for (auto& n : namesNeeded(op))
      if (!produced_.count(n)) needed.insert(n);
  }
  KErr fatal;
  if (!resolveNames(std::vector<std::string>(needed.begin(), needed.end()), &fatal)) {
    for (size_t i = 0; i < ops.size(); i++) failOp(i, fatal);
    return;
  }
  for (size_t i = 0; i < ops.size(); i++) runOp(i, ops[i]);
  flush();
}

void RtnlBatch::runOp(size_t i, const OpC& op) {
  KErr e;
  std::optional<ValidOp> v = validateOp(op, &e);  // the only check of this op
  if (!v) return failOp(i, e);
  if (isDumpOp(op)) {
    flush();
    std::vector<std::string> late;
    for (auto& n : namesNeeded(op))
      if (!idx_.count(n)) late.push_back(n);
    if (!late.empty() && !resolveNames(late, &e)) return failOp(i, e);
    return dumpOp(i, *v);
  }
  std::vector<std::string> late;
  for (auto& n : namesNeeded(op))
    if (!idx_.count(n) && (produced_.count(n) || pendingProduced_.count(n))) late.push_back(n);
  if (!late.empty()) {
    // A link made earlier in this step: its ack must be in before we look it up.
    flush();
    if (!resolveNames(late, &e)) return failOp(i, e);
  }
  if (!add(i, *v, sock_)) return;
  for (auto& n : namesProduced(op)) pendingProduced_.insert(n);
  if (op.type == OpType::LinkAdd) followUp(i, op);
}

}  // namespace ctn
