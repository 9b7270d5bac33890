#include "fs/transfers/copy_ops.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "common/blocking.h"
#include "common/log.h"
#include "fs/handles.h"
#include "fs/paths.h"

namespace gf::fs {

namespace {
// The kernel clamps one copy_file_range to this (UINT_MAX & PAGE_MASK): its reply is 32-bit.
constexpr uint64_t kKernelCopyChunk = 4294963200ull;

constexpr const char* kNoHttpsForEmpty =
    "this collection has no HTTPS server (Globus Connect Personal collections do not), so an "
    "empty file cannot be created through the mount";

std::time_t WallNow(Clock& clock) { return std::chrono::system_clock::to_time_t(clock.WallNow()); }
}  // namespace

CopyOps::CopyOps(Superblock& sb, TransferEngine& engine, HandleTable& handles,
                 const FsOptions& options, Clock& clock)
    : sb_(sb), engine_(engine), handles_(handles), options_(options), clock_(clock) {}

Opened CopyOps::AddPlaceholder(const InodePtr& in, const Location& dst, const Meta& meta,
                               bool existed, int flags) {
  Opened o;
  o.fh = handles_.Add(
      std::make_shared<FileHandle>(in, std::in_place_type<WriteHandle>, dst, true, existed, flags));
  sb_.overlay().AddPlaceholder(dst, meta, o.fh);
  return o;
}

Result<Created> CopyOps::Create(const InodePtr& parent, const std::string& name, uint32_t mode,
                                int flags) {
  GF_TRY_STATUS(sb_.CheckWritableParent(parent, "create"));
  if (name.size() > 255) return Error::Local(ENAMETOOLONG, "name too long");
  if (IsHomeEntry(*parent, name)) return Error::Local(EISDIR, "~ is the home directory");
  const Collection* c = parent->collection;
  const std::string path = JoinPath(sb_.Path(*parent), name);
  // cp onto an existing (pending) name opens it (Open waits); a create with the directory
  // locked by the kernel does not wait.
  // A pending background upload of the name is no reason to wait: the new content supersedes
  // it, or follows it (write/write_ops.h).
  const bool upload = sb_.overlay().PendingUpload({c->id, path});
  if (!upload && sb_.overlay().PendingOp({c->id, path}).value_or(0) != 0)
    return sb_.errors().Local("create", c, path, EBUSY, kPendingBusy);
  GF_TRY_STATUS(sb_.CheckNotBeingRemoved(*c, path, "create"));
  // The kernel sends CREATE for names it believes missing; its negative entry may be stale.
  InodePtr in;
  const bool was_pending = sb_.overlay().PendingOp({c->id, path}).has_value();
  auto existing = sb_.Resolve(parent, name);
  if (existing.ok()) {
    if ((flags & O_EXCL) || existing->kind != Kind::kFile)
      return Error::Local(existing->kind == Kind::kDir ? EISDIR : EEXIST, path + " exists");
    in = sb_.Link(parent, name, *existing);  // its lookup reference goes with the reply
  } else if (ErrnoFor(existing.error()) != ENOENT) {
    return existing.error();
  }
  Meta m;
  m.type = api::EntryType::kFile;
  m.mtime = WallNow(clock_);
  m.permissions = mode & 07777;
  if (!in) in = sb_.Link(parent, name, Resolved{Kind::kFile, Role::kRemote, m});
  Created out;
  out.opened = AddPlaceholder(in, Location{c->id, path}, m,
                              existing.ok() && (!was_pending || upload), flags);
  sb_.AfterCreate(*c, path);
  out.entry = sb_.attrs().MakeEntry(*in, &m);
  return out;
}

Result<std::optional<Opened>> CopyOps::Open(const InodePtr& in, int flags,
                                            const std::atomic<bool>* cancel) {
  const Collection& c = *in->collection;
  const std::string path = sb_.Path(*in);
  const Location at{c.id, path};
  PendingOverlay& overlay = sb_.overlay();
  const bool writing = (flags & O_ACCMODE) != O_RDONLY;
  // A background upload of the name is pending (write_mode = background): a rewrite (O_TRUNC)
  // does not wait for it (the newer upload supersedes it, or runs after it); an edit of its
  // content (no O_TRUNC) waits for it, like a read.
  const bool upload = overlay.PendingUpload(at);
  if (upload && writing && !(flags & O_TRUNC)) {
    GF_TRY_STATUS(WaitUntilSettled(c, path, "open"));
    in->Expire();
  }
  if ((flags & O_TRUNC) && !upload && overlay.PendingOp(at).value_or(0) != 0) {
    GF_TRY_STATUS(WaitUntilSettled(c, path, "open"));
    in->Expire();
  }
  // has_pending: the name is in the overlay; pending_op: its op (0: a placeholder).
  const std::optional<OpId> shown = overlay.PendingOp(at);
  const bool has_pending = shown.has_value();
  const OpId pending_op = shown.value_or(0);
  // A write handle: the destination of a cp. O_TRUNC makes a placeholder (empty, local); the
  // remote file stays as it is until a transfer replaces it. O_RDWR without O_TRUNC reads the
  // remote content (writes are refused at write), like O_RDONLY.
  if (writing && ((flags & O_ACCMODE) == O_WRONLY || (flags & O_TRUNC))) {
    if (!(flags & O_TRUNC)) {
      Opened o;
      o.fh = handles_.Add(std::make_shared<FileHandle>(in, std::in_place_type<WriteHandle>, at,
                                                       false, !has_pending, flags));
      return std::optional<Opened>(o);
    }
    if (pending_op != 0 && !overlay.PendingUpload(at))  // queued again meanwhile
      return sb_.errors().Local("open", &c, path, EBUSY,
                                "a copy to this file is still pending (see globus-fuse status)");
    std::optional<Meta> old;
    if (has_pending) {
      old = overlay.Pending(c.id, path);
    } else if (auto r = sb_.RefreshMeta(in); r.ok()) {
      old = *r;
    }
    Meta m;
    m.type = api::EntryType::kFile;
    m.permissions = old ? old->permissions : 0644;
    m.mtime = WallNow(clock_);
    // A pending upload makes the name exist: the rewrite replaces it (through a temp name).
    Opened o = AddPlaceholder(in, at, m, !has_pending || upload, flags);
    sb_.AfterTruncate(in->ino);
    return std::optional<Opened>(o);
  }
  if (has_pending && pending_op == 0) {
    Opened o;
    o.direct_io = true;  // a placeholder reads as empty
    o.fh = writing ? handles_.Add(std::make_shared<FileHandle>(in, std::in_place_type<WriteHandle>,
                                                               at, false, false, flags))
                   : handles_.Add(std::make_shared<FileHandle>(in, std::in_place_type<FixedContent>,
                                                               FixedContent{}));
    return std::optional<Opened>(o);
  }
  if (has_pending) {
    // A pending copy destination: its content exists once the transfer succeeded.
    GF_TRY_STATUS(WaitOp(pending_op, true, cancel, "open", &c, path));
    in->Expire();
  }
  if (writing) {  // O_RDWR of an existing file: its content fills the staging when first used
    Opened o;
    o.fh = handles_.Add(
        std::make_shared<FileHandle>(in, std::in_place_type<WriteHandle>, at, false, true, flags));
    return std::optional<Opened>(o);
  }
  return std::optional<Opened>();
}

Error CopyOps::SameFileError(const Collection& c, const std::string& path) {
  // A transfer onto itself would truncate it. copy_file_range(2) says EINVAL for one file;
  // cp's read/write fallback then fails at its first write, and its placeholder goes with
  // nothing changed.
  return sb_.errors().Local("cp", &c, path, EINVAL,
                            "the destination is the same file under another name (.by-id or ~): "
                            "nothing was copied");
}

bool CopyOps::SameFile(const Collection& c, const std::string& src, const Meta& src_meta,
                       const std::string& dst) {
  if (src == dst) return true;
  if (UnderHome(src) == UnderHome(dst)) return false;
  const std::string home_side = UnderHome(src) ? src : dst;
  const std::string resolved = sb_.homes().HttpsPath(c, home_side);
  if (resolved != home_side) return resolved == (UnderHome(src) ? dst : src);
  auto d = sb_.StatPath(c, dst);  // where "~" is, is not known
  return d.ok() && d->type == api::EntryType::kFile && d->size == src_meta.size &&
         d->mtime == src_meta.mtime;
}

Result<uint64_t> CopyOps::CopyFileRange(const InodePtr& src_in, FileHandle* dst_handle,
                                        uint64_t off_in, uint64_t off_out, uint64_t len,
                                        const std::atomic<bool>* cancel, int32_t origin_pid) {
  WriteHandle* dst = dst_handle ? std::get_if<WriteHandle>(&dst_handle->as) : nullptr;
  if (!dst) return Error::NotSupported("copy_file_range: the destination is not open for writing");
  if (!src_in || src_in->role != Role::kRemote || src_in->kind != Kind::kFile)
    return Error::NotSupported("copy_file_range: the source is not a file in a collection");
  if (!dst || !dst->placeholder)  // (only a placeholder's handle ever queues a copy)
    return Error::NotSupported(
        "copy_file_range: the destination must be new or truncated (O_TRUNC)");
  const Collection& sc = *src_in->collection;
  const Location src{sc.id, sb_.Path(*src_in)};
  {
    UniqueLock l(dst->mu);
    if (dst->queuing) MayBlock();
    dst->cv.wait(l.native(), [&] {
      dst->mu.AssertHeld();
      return !dst->queuing;
    });
    if (dst->staged)  // cp falls back to read/write, and the written file is uploaded
      return Error::NotSupported("copy_file_range: the destination received writes");
    if (dst->op != 0) {
      // cp continuing a copy the kernel split (each call is at most kKernelCopyChunk bytes).
      if (src_in->ino != dst->src_ino || off_in != dst->next || off_out != dst->next)
        return Error::NotSupported("copy_file_range: only whole-file copies are server-side");
      if (off_in >= dst->src_size) return uint64_t{0};
      const uint64_t n = std::min(len, dst->src_size - off_in);
      dst->next += n;
      return n;
    }
  }
  if (off_in != 0 || off_out != 0)
    return Error::NotSupported("copy_file_range: partial copies are not server-side");
  // Onto itself: the placeholder must not become an empty file at close either.
  auto same_file = [&] {
    MutexLock l(dst->mu);
    dst->write_refused = true;
    dst->same_file = true;
    return SameFileError(sc, src.path);
  };
  if (dst->dst.collection == sc.id && src.path == dst->dst.path) return same_file();
  if (sb_.overlay().PendingOp(src).value_or(1) == 0)
    return Error::NotSupported("copy_file_range: the source was never written");
  auto meta = sb_.RefreshMeta(src_in);  // no lock held: may be a remote stat
  if (!meta.ok()) return meta.error();
  if (meta->type != api::EntryType::kFile)
    return Error::NotSupported("copy_file_range: the source is not a regular file");
  if (dst->dst.collection == sc.id && SameFile(sc, src.path, *meta, dst->dst.path))
    return same_file();
  if (len < meta->size && len < kKernelCopyChunk)
    return Error::NotSupported("copy_file_range: partial copies are not server-side");
  const uint64_t n = std::min(len, meta->size);
  {
    // Claim the handle: two racing calls must not queue two copies. The enqueue itself (a
    // journal fdatasync, then the engine's lock) runs without the handle's lock.
    UniqueLock l(dst->mu);
    if (dst->queuing) MayBlock();
    dst->cv.wait(l.native(), [&] {
      dst->mu.AssertHeld();
      return !dst->queuing;
    });
    if (dst->op != 0) return Error::Local(EBUSY, "copy_file_range: a copy is already queued");
    dst->queuing = true;
  }
  OpRequest req = OpRequest::Copy(src, dst->dst, meta->size);
  req.origin_pid = origin_pid;
  auto r = engine_.Enqueue(req);
  {
    MutexLock l(dst->mu);
    dst->queuing = false;
    if (r.ok()) {
      dst->op = *r;
      dst->src_ino = src_in->ino;
      dst->src_size = meta->size;
      dst->next = n;
    }
  }
  dst->cv.notify_all();
  if (!r.ok()) return sb_.errors().Report("cp", &sc, src.path, r.error());
  const OpId op = *r;
  Meta shown = *meta;
  if (!options_.preserve_timestamp) shown.mtime = WallNow(clock_);
  sb_.overlay().AddCopy(op, dst->dst, shown);
  log::Info("fs", "cp ", Where(&sc, src.path), " -> ", Where(dst->dst), ": queued as transfer op ",
            op, " (", meta->size, " bytes)");
  if (options_.copy_wait) GF_TRY_STATUS(WaitOp(op, false, cancel, "cp", &sc, src.path));
  return n;
}

Status CopyOps::Move(const InodePtr& parent, const std::string& name, const InodePtr& new_parent,
                     const std::string& new_name, unsigned flags, int32_t origin_pid) {
  const Collection& sc = *parent->collection;
  const Collection& dc = *new_parent->collection;
  const Location src{sc.id, JoinPath(sb_.Path(*parent), name)};
  const Location dst{dc.id, JoinPath(sb_.Path(*new_parent), new_name)};
  PendingOverlay& overlay = sb_.overlay();
  if (overlay.PendingOp(src) || overlay.PendingOp(dst))  // as within a collection: no wait
    return sb_.errors().Local("mv", &sc, src.path, EBUSY, kPendingBusy);
  auto found = sb_.Resolve(parent, name);
  if (!found.ok()) return found.error();
  const bool is_dir = found->kind == Kind::kDir;
  if (found->kind == Kind::kSymlink)
    return sb_.errors().Local("mv", &sc, src.path, EOPNOTSUPP,
                              "moving a symlink between collections is not supported");
  GF_TRY_STATUS(sb_.CheckRenameTarget(new_parent, new_name, is_dir, flags));
  OpRequest req = OpRequest::Move(src, dst, is_dir ? 0 : found->meta.size, is_dir);
  req.origin_pid = origin_pid;
  auto op = engine_.Enqueue(req);
  if (!op.ok()) return sb_.errors().Report("mv", &sc, src.path, op.error());
  overlay.AddMove(*op, src, dst, is_dir ? sb_.attrs().SyntheticDir() : found->meta);
  log::Info("fs", "mv ", Where(&sc, src.path), " -> ", Where(&dc, dst.path),
            ": queued as transfer op ", *op);
  sb_.AfterMoveQueued(parent, name, new_parent, new_name);
  return Status::Ok();
}

std::optional<Status> CopyOps::SetAttrPending(const InodePtr& in,
                                              const std::optional<uint64_t>& size,
                                              const std::optional<int64_t>& mtime) {
  if (in->role != Role::kRemote) return std::nullopt;
  const Location at{in->collection->id, sb_.Path(*in)};
  const std::optional<OpId> op = sb_.overlay().PendingOp(at);
  if (!op) return std::nullopt;
  // A placeholder or pending destination. Truncating a placeholder to 0 is what it is; an
  // explicit mtime is kept for display (the transfer preserves the source's mtime);
  // mode/owner/atime are accepted and not applied (Globus does not transfer them).
  if (size && (*size != 0 || *op != 0))
    return sb_.errors().Local("truncate", in->collection, at.path, EOPNOTSUPP,
                              "only truncating a new file to 0 is supported");
  if (mtime) sb_.overlay().SetMtime(at, *mtime);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// the write side of a handle

Status CopyOps::Flush(FileHandle& h) {
  auto* d = std::get_if<WriteHandle>(&h.as);
  if (!d || !h.inode->collection) return Status::Ok();
  {
    MutexLock l(d->mu);
    if (!d->placeholder || d->op != 0 || d->write_refused) return Status::Ok();
  }
  // Closed so far with no copy and no data: at its last close this becomes an empty remote
  // file (Release). What can be known now is reported now, while close(2) can still say it.
  const Collection& c = *h.inode->collection;
  if (!c.HasHttps())
    return sb_.errors().Report("close", &c, d->dst.path, Error::NotSupported(kNoHttpsForEmpty));
  return Status::Ok();
}

void CopyOps::Release(uint64_t fh, FileHandle& h) {
  auto* d = std::get_if<WriteHandle>(&h.as);
  if (!d) return;
  bool unused = false;
  {
    MutexLock l(d->mu);
    unused = d->placeholder && d->op == 0;
  }
  // A created (or truncated) file that never received a copy nor bytes. On a collection with
  // HTTPS, WriteOps::Release made it an empty file already (the 0-byte PUT); here it is one
  // whose data was refused, or that cannot be created: its placeholder goes, nothing remote.
  if (unused && sb_.overlay().DropPlaceholder(d->dst, fh))
    sb_.AfterNeverMade(d->dst.collection, d->dst.path);
}

}  // namespace gf::fs
