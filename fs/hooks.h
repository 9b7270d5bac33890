// Extension points of the filesystem core. Each is an interface with a default that keeps
// today's behaviour, so later issues plug in without touching the core's logic.
//
//  * Authorizer   (issue 5): called when a remote call fails with an authorization error
//                 (Error::NeedsAuthorization()). Returning OK means "the user completed the
//                 flow": the core retries the call ONCE. The default fails (the error
//                 surfaces as EACCES with a log line naming the `globus-fuse login ...` fix).
//  * KernelNotifier: how the core tells the kernel to drop cached dentries/attrs/pages
//                 (fuse_lowlevel_notify_inval_entry / _inode in the adapter). Keeps the core
//                 FUSE-free. Implementations must not block on kernel locks held by the
//                 calling request (the adapter queues notifications to its own thread).
//  * Overlay      (cp/mv, issue 6): entries that exist locally but not (yet) remotely
//                 (pending copy destinations), entries hidden locally (mv sources in flight),
//                 per-entry status xattrs. Consulted by Lookup, ReadDir, GetAttr and the
//                 xattr calls BEFORE the remote view. Paths are remote paths within
//                 `collection_id`. The write-path entry points (Filesystem::Create, Write,
//                 Unlink, Rmdir, CopyFileRange) are where the overlay's operations will be
//                 started; today they fail with EROFS/EOPNOTSUPP.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
// flow behind any remote call). The FUSE adapter publishes it for the request's duration.
class RequestCancel {
 public:
  explicit RequestCancel(const std::atomic<bool>* flag) : prev_(current_) { current_ = flag; }
  ~RequestCancel() { current_ = prev_; }
  RequestCancel(const RequestCancel&) = delete;
  RequestCancel& operator=(const RequestCancel&) = delete;
  static const std::atomic<bool>* Current() { return current_; }

 private:
  static inline thread_local const std::atomic<bool>* current_ = nullptr;
  const std::atomic<bool>* prev_;
};

// The default: no interactive flow from inside the mount (yet).
class FailingAuthorizer final : public Authorizer {
 public:
  Status Authorize(const Error& error, const std::string&) override { return error; }
};

class KernelNotifier {
 public:
  virtual ~KernelNotifier() = default;
  virtual void InvalidateInode(Ino ino) = 0;                              // attrs + page cache
  virtual void InvalidateEntry(Ino parent, const std::string& name) = 0;  // one dentry
};

class Overlay {
 public:
  virtual ~Overlay() = default;
  // An entry that exists locally only (e.g. the destination of a pending copy).
  virtual std::optional<Meta> Pending(const std::string& collection_id, const std::string& path) {
    (void)collection_id, (void)path;
    return std::nullopt;
  }
  // True when a remote entry must not be shown (e.g. the source of a move in flight).
  virtual bool Hidden(const std::string& collection_id, const std::string& path) {
    (void)collection_id, (void)path;
    return false;
  }
  // False only when no entry of the collection is hidden (lets readdir skip Hidden per row).
  // The default is "maybe": an overlay that hides entries need not override it.
  virtual bool AnyHidden(const std::string& collection_id) {
    (void)collection_id;
    return true;
  }
  // Locally-pending children of a directory, merged into its listing (names + metadata).
  virtual std::vector<std::pair<std::string, Meta>> PendingChildren(
      const std::string& collection_id, const std::string& dir_path) {
    (void)collection_id, (void)dir_path;
    return {};
  }
  // Extra xattrs, e.g. {"user.globus.status", "copying"}, {"user.globus.task_id", "..."}.
  virtual std::vector<std::pair<std::string, std::string>> Xattrs(const std::string& collection_id,
                                                                  const std::string& path) {
    (void)collection_id, (void)path;
    return {};
  }
};

}  // namespace gf::fs
