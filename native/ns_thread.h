// native/ns_thread.h — the addon's own namespace threads: a few worker threads with one queue (NsWorkers).
//
// Layer: native/. Plans run here, never on the JS main thread or libuv's pool (a
// setns() there would move JS or unrelated I/O into a container's netns). Threads are
// spawned only from the JS main thread, so each starts in the addon's home netns. A
// thread that cannot setns() home after a plan exits and is replaced on the next submit.
// No N-API calls happen on these threads: results are handed to `post`.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "rtnl_types.h"

namespace ctn {

struct JobBase {
  PlanC plan;
  std::vector<StepResultC> results;
  virtual ~JobBase() = default;
};

class NsWorkers {
 public:
  NsWorkers(size_t threads, std::function<void(JobBase*)> post);
  ~NsWorkers();
  // Main thread only.
  void submit(JobBase* job);
  // Main thread only: stops and joins every thread (a running plan finishes first) and
  // returns the jobs that never ran.
  std::vector<JobBase*> stop();

 private:
  struct T {
    std::thread th;
    std::atomic<bool> exited{false};
  };
  void loop(T* self);
  void reapAndSpawn();

  size_t want_;
  std::function<void(JobBase*)> post_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobBase*> q_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<T>> threads_;
};

}  // namespace ctn
