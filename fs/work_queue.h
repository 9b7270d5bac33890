// WorkQueue: a small fixed pool of worker threads with a bounded queue.
//
// Threads start in Start(), not in the constructor, because the mount forks (daemonizes)
// after the filesystem object exists and threads do not survive fork(). Submit() refuses work
// (returns false) when the queue is full, stopped or (unless accept_before_start) not started,
// or has no threads; callers then either drop
// the work (directory prefetch) or run it inline (reads). Stop() drops queued work, and joins
// the threads after their current item (each item is one bounded remote call).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace gf::fs {

class WorkQueue {
 public:
  // accept_before_start: Submit() queues work before Start() (it runs once started).
  WorkQueue(std::string name, int threads, std::size_t max_queued,
            bool accept_before_start = false);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Start();
  void Stop();
  bool Submit(std::function<void()> fn);

  std::size_t queued() const;
  int running() const;
  int threads() const { return threads_; }
  // Blocks until nothing is queued or running (tests and drop-caches use it).
  void WaitIdle();

 private:
  void Loop();
  const std::string name_;
  const int threads_;
  const std::size_t max_queued_;
  const bool accept_before_start_;
  mutable Mutex mu_;  // leaf lock: guards the fields below
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  std::vector<std::thread> workers_ GUARDED_BY(mu_);
  int running_ GUARDED_BY(mu_) = 0;
  bool started_ GUARDED_BY(mu_) = false, stopping_ GUARDED_BY(mu_) = false;
};

}  // namespace gf::fs
