// native/kill_hook.cc — see kill_hook.h.
#include "kill_hook.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace ctn {

namespace {

std::once_flag once;
uint64_t killAt = 0, killAfter = 0;  // 0: off; written once, before any plan runs
std::atomic<uint64_t> executed{0};

// A positive decimal integer, else 0 (off).
uint64_t readN(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  uint64_t n = 0;
  for (const char* p = v; *p; p++) {
    if (*p < '0' || *p > '9' || n > 1000000000ULL) return 0;
    n = n * 10 + static_cast<uint64_t>(*p - '0');
  }
  return n;
}

[[noreturn]] void die() {
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();  // SIGKILL cannot be caught: nothing after this runs
}

}  // namespace

void killHookInit() {
  std::call_once(once, [] {
    killAt = readN("CTNET_TEST_KILL_AT_STEP");
    killAfter = readN("CTNET_TEST_KILL_AFTER_STEP");
  });
}

uint64_t killHookBefore() {
  if (killAt == 0 && killAfter == 0) return 0;
  uint64_t n = executed.fetch_add(1) + 1;
  if (n == killAt) die();
  return n;
}

void killHookAfter(uint64_t n) {
  if (n != 0 && n == killAfter) die();
}

}  // namespace ctn
