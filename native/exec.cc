// native/exec.cc — see exec.h.
//
// execInNetns(nsPath: string, file: string, argv: string[]): never
//   1. open(nsPath) and setns(fd, CLONE_NEWNET) on the CALLING thread. For CLONE_NEWNET
//      setns is allowed in a multi-threaded process (only CLONE_NEWUSER and mount
//      namespaces need a single-threaded caller or an unshared fs_struct).
//   2. Undo what Node did to the process that a fresh program must not inherit:
//      ignored signals (Node ignores SIGPIPE; SIG_IGN survives execve), the signal mask
//      of this thread (survives execve), FD_CLOEXEC that Node sets on fds 0-2 (the
//      program would start without stdio), and O_NONBLOCK that libuv may have set on the
//      stdio descriptors (it lives in the shared open file description).
//   3. execvp(file, argv): the kernel ends every other thread (libuv pool, V8 workers)
//      and this thread's namespaces become the new program's.
// On success it never returns. On failure it throws an Error with code (errno name),
// errno and syscall; if setns already succeeded the thread stays in the target netns,
// so the caller must exit instead of carrying on.
#include "exec.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "kerr.h"

namespace {

Napi::Error SysError(Napi::Env env, int err, const char* syscall, const std::string& what) {
  std::string code = ctn::errnoName(err);
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " " + what + ": " + code + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void ResetForExec() {
  // Ignored signals stay ignored across execve: give the program the defaults.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) != 0) continue;  // EINVAL for libc-reserved signals
    if (old.sa_handler == SIG_IGN) {
      struct sigaction dfl;
      std::memset(&dfl, 0, sizeof dfl);
      dfl.sa_handler = SIG_DFL;
      sigemptyset(&dfl.sa_mask);
      sigaction(sig, &dfl, nullptr);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  for (int fd = 0; fd <= 2; ++fd) {
    // Node marks its stdio descriptors close-on-exec: without this the program would
    // start with fds 0-2 closed (and its first open() would become its stdin).
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl >= 0 && (fdfl & FD_CLOEXEC) != 0) fcntl(fd, F_SETFD, fdfl & ~FD_CLOEXEC);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK) != 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
}

Napi::Value ExecInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsArray()) {
    throw Napi::TypeError::New(env, "execInNetns(nsPath: string, file: string, argv: string[])");
  }
  const std::string nsPath = info[0].As<Napi::String>().Utf8Value();
  const std::string file = info[1].As<Napi::String>().Utf8Value();
  Napi::Array arr = info[2].As<Napi::Array>();
  std::vector<std::string> args;
  args.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "execInNetns: argv must be strings");
    args.push_back(v.As<Napi::String>().Utf8Value());
  }
  if (file.empty() || args.empty()) throw Napi::TypeError::New(env, "execInNetns: empty command");
  for (const std::string& a : args) {
    if (a.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "execInNetns: NUL in an argument");
  }
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fd = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SysError(env, errno, "open", nsPath);
  if (setns(fd, CLONE_NEWNET) != 0) {
    int err = errno;
    close(fd);
    throw SysError(env, err, "setns", nsPath);
  }
  close(fd);
  ResetForExec();
  execvp(file.c_str(), argv.data());
  throw SysError(env, errno, "execvp", file);
}

}  // namespace

void RegisterExec(Napi::Env env, Napi::Object exports) {
  exports.Set("execInNetns", Napi::Function::New(env, ExecInNetns, "execInNetns"));
}
