// native/peercred.cc — see peercred.h.
#include "peercred.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>

#include "kerr.h"

namespace {

// peerCred(fd: number): {pid, uid, gid} as the kernel recorded them when the peer connected
// (pid translated into our pid namespace: 0 when the peer's process is not visible in it).
// Throws Error{code, errno} (EBADF, ENOTSOCK…).
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "peerCred(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    int err = errno;
    Napi::Error e = Napi::Error::New(env, std::string("getsockopt SO_PEERCRED: ") + std::strerror(err));
    e.Set("code", Napi::String::New(env, ctn::errnoName(err)));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace

void RegisterPeerCred(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
}
