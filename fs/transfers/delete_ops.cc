// DeleteOps: see delete_ops.h.
#include "fs/transfers/delete_ops.h"

#include <cerrno>
#include <optional>

#include "common/cancel.h"
#include "common/log.h"
#include "fs/paths.h"
#include "fs/write/delete_plan.h"

namespace gf::fs {

DeleteOps::DeleteOps(Superblock& sb, TransferEngine& engine, const FsOptions& options, Clock& clock)
    : sb_(sb),
      engine_(engine),
      options_(options),
      https_files_(
          write::ParseDeleteMode(options.delete_mode).value_or(write::DeleteMode::kHttps) ==
          write::DeleteMode::kHttps),
      clock_(clock) {}

Status DeleteOps::Unlink(const InodePtr& parent, const std::string& name,
                         const std::atomic<bool>* cancel, int32_t origin_pid) {
  return Remove(parent, name, false, cancel, origin_pid);
}

Status DeleteOps::Rmdir(const InodePtr& parent, const std::string& name,
                        const std::atomic<bool>* cancel, int32_t origin_pid) {
  return Remove(parent, name, true, cancel, origin_pid);
}

Status DeleteOps::Remove(const InodePtr& parent, const std::string& name, bool dir,
                         const std::atomic<bool>* cancel, int32_t origin_pid) {
  const char* what = dir ? "rmdir" : "rm";
  GF_TRY_STATUS(sb_.CheckWritableParent(parent, what));
  const Collection& c = *parent->collection;
  if (IsHomeEntry(*parent, name)) return Error::Local(EBUSY, "~ is the home directory");
  const Location at{c.id, JoinPath(sb_.Path(*parent), name)};
  PendingOverlay& overlay = sb_.overlay();
  // (A name created through the mount and never uploaded was removed locally before this:
  // Filesystem::Unlink asks WriteOps::RemoveLocalOnly first.)
  // A placeholder `cp` still writes (it has not copied into it yet; op 0): its owner decides.
  if (auto pending = overlay.PendingOp(at); pending && *pending == 0)
    return sb_.errors().Local(what, &c, at.path, EBUSY, kPendingBusy);
  // A name that is not there (hidden by a pending rm or mv, a placeholder its close already
  // dropped, deleted elsewhere) is ENOENT.
  auto found = sb_.Resolve(parent, name);
  if (!found.ok()) return found.error();
  const bool is_dir = found->kind == Kind::kDir;
  if (dir && !is_dir) return Error::Local(ENOTDIR, at.path + " is not a directory");
  if (!dir && is_dir) return Error::Local(EISDIR, at.path + " is a directory");
  // A pending copy, move or upload reads or writes the path (or a tree above or below it): the
  // remove op waits for it in the engine (ORDERING in engine.h), never an immediate DELETE.
  const bool in_use = engine_.InUse(at);
  if (!dir && !in_use && found->kind == Kind::kFile && https_files_ && c.HasHttps() &&
      HttpsAllowed(origin_pid, at.path))
    if (auto done = DeleteNow(parent, name, c, at.path, cancel)) return *done;
  if (dir) GF_TRY_STATUS(CheckEmpty(c, at.path));
  OpRequest req = OpRequest::Remove(at, is_dir);
  req.origin_pid = origin_pid;
  auto op = engine_.Enqueue(req);
  if (!op.ok()) return sb_.errors().Report(what, &c, at.path, op.error());
  overlay.AddRemove(*op, at);
  log::Info("fs", what, " ", Where(&c, at.path), ": queued as delete op ", *op,
            in_use ? ", to run once the pending transfer that uses it ended" : "");
  sb_.AfterRemoveQueued(parent, name);
  if (!options_.copy_wait) return Status::Ok();
  return WaitFor(*op, cancel, c, at.path, what);
}

std::optional<Status> DeleteOps::DeleteNow(const InodePtr& parent, const std::string& name,
                                           const Collection& c, const std::string& path,
                                           const std::atomic<bool>* cancel) {
  std::optional<CancelScope> scope;  // Ctrl-C aborts the request in flight and any login wait
  if (cancel) scope.emplace(cancel);
  const std::string https_path = sb_.homes().HttpsPath(c, path);
  Status s = sb_.remote().Delete(api::CollectionRef{c.id, *c.https_server}, https_path);
  if (!s.ok() && ErrnoFor(s.error()) == ENOENT) {
    // Gone already (deleted elsewhere): what the user asked for. (The server's transient 404
    // says ENDPOINT_ERROR, which is EIO, never ENOENT.) Unless the path still says "~" (where
    // it is was not learnt yet) and the server does not expand it: Transfer tells.
    if (https_path == "/~" || https_path.rfind("/~/", 0) == 0) {
      auto st = sb_.remote().Stat(c.id, path);
      if (st.ok()) {
        log::Info("fs", "rm ", Where(&c, path), ": the HTTPS server does not find ", https_path,
                  " (it may not expand ~); deleting it with a delete task");
        return std::nullopt;
      }
      if (ErrnoFor(st.error()) != ENOENT)
        return Status(sb_.errors().Report("rm", &c, path, st.error()));
    }
    log::Info("fs", "rm ", Where(&c, path), ": already gone (", s.error().Describe(), ")");
    s = Status::Ok();
  }
  if (!s.ok()) {
    // A refusal (4xx: 403, 409, ...) left the file as it was. After an interrupted or failed
    // exchange (Ctrl-C, a timeout, a 5xx) the server may have acted: the next look at the name
    // asks it again.
    const Error& e = s.error();
    if (!(e.kind == ErrorKind::kApi && e.http_status >= 400 && e.http_status < 500))
      sb_.InvalidatePath(c.id, path);
    return Status(sb_.errors().Report("rm", &c, path, e));
  }
  log::Info("fs", "rm ", Where(&c, path), ": deleted (HTTPS DELETE)");
  sb_.AfterRemoved(parent, name);
  return Status::Ok();
}

bool DeleteOps::HttpsAllowed(int32_t pid, const std::string& path) {
  const MonoTime now = clock_.Now();
  MutexLock l(mu_);
  if (bursts_.size() > 64)  // forget processes that paused (or ended)
    for (auto it = bursts_.begin(); it != bursts_.end();)
      it = now - it->second.last > kBurstGap ? bursts_.erase(it) : std::next(it);
  Burst& b = bursts_[pid];
  if (now - b.last > kBurstGap) b = Burst{};
  b.last = now;
  if (b.names.count(path)) return true;
  if (options_.delete_burst != 0 && b.names.size() >= options_.delete_burst) {
    if (!b.told)
      log::Info("fs", "rm: process ", pid,
                " removes many files: its next ones are batched into delete tasks until it "
                "pauses for a second");
    b.told = true;
    return false;
  }
  b.names.insert(path);
  return true;
}

Status DeleteOps::CheckEmpty(const Collection& c, const std::string& path) {
  PendingOverlay& overlay = sb_.overlay();
  // A directory a pending copy or move makes: it holds what the transfer brings (unknown here).
  if (overlay.PendingOp({c.id, path}))
    return Error::Local(ENOTEMPTY,
                        path +
                            " is not empty (a copy or move into it is pending; remove it "
                            "once that ended: globus-fuse status)");
  // Fresh: a recursive delete of a directory someone else filled meanwhile would take their
  // files with it. (What appears between this listing and the task's run is still deleted:
  // docs/SEMANTICS.md, "Deletes".)
  // A remove (or move) below it that ended while the listing was in flight shows its name
  // again, and the listing may predate that end (`rm -r` queued the delete of a subdirectory
  // just before): then the listing is fetched again, a few times at most.
  for (int round = 0;; ++round) {
    const uint64_t unhidden = overlay.Unhidden();
    auto listing = sb_.ListFresh(c, path);
    if (!listing.ok()) return sb_.errors().Report("rmdir", &c, path, listing.error());
    bool full = false;
    for (const Listing::Item& item : (*listing)->items)
      full = full || !overlay.Hidden(c.id, JoinPath(path, std::string((*listing)->Name(item))));
    if (!full) break;
    if (round >= 2 || overlay.Unhidden() == unhidden)
      return Error::Local(ENOTEMPTY, path + " is not empty");
  }
  if (!overlay.PendingChildren(c.id, path).empty())
    return Error::Local(ENOTEMPTY, path + " is not empty (a copy into it is pending)");
  return Status::Ok();
}

Status DeleteOps::WaitFor(OpId op, const std::atomic<bool>* cancel, const Collection& c,
                          const std::string& path, const char* what) {
  Status s = engine_.Wait(op, std::nullopt, cancel);
  if (s.ok()) return s;
  const Error& e = s.error();
  if (e.kind != ErrorKind::kLocal) return sb_.errors().Report(what, &c, path, e);  // it failed
  switch (e.sys_errno) {
    case EINTR: {
      Status cs = engine_.Cancel(op);
      log::Info("fs", what, " ", Where(&c, path), ": interrupted; delete op ", op,
                cs.ok() ? " cancelled" : " could not be cancelled: " + cs.error().Describe());
      return Error::Local(EINTR, "interrupted: the delete was cancelled");
    }
    case ESHUTDOWN:
      return sb_.errors().Local(what, &c, path, EINTR,
                                "the mount is shutting down; the delete goes on at Globus and "
                                "the next mount tracks it");
    case ENOENT:  // finished and forgotten: the overlay remembers failures
      if (auto f = sb_.overlay().FailureOf(op))
        return sb_.errors().Report(what, &c, path, ErrorFor(*f, what));
      return Status::Ok();
    default:
      return sb_.errors().Report(what, &c, path, e);
  }
}

}  // namespace gf::fs
