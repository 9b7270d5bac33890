// What the filesystem core needs from outside fs/, as interfaces (the mount wires the real
// ones, fs/fuse/; unit tests wire fakes):
//
//  * Authorizer: called when a remote call fails with an authorization error
//    (Error::NeedsAuthorization()). Returning OK means "the user completed the flow": the core
//    retries the call once. FailingAuthorizer (no flow from inside the process: the error
//    surfaces as EACCES) serves the transfer engine, which blocks and retries such errors
//    itself. Remedy() is the sentence that tells the user how to fix such an error.
//  * KernelNotifier: how the core tells the kernel to drop cached dentries, attributes and
//    pages (fuse_lowlevel_notify_inval_entry / _inode). Implementations must not block on
//    kernel locks held by the calling request (the FUSE one queues to its own thread).
//  * RequestCancel: the FUSE interrupt flag of the request this thread serves.
//  * AfterReply: bookkeeping that no caller waits for, run once the request is answered.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"
#include "fs/types.h"

namespace gf::fs {

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // May wait for the user (a login); ends early with EINTR when RequestCancel::Current() is
  // raised.
  virtual Status Authorize(const Error& error, const std::string& collection_id) = 0;
  // What the user should do about `error` (an authorization error) on `subject` (a collection
  // name, "" when unknown): one line for the log and the status document.
  virtual std::string Remedy(const Error& error, std::string_view subject) {
    (void)subject;
    return error.Describe();
  }
};

// The cancel flag of the request the calling thread serves (raised when the caller gets a
// signal: Ctrl-C), published for waits deep in the core that no parameter reaches (a login
// flow behind any remote call, a retry backoff in api/). The FUSE adapter publishes it for the
// request's duration. Defined in common/ so that api/ sees the same flag.
using RequestCancel = gf::CancelScope;

// Work that must happen but that the caller of the current request does not wait for: it runs
// after the request's reply, on the same thread, before that thread reads another request. The
// mount's loop opens a scope around every request (fs/fuse/mount.cc); anywhere else (the
// transfer engine, tests calling Filesystem directly) Defer runs the work at once. Only for work
// whose delay cannot be seen: a `cp -r` waits for every close, so what its close does after the
// PUT, it does per file (docs/PERFORMANCE.md). Not for anything a later request reads (the
// listing an upload edits): a request served by another worker meanwhile would miss it.
class AfterReply {
 public:
  static void Begin() { open_ = true; }
  // Runs what was deferred since Begin, in order (work deferred meanwhile runs at once).
  static void End() {
    open_ = false;
    std::vector<std::function<void()>> work;
    work.swap(queue_);
    for (auto& fn : work) fn();
  }
  static void Defer(std::function<void()> fn) {
    if (open_) {
      queue_.push_back(std::move(fn));
    } else {
      fn();
    }
  }

 private:
  static inline thread_local bool open_ = false;
  static inline thread_local std::vector<std::function<void()>> queue_;
};

// Runs no flow: the authorization error is the answer.
class FailingAuthorizer final : public Authorizer {
 public:
  Status Authorize(const Error& error, const std::string&) override { return error; }
  static FailingAuthorizer& Instance() {
    static FailingAuthorizer a;
    return a;
  }
};

class KernelNotifier {
 public:
  virtual ~KernelNotifier() = default;
  virtual void InvalidateInode(Ino ino) = 0;                              // attrs + page cache
  virtual void InvalidateEntry(Ino parent, const std::string& name) = 0;  // one dentry
  // Returns once every invalidation queued before the call has reached the kernel, or false
  // after `max`. Never call it from a request the kernel holds an inode lock for (an
  // invalidation may need that very lock): `drop-caches` calls it from a getxattr of the mount
  // root, after its setxattr has returned.
  virtual bool Settle(std::chrono::milliseconds max) {
    (void)max;
    return true;
  }
};

}  // namespace gf::fs
