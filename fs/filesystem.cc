#include "fs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/log.h"
#include "fs/paths.h"
#include "fs/status/status_document.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace gf::fs {

namespace {
Error UnknownInode() { return Error::Local(ESTALE, "unknown inode"); }
}  // namespace

Filesystem::Filesystem(const FsParts& parts, FsOptions options, Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      started_(clock.Now()),
      catalog_(parts.catalog),
      engine_api_(parts.engine_api),
      status_(parts.status),
      remote_(parts.transfer, parts.data, parts.authorizer),
      errors_(clock, parts.authorizer),
      sb_(remote_, parts.catalog, parts.engine, parts.notifier, errors_, options_, clock),
      reads_(sb_, options_),
      copies_(sb_, parts.engine, handles_, options_, clock),
      writes_(sb_, parts.engine, handles_, options_, clock),
      deletes_(sb_, parts.engine, options_, clock) {}

Filesystem::~Filesystem() { Stop(); }

void Filesystem::Start() {
  reads_.Start();
  sb_.Start();
  // One task on the read pool (always running); a lookup arriving meanwhile joins the same
  // resolution (single flight), and a failure is retried by the next operation as before.
  if (options_.warm_root && !reads_.queue().Submit([this] { (void)sb_.registry().List(); }))
    log::Debug("fs", "root warm-up not queued; the first operation resolves the root");
}

void Filesystem::Stop() {
  sb_.Stop();
  handles_.Clear();  // cancels in-flight parts
  reads_.Stop();
}

size_t Filesystem::DrainUploads(std::chrono::milliseconds max) { return writes_.DrainUploads(max); }

// ---------------------------------------------------------------------------------------------
// namespace

Result<Entry> Filesystem::Lookup(Ino parent, const std::string& name) {
  return sb_.Lookup(parent, name);
}

void Filesystem::Forget(Ino ino, uint64_t n) { sb_.Forget(ino, n); }

void Filesystem::ForgetMulti(const std::vector<std::pair<Ino, uint64_t>>& batch) {
  sb_.ForgetMulti(batch);
}

Result<AttrReply> Filesystem::GetAttr(Ino ino) {
  auto in = sb_.Inode(ino);
  if (!in) return UnknownInode();
  auto a = sb_.GetAttr(in);
  if (a.ok())
    if (auto size = writes_.StagedSize(ino)) {
      a->attr.size = *size;
      a->attr.blocks = (*size + 511) / 512;
    }
  return a;
}

Result<AttrReply> Filesystem::SetAttr(Ino ino, const SetAttrRequest& req) {
  // By path (truncate, chmod, touch) the name must still lead here; through an open file
  // (ftruncate) the file is the one that was opened.
  auto named = req.fh ? Result<InodePtr>(sb_.Inode(ino)) : sb_.Named(ino);
  if (!named.ok()) return named.error();
  const InodePtr in = *named;
  if (!in) return UnknownInode();
  const bool changes = req.size || req.mode || req.uid || req.gid || req.atime || req.mtime;
  if (!changes) return GetAttr(ino);
  if (auto written = writes_.SetAttr(in, req.fh, req.size,
                                     req.mode || req.uid || req.gid || req.atime || req.mtime)) {
    if (!written->ok()) return written->error();
    return GetAttr(ino);
  }
  if (auto pending = copies_.SetAttrPending(in, req.size, req.mtime_value)) {
    if (!pending->ok()) return pending->error();
    return sb_.GetAttr(in);
  }
  return errors_.Local("setattr", in->collection, in->collection ? sb_.Path(*in) : "", EROFS,
                       "changing size, mode, owner or times is not supported yet");
}

Result<std::string> Filesystem::ReadLink(Ino ino) {
  auto in = sb_.Named(ino);
  if (!in.ok()) return in.error();
  return sb_.ReadLink(*in);
}

Result<Entry> Filesystem::Mkdir(Ino parent, const std::string& name, uint32_t mode) {
  (void)mode;  // the service creates directories with its own default mode
  GF_TRY_STATUS(sb_.Named(parent));
  auto dir = sb_.Inode(parent);
  auto made = sb_.Mkdir(dir, name);
  if (made.ok() && dir && dir->collection)
    writes_.MadeDirectory({dir->collection->id, JoinPath(sb_.Path(*dir), name)});
  return made;
}

Status Filesystem::Rename(Ino parent_ino, const std::string& name, Ino new_parent_ino,
                          const std::string& new_name, unsigned flags, int32_t origin_pid) {
  if (flags & RENAME_EXCHANGE)
    return Error::Local(EINVAL, "RENAME_EXCHANGE is not supported by Globus");
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE))
    return Error::Local(EINVAL, "unsupported rename flags");
  GF_TRY_STATUS(sb_.Named(parent_ino));
  GF_TRY_STATUS(sb_.Named(new_parent_ino));
  auto parent = sb_.Inode(parent_ino);
  auto new_parent = sb_.Inode(new_parent_ino);
  GF_TRY_STATUS(sb_.CheckWritableParent(parent, "rename"));
  GF_TRY_STATUS(sb_.CheckWritableParent(new_parent, "rename"));
  if (IsHomeEntry(*parent, name) || IsHomeEntry(*new_parent, new_name))
    return Error::Local(EBUSY, "~ is the home directory");
  GF_TRY_STATUS(writes_.CheckNotBeingWritten(*parent->collection, JoinPath(sb_.Path(*parent), name),
                                             "rename"));
  GF_TRY_STATUS(writes_.CheckNotBeingWritten(*new_parent->collection,
                                             JoinPath(sb_.Path(*new_parent), new_name), "rename"));
  if (new_parent->collection != parent->collection)
    return copies_.Move(parent, name, new_parent, new_name, flags, origin_pid);
  // write_mode = background: either name's pending upload lands first (rsync's temp file,
  // an editor's save); then the rename is the collection's.
  const std::string from = JoinPath(sb_.Path(*parent), name);
  const std::string to = JoinPath(sb_.Path(*new_parent), new_name);
  GF_TRY_STATUS(AwaitUpload("rename", *parent->collection, from));
  GF_TRY_STATUS(AwaitUpload("rename", *parent->collection, to));
  GF_TRY_STATUS(sb_.Rename(parent, name, new_parent, new_name, flags));
  writes_.Renamed({parent->collection->id, from}, {parent->collection->id, to});
  return Status::Ok();
}

Status Filesystem::AwaitUpload(const char* op, const Collection& c, const std::string& path) {
  writes_.WaitUploaded({c.id, path});
  // Ctrl-C ended the wait: the command is being interrupted, so nothing is changed.
  if (const auto* cancel = RequestCancel::Current(); cancel && cancel->load())
    return errors_.Local(op, &c, path, EINTR,
                         "interrupted while waiting for its background upload; nothing was "
                         "changed");
  return Status::Ok();
}

Status Filesystem::Unlink(Ino parent_ino, const std::string& name, const std::atomic<bool>* cancel,
                          int32_t origin_pid) {
  GF_TRY_STATUS(sb_.Named(parent_ino));
  auto parent = sb_.Inode(parent_ino);
  if (parent && parent->collection && parent->kind == Kind::kDir)  // background: lands first
    GF_TRY_STATUS(AwaitUpload("rm", *parent->collection, JoinPath(sb_.Path(*parent), name)));
  // A file created through the mount and never uploaded goes without a remote call.
  if (parent && parent->collection && parent->kind == Kind::kDir &&
      writes_.RemoveLocalOnly({parent->collection->id, JoinPath(sb_.Path(*parent), name)}))
    return Status::Ok();
  return deletes_.Unlink(parent, name, cancel, origin_pid);
}

Status Filesystem::Rmdir(Ino parent, const std::string& name, const std::atomic<bool>* cancel,
                         int32_t origin_pid) {
  GF_TRY_STATUS(sb_.Named(parent));
  return deletes_.Rmdir(sb_.Inode(parent), name, cancel, origin_pid);
}

Status Filesystem::CreateUnsupported(NodeKind kind, Ino parent_ino, const std::string& name) {
  auto parent = sb_.Inode(parent_ino);
  const Collection* c = parent ? parent->collection : nullptr;
  const std::string path = sb_.PathForMessage(parent, name);
  switch (kind) {
    case NodeKind::kSymlink:
      return errors_.Local("symlink", c, path, EPERM,
                           "Globus cannot create symbolic links (the Transfer API has no "
                           "operation for it); copy the file the link points to instead");
    case NodeKind::kHardLink:
      return errors_.Local("link", c, path, EPERM, "Globus collections have no hard links");
    case NodeKind::kSpecial:
      break;
  }
  return errors_.Local("mknod", c, path, EPERM,
                       "Globus collections hold only files, directories and symbolic links (no "
                       "devices, FIFOs or sockets)");
}

Result<Created> Filesystem::Create(Ino parent_ino, const std::string& name, uint32_t mode,
                                   int flags) {
  GF_TRY_STATUS(sb_.Named(parent_ino));
  auto parent = sb_.Inode(parent_ino);
  if (parent && parent->collection && parent->kind == Kind::kDir)
    GF_TRY_STATUS(writes_.CheckOpen(*parent->collection, JoinPath(sb_.Path(*parent), name), flags,
                                    false, "create"));
  auto c = copies_.Create(parent, name, mode, flags);
  if (c.ok()) writes_.Opened(c->opened.fh, flags, c->opened);
  return c;
}

Result<uint64_t> Filesystem::CopyFileRange(Ino in_ino, uint64_t fh_in, uint64_t off_in, Ino out_ino,
                                           uint64_t fh_out, uint64_t off_out, uint64_t len,
                                           const std::atomic<bool>* cancel, int32_t origin_pid) {
  (void)fh_in, (void)out_ino;
  auto dst = handles_.File(fh_out);
  return copies_.CopyFileRange(sb_.Inode(in_ino), dst.get(), off_in, off_out, len, cancel,
                               origin_pid);
}

// ---------------------------------------------------------------------------------------------
// directories

Result<uint64_t> Filesystem::OpenDir(Ino ino) {
  auto named = sb_.Named(ino);
  if (!named.ok()) return named.error();
  const InodePtr in = *named;
  if (in->kind != Kind::kDir) return Error::Local(ENOTDIR, "not a directory");
  return handles_.Add(std::make_shared<DirHandle>(ino));
}

void Filesystem::ReleaseDir(uint64_t fh) { handles_.DropDir(fh); }

Status Filesystem::ReadDir(Ino ino, uint64_t fh, uint64_t offset, bool plus, DirReplier& out) {
  auto dir = sb_.Inode(ino);
  if (!dir) return UnknownInode();
  auto h = handles_.Dir(fh);
  if (!h) return Error::Local(EBADF, "unknown directory handle");
  std::shared_ptr<const DirView> view;
  {
    MutexLock l(h->mu);
    view = h->view;
  }
  if (offset == 0 || !view) {
    auto built = sb_.View(dir);  // no lock held: may list remotely (or wait for a login)
    if (!built.ok()) return built.error();
    view = *built;
    MutexLock l(h->mu);
    h->view = view;
  }
  sb_.Emit(dir, *view, offset, plus, out);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// files

Result<Opened> Filesystem::OpenControlFile(const InodePtr& in, int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY) return Error::Local(EACCES, "status is read-only");
  Opened o;
  o.direct_io = true;  // generated content: its size is unknown to the kernel
  o.fh = handles_.Add(std::make_shared<FileHandle>(in, std::in_place_type<FixedContent>,
                                                   FixedContent{StatusJson()}));
  return o;
}

Result<Opened> Filesystem::Open(Ino ino, int flags, const std::atomic<bool>* cancel) {
  auto named = sb_.Named(ino);
  if (!named.ok()) return named.error();
  const InodePtr in = *named;
  if (in->kind == Kind::kDir) return Error::Local(EISDIR, "is a directory");
  if (in->role == Role::kControlFile) return OpenControlFile(in, flags);
  if (in->role != Role::kRemote || in->kind != Kind::kFile)
    return Error::Local(EINVAL, "not a regular file");
  if ((flags & O_ACCMODE) != O_RDONLY)
    GF_TRY_STATUS(writes_.CheckOpen(*in->collection, sb_.Path(*in), flags, true, "open"));
  auto pending = copies_.Open(in, flags, cancel);
  if (!pending.ok()) return pending.error();
  if (*pending) {
    Opened o = **pending;
    writes_.Opened(o.fh, flags, o);
    return o;
  }
  Opened o;
  auto h = reads_.Open(in, o);
  if (!h.ok()) return h.error();
  if (writes_.StagedSize(ino)) o.direct_io = true, o.keep_cache = false;  // the staged bytes
  o.fh =
      handles_.Add(std::make_shared<FileHandle>(in, std::in_place_type<ReadHandle>, std::move(*h)));
  return o;
}

Result<ReadData> Filesystem::Read(uint64_t fh, uint64_t offset, uint64_t size,
                                  const std::atomic<bool>* cancel) {
  auto h = handles_.File(fh);
  if (!h) return Error::Local(EBADF, "unknown file handle");
  if (auto staged = writes_.Read(*h, offset, size)) return std::move(*staged);
  if (auto* r = std::get_if<ReadHandle>(&h->as))
    return reads_.Read(h->inode, *r, offset, size, cancel);
  const auto* fixed = std::get_if<FixedContent>(&h->as);
  if (!fixed || offset >= fixed->bytes.size()) return ReadData();  // a write handle reads empty
  return ReadData(fixed->bytes.substr(offset, size));
}

Result<size_t> Filesystem::Write(uint64_t fh, uint64_t offset, std::string_view bytes) {
  auto h = handles_.File(fh);
  if (!h) return Error::Local(EBADF, "unknown file handle");
  return writes_.Write(*h, offset, bytes);
}

Status Filesystem::Allocate(uint64_t fh, int mode, uint64_t offset, uint64_t length) {
  auto h = handles_.File(fh);
  if (!h) return Error::Local(EBADF, "unknown file handle");
  return writes_.Allocate(*h, mode, offset, length);
}

Status Filesystem::Flush(uint64_t fh) {
  auto h = handles_.File(fh);
  if (!h) return Status::Ok();
  GF_TRY_STATUS(writes_.Flush(*h));
  return copies_.Flush(*h);
}

Status Filesystem::Fsync(uint64_t fh, const std::atomic<bool>* cancel) {
  auto h = handles_.File(fh);
  if (!h) return Error::Local(EBADF, "unknown file handle");
  GF_TRY_STATUS(writes_.Fsync(*h));
  return copies_.Fsync(*h, cancel);
}

void Filesystem::Release(uint64_t fh) {
  auto h = handles_.TakeFile(fh);
  // A handle that wrote is the write path's; otherwise a placeholder may become an empty file.
  if (h && !writes_.Release(fh, *h)) copies_.Release(fh, *h);
}  // the handle goes here, outside every lock: its reader cancels in-flight parts

// ---------------------------------------------------------------------------------------------
// xattrs and control

Result<std::vector<std::string>> Filesystem::ListXattr(Ino ino) {
  auto named = sb_.Named(ino);
  if (!named.ok()) return named.error();
  const InodePtr in = *named;
  std::vector<std::string> names;
  // On a symlink the kernel refuses every user.* getxattr itself (ENODATA): list none.
  if (!in->collection || in->kind == Kind::kSymlink) return names;
  names = {"user.globus.collection_id", "user.globus.path"};
  if (in->kind == Kind::kFile && in->collection->https_server)
    names.push_back("user.globus.https_url");
  for (auto& [k, v] : sb_.overlay().Xattrs(in->collection->id, sb_.Path(*in))) names.push_back(k);
  return names;
}

Result<std::string> Filesystem::GetXattr(Ino ino, const std::string& name) {
  auto named = sb_.Named(ino);
  if (!named.ok()) return named.error();
  const InodePtr in = *named;
  // Only the user namespace exists here. Answering ENOTSUP (not ENODATA) for security.*,
  // system.* (POSIX ACLs) and trusted.* lets tools cache "unsupported" for the whole
  // filesystem: coreutils' `ls -l` then asks once per mount instead of twice per file, which is
  // 20000 kernel round trips saved on a 10k-entry directory. (ENOSYS would be worse: the kernel
  // would stop forwarding every getxattr, user.globus.* included.)
  if (name.rfind("user.", 0) != 0) return Error::Local(EOPNOTSUPP, "only user.* xattrs exist");
  // Reading the invalidate attribute is `drop-caches`' second step: the kernel learns what was
  // dropped from a notification thread, after setxattr has returned; this read returns once it
  // has (from the mount root, where the kernel holds no lock an invalidation needs).
  if (name == kInvalidateXattr) {
    if (!sb_.SettleKernel(std::chrono::seconds(10)))
      return Error::Local(ETIMEDOUT, "the kernel was not told of dropped caches within 10 s");
    return std::string("settled");
  }
  if (in->collection) {
    const Collection& c = *in->collection;
    std::string path = sb_.Path(*in);
    if (in->role == Role::kHome) path = "/~/";
    if (name == "user.globus.collection_id") return c.id;
    if (name == "user.globus.path") return path;
    if (name == "user.globus.https_url" && in->kind == Kind::kFile && c.https_server)
      return api::DataApi::FileUrl(api::CollectionRef{c.id, *c.https_server},
                                   sb_.homes().HttpsPath(c, path));
    for (auto& [k, v] : sb_.overlay().Xattrs(c.id, path))
      if (k == name) return v;
  }
  return Error::Local(ENODATA, "no such attribute");
}

Status Filesystem::SetXattr(Ino ino, const std::string& name, const std::string& value) {
  (void)value;
  if (name == kInvalidateXattr) return Invalidate(ino);
  return Error::Local(EOPNOTSUPP, "only " + std::string(kInvalidateXattr) + " can be set");
}

Status Filesystem::Invalidate(Ino ino) {
  auto in = sb_.Named(ino);
  if (!in.ok()) return in.error();
  return sb_.Invalidate(*in);
}

StatFs Filesystem::Statfs() const {
  StatFs s;
  s.bsize = 4096;
  s.blocks = 1ull << 40;  // "plenty": the real capacity of a collection is unknown
  s.bfree = s.bavail = 1ull << 40;
  s.files = 1ull << 32;
  s.ffree = 1ull << 32;
  s.namemax = 255;
  return s;
}

std::string Filesystem::StatusJson() {
  StatusReport r;
  r.mount_point = options_.mount_point;
  r.uptime_seconds = std::chrono::duration<double>(clock_.Now() - started_).count();
  r.collections = sb_.registry().List();
  r.not_shown = sb_.registry().NotShown();
  r.cache = sb_.Stats();
  r.reads = reads_.Stats();
  r.api_calls = remote_.Counts();  // the fs core's calls, then the transfer engine's
  for (const auto& [op, n] : engine_api_.Counts()) {
    r.api_calls[op].calls += n.calls;
    r.api_calls[op].errors += n.errors;
  }
  if (status_.api_client) r.api_client = status_.api_client();
  r.errors = errors_.Stats();
  if (status_.pending_authorizations) r.pending_authorizations = status_.pending_authorizations();
  r.transfers = sb_.overlay().Stats();
  r.kept_files = writes_.KeptFiles();
  return WriteStatusDocument(r, catalog_);
}

}  // namespace gf::fs
