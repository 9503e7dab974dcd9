// native/ns_cache.h — process-wide caches keyed by netns identity.
//
// Layer: native/. Holds netlink sockets of namespaces referenced by path (LRU, bounded)
// and libnftables contexts (home netns: kept; path namespaces: LRU, bounded). A cached
// socket or context keeps its netns alive, so namespaces created by a plan are never
// cached, and netnsDelete drops entries of the deleted identity.
#pragma once
#include <memory>

#include "netns.h"
#include "nft.h"
#include "nl_sock.h"

namespace ctn {

// Home netns of the addon: opened on the JS main thread at load.
struct Home {
  int fd = -1;
  NsId id;
};
const Home& home();
KErr initHome();

// Path-namespace sockets: checked out for exclusive use during one plan, given back after.
std::unique_ptr<NlSock> sockCheckout(const NsId& id);
void sockGiveBack(const NsId& id, std::unique_ptr<NlSock> s);

struct NftHolder {
  NftCtx* ctx = nullptr;
  ~NftHolder() { nftFree(ctx); }
};
std::shared_ptr<NftHolder> nftCached(const NsId& id);
void nftStore(const NsId& id, std::shared_ptr<NftHolder> h);

// Forget everything cached for `id` (its netns is being deleted).
void cacheInvalidate(const NsId& id);
// Drop all caches (shutdown).
void cacheClear();

}  // namespace ctn
