// Filesystem: the FUSE-free core of globus-fuse.
//
// Every FUSE operation has a method here that takes plain arguments and returns a plain result
// (Entry, AttrReply, Opened, a byte string, a Status). fuse_adapter.cc only decodes requests,
// calls these and replies; tests call them directly over tests/support/FakeRemote.
//
// The pieces (each in its own file, each with its design note):
//   InodeTable        inodes, lookup counts, dentries (inode_table.h)
//   CollectionRegistry  what the root shows and under which names (collections.h)
//   MetadataCache     directory listings, bounded, TTL (metadata_cache.h)
//   NegativeCache     names known missing, bounded, TTL (negative_cache.h)
//   SingleFlight      one remote call per (collection, path) at a time (single_flight.h)
//   FileReader        ranged GETs with sequential read-ahead (prefetcher.h)
//   Remote            the only door to the service: counts, authorization retry (remote.h)
//   hooks.h           Authorizer (issue 5), KernelNotifier, Overlay (cp/mv, issue 6)
//
// Namespace: MOUNT/<collection>/..., MOUNT/<bookmark> (symlink), MOUNT/.by-id/<uuid>/...,
// and the hidden control directory MOUNT/.globus-fuse/ (not listed in the root) whose
// `status` file is the JSON `globus-fuse status` prints. Inside a collection, its directory is
// the collection's "/" and the entry "~" is "/~/" (home of the mapped account).
//
// Metadata rules: a lookup under a directory whose listing is cached is answered from the
// listing (no remote call); under an uncached directory it is one `stat` of the child, never
// a listing of a possibly huge parent. Misses go to the negative cache. Concurrent requests for
// the same listing or stat coalesce into one call. Listing a directory may prefetch its
// subdirectories' listings (bounded worker pool, bounded fan-out) so tree walks overlap
// their latencies. Caches take the injected Clock.
//
// Errors: every failure is a gf::Error; ErrnoFor (common/error.cc) is the only errno table.
// Each remote failure is logged once (deduplicated for a minute) with the collection, the
// path and what to do; authorization failures name the exact `globus-fuse login ...` command.
//
// Threads: all methods are thread-safe. Lock order: InodeTable::mu_ -> Inode::mu; the other
// locks (caches, registry, handles_mu_, stats_mu_, FileHandle::mu) are leaves, and so is
// PendingOverlay::mu_ (taken under a DirHandle's mutex during readdir). No lock is held across
// a remote call or a wait for a transfer (TransferEngine::Wait).
//
// cp/mv (issue 6; docs/SEMANTICS.md "Copies and moves"): Create/Open(O_TRUNC) make a local
// placeholder in the PendingOverlay; CopyFileRange turns it into a TransferEngine copy op;
// a cross-collection Rename becomes a move op. The engine's completions reach OnSettled (via
// the overlay), which drops the caches of the affected paths and notifies the kernel.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/transfer_api.h"
#include "common/clock.h"
#include "common/config.h"
#include "fs/collections.h"
#include "fs/hooks.h"
#include "fs/inode_table.h"
#include "fs/metadata_cache.h"
#include "fs/negative_cache.h"
#include "fs/pending_overlay.h"
#include "fs/prefetcher.h"
#include "fs/remote.h"
#include "fs/single_flight.h"
#include "fs/work_queue.h"

namespace gf::fs {

inline constexpr Ino kByIdIno = 2;
inline constexpr Ino kControlDirIno = 3;
inline constexpr Ino kStatusFileIno = 4;
inline constexpr const char* kByIdName = ".by-id";
inline constexpr const char* kControlDirName = ".globus-fuse";
inline constexpr const char* kStatusFileName = "status";
inline constexpr const char* kInvalidateXattr = "user.globus.invalidate";

struct FsOptions {
  std::vector<std::string> collections;  // ids or display names
  bool bookmarks = true;
  double entry_ttl = 60, attr_ttl = 60, dir_ttl = 60, negative_ttl = 10;
  uint64_t max_cached_entries = 2000000;
  uint64_t max_negative_entries = 100000;
  uint64_t readahead_max = 128ull << 20;
  uint64_t read_memory_limit = 512ull << 20;
  int read_parallelism = 4;
  uint64_t read_part_size = 16ull << 20;  // 128 MiB / 16 MiB: 8 parts in flight (PERFORMANCE.md)
  uint32_t uid = 0, gid = 0;
  uint32_t umask = 022;
  // Tree-walk prefetch: workers (0 = off), and which listings fan out: at most
  // prefetch_max_entries entries and prefetch_max_subdirs subdirectories scheduled each.
  int prefetch_workers = 4;
  uint64_t prefetch_max_entries = 10000;
  uint64_t prefetch_max_subdirs = 256;
  std::string mount_point;  // for status output
  // cp/mv (issue 6): copy_file_range returns when the transfer is queued (false) or only when
  // its task ended (true, --copy-mode=wait). open-for-read and fsync of a pending destination
  // wait for its task at most pending_wait_seconds (then EAGAIN).
  bool copy_wait = false;
  bool preserve_timestamp = true;  // pending destinations show the source's mtime
  double pending_wait_seconds = 3600;
  bool abort_on_lookup_underflow = InodeTable::kAbortOnUnderflowDefault;
  // Start() resolves the root (configured collections, bookmarks) in the background, so the
  // first operation does not wait for it. On from the config; tests drive it themselves.
  bool warm_root = false;

  // From the config; uid/gid of -1 become the calling process's ids.
  static FsOptions FromConfig(const Config& c);
};

// Receives readdir entries. Add() returns false when the reply buffer is full (the entry was
// NOT added). `plus` is set for readdirplus: its ino's lookup count was increased and the
// core undoes that when Add() returns false.
class DirReplier {
 public:
  virtual ~DirReplier() = default;
  virtual bool Add(std::string_view name, const Attr& attr, uint64_t next_offset,
                   const Entry* plus) = 0;
};

struct SetAttrRequest {
  std::optional<uint64_t> size;
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid, gid;
  bool atime = false, mtime = false;
  std::optional<int64_t> mtime_value;  // an explicit mtime (not "now")
  std::optional<uint64_t> fh;          // ftruncate/futimens: the open file
};

// A created file: its entry (one lookup reference) and its open handle.
struct Created {
  Entry entry;
  Opened opened;
};

class Filesystem {
 public:
  Filesystem(api::TransferApi& transfer, api::DataApi& data, FsOptions options,
             Clock& clock = SystemClock::Instance());
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // Hooks: set before Start(); the objects must outlive the Filesystem.
  void SetNotifier(KernelNotifier* n) { notifier_ = n; }
  void SetAuthorizer(Authorizer* a);
  void SetOverlay(Overlay* o) { overlay_ = o ? o : &default_overlay_; }
  // cp/mv as transfer tasks (issue 6): the engine queues them, the overlay shows them (it also
  // becomes the Overlay). Without them, create/copy_file_range/cross-collection rename fail
  // (EROFS/EOPNOTSUPP/EXDEV). Call before Start(); null/null detaches.
  void SetTransfers(TransferEngine* engine, PendingOverlay* overlay);
  // The TransferApi the transfer engine should use: it counts the engine's calls into the
  // status file's api_calls (submissions, task_list, ...) and never starts a login flow (the
  // engine blocks and retries authorization errors itself).
  api::TransferApi& engine_api() { return engine_remote_; }
  // Extra "api" section for the status file (e.g. rate-limiter waits), as JSON members.
  void SetStatusExtra(std::function<std::map<std::string, double>()> f) { extra_ = std::move(f); }
  // "pending_authorizations" of the status file: a JSON array (issue 5, AuthorizationBroker).
  void SetPendingAuthorizations(std::function<std::string()> json) {
    pending_auth_ = std::move(json);
  }

  // Starts worker threads (after daemonizing). Stop() joins them; the destructor calls it.
  void Start();
  void Stop();

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
  Status Unlink(Ino parent, const std::string& name);
  Status Rmdir(Ino parent, const std::string& name);
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
  // (see prefetcher.h): reply from them, then let go.
  Result<ReadData> Read(uint64_t fh, uint64_t offset, uint64_t size,
                        const std::atomic<bool>* cancel = nullptr);
  // Always fails (EOPNOTSUPP): file contents cannot be written yet; no data is accepted.
  Status Write(uint64_t fh);
  // close(2) of a handle (each one; its errors reach the caller): EOPNOTSUPP for a placeholder
  // that would become an empty file (see Release) in a collection without an HTTPS server.
  Status Flush(uint64_t fh);
  // Waits for the handle's pending copy (EIO if it failed).
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
  Status SetXattr(Ino ino, const std::string& name, const std::string& value);
  Status Invalidate(Ino ino);
  StatFs Statfs() const;
  std::string StatusJson();

  // ---- introspection (status, tests) ----
  InodeTable& inodes() { return table_; }
  MetadataCache& cache() { return cache_; }
  NegativeCache& negative() { return negative_; }
  Remote& remote() { return remote_; }
  MemoryBudget& memory() { return memory_; }
  WorkQueue& dir_prefetch_queue() { return dir_prefetch_; }
  CollectionRegistry& collections() { return registry_; }
  const FsOptions& options() const { return options_; }
  int listing_waiters() const { return listing_flight_.waiting(); }
  int stat_waiters() const { return stat_flight_.waiting(); }

 private:
  struct DirHandle;
  struct FileHandle;
  struct Item {  // one row of a directory: a view, its name lives in a DirSnapshot or the caller
    std::string_view name;
    Kind kind = Kind::kFile;
    Role role = Role::kRemote;
    const Collection* collection = nullptr;
    Meta meta;
    bool resolvable = true;  // false: unresolved root entry, no inode until looked up
  };
  // What one opendir shows: synthetic rows (head), the shared listing's rows in place (no copy
  // per entry: a 100k-entry directory costs its handle 4 bytes a row at most), then pending
  // names the listing does not have yet (tail).
  struct DirSnapshot {
    std::deque<std::string> names;  // owns head/tail names (stable addresses)
    std::vector<Item> head, tail;
    std::shared_ptr<const Listing> listing;
    const Collection* collection = nullptr;
    bool all_listed = true;        // every listing row is shown...
    std::vector<uint32_t> listed;  // ...else these (indexes into listing->items)
    std::map<std::string, Meta, std::less<>> pending;  // pending metadata of listed names

    void AddHead(std::string name, Item it);
    void AddTail(std::string name, Item it);
    size_t size() const;
    Item At(size_t i) const;
  };

  InodePtr Inode(Ino ino) const;
  static bool IsRemoteDir(const fs::Inode& in);
  std::string Key(const Collection& c, const std::string& path) const { return c.id + path; }
  static std::string Join(const std::string& dir, std::string_view name);
  static std::string ParentOf(const std::string& path);
  static std::string BaseOf(const std::string& path);

  // link_dir: the directory of a remote symlink (its size is that of MountLinkTarget), "" else.
  Attr MakeAttr(Ino ino, Kind kind, const Meta* meta, const std::string& link_dir = {}) const;
  Entry MakeEntry(const fs::Inode& in, const Meta* meta) const;
  // What readlink shows for a remote symlink in link_dir: an absolute target is a path in the
  // collection, made relative so that it resolves inside the mount, not on the local machine.
  static std::string MountLinkTarget(const std::string& link_dir, const std::string& target);
  Meta SyntheticDir() const;
  InodePtr LinkItem(const InodePtr& dir, const Item& item, uint64_t lookups);

  Result<std::shared_ptr<const Listing>> GetListing(const Collection& c, const std::string& dir);
  // The path the collection's HTTPS server is asked for: "/~/..." becomes the home directory's
  // absolute collection path once the service told us where it is (ls `absolute_path`; one
  // small ls of "/~/" the first time if no listing under "~" did). When the service does not
  // say (absolute_path null), "/~/..." is sent as it is (whether servers expand "~" is
  // UNVERIFIED).
  std::string HttpsPath(const Collection& c, const std::string& path);
  void LearnHome(const Collection& c, const std::string& dir,
                 const std::optional<std::string>& absolute_path);
  // One file under two names of collection c: the same path (.by-id), or "/~/f" and
  // "/home/alice/f" when the service tells where "~" is (HttpsPath). When it does not, a
  // destination that exists with the source's size and mtime is taken for the same file (one
  // stat): refusing a copy that would change nothing beats a transfer onto itself, which
  // truncates it.
  bool SameFile(const Collection& c, const std::string& src, const Meta& src_meta,
                const std::string& dst);
  Error SameFileError(const Collection& c, const std::string& path);
  Result<Meta> StatPath(const Collection& c, const std::string& path);
  // Fresh metadata of a remote inode (cache, parent listing, or one stat).
  Result<Meta> RefreshMeta(const InodePtr& in, bool force = false);
  Result<DirSnapshot> Snapshot(const InodePtr& dir);
  void SchedulePrefetch(const Collection& c, const std::string& dir, const Listing& l);
  Result<Entry> LookupRoot(const std::string& name);
  Result<Entry> LookupById(const std::string& name);
  Result<Entry> LookupRemote(const InodePtr& parent, const std::string& name);
  Status CheckWritableParent(const InodePtr& parent, const char* op);
  // rename(2)'s rules for the target new_parent/new_name, checked against what is known now:
  // EEXIST (RENAME_NOREPLACE), EISDIR/ENOTDIR (source and target kinds differ), ENOTEMPTY (a
  // directory with entries; one listing). OK when the target does not exist.
  Status CheckRenameTarget(const InodePtr& new_parent, const std::string& new_name,
                           std::optional<bool> src_is_dir, unsigned flags);
  Status RenameAcross(const InodePtr& parent, const std::string& name, const InodePtr& new_parent,
                      const std::string& new_name, unsigned flags, int32_t origin_pid);
  // Waits for a pending op (deadline pending_wait_seconds, or none); maps its failure.
  Status WaitOp(OpId op, bool bounded, const std::atomic<bool>* cancel, const char* what,
                const Collection* c, const std::string& path);
  // A name whose copy or move is still pending is truncated (cp again: open O_TRUNC) only
  // once that op ended, whatever its outcome (a failure was the earlier command's): waits for
  // it (pending_wait_seconds, then EAGAIN; Ctrl-C: EINTR, the op goes on). A placeholder (a
  // cp between its create and its copy) is EBUSY. Not for create/rename: the kernel holds the
  // directory locked during those, and a wait would freeze `ls` of it.
  Status WaitUntilSettled(const Collection& c, const std::string& path, const char* what);
  // WaitOp's mapping of the engine's own errors (interrupted, shutting down, timed out).
  Status WaitError(const Error& e, bool bounded, OpId op, const char* what, const Collection* c,
                   const std::string& path);
  // An op ended: drop caches of the affected paths and tell the kernel.
  void OnSettled(const SettledEvent& e);
  void RecentErrorLocked(const std::string& msg);  // under stats_mu_: keeps the newest 20
  void InvalidatePath(const std::string& collection_id, const std::string& path);
  // The other name of a path of the home directory ("/~/f" <-> "/home/alice/f"), if the
  // service said where "~" is (no remote call); "" else.
  std::string HomeAlias(const std::string& collection_id, const std::string& path);
  std::shared_ptr<FileHandle> Handle(uint64_t fh) const;

  // Logs a failure once (per minute) with context and remedy; counts it. Returns it.
  Error Report(const char* op, const Collection* c, const std::string& path, Error e);
  Error LocalError(const char* op, const Collection* c, const std::string& path, int err,
                   const std::string& why);
  std::string Where(const Collection* c, const std::string& path) const;

  FsOptions options_;
  Clock& clock_;
  const MonoTime started_;
  const std::time_t started_wall_;
  FailingAuthorizer default_authorizer_;
  struct NoOverlay final : Overlay {  // nothing pending, nothing hidden
    bool AnyHidden(const std::string&) override { return false; }
  };
  NoOverlay default_overlay_;
  struct AuthorizerProxy final : Authorizer {
    Authorizer* target = nullptr;
    Status Authorize(const Error& e, const std::string& c) override {
      return target->Authorize(e, c);
    }
    std::string Remedy(const Error& e, std::string_view subject) override {
      return target->Remedy(e, subject);
    }
  } authorizer_proxy_;
  Remote remote_;
  Remote engine_remote_;  // over the same API, with default_authorizer_ (no flows)
  InodeTable table_;
  NegativeCache negative_;
  MetadataCache cache_;
  CollectionRegistry registry_;
  MemoryBudget memory_;
  WorkQueue read_queue_;
  WorkQueue dir_prefetch_;
  KernelNotifier* notifier_ = nullptr;
  Overlay* overlay_;
  TransferEngine* engine_ = nullptr;
  PendingOverlay* pending_ = nullptr;
  std::atomic<bool> write_logged_{false};
  std::function<std::map<std::string, double>()> extra_;
  std::function<std::string()> pending_auth_;

  SingleFlight<std::string, std::shared_ptr<const Listing>> listing_flight_;
  SingleFlight<std::string, Meta> stat_flight_;

  std::mutex homes_mu_;  // leaf lock: guards homes_
  // collection id -> absolute path of "~" without the trailing '/' ("" = the collection root),
  // or nullopt: asked, the service does not say.
  std::map<std::string, std::optional<std::string>> homes_;
  mutable std::mutex handles_mu_;  // leaf lock: guards the handle maps and next_fh_
  std::map<uint64_t, std::shared_ptr<DirHandle>> dirs_;
  std::map<uint64_t, std::shared_ptr<FileHandle>> files_;
  uint64_t next_fh_ = 1;

  mutable std::mutex stats_mu_;             // leaf lock: guards the fields below
  std::map<std::string, MonoTime> logged_;  // message -> when last logged
  std::map<int, uint64_t> errors_by_errno_;
  std::vector<std::string> recent_errors_;  // newest last, at most 20
  std::atomic<uint64_t> prefetch_scheduled_{0}, lookups_from_cache_{0};
};

}  // namespace gf::fs
