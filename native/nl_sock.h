// native/nl_sock.h — one netlink socket (NETLINK_ROUTE unless asked) and its request/ack loop.
//
// Layer: native/ (bottom). Sends prepared bytes, receives and matches replies by port id
// and sequence number; no knowledge of links or addresses. A socket belongs to the
// netns of the thread that created it and stays there. Must not throw or abort: every
// failure is a KErr.
#pragma once
#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kerr.h"

namespace ctn {

// One request of a batch, waiting for its answer.
struct Waiter {
  uint32_t seq = 0;
  bool dump = false;                                 // answered by multipart … NLMSG_DONE
  std::string op;                                    // "RTM_NEWLINK" (for errors)
  std::function<void(const nlmsghdr*)> onData;       // reply messages (may be empty)
  bool keepAck = false;                              // never elide its NLM_F_ACK (nfnetlink batches: the
                                                     // last message, BATCH_END, is never answered)
  // filled by exchange():
  bool done = false;
  bool intr = false;                                 // NLM_F_DUMP_INTR seen
  KErr err;                                          // err.err != 0 on failure
};

class NlSock {
 public:
  // Opens a socket in the calling thread's current netns (NETLINK_ROUTE, or another netlink
  // protocol such as NETLINK_NETFILTER for ctnetlink).
  static std::unique_ptr<NlSock> open(KErr* err, int protocol = NETLINK_ROUTE);
  ~NlSock();
  NlSock(const NlSock&) = delete;
  NlSock& operator=(const NlSock&) = delete;

  int fd() const { return fd_; }
  uint32_t nextSeq() { return ++seq_ ? seq_ : ++seq_; }
  // A transport failure happened (timeout, overrun, truncation): don't reuse.
  bool broken() const { return broken_; }

  // Sends `len` bytes (any number of requests) in ONE sendmsg and receives until every
  // waiter is done. Requests the kernel answers with an error fail only their waiter.
  // Returns false only on a transport failure (then every unfinished waiter has `fatal`).
  bool exchange(const uint8_t* buf, size_t len, std::vector<Waiter*>& waiters, KErr* fatal);

 private:
  NlSock() = default;
  int fd_ = -1;
  uint32_t portId_ = 0;
  uint32_t seq_ = 0;
  bool broken_ = false;
  std::vector<uint8_t> rbuf_;
};

}  // namespace ctn
