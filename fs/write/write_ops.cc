#include "fs/write/write_ops.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "common/blocking.h"
#include "common/log.h"
#include "fs/hooks.h"
#include "fs/paths.h"

namespace gf::fs {

namespace {

write::UploaderOptions UploaderOpts(const FsOptions& o) {
  write::UploaderOptions u;
  u.replace = write::ParseReplace(o.upload_replace).value_or(write::Replace::kRename);
  u.max_upload_size = o.max_upload_size;
  return u;
}
}  // namespace

std::string WriteOps::NewStageId() {
  static Mutex mu;  // a leaf
  static std::mt19937_64 gen GUARDED_BY(mu){std::random_device{}()};
  uint64_t v;
  {
    MutexLock l(mu);
    v = gen();
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

WriteOps::WriteOps(Superblock& sb, TransferEngine& engine, HandleTable& handles,
                   const FsOptions& options, Clock& clock)
    : sb_(sb),
      engine_(engine),
      temp_names_(engine),
      handles_(handles),
      options_(options),
      clock_(clock),
      uploader_(sb.remote(), sb.remote(), UploaderOpts(options)),
      background_(options.write_background) {
  // In every mode: upload ops a crashed background mount journaled are uploaded now.
  engine_.AddListener(this);
  engine_.SetUploadRunner(this);
}

WriteOps::~WriteOps() { engine_.StopUploads(); }

Error WriteOps::Refuse(const char* op, const Location& at, int err, const std::string& why) {
  const Collection* c = nullptr;
  for (const Collection* k : sb_.registry().Known())
    if (k->id == at.collection) c = k;
  return sb_.errors().Local(op, c, at.path, err, why);
}

Status WriteOps::CheckOpen(const Collection& c, const std::string& path, int flags, bool exists,
                           const char* op) {
  const bool rdwr = (flags & O_ACCMODE) == O_RDWR;
  const bool fills = exists && !(flags & O_TRUNC);
  if (c.HasHttps() || (!rdwr && !fills)) return Status::Ok();
  return sb_.errors().Local(op, &c, path, EOPNOTSUPP,
                            "this collection has no HTTPS server (Globus Connect Personal "
                            "collections do not), so files cannot be written through the mount; "
                            "cp from another collection of the mount works (a Globus transfer)");
}

void WriteOps::Opened(uint64_t fh, int flags, struct Opened& o) {
  auto h = handles_.File(fh);
  auto* w = h ? std::get_if<WriteHandle>(&h->as) : nullptr;
  if (!w || !h->inode->collection) return;
  if ((flags & O_ACCMODE) == O_WRONLY) o.direct_io = true;
  MutexLock l(mu_);
  InodeState& st = inodes_[h->inode->ino];
  if (st.handles == 0 && !st.staged) {  // a fresh state: where the inode's bytes go
    st = InodeState{};
    st.at = w->dst;
    st.remote_exists = w->remote_existed;
  }
  st.remote_exists = st.remote_exists || w->remote_existed;
  st.removed = false;
  ++st.handles;
  if (w->placeholder) {
    st.placeholder_fh = fh;
    st.seed = nullptr;  // truncated: a queued upload's bytes are not the start any more
  }
}

Result<write::StagingStore*> WriteOps::Store() {
  {
    MutexLock l(mu_);
    if (store_) return store_.get();
  }
  // The staged files of journaled upload ops are not leftovers to warn about: RunUpload adopts
  // them (asked before taking mu_: the engine's lock is never taken under it).
  std::set<std::string> journaled;
  for (const OpStatus& op : engine_.Progress().ops)
    if (op.kind == OpKind::kUpload && !op.staged_id.empty()) journaled.insert(op.staged_id);
  MutexLock l(mu_);
  if (store_) return store_.get();
  if (options_.staging_dir.empty())
    return Error::NotSupported("no cache_dir is configured for staging written files");
  write::StagingOptions so;
  so.dir = options_.staging_dir;
  so.write_cache_limit = options_.write_cache_limit;
  so.max_upload_size = options_.max_upload_size;
  auto s = write::StagingStore::Open(so);
  if (!s.ok()) return s.error();
  store_ = std::move(*s);
  for (const auto& left : store_->Leftovers())
    if (!journaled.count(left.id))
      log::Warn("fs", "staging: ", left.data_path, " holds ", left.size, " bytes ",
                kEarlierMountKept, " (for ", left.origin.collection, ":", left.origin.path,
                "); it is not uploaded: copy it yourself, or delete it");
  return store_.get();
}

write::FillFn WriteOps::FillFrom(const InodePtr& in, const Location& at) {
  return [this, in, at](const write::FillSink& put) -> Result<uint64_t> {
    auto meta = sb_.RefreshMeta(in, true);
    if (!meta.ok()) return meta.error();
    if (meta->size == 0) return uint64_t{0};
    const Collection& c = *in->collection;
    Status failed = Status::Ok();
    uint64_t at_off = 0;
    auto got = sb_.remote().GetRange(
        api::CollectionRef{c.id, *c.https_server}, sb_.homes().HttpsPath(c, at.path), 0, meta->size,
        [&](std::string_view bytes) {
          Status s = put(at_off, bytes);
          at_off += bytes.size();
          if (!s.ok()) failed = s;
          return s.ok();
        },
        nullptr);
    if (!failed.ok()) return failed.error();
    if (!got.ok()) return got.error();
    if (at_off != meta->size)
      return Error::Local(EIO,
                          "the remote file changed size while it was read (" + Where(at) + ")");
    return meta->size;
  };
}

Result<std::shared_ptr<write::StagedFile>> WriteOps::Staged(FileHandle& h, WriteHandle& w) {
  const Ino ino = h.inode->ino;
  bool fill = false;
  Location at;
  std::shared_ptr<write::StagedFile> seed;
  {
    MutexLock l(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return Error::Local(EBADF, "not open for writing");
    if (it->second.staged) return it->second.staged;
    at = it->second.at;
    seed = it->second.seed;
    // The remote content is the start, unless this inode was truncated (a placeholder).
    fill = it->second.remote_exists && it->second.placeholder_fh == 0 && !it->second.uploaded;
  }
  (void)w;
  auto store = Store();
  if (!store.ok()) return store.error();
  auto staged = (*store)->Acquire(ino, NewStageId(), write::StageOrigin{at.collection, at.path},
                                  seed ? SeedFrom(seed) : (fill ? FillFrom(h.inode, at) : nullptr));
  if (!staged.ok()) return staged.error();
  MutexLock l(mu_);
  InodeState& st = inodes_[ino];
  if (!st.staged) st.staged = *staged;
  return st.staged;
}

Status WriteOps::CheckWritable(FileHandle& h, WriteHandle& w, const char* op) {
  const Collection* c = h.inode->collection;
  {
    MutexLock l(w.mu);
    if (w.op != 0 || w.queuing) return Refuse(op, w.dst, EBUSY, "a copy into this file is queued");
    if (w.same_file)
      return Refuse(op, w.dst, EINVAL,
                    "the source of this copy is the same file under another name (.by-id or "
                    "~): nothing was written");
    if (!c || !c->HasHttps()) {
      w.write_refused = true;  // the placeholder must not become an empty file
    }
  }
  if (!c || !c->HasHttps())
    return Refuse(op, w.dst, EOPNOTSUPP,
                  "this collection has no HTTPS server (Globus Connect Personal collections do "
                  "not), so files cannot be written through the mount (nothing was written); cp "
                  "from another collection of the mount works (a Globus transfer)");
  return Status::Ok();
}

Result<size_t> WriteOps::Write(FileHandle& h, uint64_t offset, std::string_view bytes) {
  auto* w = std::get_if<WriteHandle>(&h.as);
  if (!w) return Error::Local(EBADF, "not open for writing");
  const Collection* c = h.inode->collection;
  GF_TRY_STATUS(CheckWritable(h, *w, "write"));
  {
    MutexLock l(w->mu);
    w->staged = true;  // from now on no copy_file_range into it
  }
  auto staged = Staged(h, *w);
  if (!staged.ok()) return sb_.errors().Report("write", c, w->dst.path, staged.error());
  if (w->append) {
    auto size = (*staged)->Size();
    if (!size.ok()) return sb_.errors().Report("write", c, w->dst.path, size.error());
    offset = *size;
  }
  auto n = (*staged)->Write(offset, bytes);
  if (!n.ok()) return sb_.errors().Report("write", c, w->dst.path, n.error());
  MutexLock l(w->mu);
  w->wrote = true;
  w->upload_failed = false;
  return *n;
}

Status WriteOps::Allocate(FileHandle& h, int mode, uint64_t offset, uint64_t length) {
  auto* w = std::get_if<WriteHandle>(&h.as);
  if (!w) return Error::Local(EOPNOTSUPP, "fallocate of a file not open for writing");
  const Collection* c = h.inode->collection;
  if ((mode & ~FALLOC_FL_KEEP_SIZE) != 0)
    return Refuse("fallocate", w->dst, EOPNOTSUPP,
                  "only allocation is supported (no flags, or FALLOC_FL_KEEP_SIZE); punching "
                  "holes, zeroing or collapsing a range is not (nothing was changed)");
  if (offset > UINT64_MAX - length)
    return Refuse("fallocate", w->dst, EFBIG, "the range ends past the largest offset");
  GF_TRY_STATUS(CheckWritable(h, *w, "fallocate"));
  const uint64_t end = offset + length;
  if (mode & FALLOC_FL_KEEP_SIZE) {
    // The content stays as it is: only whether the range would fit the limits now (nothing is
    // held, so a later write can still get ENOSPC; the staged file is not touched, so a new
    // file closed after this is still made empty).
    auto store = Store();
    if (!store.ok()) return sb_.errors().Report("fallocate", c, w->dst.path, store.error());
    Status room = (*store)->CheckRoom(end, length);
    if (!room.ok()) return sb_.errors().Report("fallocate", c, w->dst.path, room.error());
    return Status::Ok();
  }
  {
    MutexLock l(w->mu);
    w->staged = true;  // from now on no copy_file_range into it
  }
  auto staged = Staged(h, *w);
  if (!staged.ok()) return sb_.errors().Report("fallocate", c, w->dst.path, staged.error());
  auto grew = (*staged)->GrowTo(end);
  if (!grew.ok()) return sb_.errors().Report("fallocate", c, w->dst.path, grew.error());
  if (*grew) {
    MutexLock l(w->mu);
    w->wrote = true;
    w->upload_failed = false;
  }
  return Status::Ok();
}

std::optional<Result<ReadData>> WriteOps::Read(FileHandle& h, uint64_t offset, uint64_t size) {
  std::shared_ptr<write::StagedFile> staged;
  {
    MutexLock l(mu_);
    auto it = inodes_.find(h.inode->ino);
    if (it != inodes_.end()) staged = it->second.staged ? it->second.staged : it->second.seed;
  }
  auto* w = std::get_if<WriteHandle>(&h.as);
  if (!staged) {
    if (!w) return std::nullopt;
    {
      MutexLock l(w->mu);
      if (w->placeholder || w->op != 0) return Result<ReadData>(ReadData());  // empty so far
    }
    if (!w->remote_existed || !h.inode->collection || !h.inode->collection->HasHttps())
      return Result<ReadData>(ReadData());
    auto s = Staged(h, *w);  // O_RDWR of an existing file: its content, filled now
    if (!s.ok()) return Result<ReadData>(s.error());
    staged = *s;
  }
  std::string buf(size, '\0');
  auto n = staged->Read(offset, buf.data(), buf.size());
  if (!n.ok()) return Result<ReadData>(n.error());
  buf.resize(*n);
  return Result<ReadData>(ReadData(std::move(buf)));
}

std::optional<uint64_t> WriteOps::StagedSize(Ino ino) {
  std::shared_ptr<write::StagedFile> staged;
  {
    MutexLock l(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end() || it->second.removed) return std::nullopt;
    staged = it->second.staged ? it->second.staged : it->second.seed;
    if (!staged) return std::nullopt;
  }
  if (!staged->filled()) return std::nullopt;  // the remote size is still the truth
  auto s = staged->Size();
  return s.ok() ? std::optional<uint64_t>(*s) : std::nullopt;
}

std::optional<Status> WriteOps::SetAttr(const InodePtr& in, std::optional<uint64_t> fh,
                                        const std::optional<uint64_t>& size, bool metadata) {
  std::shared_ptr<FileHandle> h = fh ? handles_.File(*fh) : nullptr;
  if (h && !std::get_if<WriteHandle>(&h->as)) h = nullptr;
  uint64_t any_fh = 0;
  const std::string key = in->collection ? in->collection->id + "\n" + sb_.Path(*in) : "";
  {
    MutexLock l(mu_);
    auto it = inodes_.find(in->ino);
    if (!size && metadata && !key.empty() && written_.count(key)) return Status::Ok();
    if (it == inodes_.end() || it->second.handles == 0) return std::nullopt;
    // Mode, owner or times of a file open for writing are accepted only once it is being
    // rewritten (written, truncated or created): `cp -p` and `tar x` set them then. `touch` of
    // an existing file that nobody writes would be a change that never happens: EROFS.
    if (!size && !it->second.staged && it->second.placeholder_fh == 0) return std::nullopt;
    any_fh = it->second.placeholder_fh;
  }
  if (!h) {
    // truncate(2) by path while the file is open for writing: any of its write handles.
    for (uint64_t cand : {any_fh}) {
      auto c = cand ? handles_.File(cand) : nullptr;
      if (c && std::get_if<WriteHandle>(&c->as)) h = c;
    }
  }
  if (!size) return metadata ? std::optional<Status>(Status::Ok()) : std::nullopt;
  if (!h) return std::nullopt;
  auto* w = std::get_if<WriteHandle>(&h->as);
  {
    MutexLock l(w->mu);
    if (w->op != 0 || w->queuing) return std::nullopt;  // a pending copy: CopyOps answers
    if (*size == 0 && !w->staged && w->placeholder) return Status::Ok();  // it is empty
    w->staged = true;
  }
  const Collection* c = in->collection;
  if (!c || !c->HasHttps()) return std::nullopt;
  auto staged = Staged(*h, *w);
  if (!staged.ok()) return Status(sb_.errors().Report("truncate", c, w->dst.path, staged.error()));
  Status s = (*staged)->Truncate(*size);
  if (!s.ok()) return Status(sb_.errors().Report("truncate", c, w->dst.path, s.error()));
  MutexLock l(w->mu);
  w->wrote = true;
  w->upload_failed = false;
  return Status::Ok();
}

WriteOps::InodeState* WriteOps::IdleLocked(UniqueLock& l, Ino ino) {
  if (auto it = inodes_.find(ino); it != inodes_.end() && it->second.uploading) MayBlock();
  upload_ended_.wait(l.native(), [&] {
    mu_.AssertHeld();
    auto it = inodes_.find(ino);
    return it == inodes_.end() || !it->second.uploading;
  });
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : &it->second;
}

Status WriteOps::Upload(const InodePtr& in, const char* op) {
  const Ino ino = in->ino;
  std::shared_ptr<write::StagedFile> staged;
  InodeState snapshot;
  if (!background_) {
    // An empty file's PUT of the name that the engine still retries (MakeEmpty) lands first,
    // not after these bytes.
    std::optional<Location> at;
    {
      MutexLock l(mu_);
      if (auto it = inodes_.find(ino); it != inodes_.end()) at = it->second.at;
    }
    if (at && engine_.UploadPending(*at)) WaitUploaded(*at);
  }
  {
    UniqueLock l(mu_);
    InodeState* idle = IdleLocked(l, ino);
    if (!idle) return Status::Ok();  // released and clean: nothing to upload
    InodeState& st = *idle;
    if (!st.staged || st.removed || !st.staged->state().dirty) return Status::Ok();
    st.uploading = true;
    staged = st.staged;
    snapshot = st;
    snapshot.staged = nullptr;  // only `staged` holds it here (see Detach below)
  }
  const Collection& c = *in->collection;
  Status result = staged->EnsureFilled();
  write::StagedFile::State state = staged->state();
  Result<write::UploadOutcome> out = write::UploadOutcome{};
  if (result.ok()) {
    write::UploadRequest r;
    r.collection = api::CollectionRef{c.id, *c.https_server};
    r.path = snapshot.at.path;
    r.https_path = [this, &c](const std::string& p) { return sb_.homes().HttpsPath(c, p); };
    r.replaces_existing = snapshot.remote_exists || snapshot.uploaded;
    r.temp_id = staged->id();
    r.temp_names = &temp_names_;
    r.body = api::UploadBody{staged->fd(), state.size, nullptr};
    out = uploader_.Upload(r);
    if (!out.ok()) result = out.error();
  }
  if (result.ok()) {
    // The uploaded size and mtime show from now on (before a waiting unlink looks): in the
    // parent's cached listing, edited in place, so the next new name of a `cp -r` is still
    // answered from it.
    sb_.overlay().DropPlaceholder(snapshot.at, snapshot.placeholder_fh);
    sb_.AfterUpload(c, snapshot.at.path, state.size, out->last_modified, ino);
  }
  Detached detached;
  {
    MutexLock l(mu_);
    InodeState& st = inodes_[ino];
    st.uploading = false;
    if (result.ok()) {
      NoteMadeLocked(snapshot.at);
      st.uploaded = true;
      st.remote_exists = true;
      staged->MarkClean(state.generation);
    }
    // Every handle was released while this upload ran: the release left the state to us.
    if (st.handles <= 0 && !staged->state().dirty) {
      inodes_.erase(ino);
      staged.reset();  // held by nobody now: the store can reuse its files
      detached = DetachLocked(ino);
    }
  }
  detached.Recycle();  // file system calls: not under mu_
  upload_ended_.notify_all();
  if (!result.ok()) return sb_.errors().Report(op, &c, snapshot.at.path, result.error());
  if (log::GetLevel() <= log::Level::kDebug)  // (its arguments are strings built per file)
    log::Debug("fs", "uploaded ", Where(&c, snapshot.at.path), " (", state.size, " bytes",
               out->via_temp ? ", through a temporary name" : "", ")");
  return Status::Ok();
}

Status WriteOps::Flush(FileHandle& h) {
  auto* w = std::get_if<WriteHandle>(&h.as);
  if (!w) return Status::Ok();
  {
    MutexLock l(w->mu);
    w->flushed = true;
    if (!w->wrote) return Status::Ok();
    w->wrote = false;  // a failure below keeps the inode dirty: fsync/close of it retries
  }
  Status s = background_ ? Queue(h.inode, "close") : Upload(h.inode, "close");
  if (!s.ok()) {
    MutexLock l(w->mu);
    w->wrote = true;
    w->upload_failed = true;
  }
  return s;
}

Status WriteOps::Fsync(FileHandle& h) {
  auto* w = std::get_if<WriteHandle>(&h.as);
  if (!w) return Status::Ok();
  {
    MutexLock l(w->mu);
    if (!w->staged) return Status::Ok();
  }
  std::shared_ptr<write::StagedFile> staged;
  {
    MutexLock l(mu_);
    if (auto it = inodes_.find(h.inode->ino); it != inodes_.end()) staged = it->second.staged;
  }
  if (staged) GF_TRY_STATUS(staged->Sync());
  // Synchronous in every mode: a background upload of this file ends first (its result is
  // fsync's), then whatever is still dirty is uploaded here.
  GF_TRY_STATUS(WaitQueued(h.inode, "fsync"));
  Status s = Upload(h.inode, "fsync");
  if (s.ok()) {
    MutexLock l(w->mu);
    w->wrote = false;
  }
  return s;
}

bool WriteOps::Release(uint64_t fh, FileHandle& h) {
  auto* w = std::get_if<WriteHandle>(&h.as);
  if (!w) return false;
  bool staged = false, unused = false, late = false;
  {
    MutexLock l(w->mu);
    staged = w->staged;
    unused = w->placeholder && w->op == 0 && !w->queuing && !w->write_refused && !w->staged;
    late = w->staged && w->wrote && !w->upload_failed;
  }
  const Collection* c = h.inode->collection;
  if (unused && c && c->HasHttps()) return MakeEmpty(fh, h, *w, *c);
  // Bytes that reached the handle after its last FLUSH, and no close(2) reported on them: the
  // pages of a shared mapping written back after the file's descriptor was closed (`mmap`,
  // `close`, stores, `munmap`: the kernel sends them as WRITEs, then RELEASE and no FLUSH).
  // Nobody waits for a RELEASE, so they go as a journaled upload op, as with write_mode =
  // background: `status` shows it, and a crash leaves it to the next mount. If it cannot be
  // queued (logged), or the name was moved or removed since (the upload would make the old
  // name again), they are kept below like the bytes of a failed upload.
  if (late && c && c->HasHttps() && sb_.Named(h.inode->ino).ok() &&
      sb_.Path(*h.inode) == w->dst.path)
    (void)Queue(h.inode, "release");
  std::shared_ptr<write::StagedFile> file;
  bool last = false, removed = false;
  Location at;
  {
    MutexLock l(mu_);
    auto it = inodes_.find(h.inode->ino);
    if (it == inodes_.end()) return staged;
    InodeState& st = it->second;
    staged = staged || st.staged != nullptr;
    removed = st.removed;
    if (st.placeholder_fh == fh) st.placeholder_fh = 0;
    last = --st.handles <= 0 && !st.uploading;
    if (last) {
      file = st.staged;
      at = st.at;
      inodes_.erase(it);
    }
  }
  if (staged) {
    // The placeholder of an upload that never succeeded goes (the name did not become real).
    if (sb_.overlay().DropPlaceholder(w->dst, fh))
      sb_.AfterNeverMade(w->dst.collection, w->dst.path);
  }
  if (!last || !file) return staged || removed;
  if (removed || !file->state().dirty) {
    file.reset();  // held by nobody now: the store can reuse its files
    Detached detached;
    {
      MutexLock l(mu_);
      detached = DetachLocked(h.inode->ino);
    }
    // The truncate and renames run outside mu_: the next file's GETATTR (StagedSize) of a
    // `cp -r` waited ~0.3 ms for them when they ran under it.
    detached.Recycle();
  } else {
    const char* why = late ? "written after its last close, through a shared mapping; then its "
                             "name was moved, or the upload could not be queued"
                           : "its upload failed";
    log::Warn("fs", "close: ", Where(at), " was not uploaded (", why,
              "); the written bytes are kept in ", file->data_path(),
              " and are not uploaded without you");
    if (late) {
      MutexLock l(mu_);
      kept_why_[file->id()] = why;
    }
  }
  return true;
}

Status WriteOps::CheckNotBeingWritten(const Collection& c, const std::string& path,
                                      const char* op) {
  auto here = [&](const Location& at) {
    return at.collection == c.id && (at.path == path || IsUnder(at.path, path));
  };
  bool busy = false;
  std::set<Ino> removed;  // unlinked before any upload: nothing of them goes anywhere
  {
    MutexLock l(mu_);
    for (const auto& [ino, st] : inodes_) {
      if (st.removed) removed.insert(ino);
      if (st.uploading && !st.removed && here(st.at)) busy = true;
    }
  }
  // A handle still open (no FLUSH yet: close(2) sends one before it returns, while RELEASE
  // may come after the program's next call, such as this rename), or one that wrote since.
  for (const auto& h : busy ? std::vector<std::shared_ptr<FileHandle>>{} : handles_.Files()) {
    auto* w = std::get_if<WriteHandle>(&h->as);
    if (!w || !here(w->dst) || removed.count(h->inode->ino)) continue;
    MutexLock l(w->mu);
    if (!w->flushed || w->wrote) busy = true;
  }
  if (!busy) return Status::Ok();
  return Refuse(op, {c.id, path}, EBUSY,
                "a file there is open for writing through the mount, and its bytes go to the "
                "name it was opened under when it is closed: close it, then move it");
}

void WriteOps::NoteMadeLocked(const Location& at) {
  if (written_.size() >= kMaxWritten) written_.clear();
  written_.insert(at.collection + "\n" + at.path);
}

void WriteOps::MadeDirectory(const Location& at) {
  MutexLock l(mu_);
  NoteMadeLocked(at);
}

void WriteOps::Renamed(const Location& from, const Location& to) {
  // Takes the names at `key` and below it out of written_; returns their paths below `key`
  // ("" for `key` itself).
  auto take = [this](const std::string& key) REQUIRES(mu_) {
    std::vector<std::string> rest;
    if (written_.erase(key)) rest.emplace_back();
    const std::string below = key + "/";
    for (auto it = written_.lower_bound(below);
         it != written_.end() && it->compare(0, below.size(), below) == 0;) {
      rest.push_back(it->substr(key.size()));
      it = written_.erase(it);
    }
    return rest;
  };
  MutexLock l(mu_);
  const std::vector<std::string> moved = take(from.collection + "\n" + from.path);
  (void)take(to.collection + "\n" + to.path);  // replaced: not what this mount made any more
  for (const std::string& rest : moved) NoteMadeLocked({to.collection, to.path + rest});
}

bool WriteOps::RemoveLocalOnly(const Location& loc) {
  // A copy or move into the name is pending: it is not local-only (DeleteOps answers EBUSY).
  if (auto op = sb_.overlay().PendingOp(loc); op && *op != 0) return false;  // (0: a placeholder)
  Ino ino = 0;
  uint64_t placeholder_fh = 0;
  Detached detached;
  {
    UniqueLock l(mu_);
    for (auto& [i, st] : inodes_)
      if (st.at == loc && !st.removed) ino = i;
    if (ino == 0) return false;
    if (inodes_[ino].uploading) {
      MayBlock();
      upload_ended_.wait(l.native(), [&] {
        mu_.AssertHeld();
        return !inodes_.count(ino) || !inodes_[ino].uploading;
      });
      return false;
    }
    InodeState& st = inodes_[ino];
    if (st.uploaded || st.remote_exists) return false;
    st.removed = true;
    placeholder_fh = st.placeholder_fh;
    if (st.staged) detached = DetachLocked(ino);
  }
  detached.Recycle();
  // Its open handles must not make it an empty file at their last close.
  if (auto h = placeholder_fh ? handles_.File(placeholder_fh) : nullptr)
    if (auto* w = std::get_if<WriteHandle>(&h->as)) {
      MutexLock l(w->mu);
      w->write_refused = true;
    }
  sb_.overlay().DropPlaceholder(loc, placeholder_fh);
  sb_.AfterNeverMade(loc.collection, loc.path);
  return true;
}

size_t WriteOps::DrainUploads(std::chrono::milliseconds max) {
  UniqueLock l(mu_);
  auto in_flight = [&] {
    mu_.AssertHeld();
    return static_cast<size_t>(std::count_if(inodes_.begin(), inodes_.end(),
                                             [](const auto& e) { return e.second.uploading; }));
  };
  size_t n = in_flight();
  if (n == 0) return 0;
  log::Info("fs", "stopping: waiting up to ", max.count() / 1000, " s for ", n,
            " upload(s) in flight to end");
  upload_ended_.wait_for(l.native(), max, [&] { return in_flight() == 0; });
  n = in_flight();
  if (n != 0)
    log::Warn("fs", "stopping: ", n, " upload(s) did not end within ", max.count() / 1000,
              " s and are aborted: their close fails, and what was written stays in ",
              options_.staging_dir);
  return n;
}

}  // namespace gf::fs
