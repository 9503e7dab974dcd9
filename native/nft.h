// native/nft.h — libnftables, loaded at run time (dlopen "libnftables.so.1").
//
// Layer: native/. Runs JSON command batches; no ruleset knowledge. A context is bound
// to the netns of the thread that called nft_ctx_new (its netlink socket is made
// there), so contexts are created on a namespace thread inside the target netns and
// kept per netns identity by the caller. libnftables is not documented as thread-safe:
// every call here is serialized by one process-wide mutex.
#pragma once
#include <string>

#include "kerr.h"

namespace ctn {

struct NftCtx;  // opaque: a libnftables context

// Loads the library once; false with a reason when it cannot.
bool nftLoad(std::string* reason);
// Must be called on a thread inside the target netns.
NftCtx* nftNew(KErr* err);
void nftFree(NftCtx* c);
// Runs `json` (NFT_CTX_OUTPUT_JSON set: 1.0.6 then parses JSON input). Output text in *out.
KErr nftRun(NftCtx* c, const std::string& json, std::string* out);

}  // namespace ctn
