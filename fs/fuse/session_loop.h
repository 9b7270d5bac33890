// SessionLoop: the mount's FUSE request loop -- one hot thread, and hand-offs only when a
// request waits.
//
// libfuse's own multi-threaded loop has every idle worker blocked in read(/dev/fuse). The
// kernel wakes the one that has waited longest, so consecutive requests of one program run on
// different threads, in turn, often on another CPU: `cp -r` of small files paid a cross-CPU
// wake-up for almost every request (docs/PERFORMANCE.md). Here exactly one worker, the
// leader, reads /dev/fuse; it serves the request it read itself and then reads the next.
//
//   leader: read a request -> serve it -> still the leader? read the next : become a follower
//   a request that waits calls gf::MayBlock() (common/blocking.h): its worker stops being the
//     leader and a follower (or a new worker, up to max_threads) takes over the reading;
//     when its request is answered it becomes a follower (or the leader, if there is none).
//     A wait on the network watches /dev/fuse as well (BlockingHook::WatchFd) and hands off
//     only if a request arrives meanwhile: `cp`'s PUT at close, with `cp` waiting for it,
//     costs no hand-off
//   the watch: a request served inline for `stall` to twice that without a MayBlock() mark
//     (a lock held by another thread, a wait nobody marked) loses the leadership the same way;
//     not while its wait watches /dev/fuse (it hands off by itself when a request comes): a
//     PUT to a server 50 ms away keeps its thread's turn, and wakes no second thread
//
// So requests still run concurrently whenever one of them waits, up to max_threads at once,
// as before; a short request no longer costs a thread hand-off. The watch costs nothing
// while the mount is idle (it sleeps until a request starts after an idle spell) and at most
// one wake-up per `stall` while it is busy.
//
// Exit: a signal (fuse_set_signal_handlers), `fusermount3 -u` (read() fails with ENODEV) or
// RequestExit() ends Run(); a worker blocked in read() is interrupted by the loop's wake-up
// signal (SIGRTMIN, whose handler does nothing), the others end when their request is answered.
// Run() joins every worker. (fuse_session_exit() alone is seen at a worker's next read: the mount's
// exit watcher calls RequestExit().)
//
// Lock order: SessionLoop::mu_ is a leaf. MayBlock() takes it from inside any request, with
// whatever locks that request holds.
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/mutex.h"

namespace gf::fs {

// Where requests come from: a FUSE session (FuseSessionSource), or a test's fake.
class RequestSource {
 public:
  virtual ~RequestSource() = default;
  // Blocks for the next request: its size, 0 when the session ended, or a negative errno
  // (-EINTR and -EAGAIN: read again). The loop's wake-up signal interrupts it (see Exit above).
  virtual int Receive(fuse_buf* buf) = 0;
  virtual void Serve(const fuse_buf& buf) = 0;
  virtual bool Exited() = 0;
  virtual void Exit() = 0;
  // A descriptor that polls readable when a request waits (BlockingHook::WatchFd), or -1.
  virtual int Fd() { return -1; }
};

class FuseSessionSource : public RequestSource {
 public:
  explicit FuseSessionSource(fuse_session* se) : se_(se) {}
  int Receive(fuse_buf* buf) override { return fuse_session_receive_buf(se_, buf); }
  void Serve(const fuse_buf& buf) override { fuse_session_process_buf(se_, &buf); }
  bool Exited() override { return fuse_session_exited(se_) != 0; }
  void Exit() override { fuse_session_exit(se_); }
  int Fd() override { return fuse_session_fd(se_); }

 private:
  fuse_session* const se_;
};

struct SessionLoopOptions {
  int max_threads = 16;  // workers at most (each served request that waits holds one)
  std::chrono::microseconds stall{std::chrono::milliseconds(10)};
};

struct SessionLoopStats {
  uint64_t requests = 0;   // read from /dev/fuse
  uint64_t hand_offs = 0;  // MayBlock() on the leader
  uint64_t stalls = 0;     // leaderships taken by the watch
  int threads = 0;         // workers started
};

class SessionLoop {
 public:
  SessionLoop(RequestSource& source, SessionLoopOptions o);
  ~SessionLoop();
  SessionLoop(const SessionLoop&) = delete;
  SessionLoop& operator=(const SessionLoop&) = delete;

  // Serves requests until the session exits. 0, or a negative errno of /dev/fuse.
  int Run();
  // Ends Run() from any thread (what a signal or an unmount does).
  void RequestExit();
  SessionLoopStats Stats() const;

 private:
  struct Worker {
    SessionLoop* loop = nullptr;
    pthread_t tid{};
    fuse_buf buf{};
    // The request number this worker serves as the leader, or 0 while it reads (or is not
    // the leader). Written by the worker, read by the watch.
    std::atomic<uint64_t> serving{0};
    // The request number whose wait watches /dev/fuse (BlockingHook::WatchFd) until its
    // EndWatch(), or 0. The watch leaves such a request the reading. Written by the worker.
    // Keyed by request number, so a mark left behind never matches a later request.
    std::atomic<uint64_t> watching{0};
    std::atomic<bool> receiving{false};  // inside Receive(): the wake-up signal may be sent
  };

  static int WakeSignal();  // installs its do-nothing handler once
  static void* WorkerMain(void* w);
  static void* WatchMain(void* loop);
  static void OnMayBlock(void* w);
  static int OnWatchFd(void* w);
  static void OnEndWatch(void* w);
  void Work(Worker* w);
  // Reads and serves requests while `w` is the leader. False when the session ended.
  bool Lead(Worker* w);
  void HandOff(Worker* w);
  void Watch();
  // The leadership is free: true if a follower waits (the caller wakes one after unlocking);
  // else starts a worker if the cap allows; else the first worker whose request ends takes it.
  bool PromoteLocked() REQUIRES(mu_);
  bool StartWorkerLocked() REQUIRES(mu_);
  void Finish(int error);
  void LogStartError() EXCLUDES(mu_);

  RequestSource& source_;
  const SessionLoopOptions o_;
  sem_t finished_;  // posted when a worker saw the session end

  mutable Mutex mu_;                   // a leaf; see the header comment
  std::condition_variable followers_;  // the leadership is free, or exiting_
  std::condition_variable watch_cv_;   // the watch's sleep
  std::vector<std::unique_ptr<Worker>> workers_ GUARDED_BY(mu_);
  int idle_ GUARDED_BY(mu_) = 0;  // followers waiting in followers_
  bool exiting_ GUARDED_BY(mu_) = false;
  int error_ GUARDED_BY(mu_) = 0;
  uint64_t hand_offs_ GUARDED_BY(mu_) = 0;
  uint64_t stalls_ GUARDED_BY(mu_) = 0;

  // Read without mu_ on the leader's path: the worker that reads /dev/fuse (nullptr: none).
  // Changed only under mu_.
  std::atomic<Worker*> leader_{nullptr};
  std::atomic<uint64_t> requests_{0};
  std::atomic<int> start_error_{0};  // pthread_create's error, until logged
  // The watch sleeps until a request starts (set under mu_; the leader clears it under mu_).
  std::atomic<bool> watch_parked_{false};
  pthread_t watch_tid_{};
  bool watch_started_ = false;
};

}  // namespace gf::fs
