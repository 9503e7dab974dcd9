// native/addon.cc — module entry point: the NativeAddon of src/model/plan.ts.
//
// Layer: native/ (the N-API edge). Converts plans on the JS thread, queues them on the
// addon's namespace threads (ns_thread.cc) and resolves the Promise through one
// thread-safe function. The TSFN is Ref'd only while plans are pending, so an idle
// addon never keeps the process alive. Never throws out of the process on kernel
// errors: those are values in the results.
#include <napi.h>

#include "exec.h"
#include "fifo.h"
#include "peercred.h"
#include "js_conv.h"
#include "kill_hook.h"
#include "nft.h"
#include "nl_msg.h"
#include "ns_cache.h"
#include "ns_thread.h"
#include "rtnl_decode.h"
#include "rtnl_encode.h"
#include "rtnl_followups.h"
#include "rtnl_validate.h"

#include <linux/rtnetlink.h>

namespace ctn {
namespace {

constexpr int kAbiVersion = 1;
constexpr size_t kThreads = 2;

struct JsJob : JobBase {
  explicit JsJob(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
};

struct Addon;
void callJs(Napi::Env env, Napi::Function, Addon* ctx, JobBase* job);
using Tsfn = Napi::TypedThreadSafeFunction<Addon, JobBase, callJs>;

struct Addon {
  Tsfn tsfn;
  bool tsfnLive = false;
  std::unique_ptr<NsWorkers> workers;
  size_t pending = 0;
  std::string homeErr;
};

void settle(Napi::Env env, Addon* a, JsJob* job, bool reject, const std::string& why) {
  if (reject) job->deferred.Reject(Napi::Error::New(env, why).Value());
  else job->deferred.Resolve(stepResultsToJs(env, job->results));
  if (a->pending > 0 && --a->pending == 0 && a->tsfnLive) a->tsfn.Unref(env);
}

void callJs(Napi::Env env, Napi::Function, Addon* a, JobBase* base) {
  JsJob* job = static_cast<JsJob*>(base);
  if (env == nullptr) {  // the TSFN is being torn down with the environment
    delete job;
    return;
  }
  try {
    settle(env, a, job, false, "");
  } catch (const Napi::Error& e) {
    // Converting results failed (should not happen): reject rather than lose the promise.
    try {
      job->deferred.Reject(e.Value());
    } catch (...) {
    }
  }
  delete job;
}

Addon* addonOf(const Napi::CallbackInfo& info) { return info.Env().GetInstanceData<Addon>(); }

Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Addon* a = addonOf(info);
  auto job = std::make_unique<JsJob>(env);
  Napi::Promise promise = job->deferred.Promise();
  if (!a->homeErr.empty()) {
    job->deferred.Reject(Napi::Error::New(env, "ctnet_native: cannot open home netns: " + a->homeErr).Value());
    return promise;
  }
  try {
    job->plan = planFromJs(info.Length() > 0 ? info[0] : env.Undefined());
  } catch (const Napi::Error& e) {
    job->deferred.Reject(e.Value());
    return promise;
  }
  if (!a->workers) {
    Tsfn* t = &a->tsfn;
    a->workers = std::make_unique<NsWorkers>(kThreads, [t](JobBase* j) {
      if (t->NonBlockingCall(j) != napi_ok) delete j;  // environment is going away
    });
  }
  if (a->pending++ == 0) a->tsfn.Ref(env);
  a->workers->submit(job.release());
  return promise;
}

Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "encode(op, seq): seq must be a number");
  OpC op = opFromJs(info[0]);
  uint32_t seq = info[1].As<Napi::Number>().Uint32Value();
  MsgBuilder b;
  EncodeEnv e;
  e.pid = 0;
  e.nextSeq = [&seq] { return seq++; };
  e.nsFd = [](const NsRefC& r, KErr* err) -> int {
    if (r.kind == NsRefC::Fd) return r.n;
    *err = mkErr(EINVAL, "encode", "encode() takes only {fd: N} netns references");
    return -1;
  };
  // The same check as in a plan, once per op: validateOp() makes the ValidOp encodeOp() needs.
  auto encode = [&e, &b](const OpC& x) {
    KErr err;
    std::optional<ValidOp> v = validateOp(x, &err);
    return v ? encodeOp(*v, e, b, nullptr) : err;
  };
  KErr err = encode(op);
  if (!err && op.type == OpType::LinkAdd) {
    for (const OpC& x : followUpsHere(op))
      if (!err) err = encode(x);
  }
  if (err) {
    Napi::Error je = Napi::Error::New(env, errnoName(err.err) + ": " + err.msg + " (" + err.op + ")");
    je.Set("code", errnoName(err.err));
    je.Set("errno", Napi::Number::New(env, err.err));
    je.Set("op", err.op);
    throw je;
  }
  return Napi::Buffer<uint8_t>::Copy(env, b.bytes().data(), b.size());
}

Napi::Value Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    out.Set("error", "decode(buf): buf must be a Buffer");
    return out;
  }
  Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
  // Copy: the Buffer may be unaligned; the parser reads headers at aligned offsets.
  std::vector<uint8_t> data(buf.Data(), buf.Data() + buf.Length());
  Napi::Array msgs = Napi::Array::New(env);
  MsgIter it(data.data(), data.size());
  const nlmsghdr* h;
  uint32_t n = 0;
  while (it.next(&h)) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("type", h->nlmsg_type);
    m.Set("flags", h->nlmsg_flags);
    m.Set("seq", static_cast<double>(h->nlmsg_seq));
    std::string why;
    bool ok = true;
    if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
      LinkC l;
      ok = decodeLink(h, &l, &why);
      if (ok) m.Set("value", linkToJs(env, l));
    } else if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR) {
      AddrC a;
      ok = decodeAddr(h, &a, &why);
      if (ok) m.Set("value", addrToJs(env, a));
    } else if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) {
      RouteC r;
      ok = decodeRoute(h, &r, &why);
      if (ok) m.Set("value", routeToJs(env, r));
    } else if (h->nlmsg_type == NLMSG_ERROR) {
      int e;
      if (!msgErrno(h, &e)) {
        ok = false;
        why = "short NLMSG_ERROR";
      } else if (e) {
        m.Set("error", kerrToJs(env, mkErr(e, "NLMSG_ERROR")));
      }
    }
    if (!ok) {
      Napi::Object bad = Napi::Object::New(env);
      bad.Set("error", "message " + std::to_string(n) + " (type " + std::to_string(h->nlmsg_type) + "): " + why);
      return bad;
    }
    msgs.Set(n++, m);
  }
  if (!it.error().empty()) {
    out.Set("error", it.error());
    return out;
  }
  out.Set("messages", msgs);
  return out;
}

Napi::Value NftAvailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string reason;
  bool ok = nftLoad(&reason);
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", ok);
  if (!ok) o.Set("reason", reason);
  return o;
}

void stopWorkers(Napi::Env env, Addon* a) {
  if (!a->workers) return;
  std::vector<JobBase*> left = a->workers->stop();
  a->workers.reset();
  for (JobBase* j : left) {
    JsJob* job = static_cast<JsJob*>(j);
    if (env != nullptr) settle(env, a, job, true, "ctnet_native: shut down before the plan ran");
    delete job;
  }
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Addon* a = addonOf(info);
  stopWorkers(info.Env(), a);
  cacheClear();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Addon* a = new Addon();
  killHookInit();  // crash tests only: CTNET_TEST_KILL_AT_STEP / _AFTER_STEP, read once
  KErr he = initHome();
  if (he) a->homeErr = errnoName(he.err) + ": " + he.msg;
  a->tsfn = Tsfn::New(env, "ctnet_native", 0, 1, a);
  a->tsfnLive = true;
  a->tsfn.Unref(env);
  env.SetInstanceData<Addon>(a);
  // Before the environment goes: join our threads, then let the TSFN go.
  env.AddCleanupHook([a]() {
    stopWorkers(Napi::Env(nullptr), a);  // no JS left to settle with: unrun jobs are only freed
    if (a->tsfnLive) {
      a->tsfnLive = false;
      a->tsfn.Release();
    }
    cacheClear();
  });
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("encode", Napi::Function::New(env, Encode, "encode"));
  exports.Set("decode", Napi::Function::New(env, Decode, "decode"));
  exports.Set("nftAvailable", Napi::Function::New(env, NftAvailable, "nftAvailable"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  // Not part of NativeAddon: `ctnet-fast exec` (native/exec.cc, owned by the CLI). It
  // setns()es the calling thread and execvp()s at once, replacing the whole process.
  RegisterExec(env, exports);
  // Not part of NativeAddon either: named pipes for the CLI daemon (native/fifo.cc).
  RegisterFifo(env, exports);
  RegisterPeerCred(env, exports);  // SO_PEERCRED for the CLI daemon (native/peercred.cc)
  return exports;
}

}  // namespace
}  // namespace ctn

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ctn::Init(env, exports); }
NODE_API_MODULE(ctnet_native, InitModule)
