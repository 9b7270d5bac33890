// WriteOps: the empty file a last close makes (`touch NEW`, `: > f`, cp of an empty file): one
// journaled 0-byte PUT.
#include <chrono>

#include "common/blocking.h"
#include "common/log.h"
#include "fs/paths.h"
#include "fs/write/write_ops.h"

namespace gf::fs {

// `touch NEW`, `: > f`, cp of an empty file: a placeholder that nothing was written or copied
// into becomes an empty file at its last close (one 0-byte PUT). Decided at RELEASE, not at a
// FLUSH: a shell redirect closes a dup of the file before its command writes. The PUT runs as
// an upload of the inode, so an unlink racing with it (vim deletes its probe files right after
// closing them) waits for it and then deletes the file remotely instead of leaving it behind.
// close(2) returned before all this, so the PUT is journaled first, as an upload op of an empty
// staged file (JournalEmpty) whose first attempt is made here: a crash (kill -9, a reboot)
// before it ended leaves the op to the next mount, and a failure that may pass is retried by
// the engine like any upload op's, the name shown pending meanwhile.
std::optional<WriteOps::EmptyOp> WriteOps::JournalEmpty(const Location& at) {
  auto store = Store();
  if (!store.ok()) return std::nullopt;  // no staging directory: the PUT alone, unjournaled
  uint64_t key = 0;
  {
    MutexLock l(mu_);
    key = kHandedKey | ++next_handed_;
  }
  auto file =
      (*store)->Acquire(key, NewStageId(), write::StageOrigin{at.collection, at.path}, nullptr);
  // Claimed (a spare's old bytes truncated, its origin and name written) before the op names
  // it: a crash then leaves the empty file for the next mount to upload, not a spare it drops.
  Status s = file.ok() ? (*file)->Claim() : Status(file.error());
  if (s.ok()) s = (*file)->Sync();
  // A PUT straight to the name (replaces = false): 0 bytes leave no partial to hide.
  Result<OpId> id =
      s.ok() ? engine_.EnqueueClaimedUpload(OpRequest::Upload(at, (*file)->id(), 0, false))
             : Result<OpId>(s.error());
  if (!id.ok()) {
    log::Warn("fs", "close: ", Where(at), ": the empty file's PUT is not journaled (",
              id.error().Describe(), "); a crash before it ends loses it");
    if (file.ok()) (*store)->Discard(key);
    return std::nullopt;
  }
  MutexLock l(mu_);
  handed_[(*file)->id()] = key;  // RunUpload's (a retry), then OnOpFinished's to discard
  return EmptyOp{*id, (*file)->id()};
}

bool WriteOps::MakeEmpty(uint64_t fh, FileHandle& h, WriteHandle& w, const Collection& c) {
  const Ino ino = h.inode->ino;
  {
    UniqueLock l(mu_);
    auto it = inodes_.find(ino);
    if (it != inodes_.end() && it->second.removed) {  // unlinked first: nothing remote to make
      if (--it->second.handles <= 0 && !it->second.uploading) inodes_.erase(it);
      return true;
    }
    if (it != inodes_.end() && it->second.uploading) MayBlock();
    upload_ended_.wait(l.native(), [&] {
      mu_.AssertHeld();
      return !inodes_.count(ino) || !inodes_[ino].uploading;
    });
    InodeState& st = inodes_[ino];
    if (st.staged) {  // another handle wrote: its upload owns the name, not an empty file
      --st.handles;
      return true;
    }
    if (st.handles == 0) st.at = w.dst;  // (a state made just for this PUT)
    st.uploading = true;
  }
  const std::optional<EmptyOp> op = JournalEmpty(w.dst);
  Status s = sb_.remote().Put(api::CollectionRef{c.id, *c.https_server},
                              sb_.homes().HttpsPath(c, w.dst.path), {});
  if (op && !s.ok()) {
    // The name shows as a pending upload until the op ends (shown before the engine may retry
    // and end it: the op's end removes it).
    Meta m;
    m.type = api::EntryType::kFile;
    m.size = 0;
    m.mtime = std::chrono::system_clock::to_time_t(clock_.WallNow());
    m.permissions = 0644;
    sb_.overlay().AddUpload(op->op, w.dst, m);
  }
  // Still queued: the engine tries again later (a failure that may pass).
  const bool retried = op && engine_.EndClaimedUpload(op->op, s);
  if (op && !s.ok() && !retried) {  // failed for good: nothing is shown or kept for it
    sb_.overlay().DropUpload(op->op);
    Detached detached;
    {
      MutexLock l(mu_);
      if (auto k = handed_.find(op->staged_id); k != handed_.end()) {
        detached = DetachLocked(k->second);
        handed_.erase(k);
      }
    }
    detached.Recycle();
  }
  if (!s.ok() && !retried)
    sb_.errors().Report("close", &c, w.dst.path, s.error());  // close(2) returned
  // Before the upload ends for a waiting unlink: it must find the remote file (or the pending
  // upload), not the placeholder.
  const bool dropped = sb_.overlay().DropPlaceholder(w.dst, fh);
  if (s.ok())
    sb_.AfterUpload(c, w.dst.path, 0, std::nullopt);
  else if (dropped && !retried)
    sb_.AfterNeverMade(w.dst.collection, w.dst.path);
  {
    MutexLock l(mu_);
    auto it = inodes_.find(ino);
    if (it != inodes_.end()) {
      InodeState& st = it->second;
      st.uploading = false;
      if (s.ok()) {
        st.uploaded = st.remote_exists = true;
        NoteMadeLocked(w.dst);
      }
      if (st.placeholder_fh == fh) st.placeholder_fh = 0;
      if (--st.handles <= 0 && !st.staged) inodes_.erase(it);
    }
  }
  upload_ended_.notify_all();
  return true;
}

}  // namespace gf::fs
