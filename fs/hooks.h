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
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

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
