// native/netns.cc — see netns.h. Follows iproute2 ip/ipnetns.c netns_add()/netns_delete()
// in behaviour (shared parent mount, O_EXCL file, bind mount of the thread's netns),
// written for a multi-threaded process: the source is /proc/thread-self/ns/net, never
// /proc/self (which is the main thread's).
#include "netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <mutex>
#include <set>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

namespace ctn {

namespace {

std::mutex gSharedMu;
std::set<std::string> gSharedDirs;  // parent dirs already made shared by us

std::string parentOf(const std::string& path) {
  size_t p = path.find_last_of('/');
  if (p == std::string::npos) return ".";
  if (p == 0) return "/";
  return path.substr(0, p);
}

KErr mkdirP(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return {};
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return mkErr(ENOTDIR, "mkdir", dir + " is not a directory");
  }
  if (KErr e = mkdirP(parentOf(dir))) return e;
  if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) return sysErr("mkdir", dir);
  return {};
}

// iproute2: make the netns directory a shared mount point so that a bind mount made
// in it propagates to every mount namespace that shares it (and `ip netns` in any
// of them sees the file as a netns). If it is not a mount point yet (EINVAL), bind it
// on itself first and retry once.
KErr makeShared(const std::string& dir) {
  std::lock_guard<std::mutex> lk(gSharedMu);
  if (gSharedDirs.count(dir)) return {};
  bool bound = false;
  while (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || bound) return sysErr("mount", "make " + dir + " a shared mount");
    if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
      return sysErr("mount", "bind " + dir + " on itself");
    bound = true;
  }
  gSharedDirs.insert(dir);
  return {};
}

bool isNetns(int fd) {
#ifdef NS_GET_NSTYPE
  int t = ::ioctl(fd, NS_GET_NSTYPE);
  if (t >= 0) return t == CLONE_NEWNET;
#endif
  struct statfs sf;
  return ::fstatfs(fd, &sf) == 0 && sf.f_type == static_cast<decltype(sf.f_type)>(NSFS_MAGIC);
}

}  // namespace

bool nsIdOfFd(int fd, NsId* out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  return true;
}

bool currentNsId(NsId* out) {
  struct stat st;
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return false;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  return true;
}

KErr netnsCreate(const std::string& path, int* outFd) {
  *outFd = -1;
  if (path.empty() || path.back() == '/') return mkErr(EINVAL, "open", "netns path '" + path + "' is not a file path");
  std::string dir = parentOf(path);
  if (KErr e = mkdirP(dir)) return e;
  if (KErr e = makeShared(dir)) return e;
  int f = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (f < 0) return sysErr("open", "create netns file " + path);
  ::close(f);
  if (::unshare(CLONE_NEWNET) != 0) {
    KErr e = sysErr("unshare", "new netns for " + path);
    ::unlink(path.c_str());
    return e;
  }
  if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
    KErr e = sysErr("mount", "bind new netns on " + path);
    ::unlink(path.c_str());
    return e;
  }
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    KErr e = sysErr("open", "/proc/thread-self/ns/net");
    ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
    return e;
  }
  *outFd = fd;
  return {};
}

KErr netnsAdopt(const std::string& from, const std::string& path, int* outFd) {
  *outFd = -1;
  if (path.empty() || path.back() == '/') return mkErr(EINVAL, "open", "netns path '" + path + "' is not a file path");
  int src = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return sysErr("open", "pre-created netns " + from);
  if (!isNetns(src)) {
    ::close(src);
    return mkErr(EINVAL, "open", from + " is not a network namespace");
  }
  std::string dir = parentOf(path);
  if (KErr e = mkdirP(dir)) { ::close(src); return e; }
  if (KErr e = makeShared(dir)) { ::close(src); return e; }
  int f = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (f < 0) {
    KErr e = sysErr("open", "create netns file " + path);
    ::close(src);
    return e;
  }
  ::close(f);
  // Enter it (this thread only) so the plan's socket for it is made right here, as after unshare.
  if (::setns(src, CLONE_NEWNET) != 0) {
    KErr e = sysErr("setns", "pre-created netns " + from);
    ::close(src);
    ::unlink(path.c_str());
    return e;
  }
  if (::mount(from.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
    KErr e = sysErr("mount", "bind " + from + " on " + path);
    ::close(src);
    ::unlink(path.c_str());
    return e;
  }
  // The prewarmed netns is used up: it must not be adopted twice.
  (void)::umount2(from.c_str(), MNT_DETACH);
  (void)::unlink(from.c_str());
  *outFd = src;
  return {};
}

KErr netnsOpen(const std::string& path, int* outFd) {
  *outFd = -1;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sysErr("open", "netns " + path);
  if (!isNetns(fd)) {
    ::close(fd);
    return mkErr(EINVAL, "open", path + " is not a network namespace (not an nsfs file of type net)");
  }
  *outFd = fd;
  return {};
}

KErr netnsCookieOfSock(int sockfd, uint64_t* out) {
  uint64_t c = 0;
  socklen_t len = sizeof c;
  if (::getsockopt(sockfd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) != 0) return sysErr("getsockopt", "SO_NETNS_COOKIE");
  if (len != sizeof c) return mkErr(EPROTO, "getsockopt", "SO_NETNS_COOKIE: short answer");
  *out = c;
  return {};
}

KErr netnsCookieHere(uint64_t* out) {
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return sysErr("socket", "AF_UNIX socket to read the netns cookie");
  KErr e = netnsCookieOfSock(s, out);
  ::close(s);
  return e;
}

KErr netnsDelete(const std::string& path, NsId* id) {
  if (id) {
    *id = NsId{};
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      id->dev = st.st_dev;
      id->ino = st.st_ino;
    }
  }
  // As iproute2: the umount may fail (not mounted); the unlink decides.
  (void)::umount2(path.c_str(), MNT_DETACH);
  if (::unlink(path.c_str()) != 0) return sysErr("unlink", "netns " + path);
  return {};
}

}  // namespace ctn
