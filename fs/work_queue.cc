#include "fs/work_queue.h"

namespace gf::fs {

WorkQueue::WorkQueue(std::string name, int threads, std::size_t max_queued,
                     bool accept_before_start)
    : name_(std::move(name)),
      threads_(threads < 0 ? 0 : threads),
      max_queued_(max_queued),
      accept_before_start_(accept_before_start) {}

WorkQueue::~WorkQueue() { Stop(); }

void WorkQueue::Start() {
  MutexLock l(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { Loop(); });
}

void WorkQueue::Stop() {
  std::vector<std::thread> workers;
  {
    MutexLock l(mu_);
    stopping_ = true;
    queue_.clear();
    workers.swap(workers_);
  }
  cv_.notify_all();
  for (auto& t : workers) t.join();
  idle_cv_.notify_all();
}

bool WorkQueue::Submit(std::function<void()> fn) {
  {
    MutexLock l(mu_);
    if ((!started_ && !accept_before_start_) || stopping_ || threads_ == 0 ||
        queue_.size() >= max_queued_)
      return false;
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
  return true;
}

void WorkQueue::Loop() {
  UniqueLock l(mu_);
  while (true) {
    cv_.wait(l.native(), [&] {
      mu_.AssertHeld();
      return stopping_ || !queue_.empty();
    });
    if (stopping_) return;
    auto fn = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    l.unlock();
    fn();
    fn = nullptr;  // destroy captures outside the lock
    l.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_cv_.notify_all();
  }
}

std::size_t WorkQueue::queued() const {
  MutexLock l(mu_);
  return queue_.size();
}

int WorkQueue::running() const {
  MutexLock l(mu_);
  return running_;
}

void WorkQueue::WaitIdle() {
  UniqueLock l(mu_);
  idle_cv_.wait(l.native(), [&] {
    mu_.AssertHeld();
    return stopping_ || !started_ || (queue_.empty() && running_ == 0);
  });
}

}  // namespace gf::fs
