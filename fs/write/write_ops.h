// WriteOps: written bytes, from write(2) to the collection (docs/WRITES.md, docs/SEMANTICS.md
// "Writes").
//
//   open/create for writing   a WriteHandle (made by CopyOps, which also handles cp); WriteOps
//                             refuses first what cannot be written: O_RDWR, or an existing
//                             file without O_TRUNC, on a collection without HTTPS (EOPNOTSUPP)
//   write / truncate          the inode's StagedFile (StagingStore, keyed by inode; one per
//                             inode, shared by its handles). An existing file opened without
//                             O_TRUNC is filled from the remote content (the read path's
//                             GetRange) at its first write, read or truncate.
//   read                      any handle of a staged inode reads the staged bytes
//   FLUSH (write_mode =       of a handle that wrote: the staged file is fsync'd and handed to
//     background)             an upload op (TransferEngine, journaled before FLUSH returns 0);
//                             the inode's later writes go to a new staged file seeded from it
//                             (the snapshot: bytes whose close never returned are never in an
//                             op). The engine runs the op later through RunUpload (the
//                             UploadRunner); the pending overlay shows the name meanwhile.
//                             fsync stays synchronous: it waits for the inode's upload op, then
//                             uploads what is still dirty, like write_mode = close.
//   FLUSH / fsync             of a handle that wrote since its last upload: one Uploader
//                             upload (new file: PUT; replacement: temp + stat + rename, the
//                             temp name noted in the transfer journal until it is gone, so a
//                             crash's leftover is removed by the next mount); the result is
//                             close(2)'s. Concurrent flushes of one inode coalesce:
//                             one upload in flight per inode, the others wait for it and then
//                             upload again only if the file changed meanwhile.
//   release                   the last handle of an inode: a clean staged file is discarded; a
//                             dirty one (its upload failed) is kept and its path logged.
//
// Staging limits: write_cache_limit (ENOSPC) and max_upload_size (EFBIG) are the store's.
//
// Files: write_ops.cc is the handle side and the synchronous uploads; write_ops_background.cc is
// write_mode = background (Queue, RunUpload, OnOpFinished, the waits for upload ops) and the
// journal notes of upload temp names.
//
// Locks: mu_ guards inodes_ and the lazily opened store_ (never reset once open). Under it only
// the StagingStore's bookkeeping runs (Find, Rekey, Detach: the store's own leaf lock), never a
// file system call: Discard's unlinks, truncate and renames run after it is released
// (Detach under mu_, then Recycle), and so do StagedFile I/O, uploads and HandleTable calls.
// A WriteHandle's `mu` and mu_ are not nested. No lock is held across a remote call.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include "common/clock.h"
#include "common/mutex.h"
#include "common/result.h"
#include "fs/handles.h"
#include "fs/options.h"
#include "fs/superblock/superblock.h"
#include "fs/transfers/engine.h"
#include "fs/write/staging_store.h"
#include "fs/write/uploader.h"

namespace gf::fs {

class WriteOps final : public UploadRunner, public OpListener {
 public:
  WriteOps(Superblock& sb, TransferEngine& engine, HandleTable& handles, const FsOptions& options,
           Clock& clock);
  ~WriteOps();

  // Before open/create with `flags` at `path` of `c`: EOPNOTSUPP (logged) when the collection
  // has no HTTPS server and the open is one that only writing can serve (O_RDWR, or an
  // existing file without O_TRUNC). O_WRONLY|O_TRUNC stays a possible cp destination.
  Status CheckOpen(const Collection& c, const std::string& path, int flags, bool exists,
                   const char* op);
  // A handle was opened (with `flags`); registers write handles with their inode. A write-only
  // handle's writes bypass the kernel's page cache (o.direct_io): the staging file keeps every
  // byte, and a second copy in the page cache would only cost a copy and memory per write
  // (docs/PERFORMANCE.md "Writes"). O_RDWR keeps the page cache: a shared mmap needs it.
  void Opened(uint64_t fh, int flags, struct Opened& o);

  Result<size_t> Write(FileHandle& h, uint64_t offset, std::string_view bytes);
  // fallocate(2) through a write handle. No flags: a file shorter than offset + length grows
  // to it (zeros; uploaded at close like a write), with a write's errors (ENOSPC, EFBIG,
  // EOPNOTSUPP without HTTPS). FALLOC_FL_KEEP_SIZE: only checks that the range fits the limits
  // now (nothing is held or changed). Any other flag: EOPNOTSUPP, nothing changed (the tools
  // that preallocate ask for the two above; the kernel refuses collapse and insert itself).
  // A handle not open for writing: EOPNOTSUPP.
  Status Allocate(FileHandle& h, int mode, uint64_t offset, uint64_t length);
  // The staged bytes of h's inode (a write handle that has none yet fills them first); nullopt
  // when the inode has no staged file and h is not a write handle.
  std::optional<Result<ReadData>> Read(FileHandle& h, uint64_t offset, uint64_t size);
  // The staged size of an inode, when it is staged.
  std::optional<uint64_t> StagedSize(Ino ino);
  // setattr of an inode open for writing: size truncates the staged file; mode, owner and
  // times are accepted and not applied (see SEMANTICS "Writes"). nullopt: not ours.
  std::optional<Status> SetAttr(const InodePtr& in, std::optional<uint64_t> fh,
                                const std::optional<uint64_t>& size, bool metadata);
  Status Flush(FileHandle& h);
  Status Fsync(FileHandle& h);
  // The handle is gone; true when it wrote (CopyOps must not make it an empty file).
  bool Release(uint64_t fh, FileHandle& h);

  // The deletes contract: a name created through the mount and never uploaded (placeholder or
  // staged; no PUT succeeded, none in flight) is removed locally and true is returned. If an
  // upload of the name is in flight, waits for it to end and returns false.
  bool RemoveLocalOnly(const Location& loc);
  // rename/mv of `path` (a file, or a directory above one) while a file there is open for
  // writing through the mount, or its close is uploading: EBUSY (logged). The mount uploads
  // by name, so the written bytes would go to the name the file was opened under, not follow
  // the rename (and across collections into a source the move deletes). `op` names it.
  Status CheckNotBeingWritten(const Collection& c, const std::string& path, const char* op);
  // Background mode: waits until no upload op of `at` is pending (rename and unlink of a name
  // need the collection to hold it first). Holds whatever lock the caller's kernel request
  // holds (a rename's directories) meanwhile.
  void WaitUploaded(const Location& at);
  // A directory this mount made (mkdir): its metadata setattr is accepted like a written file's.
  void MadeDirectory(const Location& at);
  // A rename within a collection succeeded: what this mount made at `from` (and below it) is
  // at `to` now (git's config.lock renamed to config, then chmod'ed); whatever `to` was is gone.
  void Renamed(const Location& from, const Location& to);
  // The mount is stopping (SIGTERM): waits at most `max` for the uploads in flight (each a
  // close or fsync waiting for its result) to end, so they end as they would have, not cut
  // off. Returns how many are still in flight (the stop then aborts them).
  size_t DrainUploads(std::chrono::milliseconds max);

  // The staged files in cache_dir that nothing will upload (fs/write/kept_files.cc): a last
  // close whose upload failed, a background upload that failed, and data of an earlier mount
  // whose close never returned. Opens the staging store if no write did yet.
  std::vector<write::KeptFile> KeptFiles();
  // What the startup warning and KeptFiles say of an earlier mount's staged file no op names.
  static constexpr const char* kEarlierMountKept =
      "written through an earlier mount and never uploaded (its upload failed, or its close "
      "never returned)";

  // UploadRunner: one background upload op (its staged file, adopted after a crash).
  Status RunUpload(const JournalOp& op, std::atomic<uint64_t>& sent,
                   const std::atomic<bool>& cancel) override;
  // OpListener: an upload op ended: its staged file goes (uploaded or superseded) or is kept
  // (failed: the failure's message says where).
  void OnOpFinished(const OpResult& r) override;

 private:
  struct InodeState {
    Location at;
    bool remote_exists = false;  // a remote file is at `at` (the upload replaces it)
    bool uploaded = false;       // a PUT of ours succeeded
    bool removed = false;        // unlinked while local-only: never uploaded
    bool uploading = false;
    int handles = 0;
    uint64_t placeholder_fh = 0;  // the handle whose placeholder is in the overlay
    std::shared_ptr<write::StagedFile> staged;
    // Background mode: the staged file the newest upload op took over (the next staged file
    // starts from its bytes; reads see them), and that op.
    std::shared_ptr<write::StagedFile> seed;
    OpId queued = 0;
  };

  Result<write::StagingStore*> Store();
  // Waits (under `l`) until no upload of `ino` is in flight; then its state, or nullptr when it
  // has none (released and clean).
  InodeState* IdleLocked(UniqueLock& l, Ino ino) REQUIRES(mu_);
  // A staged file taken out of the store under mu_ (DetachLocked); Recycle() makes the file
  // system calls once mu_ is released. Empty when the store is not open.
  struct Detached {
    write::StagingStore* store = nullptr;
    std::shared_ptr<write::StagedFile> file;
    void Recycle() {
      if (store) store->Recycle(std::move(file));
    }
  };
  Detached DetachLocked(uint64_t key) REQUIRES(mu_) {
    return store_ ? Detached{store_.get(), store_->Detach(key)} : Detached{};
  }
  // The staged file of h's inode, acquired (with a fill when h opened an existing file).
  Result<std::shared_ptr<write::StagedFile>> Staged(FileHandle& h, WriteHandle& w);
  write::FillFn FillFrom(const InodePtr& in, const Location& at);
  // Uploads the inode's staged file if it is dirty (single flight per inode).
  Status Upload(const InodePtr& in, const char* op);
  // Background mode: hands the inode's dirty staged file to a journaled upload op.
  Status Queue(const InodePtr& in, const char* op);
  // Background mode: waits for the inode's newest upload op to end; its result.
  Status WaitQueued(const InodePtr& in, const char* op);
  write::FillFn SeedFrom(std::shared_ptr<write::StagedFile> seed);
  // The last close of a placeholder nothing was written or copied into: a 0-byte PUT.
  bool MakeEmpty(uint64_t fh, FileHandle& h, WriteHandle& w, const Collection& c);
  // MakeEmpty's PUT journaled as a claimed upload op of an empty staged file: the op and the
  // staged file's id (nullopt: it could not be: no staging directory, or the journal refused).
  struct EmptyOp {
    OpId op = 0;
    std::string staged_id;
  };
  std::optional<EmptyOp> JournalEmpty(const Location& at);
  Error Refuse(const char* op, const Location& at, int err, const std::string& why);
  // What refuses a change of content through `w` before anything is staged: a queued copy into
  // it (EBUSY), a copy from itself (EINVAL), a collection without HTTPS (EOPNOTSUPP).
  Status CheckWritable(FileHandle& h, WriteHandle& w, const char* op);

  // Upload temp names, noted in the transfer journal (TransferEngine::TempBegin/TempGone).
  class JournaledTempNames final : public write::TempNames {
   public:
    explicit JournaledTempNames(TransferEngine& engine) : engine_(engine) {}
    Result<uint64_t> Begin(const std::string& collection, const std::string& temp) override;
    Result<uint64_t> BeginPut(const std::string& collection, const std::string& path,
                              uint64_t size) override;
    void End(uint64_t token) override;
    void EndPut(uint64_t token) override;  // after the reply (AfterReply)

   private:
    TransferEngine& engine_;
  };

  Superblock& sb_;
  TransferEngine& engine_;
  JournaledTempNames temp_names_;
  HandleTable& handles_;
  const FsOptions& options_;
  Clock& clock_;  // the mtime a pending upload shows until it is done
  write::Uploader uploader_;

  Mutex mu_;  // leaf (see the header comment): guards everything below
  std::condition_variable upload_ended_;
  std::unique_ptr<write::StagingStore> store_ GUARDED_BY(mu_);
  std::map<Ino, InodeState> inodes_ GUARDED_BY(mu_);
  // Names this mount uploaded or made (mkdir): `cp -p`, `tar x`, `unzip` and `rsync -a` set
  // mode, owner and times right after close (of a directory: after its last entry), and that
  // is accepted (not applied). Keyed by "<collection>\n<path>" (an inode number may change
  // when the name is looked up again). Bounded: cleared when it reaches kMaxWritten.
  static constexpr size_t kMaxWritten = 100000;
  // Store keys of staged files an upload op owns, apart from inode numbers: handed over by a
  // close of this mount, or adopted from a crashed one (by op id).
  // 16 lower-case hex digits: a staged file's id and its upload temp name's (UploadTempName).
  static std::string NewStageId();
  static constexpr uint64_t kHandedKey = 1ull << 63;
  static constexpr uint64_t kAdoptedKey = kHandedKey | (1ull << 62);
  std::set<std::string> written_ GUARDED_BY(mu_);
  void NoteMadeLocked(const Location& at) REQUIRES(mu_);
  uint64_t next_id_ GUARDED_BY(mu_) = 0;
  // Staged files handed to upload ops (or adopted for one after a crash): staged id -> key.
  std::map<std::string, uint64_t> handed_ GUARDED_BY(mu_);
  uint64_t next_handed_ GUARDED_BY(mu_) = 0;
  // Why a last close kept its staged file, by staged id, when it was not a failed upload (for
  // KeptFiles; the rest say "its upload failed"). Pruned by KeptFiles to the files on disk.
  std::map<std::string, std::string> kept_why_ GUARDED_BY(mu_);
  const bool background_;
};

}  // namespace gf::fs
