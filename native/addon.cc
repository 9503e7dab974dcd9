// native/addon.cc — module entry point (placeholder until the netlink core lands).
#include <napi.h>
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}
NODE_API_MODULE(ctnet_native, Init)
