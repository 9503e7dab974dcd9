// native/fifo.cc — see fifo.h.
#include "fifo.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/stat.h>

#include "kerr.h"

namespace {

// mkfifo(path: string, mode: number): undefined; throws Error{code: 'EEXIST'|…, errno} naming the path.
Napi::Value MkFifo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "mkfifo(path: string, mode: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  mode_t mode = static_cast<mode_t>(info[1].As<Napi::Number>().Uint32Value() & 07777);
  if (::mkfifo(path.c_str(), mode) != 0) {
    int err = errno;
    Napi::Error e = Napi::Error::New(env, std::string("mkfifo ") + path + ": " + std::strerror(err));
    e.Set("code", Napi::String::New(env, ctn::errnoName(err)));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace

void RegisterFifo(Napi::Env env, Napi::Object exports) {
  exports.Set("mkfifo", Napi::Function::New(env, MkFifo, "mkfifo"));
}
