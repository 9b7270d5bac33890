// WriteOps, write_mode = background (docs/WRITES.md "Background mode"): FLUSH hands the inode's
// staged file to a journaled upload op (Queue) and returns; the transfer engine runs the op
// later through RunUpload (WriteOps is its UploadRunner) and reports its end to OnOpFinished
// (an OpListener), which discards or keeps the staged file. WaitQueued (fsync) and
// WaitUploaded (rename, unlink) wait for those ops. The upload temp names of every mode are
// noted in the transfer journal here too (JournaledTempNames). The rest of WriteOps, the
// handle side and the synchronous uploads, is write_ops.cc.
#include <cerrno>
#include <string>

#include "api/background_calls.h"
#include "common/log.h"
#include "fs/hooks.h"
#include "fs/paths.h"
#include "fs/write/write_ops.h"

namespace gf::fs {

Result<uint64_t> WriteOps::JournaledTempNames::Begin(const std::string& collection,
                                                     const std::string& temp) {
  return engine_.TempBegin(Location{collection, temp});
}

Result<uint64_t> WriteOps::JournaledTempNames::BeginPut(const std::string& collection,
                                                        const std::string& path, uint64_t size) {
  return engine_.PutBegin(Location{collection, path}, size);
}

void WriteOps::JournaledTempNames::End(uint64_t token) {
  // Not fatal: the name is gone; the next mount's remove of it finds nothing (ignore_missing).
  if (Status s = engine_.TempGone(token); !s.ok())
    log::Warn("fs",
              "journal: could not note an upload's temporary name as gone: ", s.error().Describe());
}

void WriteOps::JournaledTempNames::EndPut(uint64_t token) {
  // Nobody waits for this note: a `cp -r` gets each close answered without it. Never written (a
  // crash first), it costs the next mount a `stat` of the name, which finds the whole file
  // (journal.h, "DIRECT PUTS").
  TransferEngine& engine = engine_;
  AfterReply::Defer([&engine, token] {
    if (Status s = engine.TempGone(token); !s.ok())
      log::Warn("fs", "journal: could not note an upload as ended: ", s.error().Describe());
  });
}

write::FillFn WriteOps::SeedFrom(std::shared_ptr<write::StagedFile> seed) {
  return [seed](const write::FillSink& put) -> Result<uint64_t> {
    std::string buf(1 << 20, '\0');
    uint64_t off = 0;
    for (;;) {
      auto n = seed->Read(off, buf.data(), buf.size());
      if (!n.ok()) return n.error();
      if (*n == 0) return off;
      GF_TRY_STATUS(put(off, std::string_view(buf.data(), *n)));
      off += *n;
    }
  };
}

Status WriteOps::Queue(const InodePtr& in, const char* op) {
  const Ino ino = in->ino;
  const Collection& c = *in->collection;
  std::shared_ptr<write::StagedFile> file, previous_seed;
  Location at;
  bool replaces = false;
  uint64_t key = 0;
  uint64_t placeholder_fh = 0;
  {
    UniqueLock l(mu_);
    InodeState* idle = IdleLocked(l, ino);
    if (!idle) return Status::Ok();  // released and clean: nothing to upload
    InodeState& st = *idle;
    if (!st.staged || st.removed || !st.staged->state().dirty || !store_) return Status::Ok();
    // The snapshot: from here on the op owns this file, and the inode's next write gets a new
    // staged file seeded from it; a write whose close has not returned never reaches the op.
    key = kHandedKey | ++next_handed_;
    if (Status r = store_->Rekey(ino, key); !r.ok())
      return sb_.errors().Report(op, &c, st.at.path, r.error());
    file = st.staged;
    previous_seed = st.seed;
    st.seed = file;
    st.staged = nullptr;
    st.uploading = true;
    at = st.at;
    replaces = st.remote_exists || st.uploaded;
    placeholder_fh = st.placeholder_fh;
    st.placeholder_fh = 0;  // the overlay shows the upload now; the seed is the content
    handed_[file->id()] = key;
  }
  Status s = file->EnsureFilled();
  if (s.ok()) s = file->Sync();  // the bytes are on local disk before the op says they exist
  uint64_t size = 0;
  if (s.ok()) {
    auto sz = file->Size();
    if (sz.ok())
      size = *sz;
    else
      s = sz.error();
  }
  Result<OpId> id = Error::Local(EIO, "not queued");
  if (s.ok()) {
    // A pending upload of the name will have made it exist: this one replaces it.
    replaces = replaces || engine_.UploadPending(at);
    id = engine_.Enqueue(OpRequest::Upload(at, file->id(), size, replaces));
    if (!id.ok()) s = id.error();
  }
  if (s.ok()) {
    sb_.overlay().DropPlaceholder(at, placeholder_fh);
    Meta m;
    m.type = api::EntryType::kFile;
    m.size = size;
    m.mtime = std::chrono::system_clock::to_time_t(clock_.WallNow());
    m.permissions = 0644;
    sb_.overlay().AddUpload(*id, at, m);
  }
  {
    MutexLock l(mu_);
    InodeState& st = inodes_[ino];
    st.uploading = false;
    if (s.ok()) {
      st.queued = *id;
      NoteMadeLocked(at);
    } else if (!st.staged && store_ && store_->Rekey(key, ino).ok()) {
      // Not journaled: the file is the inode's again (still dirty: close fails, data kept).
      st.staged = file;
      st.seed = previous_seed;
      st.placeholder_fh = placeholder_fh;
      handed_.erase(file->id());
    }
    // Every handle was released while this ran: the release left the state to us.
    if (st.handles <= 0 && !st.staged) inodes_.erase(ino);
  }
  upload_ended_.notify_all();
  if (!s.ok()) return sb_.errors().Report(op, &c, at.path, s.error());
  log::Debug("fs", "queued the upload of ", Where(&c, at.path), " (", size, " bytes, op ", *id,
             ")");
  return Status::Ok();
}

void WriteOps::WaitUploaded(const Location& at) {
  // Bounded: each wait ends with the op (a newer close of the name may queue one more).
  for (int i = 0; i < 8 && sb_.overlay().PendingUpload(at); ++i) {
    const std::optional<OpId> op = sb_.overlay().PendingOp(at);
    if (!op || *op == 0) return;
    // Ctrl-C of the waiting command ends the wait (EINTR): the rename or rm then runs as usual.
    Status s = engine_.Wait(*op, std::nullopt, RequestCancel::Current());
    if (!s.ok() && s.error().kind == ErrorKind::kLocal) return;
  }
}

Status WriteOps::WaitQueued(const InodePtr& in, const char* op) {
  OpId id = 0;
  Location at;
  {
    MutexLock l(mu_);
    if (auto it = inodes_.find(in->ino); it != inodes_.end()) {
      id = it->second.queued;
      at = it->second.at;
    }
  }
  if (id == 0) return Status::Ok();
  Status s = engine_.Wait(id, std::nullopt, RequestCancel::Current());  // Ctrl-C: EINTR
  if (s.ok() || s.error().sys_errno == ENOENT) return Status::Ok();     // ENOENT: long finished
  return sb_.errors().Report(op, in->collection, at.path, s.error());
}

Status WriteOps::RunUpload(const JournalOp& op, std::atomic<uint64_t>& sent,
                           const std::atomic<bool>& cancel) {
  auto store = Store();
  if (!store.ok()) return store.error();
  std::shared_ptr<write::StagedFile> file;
  {
    MutexLock l(mu_);
    if (auto k = handed_.find(op.staged_id); k != handed_.end()) file = store_->Find(k->second);
  }
  if (!file) {  // journaled by a mount that died: its staged file is a leftover
    auto adopted = (*store)->Adopt(kAdoptedKey | op.id, op.staged_id);
    if (!adopted.ok()) {
      Error e = adopted.error();
      e.message = "the staged bytes of this upload (" + op.staged_id +
                  ".data in the staging directory) cannot be used: " + e.message;
      return e;
    }
    file = *adopted;
    MutexLock l(mu_);
    handed_[op.staged_id] = file->key();
  }
  auto c = sb_.registry().ById(op.dst.collection);
  if (!c.ok()) return c.error();
  if (!(*c)->HasHttps())
    return Error::Local(EOPNOTSUPP,
                        "the collection has no HTTPS server; the written bytes are "
                        "kept in " +
                            file->data_path());
  auto size = file->Size();
  if (!size.ok()) return size.error();
  write::UploadRequest r;
  r.collection = api::CollectionRef{(*c)->id, *(*c)->https_server};
  r.path = op.dst.path;
  r.https_path = [this, c = *c](const std::string& p) { return sb_.homes().HttpsPath(*c, p); };
  r.replaces_existing = op.replaces;
  r.temp_id = file->id();
  r.temp_names = &temp_names_;
  r.body = api::UploadBody{file->fd(), *size, &sent};
  r.cancel = &cancel;
  Result<write::UploadOutcome> out = Error::Local(EIO, "not run");
  {
    api::BackgroundCalls background;  // nobody waits for it: the background lane
    out = uploader_.Upload(r);
  }
  if (!out.ok()) {
    Error e = out.error();
    e.message += "; the written bytes are kept in " + file->data_path();
    return e;
  }
  sb_.AfterUpload(**c, op.dst.path, *size, out->last_modified);
  log::Debug("fs", "uploaded ", Where(*c, op.dst.path), " (", *size, " bytes, op ", op.id, ")");
  return Status::Ok();
}

void WriteOps::OnOpFinished(const OpResult& r) {
  if (r.kind != OpKind::kUpload) return;
  const bool superseded = !r.status.ok() && r.status.error().code == "SUPERSEDED";
  const bool drop = r.status.ok() || superseded;
  bool leftover = false;
  Detached detached;
  {
    MutexLock l(mu_);
    for (auto& [ino, st] : inodes_)
      if (st.queued == r.id) {
        if (r.status.ok()) st.uploaded = st.remote_exists = true;
        if (!superseded) st.queued = 0;
      }
    auto k = handed_.find(r.staged_id);
    if (drop && k != handed_.end()) {
      detached = DetachLocked(k->second);  // a seed still reading it keeps it open
      handed_.erase(k);
    } else if (drop) {
      leftover = true;  // journaled by an earlier mount and never adopted
    }
  }
  detached.Recycle();
  if (leftover)
    if (auto store = Store(); store.ok()) (void)(*store)->RemoveLeftover(r.staged_id);
  if (!r.status.ok() && !superseded)
    log::Warn("fs", "upload of ", Where(r.dst), " failed: ", r.status.error().Describe());
}

}  // namespace gf::fs
