// native/js_conv.h — JS plan objects ⇄ C++ structs.
//
// Layer: native/ (the N-API edge). Runs on the JS main thread only: plans are converted
// before they are queued and results after they come back, so namespace threads never
// call N-API. Shape errors inside a step or op become EINVAL results (never a crash).
#pragma once
#include <napi.h>

#include "rtnl_types.h"

namespace ctn {

// Throws a JS TypeError when `v` is not a plan-shaped object at all.
PlanC planFromJs(const Napi::Value& v);
OpC opFromJs(const Napi::Value& v);
// A conntrackDelete step's filter → CtFilterC (conntrack_js.cc), checked once here: false
// with *bad set (naming the field) when it is not a valid ConntrackFilter.
bool ctFilterFromJs(const Napi::Value& v, CtFilterC* out, std::string* bad);

// An nft step's native element ops (nft_elems_js.cc): false with *bad set (naming the
// field) when `v` is not an array of {family, table, set, keys[, data][, del]}.
bool nftElemsFromJs(const Napi::Value& v, std::vector<NftElemOpC>* out, std::string* bad);

Napi::Value kerrToJs(Napi::Env env, const KErr& e);
Napi::Value stepResultsToJs(Napi::Env env, const std::vector<StepResultC>& rs);
Napi::Value linkToJs(Napi::Env env, const LinkC& l);
Napi::Value addrToJs(Napi::Env env, const AddrC& a);
Napi::Value routeToJs(Napi::Env env, const RouteC& r);

}  // namespace ctn
