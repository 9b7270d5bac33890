// StagingStore: where written bytes live on local disk until they are uploaded.
//
// The service has no partial or resumable upload (writes-and-deletes.md §0): every upload is
// one whole-body PUT, so any write, however small, is staged as a complete local copy of the
// file and uploaded whole. This class owns those copies; it knows nothing of FUSE, handles or
// the network (the fill callback and the uploader bring those).
//
// Layout: one directory per mount, StagingDir(cache_dir, mount_id), mode 0700 (fixed at Open if
// it is looser). In it, per staged file `<id>.data` (the bytes, 0600), and where it belongs
// ("<collection>\t<remote path>\n"), so that whoever finds a leftover knows: in the data file's
// extended attribute `user.globus-fuse.origin` (`getfattr -d <id>.data` shows it), or, where the
// file system has no user xattrs, in `<id>.meta` beside it (0600). Both are read.
// `id` is chosen by the caller (the write path uses the journal op id, or a random hex id for
// files that are not journaled); it is the file's name here and nothing else.
//
// Sharing: one StagedFile per key (the inode number), shared by all handles of that inode:
// Acquire() returns the existing one when the key is staged. The store keeps every StagedFile
// alive until Discard(); handles keep a shared_ptr.
//
// Space: the sum of the staged files' sizes is bounded by `write_cache_limit` (0 = no bound).
// A write, truncate or fill that would pass it fails with ENOSPC BEFORE any byte is written; the
// range is then allocated on disk (fallocate) before the bytes go in, so a full disk is ENOSPC
// for this write too, never a later surprise. Every byte a write accepted is kept.
// `max_upload_size` (0 = no bound) makes the write, truncate or fill that would make the file
// larger fail at once with EFBIG: the server would refuse the upload anyway (413), and nothing
// should be staged for it first.
//
// Fill: editing an existing remote file without O_TRUNC needs its content first. A StagedFile
// created with a FillFn is "unfilled"; the first Write/Truncate/Read runs the fill (once, under
// the file's lock, so concurrent handles wait for it) and only then applies itself. A fill that
// fails leaves the file unfilled (retried by the next call) and returns the fill's error.
//
// Dirty state: each mutation bumps `generation` and sets dirty. The uploader snapshots the
// generation before uploading and calls MarkClean(gen) after: a write during the upload keeps
// the file dirty, so it is uploaded again.
//
// Spares: a discarded file that nobody holds any more is not unlinked but renamed to
// `<n>.spare-data` (at most kMaxSpares), keeping its descriptor open, and the next Acquire
// takes a spare instead of creating a file. Creating and unlinking files per staged file made
// ext4 scan its recently freed inodes on every create (`cp -r` of many small files,
// docs/PERFORMANCE.md); a rename allocates no inode.
// A spare of up to kKeepSpareBytes keeps its old bytes (and so its disk blocks): truncating
// them at release and allocating new ones at the next write cost ext4 more than the rest of
// the staging. Such bytes are never seen: a taken spare stays unclaimed, under its spare name,
// until its content first changes. The first change either overwrites all the old bytes
// (a write at offset 0 at least as long: then the file is named `<id>.data` and its origin
// written only after that write, so a crash in between leaves a spare, never old bytes under
// a user's name), or truncates them away before anything else. A spare under the limit holds
// up to kKeepSpareBytes of an uploaded file's old bytes (0600, in the 0700 directory) until it
// is reused, or removed by Open() (which removes all `.spare-` names); they do not count
// against write_cache_limit (at most kMaxSpares * kKeepSpareBytes). A staged new small file of
// a `cp -r` then costs a write, a setxattr and two renames.
//
// Leftovers: Open() lists `<id>.data` files already in the directory (a previous mount that
// died). Only the journal decides what to upload again: a background upload op names its
// staged id, and the write path Adopt()s that leftover to upload it. Data whose close never
// returned (no op names it) is kept for the user (its path is logged), never uploaded.
//
// Locks: StagedFile::mu_ is taken before StagingStore::mu_ (a write reserves space while holding
// its file's lock); StagingStore::mu_ is never held while taking a StagedFile::mu_ or while
// doing file I/O other than unlink.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include <string>
#include <string_view>
#include <vector>
#include "common/mutex.h"

#include "common/result.h"

namespace gf::fs::write {

// `<cache_dir>/<mount_id>`.
std::string StagingDir(const std::string& cache_dir, const std::string& mount_id);

struct StagingOptions {
  std::string dir;                           // StagingDir(...); created (0700) when missing
  uint64_t write_cache_limit = 10ull << 30;  // all staged files together; 0 = no bound
  uint64_t max_upload_size = 1ull << 30;     // one file; 0 = no bound
  // Origins in xattrs while the file system takes them; false = `.meta` files from the start
  // (what a file system without user xattrs gets; tests use it to cover that path).
  bool origin_xattrs = true;
};

// Where a staged file belongs remotely (the origin xattr, or `<id>.meta`).
struct StageOrigin {
  std::string collection;
  std::string path;
};

// Fills a staged file with the remote content: calls `put(offset, bytes)` for the content in
// any order and returns the final size (the remote file's size). Provided by the read path.
using FillSink = std::function<Status(uint64_t offset, std::string_view bytes)>;
using FillFn = std::function<Result<uint64_t>(const FillSink& put)>;

class StagingStore;

class StagedFile {
 public:
  const std::string& id() const { return id_; }
  uint64_t key() const { return key_.load(); }
  std::string data_path() const;

  // pwrite semantics; ENOSPC / EFBIG before anything is written (see the header comment).
  Result<size_t> Write(uint64_t offset, std::string_view bytes);
  // pread semantics: fewer bytes at the end of the file.
  Result<size_t> Read(uint64_t offset, char* buf, size_t len);
  Status Truncate(uint64_t size);
  // fallocate(2) without flags, of a range ending at `end`: a shorter file grows to `end` (zeros),
  // with a write's limits and disk allocation; a longer one is left as it is. Returns whether
  // the content changed.
  Result<bool> GrowTo(uint64_t end);
  // fsync of the staged bytes (the local half of a user's fsync).
  Status Sync();
  Result<uint64_t> Size();

  // Runs a pending fill now (the write path calls it at open when it must know the size).
  Status EnsureFilled();
  bool filled() const;

  struct State {
    uint64_t size = 0;
    uint64_t generation = 0;
    bool dirty = false;
  };
  State state() const;
  // Clears dirty when nothing changed since `generation` was read; returns whether it did.
  bool MarkClean(uint64_t generation);
  // Marks the content as changed without a write (a new empty file that must be uploaded).
  Status MarkDirty();

  // A descriptor for uploads (api::UploadBody): read-only use by the caller, valid while this
  // StagedFile lives.
  int fd() const { return fd_; }

  Status SetOrigin(StageOrigin origin);
  StageOrigin origin() const;
  // A taken spare gets its origin and name now, its old bytes truncated: for a file a journal
  // record names before any change of its content. Nothing for a claimed file.
  Status Claim();

  ~StagedFile();
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

 private:
  friend class StagingStore;
  StagedFile(StagingStore& store, uint64_t key, std::string id, int fd, FillFn fill,
             StageOrigin origin, uint64_t size, bool dirty, bool adopted = false);
  Status FillLocked() REQUIRES(mu_);
  // Makes room for the file growing to `new_size`: limits, reservation, disk allocation (not
  // of a spare's old bytes, which have their blocks).
  Status GrowLocked(uint64_t new_size) REQUIRES(mu_);
  // Claims the file and grows it to `new_size` (> size_): GrowLocked, then the file's size.
  Status ExtendLocked(uint64_t new_size) REQUIRES(mu_);
  // Where the file is now: `<id>.data`, or the spare's name while unclaimed.
  std::string PathLocked() const REQUIRES(mu_);
  // An unclaimed file (a taken spare) gets its origin, then its name `<id>.data`.
  Status NameLocked() REQUIRES(mu_);
  // Before a change that does not overwrite the old bytes: truncates them, then NameLocked.
  Status ClaimLocked() REQUIRES(mu_);

  StagingStore& store_;
  std::atomic<uint64_t> key_;  // changed only by StagingStore::Rekey
  const std::string id_;
  int fd_;              // -1 once the store took it over for a spare (MakeSpare)
  const bool adopted_;  // a leftover of an earlier mount (its origin may be in a .meta file)

  mutable Mutex mu_;                   // taken BEFORE StagingStore::mu_; guards everything below
  FillFn fill_ GUARDED_BY(mu_);        // set while unfilled
  uint64_t size_ GUARDED_BY(mu_) = 0;  // logical size == bytes reserved in the store
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  bool dirty_ GUARDED_BY(mu_) = false;
  StageOrigin origin_ GUARDED_BY(mu_);
  // While unclaimed (a taken spare): its current path; empty once named `<id>.data`.
  std::string spare_path_ GUARDED_BY(mu_);
  uint64_t stale_ GUARDED_BY(mu_) = 0;  // the spare's old bytes still in the file (unclaimed)
};

// The store must outlive every StagedFile it handed out (the filesystem owns both).
class StagingStore {
 public:
  static Result<std::unique_ptr<StagingStore>> Open(StagingOptions options);
  ~StagingStore();

  // The StagedFile of `key`: the existing one, or a new empty one named `id` (whose content
  // comes from `fill` when given; nullptr = a new or truncated file, empty and filled).
  Result<std::shared_ptr<StagedFile>> Acquire(uint64_t key, const std::string& id,
                                              StageOrigin origin, FillFn fill = nullptr);
  std::shared_ptr<StagedFile> Find(uint64_t key) const;
  // Files the staged file of `key` under `new_key` (free) instead: a background upload takes
  // an inode's file over, and the inode's next write gets a new one. ENOENT / EEXIST.
  Status Rekey(uint64_t key, uint64_t new_key);
  // Forgets the key and unlinks its files. Handles that still hold the StagedFile keep using
  // it (like an unlinked open file); its bytes count until the last one lets go.
  void Discard(uint64_t key);
  // Discard in two steps, for a caller that holds its own lock: Detach only forgets the key
  // (cheap, under that lock); Recycle, called after it let go, makes the file system calls
  // (unlinks, or a truncate and renames to keep the pair as a spare). Recycle(nullptr) is a
  // no-op.
  std::shared_ptr<StagedFile> Detach(uint64_t key);
  void Recycle(std::shared_ptr<StagedFile> f);

  struct Leftover {
    std::string id;
    std::string data_path;
    uint64_t size = 0;
    StageOrigin origin;  // empty when the .meta file is missing or unreadable
  };
  // What Open() found from an earlier mount (not counted against the limit until adopted).
  std::vector<Leftover> Leftovers() const;
  // Takes over a leftover as `key` (its bytes count from now on; ENOSPC when they do not fit).
  Result<std::shared_ptr<StagedFile>> Adopt(uint64_t key, const std::string& id);
  // Removes a leftover's files (the journal says it was uploaded, or the user dropped it).
  Status RemoveLeftover(const std::string& id);
  // Every staged data file in the directory now (spares aside), whoever uses it, by id.
  std::vector<Leftover> OnDisk() const;

  uint64_t used() const;  // bytes counted against write_cache_limit
  // Whether a file could grow by `more` bytes to `size` now: EFBIG past max_upload_size,
  // ENOSPC past write_cache_limit. Nothing is held (fallocate with FALLOC_FL_KEEP_SIZE).
  Status CheckRoom(uint64_t size, uint64_t more) const;
  const StagingOptions& options() const { return options_; }
  static constexpr std::size_t kMaxSpares = 8;
  static constexpr uint64_t kKeepSpareBytes = 1 << 20;  // a larger spare is truncated
  std::size_t spares() const;

 private:
  friend class StagedFile;
  explicit StagingStore(StagingOptions options);
  // The limits: EFBIG when a file of `size` bytes passes max_upload_size (`id` names it in the
  // message); ENOSPC when `bytes` more do not fit write_cache_limit. Reserve and CheckRoom use
  // them.
  Status CheckMaxUpload(uint64_t size, std::string_view id) const;
  Status RoomLocked(uint64_t bytes) const REQUIRES(mu_);
  // Space accounting, called with the StagedFile's lock held.
  Status Reserve(uint64_t bytes);
  void Release(uint64_t bytes);
  // The staged data files in the directory (spares aside; `drop_spares`: unlinks them).
  Result<std::vector<Leftover>> Scan(bool drop_spares) const;
  std::string DataPath(const std::string& id) const;
  std::string MetaPath(const std::string& id) const;
  Status WriteMeta(const std::string& id, const StageOrigin& origin) const;
  // The origin of `id`, on its open data descriptor: the xattr, or the `.meta` file where the
  // file system has no user xattrs (learned at the first refusal).
  Status WriteOrigin(int fd, const std::string& id, const StageOrigin& origin) const;
  StageOrigin ReadOrigin(const std::string& id) const;  // empty when neither is readable
  std::string SparePath(uint64_t n) const;
  struct Spare {
    uint64_t n = 0;      // its name: SparePath(n)
    int fd = -1;         // open, read-write
    uint64_t stale = 0;  // old bytes kept in it (<= kKeepSpareBytes)
  };
  // A spare for a new file (unclaimed: see "Spares"), or none left (Spare::fd < 0).
  Spare TakeSpare();
  // Renames the file of `f` (held by nobody else) to a spare, truncated when larger than
  // kKeepSpareBytes, and keeps its descriptor; false when a step failed (the caller unlinks).
  bool MakeSpare(StagedFile& f);

  const StagingOptions options_;

  // Taken AFTER any StagedFile::mu_ (a StagedFile calls into the store while holding its own;
  // ACQUIRED_AFTER cannot name another object's member, so this order is stated, not checked).
  mutable Mutex mu_;  // guards everything below
  std::vector<Leftover> leftovers_ GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<StagedFile>> files_ GUARDED_BY(mu_);
  uint64_t used_ GUARDED_BY(mu_) = 0;
  std::vector<Spare> spares_ GUARDED_BY(mu_);
  mutable std::atomic<bool> xattrs_{true};  // false once the file system refused one
  uint64_t next_spare_ GUARDED_BY(mu_) = 0;
};

// A staged file that nothing will upload: kept for the user, who copies it somewhere or deletes
// it (`globus-fuse status` lists it).
struct KeptFile {
  std::string data_path;
  uint64_t size = 0;
  StageOrigin origin;  // where its bytes were to go (empty when its .meta is missing)
  std::string why;
};

// True for ids the store accepts: 1-64 characters of [A-Za-z0-9_-] (they become file names).
bool ValidStageId(std::string_view id);

}  // namespace gf::fs::write
