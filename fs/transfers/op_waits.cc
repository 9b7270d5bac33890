// CopyOps: waiting for pending ops (fsync, open of a pending destination, --copy-mode=wait,
// cp over a pending name).
#include <cerrno>

#include "common/log.h"
#include "fs/handles.h"
#include "fs/paths.h"
#include "fs/transfers/copy_ops.h"

namespace gf::fs {

Status CopyOps::WaitOp(OpId op, bool bounded, const std::atomic<bool>* cancel, const char* what,
                       const Collection* c, const std::string& path) {
  std::optional<MonoTime> deadline;
  if (bounded) deadline = clock_.Now() + Seconds(options_.pending_wait_seconds);
  Status s = engine_.Wait(op, deadline, cancel);
  if (s.ok()) return s;
  const Error& e = s.error();
  if (e.kind != ErrorKind::kLocal) return sb_.errors().Report(what, c, path, e);  // it failed
  return WaitError(e, bounded, op, what, c, path);
}

Status CopyOps::WaitError(const Error& e, bool bounded, OpId op, const char* what,
                          const Collection* c, const std::string& path) {
  switch (e.sys_errno) {
    case EINTR:
      if (!bounded) {
        // Wait mode: the caller gave up (Ctrl-C): so do we.
        Status cs = engine_.Cancel(op);
        log::Info("fs", what, " ", Where(c, path), ": interrupted; transfer op ", op,
                  cs.ok() ? " cancelled" : " could not be cancelled: " + cs.error().Describe());
        return Error::Local(EINTR, "interrupted: the transfer was cancelled");
      }
      return e;
    case ESHUTDOWN:
      // Unmounting: release the caller, cancel nothing (the journal keeps the op).
      return sb_.errors().Local(what, c, path, EINTR,
                                "the mount is shutting down; the transfer goes on at Globus and "
                                "the next mount tracks it");
    case ETIMEDOUT:
      return sb_.errors().Local(
          what, c, path, EAGAIN,
          "the transfer is still running; try again later (globus-fuse status)");
    case ENOENT:
      // Finished long ago and forgotten by the engine: the overlay remembers failures.
      if (auto f = sb_.overlay().FailureOf(op))
        return sb_.errors().Report(what, c, path, ErrorFor(*f, what));
      return Status::Ok();
    default:
      return sb_.errors().Report(what, c, path, e);
  }
}

Status CopyOps::WaitUntilSettled(const Collection& c, const std::string& path, const char* what) {
  const MonoTime deadline = clock_.Now() + Seconds(options_.pending_wait_seconds);
  OpId waited = 0;
  for (;;) {
    const std::optional<OpId> op = sb_.overlay().PendingOp({c.id, path});
    if (!op) return Status::Ok();
    if (*op == 0 || *op == waited)
      return sb_.errors().Local(what, &c, path, EBUSY,
                                *op == 0 ? "a cp into this file is in progress"
                                         : "a copy or move to this name is still pending (see "
                                           "globus-fuse status)");
    log::Info("fs", what, " ", Where(&c, path), ": waiting for the pending transfer op ", *op,
              " to this name first");
    Status s = engine_.Wait(*op, deadline, RequestCancel::Current());
    if (!s.ok() && s.error().kind == ErrorKind::kLocal && s.error().sys_errno != ENOENT)
      return WaitError(s.error(), true, *op, what, &c, path);
    waited = *op;  // ended (its outcome belongs to the command that queued it)
  }
}

Status CopyOps::Fsync(FileHandle& h, const std::atomic<bool>* cancel) {
  const Collection* c = h.inode ? h.inode->collection : nullptr;
  if (!c) return Status::Ok();
  OpId op = 0;
  if (auto* d = std::get_if<WriteHandle>(&h.as)) {
    MutexLock l(d->mu);
    op = d->op;
  }
  const std::string path = sb_.Path(*h.inode);
  if (op == 0) op = sb_.overlay().PendingOp({c->id, path}).value_or(0);
  if (op == 0) return Status::Ok();
  Status s = WaitOp(op, true, cancel, "fsync", c, path);
  if (!s.ok() && s.error().kind != ErrorKind::kLocal)
    return Error::Local(EIO, "the transfer to " + path + " failed: " + s.error().Describe());
  return s;
}

}  // namespace gf::fs
