// The cancel flag of the request the calling thread serves, published for waits that no
// parameter reaches.
//
// The FUSE adapter raises a request's flag when its caller gets a signal (Ctrl-C); it publishes
// the flag on the serving thread for the request's duration (fs::RequestCancel is this class).
// Every wait deep below -- a login flow, a retry backoff in api/RequestExecutor, an HTTP
// request in flight -- looks at Current() and ends at once (EINTR) when it is raised.
// Threads that serve nobody in particular (the transfer engine, prefetch workers) publish none;
// what ends their waits is the process-wide shutdown below.
#pragma once

#include <atomic>

namespace gf {

class CancelScope {
 public:
  explicit CancelScope(const std::atomic<bool>* flag) : prev_(current_) { current_ = flag; }
  ~CancelScope() { current_ = prev_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  // The innermost published flag on this thread, or nullptr.
  static const std::atomic<bool>* Current() { return current_; }

 private:
  static inline thread_local const std::atomic<bool>* current_ = nullptr;
  const std::atomic<bool>* prev_;
};

// Process-wide: the process is shutting down (its mount's FUSE session ended). Every wait that
// honours CancelScope ends too, and requests in flight abort, so a daemon exits at once instead
// of after a retry budget spent on a network that is down. One way: never cleared.
inline std::atomic<bool>& ShutdownFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}
inline void RequestShutdown() { ShutdownFlag().store(true); }
inline bool ShutdownRequested() { return ShutdownFlag().load(std::memory_order_relaxed); }

// The flag `cancel` raised, or the process shutting down.
inline bool Cancelled(const std::atomic<bool>* cancel) {
  return (cancel && cancel->load()) || ShutdownRequested();
}

}  // namespace gf
