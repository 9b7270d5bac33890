#include "fs/fuse/fuse_adapter.h"

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/log.h"

namespace gf::fs {

namespace {

FuseAdapter& A(fuse_req_t req) { return *static_cast<FuseAdapter*>(fuse_req_userdata(req)); }

// The calling process (a thread id in the caller's pid namespace), for transfer batching.
int32_t CallerPid(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return ctx ? static_cast<int32_t>(ctx->pid) : 0;
}

void ReplyError(fuse_req_t req, const char* op, const Error& e) {
  int err = ErrnoFor(e);
  if (err != ENOENT) log::Debug("fuse", op, ": ", std::strerror(err), ": ", e.Describe());
  fuse_reply_err(req, err);
}

struct stat ToStat(const Attr& a) {
  struct stat st {};
  st.st_ino = a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blocks = static_cast<blkcnt_t>(a.blocks);
  st.st_blksize = a.blksize;
  st.st_mtim.tv_sec = a.mtime;
  st.st_atim.tv_sec = a.mtime;
  st.st_ctim.tv_sec = a.mtime;
  return st;
}

fuse_entry_param ToEntry(const Entry& e) {
  fuse_entry_param p{};
  p.ino = e.attr.ino;
  p.generation = 0;  // inode numbers are never reused within a mount
  p.attr = ToStat(e.attr);
  p.attr_timeout = e.attr_timeout;
  p.entry_timeout = e.entry_timeout;
  return p;
}

// A cancel flag raised by FUSE_INTERRUPT (the caller got a signal, e.g. Ctrl-C on cp or on an
// ls waiting for a login). It is also published as RequestCancel::Current() on this thread, for
// the login waits behind any remote call. Call Done() BEFORE replying: it unregisters the
// callback (waiting out a concurrent one), so the flag never outlives the request's use of it.
class InterruptFlag {
 public:
  explicit InterruptFlag(fuse_req_t req) : req_(req), published_(&flag_) {
    fuse_req_interrupt_func(
        req, [](fuse_req_t, void* d) { static_cast<std::atomic<bool>*>(d)->store(true); }, &flag_);
  }
  InterruptFlag(const InterruptFlag&) = delete;
  InterruptFlag& operator=(const InterruptFlag&) = delete;
  const std::atomic<bool>* get() const { return &flag_; }
  void Done() { fuse_req_interrupt_func(req_, nullptr, nullptr); }

 private:
  fuse_req_t req_;
  std::atomic<bool> flag_{false};
  RequestCancel published_;
};

// Replies with an entry that carries one new lookup reference; undoes it if undeliverable.
void ReplyEntry(fuse_req_t req, const Entry& e) {
  fuse_entry_param p = ToEntry(e);
  if (fuse_reply_entry(req, &p) != 0) A(req).fs().Forget(e.attr.ino, 1);
}

void OnInit(void* userdata, fuse_conn_info* conn) {
  auto* a = static_cast<FuseAdapter*>(userdata);
  auto want = [&](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  want(FUSE_CAP_ASYNC_READ);
  want(FUSE_CAP_READDIRPLUS);
  want(FUSE_CAP_READDIRPLUS_AUTO);
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_ATOMIC_O_TRUNC);  // O_TRUNC reaches open (a placeholder), not a truncate
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  // Splice is not requested: replies come from in-memory buffers, which one writev hands to
  // the kernel. FUSE_CAP_SPLICE_WRITE (and _MOVE) made libfuse write() each reply into a pipe
  // and splice it on (the same copy plus two syscalls): no faster, more CPU (PERFORMANCE.md).
  conn->max_write = 1u << 20;  // also sizes max_pages
  conn->max_read = 1u << 20;   // must equal the max_read mount option (fs/mount.cc)
  // max_readahead: the kernel offers its maximum; keep it (we cannot raise it).
  a->fs().Start();  // worker threads start here: after the mount daemonized
  log::Info("fuse", "session started (proto ", conn->proto_major, ".", conn->proto_minor,
            ", max_readahead ", conn->max_readahead, ")");
}

void OnDestroy(void* userdata) { static_cast<FuseAdapter*>(userdata)->fs().Stop(); }

void OnLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& fs = A(req).fs();
  InterruptFlag cancel(req);  // Ctrl-C ends a wait for a login
  auto r = fs.Lookup(parent, name);
  cancel.Done();
  if (r.ok()) return ReplyEntry(req, *r);
  if (ErrnoFor(r.error()) == ENOENT) {
    fuse_entry_param p{};
    p.ino = 0;  // negative entry, cached by the kernel
    p.entry_timeout = fs.options().negative_ttl;
    fuse_reply_entry(req, &p);
    return;
  }
  ReplyError(req, "lookup", r.error());
}

void OnForget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  A(req).fs().Forget(ino, n);
  fuse_reply_none(req);
}

void OnForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  std::vector<std::pair<Ino, uint64_t>> batch;
  batch.reserve(count);
  for (size_t i = 0; i < count; ++i) batch.emplace_back(forgets[i].ino, forgets[i].nlookup);
  A(req).fs().ForgetMulti(batch);
  fuse_reply_none(req);
}

void OnGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  InterruptFlag cancel(req);
  auto r = A(req).fs().GetAttr(ino);
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "getattr", r.error());
  struct stat st = ToStat(r->attr);
  fuse_reply_attr(req, &st, r->timeout);
}

void OnSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  SetAttrRequest s;
  if (to_set & FUSE_SET_ATTR_SIZE) s.size = static_cast<uint64_t>(attr->st_size);
  if (to_set & FUSE_SET_ATTR_MODE) s.mode = attr->st_mode;
  if (to_set & FUSE_SET_ATTR_UID) s.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) s.gid = attr->st_gid;
  s.atime = to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW);
  s.mtime = to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
  if ((to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW))
    s.mtime_value = attr->st_mtim.tv_sec;
  if (fi) s.fh = fi->fh;
  InterruptFlag cancel(req);  // may refresh attributes: Ctrl-C ends a wait for a login
  auto r = A(req).fs().SetAttr(ino, s);
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "setattr", r.error());
  struct stat st = ToStat(r->attr);
  fuse_reply_attr(req, &st, r->timeout);
}

void OnReadlink(fuse_req_t req, fuse_ino_t ino) {
  InterruptFlag cancel(req);
  auto r = A(req).fs().ReadLink(ino);
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "readlink", r.error());
  fuse_reply_readlink(req, r->c_str());
}

void OnMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  InterruptFlag cancel(req);
  auto r = A(req).fs().Mkdir(parent, name, mode);
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "mkdir", r.error());
  ReplyEntry(req, *r);
}

void OnUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  InterruptFlag cancel(req);  // may look the name up remotely; --copy-mode=wait waits
  Status s = A(req).fs().Unlink(parent, name, cancel.get(), CallerPid(req));
  cancel.Done();
  if (!s.ok()) return ReplyError(req, "unlink", s.error());
  fuse_reply_err(req, 0);
}

void OnRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  InterruptFlag cancel(req);  // lists the directory; --copy-mode=wait waits
  Status s = A(req).fs().Rmdir(parent, name, cancel.get(), CallerPid(req));
  cancel.Done();
  if (!s.ok()) return ReplyError(req, "rmdir", s.error());
  fuse_reply_err(req, 0);
}

void ReplyUnsupported(fuse_req_t req, const char* op, Filesystem::NodeKind kind, fuse_ino_t parent,
                      const char* name) {
  ReplyError(req, op, A(req).fs().CreateUnsupported(kind, parent, name).error());
}

void OnSymlink(fuse_req_t req, const char*, fuse_ino_t parent, const char* name) {
  ReplyUnsupported(req, "symlink", Filesystem::NodeKind::kSymlink, parent, name);
}

void OnLink(fuse_req_t req, fuse_ino_t, fuse_ino_t newparent, const char* newname) {
  ReplyUnsupported(req, "link", Filesystem::NodeKind::kHardLink, newparent, newname);
}

void OnMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, dev_t) {
  ReplyUnsupported(req, "mknod", Filesystem::NodeKind::kSpecial, parent, name);
}

void OnRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  InterruptFlag cancel(req);
  Status s = A(req).fs().Rename(parent, name, newparent, newname, flags, CallerPid(req));
  cancel.Done();
  if (!s.ok()) return ReplyError(req, "rename", s.error());
  fuse_reply_err(req, 0);
}

void OnOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  InterruptFlag cancel(req);  // opening a pending copy destination waits for its transfer
  auto r = A(req).fs().Open(ino, fi->flags, cancel.get());
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "open", r.error());
  fi->fh = r->fh;
  fi->keep_cache = r->keep_cache;
  fi->direct_io = r->direct_io;
  if (fuse_reply_open(req, fi) != 0) A(req).fs().Release(r->fh);
}

// Replies straight from the read's pieces (the reader's part buffers): no copy in user space.
// One piece (the usual case) goes through fuse_reply_data; several (a read spanning parts)
// through fuse_reply_iov, one writev: fuse_reply_data would first copy a multi-buffer vector
// into one buffer.
void ReplyData(fuse_req_t req, const ReadData& d) {
  const auto& pieces = d.pieces();
  if (pieces.empty()) {
    fuse_reply_buf(req, nullptr, 0);
  } else if (pieces.size() == 1) {
    fuse_bufvec v = FUSE_BUFVEC_INIT(pieces[0].size);
    v.buf[0].mem = const_cast<char*>(pieces[0].data);  // only read from
    fuse_reply_data(req, &v, FUSE_BUF_NO_SPLICE);
  } else {
    std::vector<iovec> iov;
    iov.reserve(pieces.size());
    for (const auto& p : pieces) iov.push_back(iovec{const_cast<char*>(p.data), p.size});
    fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  }
}

void OnRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  InterruptFlag cancel(req);
  auto r = A(req).fs().Read(fi->fh, static_cast<uint64_t>(off), size, cancel.get());
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "read", r.error());
  ReplyData(req, *r);
}  // `r` lets go of the part buffers only here, after the reply was written

void OnWrite(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
  auto n = A(req).fs().Write(fi->fh, static_cast<uint64_t>(off), std::string_view(buf, size));
  if (!n.ok()) return ReplyError(req, "write", n.error());
  fuse_reply_write(req, *n);
}

void OnFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  if (offset < 0 || length <= 0) {  // (the kernel refuses these itself)
    fuse_reply_err(req, EINVAL);
    return;
  }
  Status s = A(req).fs().Allocate(fi->fh, mode, static_cast<uint64_t>(offset),
                                  static_cast<uint64_t>(length));
  if (!s.ok()) return ReplyError(req, "fallocate", s.error());
  fuse_reply_err(req, 0);
}

void OnFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Status s = A(req).fs().Flush(fi->fh);
  if (!s.ok()) return ReplyError(req, "flush", s.error());
  fuse_reply_err(req, 0);
}

void OnFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  InterruptFlag cancel(req);  // waits for a pending copy into this file
  Status s = A(req).fs().Fsync(fi->fh, cancel.get());
  cancel.Done();
  if (!s.ok()) return ReplyError(req, "fsync", s.error());
  fuse_reply_err(req, 0);
}

void OnRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  A(req).fs().Release(fi->fh);
  fuse_reply_err(req, 0);
}

void OnOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto r = A(req).fs().OpenDir(ino);
  if (!r.ok()) return ReplyError(req, "opendir", r.error());
  fi->fh = *r;
  if (fuse_reply_open(req, fi) != 0) A(req).fs().ReleaseDir(*r);
}

class BufferReplier final : public DirReplier {
 public:
  BufferReplier(fuse_req_t req, size_t size) : req_(req), buf_(size) {}
  bool Add(std::string_view view, const Attr& attr, uint64_t next, const Entry* plus) override {
    name_.assign(view);  // libfuse wants a C string; names in listings are packed, unterminated
    const std::string& name = name_;
    size_t left = buf_.size() - used_;
    size_t need;
    if (plus) {
      fuse_entry_param p = ToEntry(*plus);
      if (name == "." || name == "..") p.ino = 0;  // never counted, never linked
      if (p.ino == 0) p.attr = ToStat(attr);
      need = fuse_add_direntry_plus(req_, buf_.data() + used_, left, name.c_str(), &p,
                                    static_cast<off_t>(next));
    } else {
      struct stat st = ToStat(attr);
      need = fuse_add_direntry(req_, buf_.data() + used_, left, name.c_str(), &st,
                               static_cast<off_t>(next));
    }
    if (need > left) return false;
    used_ += need;
    return true;
  }
  void Reply() { fuse_reply_buf(req_, buf_.data(), used_); }

 private:
  std::string name_;  // reused: no allocation per entry
  fuse_req_t req_;
  std::vector<char> buf_;
  size_t used_ = 0;
};

void DoReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
               bool plus) {
  BufferReplier out(req, size);
  InterruptFlag cancel(req);
  Status s = A(req).fs().ReadDir(ino, fi->fh, static_cast<uint64_t>(off), plus, out);
  cancel.Done();
  if (!s.ok()) return ReplyError(req, plus ? "readdirplus" : "readdir", s.error());
  out.Reply();
}

void OnReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, false);
}
void OnReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, true);
}

void OnReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  A(req).fs().ReleaseDir(fi->fh);
  fuse_reply_err(req, 0);
}

void OnStatfs(fuse_req_t req, fuse_ino_t) {
  StatFs s = A(req).fs().Statfs();
  struct statvfs v {};
  v.f_bsize = s.bsize;
  v.f_frsize = s.bsize;
  v.f_blocks = s.blocks;
  v.f_bfree = s.bfree;
  v.f_bavail = s.bavail;
  v.f_files = s.files;
  v.f_ffree = s.ffree;
  v.f_favail = s.ffree;
  v.f_namemax = s.namemax;
  fuse_reply_statfs(req, &v);
}

void OnSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int) {
  Status s = A(req).fs().SetXattr(ino, name, std::string(value, size));
  if (!s.ok()) return ReplyError(req, "setxattr", s.error());
  fuse_reply_err(req, 0);
}

void OnGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto r = A(req).fs().GetXattr(ino, name);
  if (!r.ok()) {
    if (ErrnoFor(r.error()) == ENODATA) {
      fuse_reply_err(req, ENODATA);
      return;
    }
    return ReplyError(req, "getxattr", r.error());
  }
  if (size == 0) {
    fuse_reply_xattr(req, r->size());
  } else if (size < r->size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, r->data(), r->size());
  }
}

void OnListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto r = A(req).fs().ListXattr(ino);
  if (!r.ok()) return ReplyError(req, "listxattr", r.error());
  std::string all;
  for (const auto& n : *r) all.append(n).push_back('\0');
  if (size == 0) {
    fuse_reply_xattr(req, all.size());
  } else if (size < all.size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, all.data(), all.size());
  }
}

void OnRemovexattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EOPNOTSUPP); }

void OnCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  InterruptFlag cancel(req);
  auto r = A(req).fs().Create(parent, name, mode, fi->flags);
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "create", r.error());
  fi->fh = r->opened.fh;
  fi->keep_cache = r->opened.keep_cache;
  fi->direct_io = r->opened.direct_io;
  fuse_entry_param p = ToEntry(r->entry);
  if (fuse_reply_create(req, &p, fi) != 0) {
    A(req).fs().Release(r->opened.fh);
    A(req).fs().Forget(r->entry.attr.ino, 1);
  }
}

void OnCopyFileRange(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info* fi_in,
                     fuse_ino_t ino_out, off_t off_out, fuse_file_info* fi_out, size_t len, int) {
  InterruptFlag cancel(req);  // --copy-mode=wait: Ctrl-C on cp cancels the transfer
  auto r = A(req).fs().CopyFileRange(ino_in, fi_in->fh, static_cast<uint64_t>(off_in), ino_out,
                                     fi_out->fh, static_cast<uint64_t>(off_out), len, cancel.get(),
                                     CallerPid(req));
  cancel.Done();
  if (!r.ok()) return ReplyError(req, "copy_file_range", r.error());
  fuse_reply_write(req, *r);
}

}  // namespace

const fuse_lowlevel_ops& FuseAdapter::Ops() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o{};
    o.init = OnInit;
    o.destroy = OnDestroy;
    o.lookup = OnLookup;
    o.forget = OnForget;
    o.forget_multi = OnForgetMulti;
    o.getattr = OnGetattr;
    o.setattr = OnSetattr;
    o.readlink = OnReadlink;
    o.mkdir = OnMkdir;
    o.unlink = OnUnlink;
    o.rmdir = OnRmdir;
    o.symlink = OnSymlink;
    o.link = OnLink;
    o.mknod = OnMknod;
    o.rename = OnRename;
    o.open = OnOpen;
    o.read = OnRead;
    o.write = OnWrite;
    o.flush = OnFlush;
    o.fallocate = OnFallocate;
    o.fsync = OnFsync;
    o.release = OnRelease;
    o.opendir = OnOpendir;
    o.readdir = OnReaddir;
    o.readdirplus = OnReaddirplus;
    o.releasedir = OnReleasedir;
    o.statfs = OnStatfs;
    o.setxattr = OnSetxattr;
    o.getxattr = OnGetxattr;
    o.listxattr = OnListxattr;
    o.removexattr = OnRemovexattr;
    o.create = OnCreate;
    o.copy_file_range = OnCopyFileRange;
    return o;
  }();
  return ops;
}

}  // namespace gf::fs
