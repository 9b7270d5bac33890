// ErrorLog: how the filesystem core tells the user what failed.
//
// Every failure a user should hear about goes through Report(): it names the operation and the
// place (paths.h Where), says what to do (the Authorizer's remedy for authorization errors:
// the exact `globus-fuse login ...` command; a hint per errno for service errors), logs it once
// per minute (repeats are counted, not logged) and keeps the newest kRecent messages for
// `globus-fuse status`. ENOENT is returned without a word: a missing name is an answer, not a
// failure. Note() records a warning that is not an Error (a move that left files behind).
//
// Thread-safe; `mu_` is a leaf lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/mutex.h"
#include "fs/hooks.h"

namespace gf::fs {

struct Collection;

// The "errors" section of the status document.
struct ErrorStats {
  std::map<int, uint64_t> by_errno;
  std::vector<std::string> recent;  // newest last
};

class ErrorLog {
 public:
  static constexpr size_t kRecent = 20;

  ErrorLog(Clock& clock, Authorizer& remedies) : clock_(clock), remedies_(remedies) {}

  // Logs `e` (see above) and returns it.
  Error Report(const char* op, const Collection* c, const std::string& path, Error e) EXCLUDES(mu_);
  // Report() of a local failure: errno `err` because `why`.
  Error Local(const char* op, const Collection* c, const std::string& path, int err,
              const std::string& why) EXCLUDES(mu_);
  // A warning for the log and the status document's recent errors.
  void Note(const std::string& message) EXCLUDES(mu_);

  ErrorStats Stats() const EXCLUDES(mu_);

 private:
  void RecentLocked(const std::string& message) REQUIRES(mu_);

  Clock& clock_;
  Authorizer& remedies_;
  mutable Mutex mu_;                                        // leaf lock: guards the fields below
  std::map<std::string, MonoTime> logged_ GUARDED_BY(mu_);  // message -> when last logged
  std::map<int, uint64_t> by_errno_ GUARDED_BY(mu_);
  std::vector<std::string> recent_ GUARDED_BY(mu_);  // newest last, at most kRecent
};

}  // namespace gf::fs
