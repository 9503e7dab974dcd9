// native/js_fields.h — typed field readers for JS plan objects (main thread only).
//
// Layer: native/ (the N-API edge). Used by js_conv.cc (plans, ops) and conntrack_js.cc
// (the conntrackDelete filter). An absent or undefined field → false with no complaint; a
// field of the wrong type or range → false with *bad set (the first complaint wins).
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace ctn {

inline bool has(const Napi::Object& o, const char* k) {
  if (!o.Has(k)) return false;
  return !o.Get(k).IsUndefined();
}

inline bool getStr(const Napi::Object& o, const char* k, std::string* out, std::string* bad) {
  if (!has(o, k)) return false;
  Napi::Value v = o.Get(k);
  if (!v.IsString()) {
    if (bad->empty()) *bad = std::string("field '") + k + "' must be a string";
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

inline bool getInt(const Napi::Object& o, const char* k, double lo, double hi, int64_t* out, std::string* bad) {
  if (!has(o, k)) return false;
  Napi::Value v = o.Get(k);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber() || std::isnan(d) || std::floor(d) != d || d < lo || d > hi) {
    if (bad->empty()) *bad = std::string("field '") + k + "' must be an integer in " + std::to_string(static_cast<int64_t>(lo)) + ".." + std::to_string(static_cast<int64_t>(hi));
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

inline bool getU32(const Napi::Object& o, const char* k, std::optional<uint32_t>* out, std::string* bad) {
  int64_t v;
  if (!getInt(o, k, 0, 4294967295.0, &v, bad)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

inline bool getBool(const Napi::Object& o, const char* k, std::optional<bool>* out, std::string* bad) {
  if (!has(o, k)) return false;
  Napi::Value v = o.Get(k);
  if (!v.IsBoolean()) {
    if (bad->empty()) *bad = std::string("field '") + k + "' must be a boolean";
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

inline bool getFlag(const Napi::Object& o, const char* k, bool* out, std::string* bad) {
  std::optional<bool> b;
  if (!getBool(o, k, &b, bad)) return false;
  *out = *b;
  return true;
}

// A u64 in canonical decimal ("0", "42"; no sign, blank or leading zero): how JS carries
// 64-bit values such as netns cookies.
inline bool parseU64Dec(const std::string& t, uint64_t* out) {
  if (t.empty() || t.size() > 20 || (t.size() > 1 && t[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace ctn
