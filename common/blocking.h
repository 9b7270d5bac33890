// MayBlock(): "this thread is about to wait" -- for the network, a sleep, or another thread.
//
// The mount's FUSE loop (fs/fuse/session_loop.h) serves requests on one hot thread: the
// thread that read a request from /dev/fuse serves it, then reads the next one, so a stream of
// short requests (`cp -r`'s lookups, creates, writes) stays on one warm thread with no
// hand-off between threads. A request that waits must not hold up the others behind it, so
// every place that may wait calls MayBlock() first; on a loop worker that is still the one
// reading /dev/fuse, it passes the reading to another worker and goes on with its wait. On any
// other thread (the transfer engine, prefetch workers, tests) it does nothing.
//
// A wait that misses its mark is not a hang: the loop's watch takes the reading over from a
// request that has been served for longer than its stall bound (fs/fuse/session_loop.h).
// So a mark is a matter of latency for the other requests, never of correctness.
#pragma once

namespace gf {

class BlockingHook {
 public:
  using Fn = void (*)(void* arg);
  using FdFn = int (*)(void* arg);
  // Installs this thread's hook (nullptr: none). Loop workers only.
  static void Set(Fn fn, FdFn watch_fd, Fn end_watch, void* arg) {
    fn_ = fn;
    watch_fd_ = watch_fd;
    end_watch_ = end_watch;
    arg_ = arg;
  }
  static void Call() {
    if (fn_) fn_(arg_);
  }
  // The descriptor of requests this thread is still expected to read (the FUSE device, on the
  // worker that reads it), or -1. A wait that can watch one more descriptor (the HTTP
  // transport's poll) watches this one too and calls MayBlock() only once it is readable: a
  // short wait with nothing else asked then costs no hand-off at all.
  // While a wait watches the descriptor it is not stalled (it sees the next request come), so
  // the loop's watch leaves it the reading; EndWatch() says the wait is over, and from then on
  // the request is timed as any other.
  static int WatchFd() { return watch_fd_ ? watch_fd_(arg_) : -1; }
  static void EndWatch() {
    if (end_watch_) end_watch_(arg_);
  }

 private:
  static inline thread_local Fn fn_ = nullptr;
  static inline thread_local FdFn watch_fd_ = nullptr;
  static inline thread_local Fn end_watch_ = nullptr;
  static inline thread_local void* arg_ = nullptr;
};

// Call right before a wait that may take long (not before one that is known to be short).
inline void MayBlock() { BlockingHook::Call(); }

}  // namespace gf
