// native/ns_thread.cc — see ns_thread.h.
#include "ns_thread.h"

#include "plan_exec.h"

namespace ctn {

NsWorkers::NsWorkers(size_t threads, std::function<void(JobBase*)> post) : want_(threads ? threads : 1), post_(std::move(post)) {}

NsWorkers::~NsWorkers() {
  for (JobBase* j : stop()) delete j;
}

void NsWorkers::reapAndSpawn() {
  // Join threads that exited (lost their home netns), then top up.
  for (auto it = threads_.begin(); it != threads_.end();) {
    if ((*it)->exited.load()) {
      if ((*it)->th.joinable()) (*it)->th.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  while (threads_.size() < want_) {
    auto t = std::make_unique<T>();
    T* raw = t.get();
    t->th = std::thread([this, raw] { loop(raw); });
    threads_.push_back(std::move(t));
  }
}

void NsWorkers::submit(JobBase* job) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = false;
    q_.push_back(job);
  }
  reapAndSpawn();
  cv_.notify_one();
}

std::vector<JobBase*> NsWorkers::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t->th.joinable()) t->th.join();
  threads_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<JobBase*> left(q_.begin(), q_.end());
  q_.clear();
  return left;
}

void NsWorkers::loop(T* self) {
  Worker w;
  for (;;) {
    JobBase* job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !q_.empty(); });
      if (stopping_) break;
      job = q_.front();
      q_.pop_front();
    }
    job->results = w.run(job->plan);
    post_(job);
    if (w.lost()) break;  // stuck in a foreign netns: never run another plan here
  }
  self->exited.store(true);
  // Another waiter may need to pick up work we would have taken.
  cv_.notify_one();
}

}  // namespace ctn
