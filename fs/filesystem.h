// Filesystem: the FUSE-free core of globus-fuse, as one facade.
//
// Every FUSE operation has a method here that takes plain arguments and returns a plain result
// (Entry, AttrReply, Opened, bytes, a Status). fs/fuse/ only decodes requests, calls these and
// replies; tests call them directly over tests/support/FakeRemote. Each method finds the inode
// or handle it is about and hands the work to the part that owns it:
//
//   Superblock   superblock/   inodes, lookups (counted for the kernel, or an uncounted
//                              Resolve for the core), caches, the virtual tree (root, .by-id,
//                              .globus-fuse, "~"), listings, namespace changes, cache upkeep
//   ReadOps      read/         open for reading, read-ahead, the memory budget, ESTALE
//   CopyOps      transfers/    cp/mv as Globus transfer tasks: placeholders, copy_file_range,
//                              cross-collection rename, waits; the engine and its journal
//   WriteOps     write/        written bytes: staging, upload at close/fsync, truncate
//   DeleteOps    transfers/    rm of a file: HTTPS DELETE (delete_mode=https); rmdir and the
//                              rest: Globus delete tasks (batched by the engine)
//   HandleTable  handles.h     open files (FixedContent | ReadHandle | WriteHandle) and dirs
//   ErrorLog, StatusReport  status/  what failed and what to do; the status document
//
// Namespace: MOUNT/<collection>/..., MOUNT/<bookmark> (symlink), MOUNT/.by-id/<uuid>/...,
// and the hidden control directory MOUNT/.globus-fuse/ (not listed in the root) whose
// `status` file is the JSON `globus-fuse status` prints. Inside a collection, its directory is
// the collection's "/" and the entry "~" is "/~/" (home of the mapped account).
//
// Errors: every failure is a gf::Error; ErrnoFor (common/error.cc) is the only errno table.
// Each remote failure is logged once (deduplicated for a minute) with the collection, the
// path and what to do; authorization failures name the exact `globus-fuse login ...` command.
//
// Wiring: every part the core stands on is built before it, in order, and handed in once
// (FsParts); the Filesystem builds its own parts in its constructor. Nothing is set later.
//
// Threads: all methods are thread-safe; the lock rules are written next to each lock and
// checked by clang's thread-safety analysis (scripts/thread-safety). No lock is held across a
// remote call or a wait for a transfer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/transfer_api.h"
#include "common/clock.h"
#include "fs/handles.h"
#include "fs/hooks.h"
#include "fs/options.h"
#include "fs/read/read_ops.h"
#include "fs/remote.h"
#include "fs/status/error_log.h"
#include "fs/superblock/superblock.h"
#include "fs/transfers/copy_ops.h"
#include "fs/transfers/delete_ops.h"
#include "fs/transfers/engine.h"
#include "fs/write/write_ops.h"

namespace gf::fs {

inline constexpr const char* kInvalidateXattr = "user.globus.invalidate";

struct SetAttrRequest {
  std::optional<uint64_t> size;
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid, gid;
  bool atime = false, mtime = false;
  std::optional<int64_t> mtime_value;  // an explicit mtime (not "now")
  std::optional<uint64_t> fh;          // ftruncate/futimens: the open file
};

// Optional sections of the status document that come from outside fs/.
struct StatusSources {
  std::function<std::map<std::string, double>()> api_client;  // e.g. rate-limiter waits
  std::function<std::string()> pending_authorizations;        // a JSON array
};

// What a Filesystem stands on. Each part is built before it and outlives it.
struct FsParts {
  api::TransferApi& transfer;
  api::DataApi& data;
  Authorizer& authorizer;  // login flows for the core's calls, and their remedies
  KernelNotifier& notifier;
  CollectionCatalog& catalog;
  TransferEngine& engine;  // cp/mv/rm as Globus tasks
  Remote& engine_api;      // the engine's door to the service (its calls count in status)
  StatusSources status = {};
};

class Filesystem {
 public:
  Filesystem(const FsParts& parts, FsOptions options, Clock& clock = SystemClock::Instance());
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // Starts worker threads (after daemonizing). Stop() joins them; the destructor calls it.
  void Start();
  void Stop();
  // The mount is stopping: waits at most `max` for uploads in flight (see WriteOps).
  size_t DrainUploads(std::chrono::milliseconds max);

  // ---- namespace ----
  Result<Entry> Lookup(Ino parent, const std::string& name);
  void Forget(Ino ino, uint64_t n);
  void ForgetMulti(const std::vector<std::pair<Ino, uint64_t>>& batch);
  Result<AttrReply> GetAttr(Ino ino);
  Result<AttrReply> SetAttr(Ino ino, const SetAttrRequest& req);
  Result<std::string> ReadLink(Ino ino);
  Result<Entry> Mkdir(Ino parent, const std::string& name, uint32_t mode);
  // flags: RENAME_NOREPLACE (EEXIST when the target exists), RENAME_EXCHANGE -> EINVAL.
  // Within a collection: the synchronous Transfer rename. Across collections: a move op
  // (transfer, then delete of the source once the copy is verified); the source is hidden and
  // the destination pending meanwhile. Returns once the move is durably queued.
  // origin_pid: the calling process (batching: see TransferEngine), 0 if unknown.
  Status Rename(Ino parent, const std::string& name, Ino new_parent, const std::string& new_name,
                unsigned flags, int32_t origin_pid = 0);
  // A delete (see DeleteOps). A file with delete_mode=https on a collection with HTTPS: one
  // HTTPS DELETE, returns its result (*cancel aborts it). Otherwise a delete task: the name is
  // hidden at once; returns once the delete is durably queued (--copy-mode=wait: once it
  // ended; *cancel cancels it). rmdir of a non-empty directory is ENOTEMPTY. origin_pid: the
  // calling process (batching), 0 if unknown.
  Status Unlink(Ino parent, const std::string& name, const std::atomic<bool>* cancel = nullptr,
                int32_t origin_pid = 0);
  Status Rmdir(Ino parent, const std::string& name, const std::atomic<bool>* cancel = nullptr,
               int32_t origin_pid = 0);
  // symlink(2), link(2), mknod(2) (FIFOs, sockets, devices): nodes the Transfer API cannot
  // make. Always EPERM (what those calls return on a filesystem without such nodes), logged
  // once with the reason: never ENOSYS, which tells a user nothing.
  enum class NodeKind { kSymlink, kHardLink, kSpecial };
  Status CreateUnsupported(NodeKind kind, Ino parent, const std::string& name);
  // A local placeholder (nothing remote) and a write handle; see docs/SEMANTICS.md.
  Result<Created> Create(Ino parent, const std::string& name, uint32_t mode, int flags);
  // Whole-file server-side copy into a placeholder (see docs/SEMANTICS.md "Copies and moves"):
  // the first call (offsets 0) queues the transfer; calls continuing the same pair return their
  // length at once until EOF (0). Anything else is EOPNOTSUPP (cp falls back to read/write).
  // In wait mode the first call returns when the task ended; *cancel (FUSE interrupt) cancels
  // the task.
  Result<uint64_t> CopyFileRange(Ino in, uint64_t fh_in, uint64_t off_in, Ino out, uint64_t fh_out,
                                 uint64_t off_out, uint64_t len,
                                 const std::atomic<bool>* cancel = nullptr, int32_t origin_pid = 0);

  // ---- directories ----
  Result<uint64_t> OpenDir(Ino ino);
  Status ReadDir(Ino ino, uint64_t fh, uint64_t offset, bool plus, DirReplier& out);
  void ReleaseDir(uint64_t fh);

  // ---- files ----
  // Opening a pending copy destination for reading waits for its task (interruptible).
  // Opening for writing gives a write handle (O_TRUNC: a placeholder; the remote file is left
  // alone until a transfer replaces it).
  Result<Opened> Open(Ino ino, int flags, const std::atomic<bool>* cancel = nullptr);
  // The bytes are views into the reader's buffers, pinned until the ReadData is destroyed
  // (see read/reader.h): reply from them, then let go.
  Result<ReadData> Read(uint64_t fh, uint64_t offset, uint64_t size,
                        const std::atomic<bool>* cancel = nullptr);
  // Stages the bytes (write/write_ops.h): ENOSPC past write_cache_limit, EFBIG past
  // max_upload_size, EOPNOTSUPP in a collection without an HTTPS server.
  Result<size_t> Write(uint64_t fh, uint64_t offset, std::string_view bytes);
  // fallocate(2) (write/write_ops.h Allocate): grows a file written through the mount, or with
  // FALLOC_FL_KEEP_SIZE checks the limits; other flags, and handles that do not write,
  // EOPNOTSUPP.
  Status Allocate(uint64_t fh, int mode, uint64_t offset, uint64_t length);
  // close(2) of a handle (each one; its errors reach the caller): the upload of what this handle
  // wrote (0: the collection has the bytes); EOPNOTSUPP for a placeholder that would become an
  // empty file (see Release) in a collection without an HTTPS server.
  Status Flush(uint64_t fh);
  // Uploads what was written (as Flush), or waits for the handle's pending copy (EIO if it
  // failed).
  Status Fsync(uint64_t fh, const std::atomic<bool>* cancel = nullptr);
  // The last close. A placeholder that received no copy: dropped if a write was refused (the
  // remote file untouched); otherwise the caller made an EMPTY file (`cp` of an empty file,
  // `touch`, `: > f`) and one 0-byte HTTPS PUT makes it real (a failure is logged: close(2)
  // has already returned).
  void Release(uint64_t fh);

  // ---- xattrs, statfs, control ----
  Result<std::string> GetXattr(Ino ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(Ino ino);
  // `user.globus.invalidate` (any value) drops the caches of this entry and, for a directory,
  // of everything below it, and tells the kernel to forget what it cached.
  // Reading it returns "settled" once the kernel has been told (the notifications are sent by a
  // thread of their own after setxattr returns).
  Status SetXattr(Ino ino, const std::string& name, const std::string& value);
  Status Invalidate(Ino ino);
  StatFs Statfs() const;
  std::string StatusJson();

  // ---- introspection (status, tests) ----
  Superblock& superblock() { return sb_; }
  InodeTable& inodes() { return sb_.inodes(); }
  MetadataCache& cache() { return sb_.cache(); }
  NegativeCache& negative() { return sb_.negative(); }
  Remote& remote() { return remote_; }
  MemoryBudget& memory() { return reads_.memory(); }
  WorkQueue& listing_prefetch_queue() { return sb_.listing_prefetch_queue(); }
  CollectionRegistry& collections() { return sb_.registry(); }
  const FsOptions& options() const { return options_; }
  int listing_waiters() const { return sb_.listing_waiters(); }
  int stat_waiters() const { return sb_.stat_waiters(); }

 private:
  Result<Opened> OpenControlFile(const InodePtr& in, int flags);
  // write_mode = background: waits for the pending upload of `path`, if any (rm and rename
  // act on what it uploads). EINTR when Ctrl-C ended the wait: then nothing is changed.
  Status AwaitUpload(const char* op, const Collection& c, const std::string& path);

  const FsOptions options_;
  Clock& clock_;
  const MonoTime started_;
  CollectionCatalog& catalog_;
  Remote& engine_api_;
  const StatusSources status_;
  Remote remote_;
  ErrorLog errors_;
  Superblock sb_;
  HandleTable handles_;
  ReadOps reads_;
  CopyOps copies_;
  WriteOps writes_;
  DeleteOps deletes_;
};

}  // namespace gf::fs
