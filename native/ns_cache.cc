// native/ns_cache.cc — see ns_cache.h.
#include "ns_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <list>
#include <map>
#include <mutex>
#include <set>
#include <utility>

namespace ctn {

namespace {
constexpr size_t kLruMax = 16;

using Key = std::pair<dev_t, ino_t>;
Key key(const NsId& id) { return {id.dev, id.ino}; }

Home gHome;

std::mutex gMu;
struct SockEntry {
  Key k;
  std::unique_ptr<NlSock> s;
};
std::list<SockEntry> gSocks;          // front = most recently used
std::map<Key, int> gCheckedOut;       // sockets of this identity in use by plans
std::set<Key> gDoomed;                // deleted while checked out: don't give back

struct NftEntry {
  Key k;
  std::shared_ptr<NftHolder> h;
};
std::list<NftEntry> gNft;             // path namespaces, LRU
std::shared_ptr<NftHolder> gHomeNft;  // home netns: kept
}  // namespace

const Home& home() { return gHome; }

KErr initHome() {
  if (gHome.fd >= 0) return {};
  // The JS main thread's own netns (not /proc/self: that is the thread group leader's,
  // which is the same thread here, but thread-self says what we mean).
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sysErr("open", "/proc/thread-self/ns/net");
  NsId id;
  if (!nsIdOfFd(fd, &id)) {
    KErr e = sysErr("fstat", "/proc/thread-self/ns/net");
    ::close(fd);
    return e;
  }
  gHome.fd = fd;
  gHome.id = id;
  return {};
}

std::unique_ptr<NlSock> sockCheckout(const NsId& id) {
  std::lock_guard<std::mutex> lk(gMu);
  Key k = key(id);
  gCheckedOut[k]++;
  for (auto it = gSocks.begin(); it != gSocks.end(); ++it) {
    if (it->k == k) {
      std::unique_ptr<NlSock> s = std::move(it->s);
      gSocks.erase(it);
      return s;
    }
  }
  return nullptr;
}

void sockGiveBack(const NsId& id, std::unique_ptr<NlSock> s) {
  std::unique_ptr<NlSock> drop;  // closed outside the lock
  std::list<SockEntry> evicted;
  {
    std::lock_guard<std::mutex> lk(gMu);
    Key k = key(id);
    bool doomed = gDoomed.count(k) > 0;
    auto co = gCheckedOut.find(k);
    if (co != gCheckedOut.end() && --co->second <= 0) {
      gCheckedOut.erase(co);
      gDoomed.erase(k);
    }
    if (!s) return;
    if (doomed || s->broken()) {
      drop = std::move(s);
    } else {
      gSocks.push_front(SockEntry{k, std::move(s)});
      while (gSocks.size() > kLruMax) {
        evicted.splice(evicted.end(), gSocks, std::prev(gSocks.end()));
      }
    }
  }
}

std::shared_ptr<NftHolder> nftCached(const NsId& id) {
  std::lock_guard<std::mutex> lk(gMu);
  if (id == gHome.id) return gHomeNft;
  Key k = key(id);
  for (auto it = gNft.begin(); it != gNft.end(); ++it) {
    if (it->k == k) {
      gNft.splice(gNft.begin(), gNft, it);
      return gNft.front().h;
    }
  }
  return nullptr;
}

void nftStore(const NsId& id, std::shared_ptr<NftHolder> h) {
  std::list<NftEntry> evicted;
  std::lock_guard<std::mutex> lk(gMu);
  if (id == gHome.id) {
    if (!gHomeNft) gHomeNft = std::move(h);
    return;
  }
  gNft.push_front(NftEntry{key(id), std::move(h)});
  while (gNft.size() > kLruMax) evicted.splice(evicted.end(), gNft, std::prev(gNft.end()));
}

void cacheInvalidate(const NsId& id) {
  if (!id.valid()) return;
  std::list<SockEntry> socks;
  std::list<NftEntry> nfts;
  std::lock_guard<std::mutex> lk(gMu);
  Key k = key(id);
  for (auto it = gSocks.begin(); it != gSocks.end();) {
    auto next = std::next(it);
    if (it->k == k) socks.splice(socks.end(), gSocks, it);
    it = next;
  }
  for (auto it = gNft.begin(); it != gNft.end();) {
    auto next = std::next(it);
    if (it->k == k) nfts.splice(nfts.end(), gNft, it);
    it = next;
  }
  if (gCheckedOut.count(k)) gDoomed.insert(k);
}

void cacheClear() {
  std::list<SockEntry> socks;
  std::list<NftEntry> nfts;
  std::shared_ptr<NftHolder> h;
  std::lock_guard<std::mutex> lk(gMu);
  socks.swap(gSocks);
  nfts.swap(gNft);
  h.swap(gHomeNft);
}

}  // namespace ctn
