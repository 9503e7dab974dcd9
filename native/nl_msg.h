// native/nl_msg.h — netlink message building and parsing, bounded on both sides.
//
// Layer: native/ (bottom). Bytes only: no sockets, no policy. The builder writes
// nlmsghdr + fixed header + attributes with NLA_ALIGN padding and nests; the parser
// walks messages and attributes and validates every length before reading, so a
// malformed or truncated buffer is reported, never read past.
#pragma once
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ctn {

// Appends one or more netlink messages to a growing buffer.
class MsgBuilder {
 public:
  // Start a message: nlmsghdr (len fixed by end()) followed by a copy of `hdr`.
  void begin(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid, const void* hdr, size_t hdrLen);
  // Finish the current message (sets nlmsg_len). Returns its offset in the buffer.
  size_t end();
  void put(uint16_t type, const void* data, size_t len);
  void putU8(uint16_t type, uint8_t v) { put(type, &v, 1); }
  void putU32(uint16_t type, uint32_t v) { put(type, &v, 4); }
  // String with its terminating NUL (IFLA_IFNAME, IFLA_INFO_KIND).
  void putStrz(uint16_t type, const std::string& s) { put(type, s.c_str(), s.size() + 1); }
  // String without NUL (IFLA_IFALIAS, as iproute2 sends it).
  void putStr(uint16_t type, const std::string& s) { put(type, s.data(), s.size()); }
  // Raw aligned bytes inside the current message (e.g. the ifinfomsg of VETH_INFO_PEER).
  void raw(const void* data, size_t len);
  size_t nestStart(uint16_t type);
  void nestEnd(size_t off);

  const std::vector<uint8_t>& bytes() const { return buf_; }
  size_t size() const { return buf_.size(); }
  void clear() { buf_.clear(); }

 private:
  void pad();
  std::vector<uint8_t> buf_;
  size_t msgStart_ = 0;
};

// One attribute as found in a buffer (data points into that buffer).
struct Attr {
  uint16_t type = 0;  // with NLA_F_NESTED / NLA_F_NET_BYTEORDER masked off
  const uint8_t* data = nullptr;
  size_t len = 0;
  bool present() const { return data != nullptr; }
  bool u8(uint8_t* out) const;
  bool u32(uint32_t* out) const;
  bool s32(int32_t* out) const;
  // Text up to the first NUL or the end of the payload.
  std::string str() const;
};

// Fills tb[0..max] with the attributes in [p, p+len) (later duplicates win). Returns
// false with a reason when an attribute's length is impossible.
bool parseAttrs(const uint8_t* p, size_t len, Attr* tb, int max, std::string* why);

// Walks the messages in a receive buffer. next() returns false at the end or on a
// malformed header (then error() is set).
class MsgIter {
 public:
  MsgIter(const uint8_t* p, size_t len) : p_(p), len_(len) {}
  bool next(const nlmsghdr** out);
  const std::string& error() const { return err_; }

 private:
  const uint8_t* p_;
  size_t len_;
  size_t off_ = 0;
  std::string err_;
};

// Payload of a message after its fixed header, checked: nullptr if too short.
inline const uint8_t* msgPayload(const nlmsghdr* h, size_t hdrLen, size_t* attrLen) {
  size_t total = h->nlmsg_len;
  size_t need = NLMSG_HDRLEN + NLMSG_ALIGN(hdrLen);
  if (total < NLMSG_HDRLEN + hdrLen) return nullptr;
  *attrLen = total > need ? total - need : 0;
  return reinterpret_cast<const uint8_t*>(h) + (total >= need ? need : total);
}

// The positive errno an NLMSG_ERROR / NLMSG_DONE message carries (0: an ACK, or a dump that
// ended cleanly). False when the message is too short to carry the int.
inline bool msgErrno(const nlmsghdr* h, int* err) {
  if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(int)) return false;
  int e;
  std::memcpy(&e, reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN, sizeof e);
  *err = e < 0 ? -e : 0;
  return true;
}

}  // namespace ctn
