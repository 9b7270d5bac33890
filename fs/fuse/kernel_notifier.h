// FuseNotifier: the KernelNotifier of a real mount (fuse_lowlevel_notify_inval_entry/_inode).
//
// Invalidations must not be sent inside the request that caused them (the kernel may hold the
// very inode lock the notification needs). They are queued, and sent by a thread of their own,
// or -- for notes a mount worker queues while it serves a request (BeginDeferral/EndDeferral
// around each request) -- by that worker itself once the request has been answered. That saves
// waking the notification thread at every upload (docs/PERFORMANCE.md). A worker calls
// MayBlock() before it drops a dentry, so it no longer holds up the reading of requests: that
// takes the directory's lock, which a lookup or create there may hold while it waits for a
// request we have not read yet. (Dropping an inode waits only for pages under a read in
// flight; the loop's watch covers that rare case within its stall bound.) And
// only one worker sends at a time (the others wake the thread), so notifications that wait tie
// up at most one worker and the notification thread, as before, never the whole thread cap. Built
// before the Filesystem and handed to it; notifications before Attach() (nothing is mounted, the
// kernel caches nothing) and after Detach() are dropped.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>

#include "common/mutex.h"
#include "fs/hooks.h"

namespace gf::fs {

class FuseNotifier final : public KernelNotifier {
 public:
  FuseNotifier() = default;
  ~FuseNotifier() override;
  FuseNotifier(const FuseNotifier&) = delete;
  FuseNotifier& operator=(const FuseNotifier&) = delete;

  // Starts/stops the notification thread (after daemonizing; before destroying the session).
  void Attach(fuse_session* se) EXCLUDES(mu_);
  void Detach() EXCLUDES(mu_);

  void InvalidateInode(Ino ino) override EXCLUDES(mu_);
  void InvalidateEntry(Ino parent, const std::string& name) override EXCLUDES(mu_);
  bool Settle(std::chrono::milliseconds max) override EXCLUDES(mu_);

  // Around a request on a mount worker: notes this thread queues in between are sent by it at
  // EndDeferral() (call it after the request's reply), with whatever else is queued by then.
  static void BeginDeferral() { deferring_ = true; }
  void EndDeferral() EXCLUDES(mu_);

 private:
  struct Note {
    bool entry = false;
    Ino ino = 0;
    std::string name;
  };
  void Queue(Note n) EXCLUDES(mu_);
  void Loop() EXCLUDES(mu_);
  // Sends queued notes until none is left; lets go of mu_ during each send.
  void DrainLocked() REQUIRES(mu_);

  static inline thread_local bool deferring_ = false;  // between Begin/EndDeferral
  static inline thread_local bool deferred_ = false;   // queued a note meanwhile
  std::atomic<bool> inline_sender_{false};             // a worker is sending notes (EndDeferral)

  Mutex mu_;                         // leaf lock: guards the fields below
  std::condition_variable cv_;       // notes queued, or stopping
  std::condition_variable settled_;  // delivered_ moved
  fuse_session* se_ GUARDED_BY(mu_) = nullptr;
  std::deque<Note> notes_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  uint64_t queued_ GUARDED_BY(mu_) = 0;     // notes ever queued
  uint64_t delivered_ GUARDED_BY(mu_) = 0;  // of those, sent to the kernel (or dropped)
  std::thread thread_;  // started and joined by Attach/Detach (one mount thread)
};

}  // namespace gf::fs
