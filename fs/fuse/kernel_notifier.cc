#include "fs/fuse/kernel_notifier.h"

#include <cerrno>
#include <cstring>

#include "common/blocking.h"
#include "common/log.h"

namespace gf::fs {

FuseNotifier::~FuseNotifier() { Detach(); }

void FuseNotifier::Attach(fuse_session* se) {
  MutexLock l(mu_);
  se_ = se;
  stopping_ = false;
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void FuseNotifier::Detach() {
  {
    MutexLock l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  settled_.notify_all();
  if (thread_.joinable()) thread_.join();
  MutexLock l(mu_);
  se_ = nullptr;
}

void FuseNotifier::InvalidateInode(Ino ino) { Queue(Note{false, ino, ""}); }

void FuseNotifier::InvalidateEntry(Ino parent, const std::string& name) {
  Queue(Note{true, parent, name});
}

void FuseNotifier::Queue(Note n) {
  {
    MutexLock l(mu_);
    if (!se_ || stopping_) return;
    notes_.push_back(std::move(n));
    ++queued_;
    if (deferring_) {
      deferred_ = true;  // EndDeferral sends it
      return;
    }
  }
  cv_.notify_one();
}

void FuseNotifier::EndDeferral() {
  deferring_ = false;
  if (!deferred_) return;
  deferred_ = false;
  // One worker at a time sends notes: a notification may wait seconds for a directory's lock
  // (docs/RELIABILITY.md), and workers stuck there must never add up to the thread cap. The
  // others leave their notes to the notification thread.
  if (inline_sender_.exchange(true)) {
    cv_.notify_one();
    return;
  }
  {
    MutexLock l(mu_);
    DrainLocked();
  }
  inline_sender_.store(false);
}

void FuseNotifier::DrainLocked() {
  while (!stopping_ && !notes_.empty()) {
    Note n = std::move(notes_.front());
    notes_.pop_front();
    fuse_session* se = se_;
    mu_.unlock();
    // Dropping a dentry takes its directory's lock, which a lookup or create there holds
    // while it waits for a request nobody may have read yet: let another worker read first.
    // Dropping an inode's attributes and pages waits only for a page under a read in flight
    // (rare: a file being read while it is uploaded); the loop's watch covers that.
    if (n.entry) MayBlock();
    int rc = n.entry ? fuse_lowlevel_notify_inval_entry(se, n.ino, n.name.c_str(), n.name.size())
                     : fuse_lowlevel_notify_inval_inode(se, n.ino, 0, 0);
    if (rc != 0 && rc != -ENOENT)
      log::Debug("fuse", "invalidate ", n.ino, n.entry ? "/" + n.name : "", ": ",
                 std::strerror(-rc));
    mu_.lock();
    ++delivered_;
    settled_.notify_all();
  }
}

void FuseNotifier::Loop() {
  UniqueLock l(mu_);
  while (true) {
    cv_.wait(l.native(), [&] {
      mu_.AssertHeld();
      return stopping_ || !notes_.empty();
    });
    if (stopping_) return;
    DrainLocked();
  }
}

bool FuseNotifier::Settle(std::chrono::milliseconds max) {
  UniqueLock l(mu_);
  const uint64_t target = queued_;
  if (delivered_ < target) MayBlock();
  return settled_.wait_for(l.native(), max, [&] {
    mu_.AssertHeld();
    return delivered_ >= target || stopping_;
  });
}

}  // namespace gf::fs
