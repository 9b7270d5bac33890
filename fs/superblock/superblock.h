// Superblock: the mount's partial view of the remote namespace, and the one owner of what is
// cached about it.
//
// It owns the inode table, the listing cache, the negative cache, the single flights, the
// collection registry, the virtual tree, where each "~" is, and the transfers overlay (what
// cp/mv in flight add to and hide from the namespace). Every change it learns of -- a mkdir, a
// rename, a placeholder dropped, a transfer ended, a file found changed mid-read, an explicit
// invalidation -- is applied to all of them in one place (upkeep.cc), so the caches, the inode
// table and the kernel's caches never disagree about what is there.
//
// Metadata rules: a lookup under a directory whose listing is cached is answered from the
// listing (no remote call); under an uncached directory it is one `stat` of the child, never a
// listing of a possibly huge parent. Misses go to the negative cache. Concurrent requests for
// the same listing or stat coalesce into one call (SingleFlight). Listing a directory may
// prefetch its subdirectories' listings (a bounded worker pool, bounded fan-out) so tree walks
// overlap their latencies. Caches take the injected Clock.
//
// Lookups: Lookup() is the kernel's: it adds one lookup reference to the inode it returns
// (the reply carries it). Resolve() is the core's own question "what is at this name?": it
// touches no lookup count, so internal checks (rename targets, unlink, create over an
// existing name) never borrow the kernel's references.
//
// Threads: all methods are thread-safe. Lock order: InodeTable::mu_ -> Inode::mu_; every other
// lock here (caches, registry, single flights, home dirs, overlay, error log) is a leaf. No lock
// is held across a remote call or a wait for a transfer.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "fs/hooks.h"
#include "fs/options.h"
#include "fs/remote.h"
#include "fs/status/error_log.h"
#include "fs/superblock/attrs.h"
#include "fs/superblock/collections.h"
#include "fs/superblock/dir_view.h"
#include "fs/superblock/home_dirs.h"
#include "fs/superblock/inode_table.h"
#include "fs/superblock/metadata_cache.h"
#include "fs/superblock/negative_cache.h"
#include "fs/superblock/single_flight.h"
#include "fs/superblock/virtual_tree.h"
#include "fs/transfers/pending_overlay.h"
#include "fs/work_queue.h"

namespace gf::fs {

// What is at a name, found without a lookup reference (Superblock::Resolve).
struct Resolved {
  Kind kind = Kind::kFile;
  Role role = Role::kRemote;
  Meta meta;
};

// The "cache" section of the status document.
struct CacheStats {
  uint64_t inodes = 0, listings = 0, listing_entries = 0, listing_evictions = 0;
  uint64_t max_cached_entries = 0, negative_entries = 0;
  uint64_t lookups_from_cache = 0, listing_prefetch_scheduled = 0;
};

class Superblock final : public SettledSink {
 public:
  Superblock(Remote& remote, CollectionCatalog& catalog, TransferEngine& engine,
             KernelNotifier& notifier, ErrorLog& errors, const FsOptions& options, Clock& clock);
  ~Superblock() override;
  Superblock(const Superblock&) = delete;
  Superblock& operator=(const Superblock&) = delete;

  // The listing prefetch workers (after daemonizing) and their end.
  void Start();
  void Stop();

  InodePtr Inode(Ino ino) const { return table_.Get(ino); }
  // The inode, when the kernel reached it by name and the name still leads to it: a stale one
  // (InodeTable::Stale) is ESTALE, so the kernel looks the path up again and retries.
  Result<InodePtr> Named(Ino ino) const;

  // ---- lookup ----
  Result<Entry> Lookup(Ino parent, const std::string& name);  // counted: the kernel's
  // `name` in the remote directory `parent`: ENOENT (not logged) when it is not there.
  Result<Resolved> Resolve(const InodePtr& parent, const std::string& name);
  // The inode for a resolved name, with one lookup reference (a reply to the kernel).
  InodePtr Link(const InodePtr& parent, const std::string& name, const Resolved& r);
  void Forget(Ino ino, uint64_t n) { table_.Forget(ino, n); }
  void ForgetMulti(const std::vector<std::pair<Ino, uint64_t>>& b) { table_.ForgetMulti(b); }

  // ---- attributes ----
  Result<AttrReply> GetAttr(const InodePtr& in);
  Result<std::string> ReadLink(const InodePtr& in);
  // Fresh metadata of a remote inode (cache, parent listing, or one stat).
  Result<Meta> RefreshMeta(const InodePtr& in, bool force = false);
  Result<Meta> StatPath(const Collection& c, const std::string& path);
  Result<std::shared_ptr<const Listing>> GetListing(const Collection& c, const std::string& dir);
  // A listing fetched now, never one already under way (GetListing shares a fetch that may have
  // started before a change this caller must see, such as a delete rmdir's emptiness check
  // follows). Cached like GetListing's when nothing changed the directory meanwhile.
  Result<std::shared_ptr<const Listing>> ListFresh(const Collection& c, const std::string& dir);
  // The remote path of a remote inode ("/" for a collection root, "/~" for its home entry).
  std::string Path(const fs::Inode& in) const { return table_.Path(in); }

  // ---- directories ----
  Result<std::shared_ptr<const DirView>> View(const InodePtr& dir);
  // Rows of `view` from `offset` to `out` until it is full. Readdir offsets: 1 = ".",
  // 2 = "..", 3 + i = row i. With `plus`, each row sent carries a lookup reference.
  void Emit(const InodePtr& dir, const DirView& view, uint64_t offset, bool plus, DirReplier& out);

  // ---- namespace changes within a collection (synchronous remote calls) ----
  Result<Entry> Mkdir(const InodePtr& parent, const std::string& name);
  Status Rename(const InodePtr& parent, const std::string& name, const InodePtr& new_parent,
                const std::string& new_name, unsigned flags);
  // rename(2)'s rules for the target new_parent/new_name, checked against what is known now:
  // EEXIST (RENAME_NOREPLACE), EISDIR/ENOTDIR (source and target kinds differ), ENOTEMPTY (a
  // directory with entries; one listing). OK when the target does not exist.
  Status CheckRenameTarget(const InodePtr& new_parent, const std::string& new_name,
                           std::optional<bool> src_is_dir, unsigned flags);
  // EBUSY while a delete of `path` (or of a directory above it) is pending: a new entry made
  // there now could be removed by that delete task.
  Status CheckNotBeingRemoved(const Collection& c, const std::string& path, const char* op);
  // EPERM unless `parent` is a remote directory (the root and .by-id hold only collections).
  Status CheckWritableParent(const InodePtr& parent, const char* op);
  // `name` under `parent` as messages show it (the remote path when there is one).
  std::string PathForMessage(const InodePtr& parent, const std::string& name) const;

  // ---- cache upkeep (upkeep.cc) ----
  // A placeholder vanished, or a path changed remotely: drop what is cached about `path` (and
  // below) in every place the collection is mounted, and tell the kernel.
  void InvalidatePath(const std::string& collection_id, const std::string& path);
  // An upload of ours put `size` bytes at `path` (`mtime`: the server's, when a stat saw it;
  // else now): the parent's cached listing, when there is a fresh one, gets the entry in place
  // (a replaced file keeps its listed mode, a new one shows kUploadedMode); the name's miss is
  // dropped; inodes at the name expire and the kernel drops its attributes and dentry for it.
  // `uploaded`: the inode whose content this was (0: none known). Where it is the inode at the
  // name, the kernel's dentry stays (it names that very inode; only the content changed).
  // Nothing else is invalidated (docs/SEMANTICS.md, "Consistency").
  void AfterUpload(const Collection& c, const std::string& path, uint64_t size,
                   std::optional<std::time_t> mtime, Ino uploaded = 0);
  // The mode a new file made by a PUT is listed with until its directory is listed again (a
  // PUT cannot set one; servers create files 0644 under the usual umask: UNVERIFIED upstream,
  // what globus-sim does).
  static constexpr uint32_t kUploadedMode = 0644;
  // A cross-collection move was queued: the source is hidden, the destination pending.
  void AfterMoveQueued(const InodePtr& parent, const std::string& name, const InodePtr& new_parent,
                       const std::string& new_name);
  // An rm/rmdir was queued: the overlay hides the name; the inode leaves the table (the kernel
  // drops its own dentry when unlink/rmdir succeeds).
  void AfterRemoveQueued(const InodePtr& parent, const std::string& name);
  // A file was deleted synchronously (HTTPS DELETE): the parent's cached listing loses the
  // name (edited, not dropped), the inode leaves the table, and every other place the file is
  // shown (under "~" or its absolute path, under .by-id) forgets it.
  void AfterRemoved(const InodePtr& parent, const std::string& name);
  // A file was created in the overlay: the kernel may hold a negative entry for it.
  void AfterCreate(const Collection& c, const std::string& path);
  // A name created through the mount went without ever being uploaded (its upload failed; its
  // placeholder is gone): it is not in the collection. The parent's cached listing loses the
  // name (edited, not dropped: the next new names of a `cp -r` that met one failed file are
  // still answered from it), and every place the name is shown forgets it.
  void AfterNeverMade(const std::string& collection_id, const std::string& path);
  // A read found the file changed on the server (ESTALE).
  void AfterStaleRead(const InodePtr& in);
  // An inode's content may change (open O_TRUNC of it): the kernel drops its pages.
  void AfterTruncate(Ino ino) { notifier_.InvalidateInode(ino); }
  // `user.globus.invalidate`: drop everything cached at or below `in`.
  Status Invalidate(const InodePtr& in);
  // Waits (at most `max`) until the kernel has been sent every invalidation queued so far.
  bool SettleKernel(std::chrono::milliseconds max) { return notifier_.Settle(max); }
  // SettledSink: a transfer op ended (or a move's copy step did).
  void OnSettled(const SettledEvent& e) override;

  // ---- parts ----
  PendingOverlay& overlay() { return overlay_; }
  CollectionRegistry& registry() { return registry_; }
  HomeDirs& homes() { return homes_; }
  const Attrs& attrs() const { return attrs_; }
  ErrorLog& errors() { return errors_; }
  Remote& remote() { return remote_; }
  InodeTable& inodes() { return table_; }
  MetadataCache& cache() { return cache_; }
  NegativeCache& negative() { return negative_; }
  WorkQueue& listing_prefetch_queue() { return listing_prefetch_; }
  CacheStats Stats() const;
  int listing_waiters() const { return listing_flight_.waiting(); }
  int stat_waiters() const { return stat_flight_.waiting(); }

 private:
  // One fetch of `dir`'s listing (key: its cache key), cached unless it changed meanwhile.
  Result<std::shared_ptr<const Listing>> FetchListing(const Collection& c, const std::string& dir,
                                                      const std::string& key);
  InodePtr LinkRow(const InodePtr& dir, const DirRow& row, uint64_t lookups);
  void PrefetchListings(const Collection& c, const std::string& dir, const Listing& l);
  Result<std::shared_ptr<const DirView>> RemoteView(const InodePtr& dir, DirView view);
  void AfterMkdir(const Collection& c, const std::string& dir, const std::string& path);
  void AfterRename(const Collection& c, const InodePtr& parent, const std::string& name,
                   const InodePtr& new_parent, const std::string& new_name);
  // The remote entry of `in` changed kind: detach it (the name gets a new inode on lookup).
  void AfterKindChanged(const fs::Inode& in);
  void ExpireBelow(Ino ino);
  // The kernel's view of `path` in every place the collection is mounted (by name and under
  // .by-id): its inode expires and its entry is invalidated, except where the inode at the name
  // is `keep_dentry_of` (then only its attributes are). (InvalidatePath's second half.)
  void ForgetEverywhere(const std::string& collection_id, const std::string& path,
                        Ino keep_dentry_of = 0);
  // InvalidatePath but for the parent's listing: what is cached at and below `path` (entries,
  // misses) goes, and ForgetEverywhere. AfterNeverMade edits the parent's listing instead.
  void ForgetPath(const std::string& collection_id, const std::string& path);

  const FsOptions& options_;
  Clock& clock_;
  Remote& remote_;
  KernelNotifier& notifier_;
  ErrorLog& errors_;
  InodeTable table_;
  Attrs attrs_;
  NegativeCache negative_;
  MetadataCache cache_;
  CollectionRegistry registry_;
  VirtualTree tree_;
  HomeDirs homes_;
  PendingOverlay overlay_;
  WorkQueue listing_prefetch_;  // listings of subdirectories, ahead of a tree walk
  SingleFlight<std::string, std::shared_ptr<const Listing>> listing_flight_;
  SingleFlight<std::string, Meta> stat_flight_;
  std::atomic<uint64_t> listing_prefetch_scheduled_{0}, lookups_from_cache_{0};
};

}  // namespace gf::fs
