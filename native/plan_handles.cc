// native/plan_handles.cc — a plan's namespace handles and sockets: see plan_run.h.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_run.h"

namespace ctn {

PlanRun::PlanRun(Worker& wk, const PlanC& p) : w(wk), plan(p), slots(p.steps.size(), nullptr) {
  homeH.src = NsH::HomeNs;
  homeH.fd = home().fd;
  homeH.id = home().id;
}

PlanRun::~PlanRun() {
  for (auto& h : handles) {
    if (h->checkedOut) sockGiveBack(h->id, std::move(h->sock));
    h->sock.reset();
    h->nft.reset();
    if (h->ownFd && h->fd >= 0) ::close(h->fd);
  }
}

bool PlanRun::isHome(const NsH* h) const { return h->src == NsH::HomeNs || h->id == home().id; }

KErr PlanRun::enter(NsH* h) {
  if (w.cur_ == h->id) return {};
  if (::setns(h->fd, CLONE_NEWNET) != 0) return sysErr("setns", "enter netns");
  w.cur_ = h->id;
  return {};
}

KErr PlanRun::goHome() {
  if (w.cur_ == home().id) return {};
  if (::setns(home().fd, CLONE_NEWNET) != 0) {
    w.lost_ = true;
    return sysErr("setns", "return to home netns");
  }
  w.cur_ = home().id;
  return {};
}

NsH* PlanRun::resolve(const NsRefC& r, size_t stepIdx, KErr* err) {
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

NsH* PlanRun::addHandle(int fd, NsH::Src foreign) {
  auto h = std::make_unique<NsH>();
  h->fd = fd;
  h->ownFd = true;
  nsIdOfFd(fd, &h->id);
  h->src = h->id == home().id ? NsH::HomeNs : foreign;
  handles.push_back(std::move(h));
  return handles.back().get();
}

NlSock* PlanRun::sockFor(NsH* h, KErr* err) {
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

KErr PlanRun::cookieOf(NsH* h, uint64_t* out) {
  NlSock* sock = isHome(h) ? w.homeSock_.get() : h->sock.get();
  if (sock && !sock->broken()) return netnsCookieOfSock(sock->fd(), out);
  if (KErr e = isHome(h) ? goHome() : enter(h)) return e;
  return netnsCookieHere(out);
}

void PlanRun::noteIdentity(NsH* h, StepResultC* r) {
  r->inode = static_cast<uint64_t>(h->id.ino);
  uint64_t c;
  if (!cookieOf(h, &c)) r->cookie = c;
}

KErr PlanRun::checkIdentity(const StepC& s) {
  int fd;
  if (KErr e = netnsOpen(s.path, &fd)) return e;
  NsH* h = addHandle(fd, NsH::PlanNs);
  const std::string keep = ": not deleted (deleted and re-created by someone else?)";
  if (s.inode && static_cast<uint64_t>(h->id.ino) != *s.inode) {
    return mkErr(ESTALE, "netnsDelete", "netns " + s.path + " has inode " + std::to_string(h->id.ino) + ", expected " +
                                            std::to_string(*s.inode) + keep);
  }
  if (s.cookie) {
    uint64_t c;
    if (KErr e = cookieOf(h, &c)) return e;
    if (c != *s.cookie) {
      return mkErr(ESTALE, "netnsDelete", "netns " + s.path + " has cookie " + std::to_string(c) + ", expected " +
                                              std::to_string(*s.cookie) + keep);
    }
  }
  // The path may have been replaced since it was opened; we hold the checked netns, so an
  // equal (dev, ino) here is that netns.
  struct stat st;
  if (::stat(s.path.c_str(), &st) != 0) return sysErr("stat", "netns " + s.path);
  if (st.st_dev != h->id.dev || st.st_ino != h->id.ino) {
    return mkErr(ESTALE, "netnsDelete", "netns " + s.path + " was replaced while its identity was checked" + keep);
  }
  return {};
}

}  // namespace ctn
