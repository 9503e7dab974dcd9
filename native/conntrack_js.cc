// native/conntrack_js.cc — the conntrackDelete filter from JS (declared in js_conv.h): the one
// check of its input, on the JS thread, before the plan is queued. The shape is
// ConntrackFilter of src/model/plan.ts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "js_conv.h"
#include "js_fields.h"

namespace ctn {

namespace {

// An IPv4 or IPv6 address in text (no zone, no prefix) → bytes and family.
bool parseIp(const std::string& s, uint8_t out[16], int* family) {
  if (s.find('\0') != std::string::npos) return false;
  if (::inet_pton(AF_INET, s.c_str(), out) == 1) {
    *family = AF_INET;
    return true;
  }
  if (::inet_pton(AF_INET6, s.c_str(), out) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

// Field `k` of `o`: a required address of family *family (0: any, then set).
bool getIp(const Napi::Object& o, const char* k, uint8_t out[16], int* family, std::string* bad) {
  std::string s;
  if (!getStr(o, k, &s, bad)) {
    if (bad->empty()) *bad = std::string("conntrack filter needs '") + k + "'";
    return false;
  }
  int f = 0;
  if (!parseIp(s, out, &f)) {
    *bad = std::string("conntrack filter: '") + k + "' is not an IPv4 or IPv6 address: '" + s + "'";
    return false;
  }
  if (*family != 0 && f != *family) {
    *bad = std::string("conntrack filter: '") + k + "' is not of the same family as the other address";
    return false;
  }
  *family = f;
  return true;
}

bool parseFilter(const Napi::Value& v, CtFilterC* out, std::string* bad) {
  if (!v.IsObject()) {
    *bad = "conntrackDelete needs a 'filter' object";
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  std::string match;
  getStr(o, "match", &match, bad);
  if (match == "addr") {
    out->by = CtFilterC::Addr;
    return getIp(o, "addr", out->addr, &out->family, bad);
  }
  if (match != "mapping") {
    if (bad->empty()) *bad = "conntrack filter: 'match' must be 'addr' or 'mapping'";
    return false;
  }
  out->by = CtFilterC::Mapping;
  std::string proto;
  getStr(o, "proto", &proto, bad);
  if (proto == "tcp") out->proto = IPPROTO_TCP;
  else if (proto == "udp") out->proto = IPPROTO_UDP;
  else if (proto == "sctp") out->proto = IPPROTO_SCTP;
  else {
    if (bad->empty()) *bad = "conntrack filter: 'proto' must be tcp, udp or sctp";
    return false;
  }
  int64_t lo = 0, hi = 0;
  if (!getInt(o, "port", 1, 65535, &lo, bad)) {
    if (bad->empty()) *bad = "conntrack filter needs 'port'";
    return false;
  }
  hi = lo;
  if (has(o, "portEnd") && !getInt(o, "portEnd", 1, 65535, &hi, bad)) return false;
  if (hi < lo) {
    *bad = "conntrack filter: 'portEnd' is below 'port'";
    return false;
  }
  out->portLo = static_cast<uint16_t>(lo);
  out->portHi = static_cast<uint16_t>(hi);
  if (!getIp(o, "replySrc", out->addr, &out->family, bad)) return false;
  if (has(o, "dst")) {
    if (!getIp(o, "dst", out->dst, &out->family, bad)) return false;
    out->hasDst = true;
  }
  return bad->empty();
}

}  // namespace

bool ctFilterFromJs(const Napi::Value& v, CtFilterC* out, std::string* bad) {
  if (parseFilter(v, out, bad)) return true;
  // The field readers' own text ("field 'port' must be …") says which object it was about.
  if (bad->compare(0, 9, "conntrack") != 0) *bad = "conntrack filter: " + *bad;
  return false;
}

}  // namespace ctn
