// native/nl_msg.cc — see nl_msg.h.
#include "nl_msg.h"

#include <cstring>

#include "kerr.h"

namespace ctn {

std::string errnoName(int err) {
  const char* n = strerrorname_np(err);
  return n ? std::string(n) : "E" + std::to_string(err);
}

void MsgBuilder::pad() {
  while (buf_.size() % NLMSG_ALIGNTO) buf_.push_back(0);
}

void MsgBuilder::begin(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid, const void* hdr, size_t hdrLen) {
  pad();
  msgStart_ = buf_.size();
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = pid;
  const uint8_t* hp = reinterpret_cast<const uint8_t*>(&h);
  buf_.insert(buf_.end(), hp, hp + sizeof h);
  raw(hdr, hdrLen);
}

size_t MsgBuilder::end() {
  uint32_t len = static_cast<uint32_t>(buf_.size() - msgStart_);
  std::memcpy(buf_.data() + msgStart_, &len, 4);
  return msgStart_;
}

void MsgBuilder::raw(const void* data, size_t len) {
  const uint8_t* d = static_cast<const uint8_t*>(data);
  if (len) buf_.insert(buf_.end(), d, d + len);
  pad();
}

void MsgBuilder::put(uint16_t type, const void* data, size_t len) {
  nlattr a{};
  a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  a.nla_type = type;
  const uint8_t* ap = reinterpret_cast<const uint8_t*>(&a);
  buf_.insert(buf_.end(), ap, ap + sizeof a);
  raw(data, len);
}

size_t MsgBuilder::nestStart(uint16_t type) {
  size_t off = buf_.size();
  put(type, nullptr, 0);
  return off;
}

void MsgBuilder::nestEnd(size_t off) {
  uint16_t len = static_cast<uint16_t>(buf_.size() - off);
  std::memcpy(buf_.data() + off, &len, 2);
}

bool Attr::u8(uint8_t* out) const {
  if (!data || len < 1) return false;
  *out = data[0];
  return true;
}
bool Attr::u32(uint32_t* out) const {
  if (!data || len < 4) return false;
  std::memcpy(out, data, 4);
  return true;
}
bool Attr::s32(int32_t* out) const {
  if (!data || len < 4) return false;
  std::memcpy(out, data, 4);
  return true;
}
std::string Attr::str() const {
  if (!data) return {};
  size_t n = 0;
  while (n < len && data[n] != 0) n++;
  return std::string(reinterpret_cast<const char*>(data), n);
}

bool parseAttrs(const uint8_t* p, size_t len, Attr* tb, int max, std::string* why) {
  for (int i = 0; i <= max; i++) tb[i] = Attr{};
  size_t off = 0;
  while (len - off >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, p + off, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len - off) {
      if (why) *why = "attribute length " + std::to_string(a.nla_len) + " at offset " + std::to_string(off) +
                      " does not fit in " + std::to_string(len - off) + " bytes";
      return false;
    }
    uint16_t type = a.nla_type & NLA_TYPE_MASK;
    if (type <= max) {
      tb[type].type = type;
      tb[type].data = p + off + NLA_HDRLEN;
      tb[type].len = a.nla_len - NLA_HDRLEN;
    }
    size_t step = NLA_ALIGN(a.nla_len);
    if (step > len - off) break;  // last attribute without padding
    off += step;
  }
  return true;
}

bool MsgIter::next(const nlmsghdr** out) {
  if (!err_.empty()) return false;
  if (off_ >= len_) return false;
  size_t left = len_ - off_;
  if (left < NLMSG_HDRLEN) {
    err_ = "truncated message header: " + std::to_string(left) + " bytes left at offset " + std::to_string(off_);
    return false;
  }
  nlmsghdr h;
  std::memcpy(&h, p_ + off_, sizeof h);
  if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > left) {
    err_ = "message length " + std::to_string(h.nlmsg_len) + " at offset " + std::to_string(off_) +
           " does not fit in " + std::to_string(left) + " bytes";
    return false;
  }
  if (reinterpret_cast<uintptr_t>(p_ + off_) % alignof(nlmsghdr) != 0) {
    err_ = "misaligned message";
    return false;
  }
  *out = reinterpret_cast<const nlmsghdr*>(p_ + off_);
  size_t step = NLMSG_ALIGN(h.nlmsg_len);
  off_ += step > left ? left : step;
  return true;
}

}  // namespace ctn
