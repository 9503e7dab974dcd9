// native/rtnl_validate.h — the addon's last check of an rtnetlink op before any byte is
// built: names, MACs, IPs, families and ranges, with the limits of limits.h.
//
// Layer: native/. Pure functions: no sockets, no kernel. A refused op is EINVAL naming the
// object. The encoder (rtnl_encode.h) takes only a ValidOp, which only validateOp() makes:
// no op reaches the encoder unchecked, and none is checked twice.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "kerr.h"
#include "rtnl_types.h"

namespace ctn {

// An op that passed validateOp(). It refers to the OpC, which must outlive it.
class ValidOp {
 public:
  const OpC& op() const { return *op_; }

 private:
  explicit ValidOp(const OpC& op) : op_(&op) {}
  const OpC* op_;
  friend std::optional<ValidOp> validateOp(const OpC& op, KErr* err);
};

// Checks everything that can be checked without the kernel. nullopt with *err set when
// the op is refused.
std::optional<ValidOp> validateOp(const OpC& op, KErr* err);

// The pieces, for the encoder (which parses what validation accepted).
bool validIfName(const std::string& n, std::string* why);
bool parseMac(const std::string& s, uint8_t out[6]);
// family 4|6; returns byte length (4/16) or 0 when `s` is not an IP literal of that family.
int parseIp(int family, const std::string& s, uint8_t out[16]);

}  // namespace ctn
