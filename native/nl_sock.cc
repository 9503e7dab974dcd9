// native/nl_sock.cc — see nl_sock.h.
//
// Receive loop rules (libmnl/iproute2 learned, our code): replies must come from the
// kernel (nl_pid 0) and carry our port id; a sequence number we are not waiting for is
// a stale answer and is skipped; MSG_TRUNC means the datagram did not fit and is a
// transport error (we never parse half a datagram); NLMSG_ERROR with error 0 is an ACK;
// with NLM_F_ACK_TLVS the extended ack follows the echoed request (only its header when
// NLM_F_CAPPED).
#include "nl_sock.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "nl_msg.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace ctn {

namespace {
// A dump skb is at most ~32 KiB (the kernel caps max_recvmsg_len); 64 KiB always holds one.
constexpr size_t kRecvBuf = 64 * 1024;
constexpr int kRcvBufBytes = 1 << 20;
constexpr int kTimeoutSec = 15;

// Extended-ack text of an NLMSG_ERROR / NLMSG_DONE message, if any.
std::string extAck(const nlmsghdr* h, size_t fixedLen) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  size_t off = NLMSG_HDRLEN + fixedLen;
  if (h->nlmsg_type == NLMSG_ERROR && !(h->nlmsg_flags & NLM_F_CAPPED)) {
    // The whole original request is echoed after struct nlmsgerr's header copy.
    if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) return {};
    nlmsghdr orig;
    std::memcpy(&orig, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN + sizeof(int), sizeof orig);
    if (orig.nlmsg_len < NLMSG_HDRLEN) return {};
    off = NLMSG_HDRLEN + sizeof(int) + NLMSG_ALIGN(orig.nlmsg_len);
  }
  if (off >= h->nlmsg_len) return {};
  Attr tb[NLMSGERR_ATTR_MAX + 1];
  if (!parseAttrs(reinterpret_cast<const uint8_t*>(h) + off, h->nlmsg_len - off, tb, NLMSGERR_ATTR_MAX, nullptr))
    return {};
  return tb[NLMSGERR_ATTR_MSG].str();
}
}  // namespace

std::unique_ptr<NlSock> NlSock::open(KErr* err, int protocol) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    *err = sysErr("socket", "netlink socket");
    return nullptr;
  }
  int one = 1;
  int rcv = kRcvBufBytes;
  // Best effort: larger receive buffer for big dumps.
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  // Extended acks (kernel's error text); strict header checking (dump filters honoured,
  // garbage in headers rejected); capped acks (errors don't echo our whole request).
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  timeval tv{kTimeoutSec, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    *err = sysErr("bind", "netlink socket");
    ::close(fd);
    return nullptr;
  }
  socklen_t sl = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &sl) < 0 || sl != sizeof sa) {
    *err = sysErr("getsockname", "netlink socket");
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<NlSock> s(new NlSock());
  s->fd_ = fd;
  s->portId_ = sa.nl_pid;
  s->seq_ = static_cast<uint32_t>(::time(nullptr));
  s->rbuf_.resize(kRecvBuf);
  return s;
}

NlSock::~NlSock() {
  if (fd_ >= 0) ::close(fd_);
}

bool NlSock::exchange(const uint8_t* buf, size_t len, std::vector<Waiter*>& waiters, KErr* fatal) {
  auto failAll = [&](KErr e) {
    broken_ = true;
    for (Waiter* w : waiters)
      if (!w->done) {
        w->done = true;
        w->err = e;
      }
    *fatal = e;
    return false;
  };
  size_t pending = 0;
  for (Waiter* w : waiters)
    if (!w->done) pending++;

  // One ack per batch, not per request. rtnetlink handles the messages of one sendmsg in
  // order and answers an error whether or not NLM_F_ACK is set, so a request that returns
  // no data needs no ack of its own unless it is the last one: when any later answer
  // arrives, every earlier silent request without an error has succeeded. This saves a
  // recvmsg (and a wake-up) per request.
  std::vector<uint8_t> out(buf, buf + len);
  std::vector<std::pair<uint32_t, Waiter*>> silent;  // (position in the batch, waiter)
  std::vector<std::pair<uint32_t, uint32_t>> order;   // (seq, position)
  {
    size_t off = 0;
    uint32_t pos = 0;
    while (off + NLMSG_HDRLEN <= len) {
      auto* h = reinterpret_cast<nlmsghdr*>(out.data() + off);
      if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > len) break;
      bool last = off + NLMSG_ALIGN(h->nlmsg_len) >= len;
      order.emplace_back(h->nlmsg_seq, pos);
      for (Waiter* w : waiters) {
        if (w->seq != h->nlmsg_seq || w->done) continue;
        if (!last && !w->dump && !w->onData && !w->keepAck && (h->nlmsg_flags & NLM_F_ACK)) {
          h->nlmsg_flags &= ~NLM_F_ACK;
          silent.emplace_back(pos, w);
        }
        break;
      }
      off += NLMSG_ALIGN(h->nlmsg_len);
      pos++;
    }
  }
  auto positionOf = [&](uint32_t seq) -> int64_t {
    for (auto& o : order)
      if (o.first == seq) return o.second;
    return -1;
  };
  // Every silent request before position `pos` that has not failed has succeeded.
  auto settleBefore = [&](int64_t pos) {
    for (auto& s : silent)
      if (static_cast<int64_t>(s.first) < pos && !s.second->done) {
        s.second->done = true;
        pending--;
      }
  };

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  iovec iov{out.data(), len};
  msghdr mh{};
  mh.msg_name = &kernel;
  mh.msg_namelen = sizeof kernel;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  ssize_t n;
  do n = ::sendmsg(fd_, &mh, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return failAll(sysErr("sendmsg", "netlink request batch"));
  if (static_cast<size_t>(n) != len) return failAll(mkErr(EIO, "sendmsg", "netlink batch sent partially"));

  while (pending > 0) {
    sockaddr_nl from{};
    iovec riov{rbuf_.data(), rbuf_.size()};
    msghdr rm{};
    rm.msg_name = &from;
    rm.msg_namelen = sizeof from;
    rm.msg_iov = &riov;
    rm.msg_iovlen = 1;
    ssize_t r;
    do r = ::recvmsg(fd_, &rm, MSG_TRUNC);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return failAll(mkErr(ETIMEDOUT, "recvmsg", "no netlink answer within " + std::to_string(kTimeoutSec) + " s"));
      return failAll(sysErr("recvmsg", "netlink answer"));  // ENOBUFS: the kernel dropped replies
    }
    if (r == 0) return failAll(mkErr(EIO, "recvmsg", "netlink socket closed"));
    if ((rm.msg_flags & MSG_TRUNC) || static_cast<size_t>(r) > rbuf_.size())
      return failAll(mkErr(EMSGSIZE, "recvmsg", "netlink datagram of " + std::to_string(r) + " bytes truncated"));
    if (from.nl_pid != 0) continue;  // not from the kernel

    MsgIter it(rbuf_.data(), static_cast<size_t>(r));
    const nlmsghdr* h;
    while (it.next(&h)) {
      if (h->nlmsg_pid != portId_) continue;
      Waiter* w = nullptr;
      for (Waiter* c : waiters)
        if (c->seq == h->nlmsg_seq && !c->done) {
          w = c;
          break;
        }
      if (!w) continue;  // stale or unknown sequence number
      if (!silent.empty()) settleBefore(positionOf(h->nlmsg_seq));
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) w->intr = true;
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) {
        // The answer that ends this request: an ack or error, or the end of a dump (a short
        // NLMSG_DONE is a clean end; a short NLMSG_ERROR is not an answer we can trust).
        bool isErr = h->nlmsg_type == NLMSG_ERROR;
        int e;
        if (!msgErrno(h, &e)) {
          if (isErr) w->err = mkErr(EBADMSG, w->op, "short NLMSG_ERROR from the kernel");
        } else if (e) {
          w->err = mkErr(e, w->op, extAck(h, isErr ? sizeof(nlmsgerr) : sizeof(int)));
        }
        w->done = true;
        pending--;
      } else if (h->nlmsg_type == NLMSG_NOOP || h->nlmsg_type == NLMSG_OVERRUN) {
        continue;
      } else {
        if (w->onData) w->onData(h);
        // A non-dump GET without NLM_F_ACK would end here; ours always carry NLM_F_ACK.
      }
    }
    if (!it.error().empty()) return failAll(mkErr(EBADMSG, "recvmsg", "malformed netlink answer: " + it.error()));
  }
  return true;
}

}  // namespace ctn
