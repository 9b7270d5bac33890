#include "fs/status/error_log.h"

#include <cerrno>

#include "common/log.h"
#include "fs/paths.h"
#include "fs/superblock/collections.h"

namespace gf::fs {

namespace {
// What to do about a service or network failure, by the errno it becomes.
const char* Hint(int err) {
  switch (err) {
    case EACCES:
      return " (check your permissions on this collection: `globus-fuse whoami`)";
    case EHOSTDOWN:
      return " (the collection's endpoint is offline; try again later)";
    case ETIMEDOUT:
    case EHOSTUNREACH:
      return " (cannot reach Globus; check the network)";
    case EOVERFLOW:
      return " (directory too large to list; open entries by name)";
    case EAGAIN:
      return " (the service is busy; try again)";
    default:
      return "";
  }
}
}  // namespace

Error ErrorLog::Report(const char* op, const Collection* c, const std::string& path, Error e) {
  const int err = ErrnoFor(e);
  std::string msg = std::string(op) + " " + Where(c, path) + ": ";
  if (e.NeedsAuthorization()) {
    msg += remedies_.Remedy(e, c ? c->display_name : "");
  } else {
    msg += e.Describe();
    if (e.kind == ErrorKind::kApi || e.kind == ErrorKind::kTransport) msg += Hint(err);
  }
  if (err == ENOENT) return e;
  const MonoTime now = clock_.Now();
  bool log_it = false;
  {
    MutexLock l(mu_);
    ++by_errno_[err];
    auto it = logged_.find(msg);
    if (it == logged_.end() || now - it->second >= std::chrono::minutes(1)) {
      if (logged_.size() > 1000) logged_.clear();
      logged_[msg] = now;
      log_it = true;
      RecentLocked(msg);
    }
  }
  if (log_it) log::Warn("fs", msg);
  return e;
}

Error ErrorLog::Local(const char* op, const Collection* c, const std::string& path, int err,
                      const std::string& why) {
  return Report(op, c, path, Error::Local(err, why));
}

void ErrorLog::Note(const std::string& message) {
  log::Warn("fs", message);
  MutexLock l(mu_);
  RecentLocked(message);
}

ErrorStats ErrorLog::Stats() const {
  MutexLock l(mu_);
  return ErrorStats{by_errno_, recent_};
}

void ErrorLog::RecentLocked(const std::string& message) {
  recent_.push_back(message);
  if (recent_.size() > kRecent) recent_.erase(recent_.begin());
}

}  // namespace gf::fs
