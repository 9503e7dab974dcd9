// native/nft_elems_js.cc — an nft step's `elems` (src/model/plan.ts NftElemOp) → NftElemOpC,
// checked on the JS thread before the plan is queued. Bounds: names as the kernel allows
// (NFT_NAME_MAXLEN), keys and data of 1..64 bytes (NFT_DATA_VALUE_MAXLEN), at most 65536
// elements per op.
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "js_conv.h"
#include "js_fields.h"

namespace ctn {

namespace {

constexpr size_t kMaxElems = 65536;

bool bytesOf(const Napi::Value& v, std::vector<uint8_t>* out) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array u = v.As<Napi::Uint8Array>();
  size_t n = u.ElementLength();
  if (n == 0 || n > NFT_DATA_VALUE_MAXLEN) return false;
  out->assign(u.Data(), u.Data() + n);
  return true;
}

bool bytesList(const Napi::Object& o, const char* k, std::vector<std::vector<uint8_t>>* out, std::string* bad) {
  Napi::Value v = o.Get(k);
  if (!v.IsArray()) {
    *bad = std::string("nft elems: '") + k + "' must be an array of Uint8Array";
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > kMaxElems) {
    *bad = std::string("nft elems: more than ") + std::to_string(kMaxElems) + " " + k;
    return false;
  }
  out->resize(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!bytesOf(a.Get(i), &(*out)[i])) {
      *bad = std::string("nft elems: ") + k + "[" + std::to_string(i) + "] must be a Uint8Array of 1.." + std::to_string(NFT_DATA_VALUE_MAXLEN) + " bytes";
      return false;
    }
  }
  return true;
}

bool nameOf(const Napi::Object& o, const char* k, std::string* out, std::string* bad) {
  if (!getStr(o, k, out, bad) || out->empty() || out->size() >= NFT_NAME_MAXLEN || out->find('\0') != std::string::npos) {
    if (bad->empty()) *bad = std::string("nft elems: '") + k + "' must be a name of 1.." + std::to_string(NFT_NAME_MAXLEN - 1) + " bytes";
    return false;
  }
  return true;
}

}  // namespace

bool nftElemsFromJs(const Napi::Value& v, std::vector<NftElemOpC>* out, std::string* bad) {
  if (!v.IsArray()) {
    *bad = "nft elems must be an array";
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value ov = a.Get(i);
    if (!ov.IsObject()) {
      *bad = "nft elems[" + std::to_string(i) + "] must be an object";
      return false;
    }
    Napi::Object o = ov.As<Napi::Object>();
    NftElemOpC op;
    std::string fam;
    if (!getStr(o, "family", &fam, bad)) {
      if (bad->empty()) *bad = "nft elems: 'family' is required";
      return false;
    }
    if (fam == "ip") op.family = NFPROTO_IPV4;
    else if (fam == "ip6") op.family = NFPROTO_IPV6;
    else if (fam == "bridge") op.family = NFPROTO_BRIDGE;
    else if (fam == "inet") op.family = NFPROTO_INET;
    else {
      *bad = "nft elems: unknown family '" + fam + "'";
      return false;
    }
    if (!nameOf(o, "table", &op.table, bad) || !nameOf(o, "set", &op.set, bad)) return false;
    (void)getFlag(o, "del", &op.del, bad);
    if (!bad->empty()) return false;
    if (!bytesList(o, "keys", &op.keys, bad)) return false;
    if (has(o, "data")) {
      if (!bytesList(o, "data", &op.data, bad)) return false;
      if (op.data.size() != op.keys.size()) {
        *bad = "nft elems: 'data' must have one entry per key";
        return false;
      }
    }
    out->push_back(std::move(op));
  }
  return true;
}

}  // namespace ctn
