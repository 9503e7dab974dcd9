// native/kerr.h — the one error value of the native layer.
//
// Layer: native/ (bottom). A KErr is what the kernel (or a syscall, or our own input
// validation) said about one request: errno, the request in kernel vocabulary
// ("RTM_NEWLINK", "setns", "mount", "nft"), and the kernel's extended-ack text when it
// sent one. It becomes the plan contract's KernelError (src/model/plan.ts) on the JS side. Never thrown across
// threads, never fatal to the process.
#pragma once
#include <cerrno>
#include <cstring>
#include <string>

namespace ctn {

struct KErr {
  int err = 0;          // positive errno; 0 = no error
  std::string op;       // "RTM_NEWLINK", "setns", "mount", "nft", …
  std::string msg;      // extended-ack / library / validation text ("" = none)
  explicit operator bool() const { return err != 0; }
};

inline KErr mkErr(int err, std::string op, std::string msg = {}) {
  KErr e;
  e.err = err;
  e.op = std::move(op);
  e.msg = std::move(msg);
  return e;
}

// Input refused before any request is built: EINVAL with the reason, naming the object.
inline KErr invalErr(std::string op, std::string msg) { return mkErr(EINVAL, std::move(op), std::move(msg)); }

// errno of the last failed syscall, with a message naming the object it was about.
inline KErr sysErr(const char* op, const std::string& what) {
  int e = errno ? errno : EIO;
  return mkErr(e, op, what + ": " + std::strerror(e));
}

// "EEXIST" for 17 (glibc strerrorname_np; "E<n>" when unknown).
std::string errnoName(int err);

}  // namespace ctn
