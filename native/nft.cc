// native/nft.cc — see nft.h. Prototypes are declared here (no libnftables headers and no
// link-time dependency): the addon loads and works without nftables installed.
#include "nft.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace ctn {

namespace {

constexpr unsigned kOutputJson = 1u << 4;  // NFT_CTX_OUTPUT_JSON
constexpr unsigned kCtxDefault = 0;        // NFT_CTX_DEFAULT

struct Lib {
  void* (*ctx_new)(unsigned) = nullptr;
  void (*ctx_free)(void*) = nullptr;
  void (*output_set_flags)(void*, unsigned) = nullptr;
  int (*buffer_output)(void*) = nullptr;
  int (*buffer_error)(void*) = nullptr;
  const char* (*get_output)(void*) = nullptr;
  const char* (*get_error)(void*) = nullptr;
  int (*run_cmd)(void*, const char*) = nullptr;
};

std::mutex gMu;  // guards loading and every libnftables call
bool gTried = false;
bool gOk = false;
std::string gReason;
Lib gLib;

template <typename F>
bool sym(void* h, const char* name, F* out) {
  void* p = ::dlsym(h, name);
  if (!p) {
    gReason = std::string("libnftables.so.1 has no symbol ") + name;
    return false;
  }
  *out = reinterpret_cast<F>(p);
  return true;
}

bool loadLocked() {
  if (gTried) return gOk;
  gTried = true;
  void* h = ::dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = ::dlerror();
    gReason = std::string("dlopen libnftables.so.1: ") + (e ? e : "unknown error");
    return false;
  }
  Lib l;
  if (!sym(h, "nft_ctx_new", &l.ctx_new) || !sym(h, "nft_ctx_free", &l.ctx_free) ||
      !sym(h, "nft_ctx_output_set_flags", &l.output_set_flags) || !sym(h, "nft_ctx_buffer_output", &l.buffer_output) ||
      !sym(h, "nft_ctx_buffer_error", &l.buffer_error) || !sym(h, "nft_ctx_get_output_buffer", &l.get_output) ||
      !sym(h, "nft_ctx_get_error_buffer", &l.get_error) || !sym(h, "nft_run_cmd_from_buffer", &l.run_cmd)) {
    ::dlclose(h);
    return false;
  }
  gLib = l;  // the handle stays open for the life of the process
  gOk = true;
  return true;
}

std::string trim(const char* s) {
  std::string t = s ? s : "";
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ' || t.back() == '\t')) t.pop_back();
  return t;
}

// libnftables reports kernel failures as text ("Could not process rule: No such file or
// directory"); recover the errno from the strerror() text when there is one, else EINVAL
// (parse and validation errors).
int errnoOf(const std::string& text) {
  static const int kKnown[] = {ENOENT, EEXIST, EPERM, EACCES, EBUSY, ENOSPC, ENOMEM, EOPNOTSUPP, EAFNOSUPPORT,
                               ENOBUFS, EMSGSIZE, ERANGE, E2BIG, ENODEV, ENOTDIR, ELOOP, EOVERFLOW};
  for (int e : kKnown)
    if (text.find(std::strerror(e)) != std::string::npos) return e;
  return EINVAL;
}

}  // namespace

bool nftLoad(std::string* reason) {
  std::lock_guard<std::mutex> lk(gMu);
  bool ok = loadLocked();
  if (!ok && reason) *reason = gReason;
  return ok;
}

NftCtx* nftNew(KErr* err) {
  std::lock_guard<std::mutex> lk(gMu);
  if (!loadLocked()) {
    *err = mkErr(ENOSYS, "nft", gReason);
    return nullptr;
  }
  void* c = gLib.ctx_new(kCtxDefault);
  if (!c) {
    *err = mkErr(ENOMEM, "nft", "nft_ctx_new failed");
    return nullptr;
  }
  gLib.output_set_flags(c, kOutputJson);
  gLib.buffer_output(c);
  gLib.buffer_error(c);
  return static_cast<NftCtx*>(c);
}

void nftFree(NftCtx* c) {
  if (!c) return;
  std::lock_guard<std::mutex> lk(gMu);
  if (gOk) gLib.ctx_free(c);
}

KErr nftRun(NftCtx* c, const std::string& json, std::string* out) {
  std::lock_guard<std::mutex> lk(gMu);
  if (!gOk) return mkErr(ENOSYS, "nft", gReason);
  int rc = gLib.run_cmd(c, json.c_str());
  // Reading a buffer also resets it for the next command.
  std::string o = trim(gLib.get_output(c));
  std::string e = trim(gLib.get_error(c));
  if (rc != 0) return mkErr(errnoOf(e), "nft", e.empty() ? "nft_run_cmd_from_buffer failed" : e);
  *out = o;
  return {};
}

}  // namespace ctn
