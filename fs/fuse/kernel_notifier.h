// FuseNotifier: the KernelNotifier of a real mount (fuse_lowlevel_notify_inval_entry/_inode).
//
// Invalidations are queued and sent from a thread of their own, because they must not run
// inside the request that caused them (the kernel may hold the very inode lock the notification
// needs). Built before the Filesystem and handed to it; notifications before Attach() (nothing
// is mounted, the kernel caches nothing) and after Detach() are dropped.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

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

 private:
  struct Note {
    bool entry = false;
    Ino ino = 0;
    std::string name;
  };
  void Queue(Note n) EXCLUDES(mu_);
  void Loop() EXCLUDES(mu_);

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
