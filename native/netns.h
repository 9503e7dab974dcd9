// native/netns.h — network namespace files: create (like `ip netns add`), open, delete.
//
// Layer: native/. Syscalls only; the caller decides paths. netnsCreate() moves the
// CALLING thread into the new netns (unshare) — call it only on a namespace thread
// (ns_thread.cc), never on the JS thread or a libuv pool thread.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "kerr.h"

namespace ctn {

// A netns is identified within this process's view by the (st_dev, st_ino) of its nsfs file.
// Not across time: the kernel hands a freed netns's inode number out again at once (ida,
// lowest free), so a deleted and re-created netns often has the same one. Across time the
// identity is the netns cookie (netnsCookieOf*).
struct NsId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const NsId& o) const { return dev == o.dev && ino == o.ino; }
  bool operator!=(const NsId& o) const { return !(*this == o); }
  bool valid() const { return ino != 0; }
};

bool nsIdOfFd(int fd, NsId* out);
// Identity of the calling thread's current netns (/proc/thread-self/ns/net).
bool currentNsId(NsId* out);

// `ip netns add`: mkdir -p the parent (0755), make it a shared mount (once per process
// per directory), create `path` (O_EXCL, mode 0), unshare(CLONE_NEWNET) on this thread,
// bind-mount /proc/thread-self/ns/net onto `path`. On failure everything made is undone
// (the thread may then be in a fresh unnamed netns: the caller returns it home).
// On success *fd is an O_CLOEXEC fd of the new netns.
KErr netnsCreate(const std::string& path, int* fd);
// The same, but the new netns is `from` (a pre-created one, e.g. a prewarmed netns,
// bind-mounted there): setns() into it instead of unshare(), bind it on `path`, then unmount
// and unlink `from`. Leaves the calling thread inside it, like netnsCreate().
KErr netnsAdopt(const std::string& from, const std::string& path, int* fd);

// Open an existing netns file: ENOENT naming the path, EINVAL when it is not a netns.
KErr netnsOpen(const std::string& path, int* fd);

// The netns cookie (getsockopt SO_NETNS_COOKIE, Linux >= 5.14): a 64-bit number unique for the
// boot and never reused. Of the netns the socket `sockfd` was created in; ENOPROTOOPT on older
// kernels.
KErr netnsCookieOfSock(int sockfd, uint64_t* out);
// The cookie of the calling thread's current netns (through a throwaway AF_UNIX socket).
KErr netnsCookieHere(uint64_t* out);

// `ip netns del`: umount2(MNT_DETACH) + unlink. Never waits for the kernel's teardown.
// *id (if given) is the identity it had (for cache invalidation); may be invalid.
KErr netnsDelete(const std::string& path, NsId* id);

}  // namespace ctn
