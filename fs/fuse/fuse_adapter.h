// FuseAdapter: the thin libfuse3 low-level binding of the Filesystem core.
//
// Each handler decodes its arguments, calls one Filesystem method and replies; it owns
// fuse_reply_err (errno from gf::ErrnoFor, the one table) and debug logging of failures (the
// core logs remote failures once, with context and remedy). A lookup that fails with ENOENT
// becomes a negative entry (ino 0) cached by the kernel for negative_ttl. If a reply carrying a
// new lookup reference cannot be delivered (interrupted request), the reference is forgotten
// again so counts stay exact.
//
// It is also the KernelNotifier: invalidations are queued and sent from a separate thread,
// because fuse_lowlevel_notify_inval_* must not run inside the request that caused them
// (the kernel may hold the very inode lock the notification needs).
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "fs/filesystem.h"

namespace gf::fs {

class FuseAdapter final : public KernelNotifier {
 public:
  explicit FuseAdapter(Filesystem& fs);
  ~FuseAdapter() override;

  static const fuse_lowlevel_ops& Ops();
  Filesystem& fs() { return fs_; }

  // Starts/stops the notification thread (after daemonizing; before destroying the session).
  void StartNotifier(fuse_session* se);
  void StopNotifier();

  void InvalidateInode(Ino ino) override;
  void InvalidateEntry(Ino parent, const std::string& name) override;

 private:
  struct Note {
    bool entry = false;
    Ino ino = 0;
    std::string name;
  };
  void NotifyLoop();

  Filesystem& fs_;
  fuse_session* se_ = nullptr;
  std::mutex mu_;  // leaf lock: guards notes_, stopping_
  std::condition_variable cv_;
  std::deque<Note> notes_;
  bool stopping_ = false;
  std::thread notifier_;
};

}  // namespace gf::fs
