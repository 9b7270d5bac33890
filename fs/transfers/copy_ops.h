// CopyOps: cp and mv between collections, as the filesystem sees them (docs/SEMANTICS.md,
// "Copies and moves").
//
//   create(2) / open(O_TRUNC)   a placeholder in the overlay (local: nothing happens remotely,
//                               an existing remote file is not truncated) and a CopyDestination
//   copy_file_range(2)          from a remote file into a placeholder, whole file, offsets 0:
//                               a copy op (TransferEngine::Enqueue: journaled, durable on
//                               return); the pending destination shows the source's size;
//                               the calls continuing the kernel's split return their length
//   rename(2) across collections  a move op: the source is hidden, the destination pending
//   fsync(2), open for reading of a pending destination: wait for its op (bounded by
//                               pending_wait_seconds, interruptible)
//   --copy-mode=wait            copy_file_range returns when the task ended; Ctrl-C cancels it
//
// Anything else (partial copies, a source that is not a remote file) is EOPNOTSUPP, and cp
// falls back to read/write, whose writes are refused.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "fs/options.h"
#include "fs/superblock/superblock.h"
#include "fs/transfers/copy_destination.h"
#include "fs/transfers/engine.h"

namespace gf::fs {

class HandleTable;
struct FileHandle;

// A created file: its entry (one lookup reference) and its open handle.
struct Created {
  Entry entry;
  Opened opened;
};

class CopyOps {
 public:
  CopyOps(Superblock& sb, TransferEngine& engine, HandleTable& handles, const FsOptions& options,
          Clock& clock);

  Result<Created> Create(const InodePtr& parent, const std::string& name, uint32_t mode, int flags);
  // open(2) of the regular remote file `in`, as far as pending ops and writing are concerned:
  // a write handle (WriteHandle), an empty read of a placeholder, or (nullopt) "open it for
  // reading" after waiting for a pending copy into it.
  Result<std::optional<Opened>> Open(const InodePtr& in, int flags,
                                     const std::atomic<bool>* cancel);
  Result<uint64_t> CopyFileRange(const InodePtr& src_in, FileHandle* dst, uint64_t off_in,
                                 uint64_t off_out, uint64_t len, const std::atomic<bool>* cancel,
                                 int32_t origin_pid);
  // rename(2) across collections: queues a move op; returns once it is durable.
  Status Move(const InodePtr& parent, const std::string& name, const InodePtr& new_parent,
              const std::string& new_name, unsigned flags, int32_t origin_pid);
  // setattr of a pending name: nullopt when `path` is not pending.
  std::optional<Status> SetAttrPending(const InodePtr& in, const std::optional<uint64_t>& size,
                                       const std::optional<int64_t>& mtime);

  // The copy side of a write handle (written bytes: write/write_ops.h).
  Status Flush(FileHandle& h);
  Status Fsync(FileHandle& h, const std::atomic<bool>* cancel);
  void Release(uint64_t fh, FileHandle& h);

 private:
  // op_waits.cc
  // Waits for a pending op (deadline pending_wait_seconds, or none); maps its failure.
  Status WaitOp(OpId op, bool bounded, const std::atomic<bool>* cancel, const char* what,
                const Collection* c, const std::string& path);
  // WaitOp's mapping of the engine's own errors (interrupted, shutting down, timed out).
  Status WaitError(const Error& e, bool bounded, OpId op, const char* what, const Collection* c,
                   const std::string& path);
  // A name whose copy or move is still pending is truncated (cp again: open O_TRUNC) only
  // once that op ended, whatever its outcome (a failure was the earlier command's): waits for
  // it (pending_wait_seconds, then EAGAIN; Ctrl-C: EINTR, the op goes on). A placeholder (a
  // cp between its create and its copy) is EBUSY. Not for create/rename: the kernel holds the
  // directory locked during those, and a wait would freeze `ls` of it.
  Status WaitUntilSettled(const Collection& c, const std::string& path, const char* what);

  // One file under two names of collection c: the same path (.by-id), or "/~/f" and
  // "/home/alice/f" when the service tells where "~" is (HomeDirs). When it does not, a
  // destination that exists with the source's size and mtime is taken for the same file (one
  // stat): refusing a copy that would change nothing beats a transfer onto itself, which
  // truncates it.
  bool SameFile(const Collection& c, const std::string& src, const Meta& src_meta,
                const std::string& dst);
  Error SameFileError(const Collection& c, const std::string& path);
  // A placeholder at `dst` owned by a new handle.
  // existed: a remote file was at dst (the upload of written bytes replaces it).
  Opened AddPlaceholder(const InodePtr& in, const Location& dst, const Meta& meta, bool existed,
                        int flags);

  Superblock& sb_;
  TransferEngine& engine_;
  HandleTable& handles_;
  const FsOptions& options_;
  Clock& clock_;
};

}  // namespace gf::fs
