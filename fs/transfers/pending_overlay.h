// PendingOverlay: what the mount shows while cp/mv run as Globus transfer tasks.
//
// The TransferEngine (transfers/engine.h) owns the truth about operations: the journal, the
// batches, the tasks. This class owns only the *view* of them that the superblock merges into
// lookups, listings, getattr and xattrs:
//
//   * placeholders: a file created (or opened O_TRUNC) by `cp` before its copy_file_range.
//     Purely local: nothing happens remotely, an existing remote file is NOT truncated. A
//     placeholder belongs to the file handle that made it and vanishes when that handle is
//     released without a copy (so a `create` that never gets data leaves nothing behind);
//   * pending destinations: the destination of a queued copy or move, shown with the source's
//     size (st_blocks follows st_size) and xattrs `user.globus.status` (queued, submitting,
//     active, inactive, deleting-source) and `user.globus.task_id` once the task exists;
//   * hidden sources: the source of a cross-collection move (and everything below it) is not
//     shown until the move failed (it reappears untouched) or succeeded (it is gone remotely;
//     or, for a directory move that succeeded with a warning, it reappears holding the files
//     that were added during the move and were not copied);
//   * removed names: the path of a queued rm/rmdir (and everything below it) is hidden the
//     same way until the delete ended: gone for good, or back (with the reason in status) when
//     it failed. A hidden name wins over a pending entry at it: `rm` of a pending destination
//     hides it at once, though its copy still runs (the engine deletes it afterwards);
//   * pending uploads (write_mode = background): a closed file whose upload op is pending, shown
//     with its staged size and `user.globus.status` queued / uploading, until the upload ended
//     (then the listing shows the truth: the new file, or what was there before a failure);
//
// FEEDS. CopyOps adds entries when it queues an op (AddCopy/AddMove) and placeholders on
// create; the engine's listener callbacks (OnOpFinished, OnStepFinished) remove or update them;
// the constructor recreates every entry of a live op from the engine's Progress() (a restart).
// Task ids and states come from Progress(), refreshed lazily (at most every kRefresh) when an
// xattr or the status document asks, so the hot paths (lookup, readdir) never copy engine state.
//
// SETTLING. When an op ends, the overlay drops its entries and then tells its SettledSink (the
// superblock drops its caches and tells the kernel), outside its lock. Failures and warnings
// are remembered (bounded) for `globus-fuse status`; failures also for fsync (EIO).
//
// THREADS. All methods are thread-safe. `mu_` is a leaf lock: it is never held while calling
// the engine, the sink or anything else. Engine callbacks arrive without the engine's lock.
#pragma once

#include <chrono>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "fs/transfers/engine.h"

namespace gf::fs {

// Why a create, rename or mv of a name is refused while an op writes to it.
inline constexpr const char* kPendingBusy =
    "a copy or move to this name is still pending: try again once it ended (globus-fuse "
    "status; `cat` or `sync` of the file waits for it)";

// An op ended: what the superblock must refresh.
struct SettledEvent {
  OpId op = 0;
  OpKind kind = OpKind::kCopy;
  Location dst;
  std::optional<Location> src;  // moves: the source (hidden until now)
  Location source;              // the op's source (copies and moves), for messages
  bool ok = false;
  std::string error;    // when !ok
  bool step = false;    // mv: only the copy step finished (the destination is real now)
  std::string warning;  // ok with a caveat (OpResult::warning): the source still exists
};

// Why a name cannot be made again while its delete is pending.
inline constexpr const char* kRemoveBusy =
    "a delete of this name (or of a directory above it) is still pending: try again once it "
    "ended (globus-fuse status); otherwise the delete could remove the new entry";

class SettledSink {
 public:
  virtual ~SettledSink() = default;
  virtual void OnSettled(const SettledEvent& e) = 0;
};

// A failed (or warned-about) op, remembered for the status document.
struct OpOutcome {
  OpId op = 0;
  OpKind kind = OpKind::kCopy;
  Location src, dst;
  OpFailure failure;
  std::string task_id;
  std::time_t when = 0;
};

// The "transfers" section of the status document.
struct TransfersStats {
  EngineProgress progress;
  std::deque<OpOutcome> failures, warnings;  // newest last
  size_t pending_entries = 0, hidden_entries = 0;
};

// What an op is doing, as `user.globus.status` and the status document say it.
std::string OpStateName(const OpStatus& op, const TaskStatus* task);

class PendingOverlay final : public OpListener {
 public:
  // Listens to `engine` (before it starts) and shows the ops it resumed from its journal.
  PendingOverlay(TransferEngine& engine, SettledSink& settled, Clock& clock);

  // ---- fed by CopyOps ----
  // A local, empty (or truncated) file owned by file handle `fh`.
  void AddPlaceholder(const Location& dst, const Meta& meta, uint64_t fh) EXCLUDES(mu_);
  // Drops the placeholder at `dst` if it has no op (and, when fh != 0, belongs to `fh`).
  // Returns true when one was dropped.
  bool DropPlaceholder(const Location& dst, uint64_t fh) EXCLUDES(mu_);
  void AddCopy(OpId op, const Location& dst, const Meta& meta) EXCLUDES(mu_);
  void AddMove(OpId op, const Location& src, const Location& dst, const Meta& meta) EXCLUDES(mu_);
  // ---- fed by WriteOps (write_mode = background) ----
  // A closed file whose upload op `op` is pending: shown at `dst` with its staged size.
  void AddUpload(OpId op, const Location& dst, const Meta& meta) EXCLUDES(mu_);
  // Takes AddUpload's entry of `op` back (the op ended before it was shown for long).
  void DropUpload(OpId op) EXCLUDES(mu_);
  // True when the entry at `dst` is a pending upload (not a copy, move or placeholder).
  bool PendingUpload(const Location& dst) const EXCLUDES(mu_);
  // ---- fed by DeleteOps ----
  // `path` (and everything below it) is being removed by op `op`.
  void AddRemove(OpId op, const Location& path) EXCLUDES(mu_);
  // The remove op hiding `at` or one of its ancestors, if any.
  std::optional<OpId> PendingRemove(const Location& at) const EXCLUDES(mu_);

  // The entry at `dst`: nullopt if none; op 0 for a placeholder.
  std::optional<OpId> PendingOp(const Location& dst) const EXCLUDES(mu_);
  // setattr on a pending entry (cp -p sets the mtime the transfer will preserve). False when
  // `dst` is not pending.
  bool SetMtime(const Location& dst, int64_t mtime) EXCLUDES(mu_);
  // The failure of a recently finished op (for fsync), if it failed.
  std::optional<OpFailure> FailureOf(OpId op) const EXCLUDES(mu_);

  // ---- read by the superblock ----
  // An entry that exists locally only (the destination of a pending copy, a placeholder).
  std::optional<Meta> Pending(const std::string& collection_id, const std::string& path)
      EXCLUDES(mu_);
  // True when a remote entry must not be shown (the source of a move in flight, or below it).
  bool Hidden(const std::string& collection_id, const std::string& path) EXCLUDES(mu_);
  // False only when no entry of the collection is hidden (lets readdir skip Hidden per row).
  bool AnyHidden(const std::string& collection_id) EXCLUDES(mu_);
  // Counts the hidden names shown again (their remove or move ended): a listing fetched while
  // it changed may predate that end and still hold a name no longer hidden.
  uint64_t Unhidden() const EXCLUDES(mu_);
  // Locally-pending children of a directory, merged into its listing (names + metadata); not
  // those hidden by a pending remove.
  std::vector<std::pair<std::string, Meta>> PendingChildren(const std::string& collection_id,
                                                            const std::string& dir_path)
      EXCLUDES(mu_);
  // user.globus.status and user.globus.task_id of a pending entry; asked at the source of a
  // pending move (the kernel's dentry at the destination leads to the source's inode until
  // its invalidation arrives), those of the move's destination.
  std::vector<std::pair<std::string, std::string>> Xattrs(const std::string& collection_id,
                                                          const std::string& path) EXCLUDES(mu_);

  TransfersStats Stats() const EXCLUDES(mu_);

  // ---- OpListener ----
  void OnOpFinished(const OpResult& r) override EXCLUDES(mu_);
  void OnStepFinished(const OpResult& r) override EXCLUDES(mu_);

  static constexpr std::chrono::milliseconds kRefresh{500};
  static constexpr size_t kMaxFailures = 100;

 private:
  using Key = std::pair<std::string, std::string>;  // (collection, path)
  struct Entry {
    Meta meta;
    OpId op = 0;      // 0: placeholder
    uint64_t fh = 0;  // placeholder owner
    std::string state = "created";
    std::string task_id;
    bool upload = false;  // a background upload's entry
  };

  static Key K(const Location& l) { return {l.collection, l.path}; }
  bool HiddenLocked(const std::string& collection_id, const std::string& path) const REQUIRES(mu_);
  // The pending entry whose xattrs `at` shows: `at` itself, or the destination of the pending
  // move whose source is `at`.
  std::optional<Key> ShownAtLocked(const Key& at) const REQUIRES(mu_);
  // Recreates the entries of every live op in the engine (a restart).
  void Rebuild() EXCLUDES(mu_);
  void RefreshIfStale() EXCLUDES(mu_);

  TransferEngine& engine_;
  SettledSink& settled_;
  Clock& clock_;

  mutable Mutex mu_;  // leaf lock: guards everything below
  std::map<Key, Entry> pending_ GUARDED_BY(mu_);
  std::map<Key, OpId> hidden_ GUARDED_BY(mu_);  // move sources and removed names
  uint64_t unhidden_ GUARDED_BY(mu_) = 0;       // entries erased from hidden_
  std::set<OpId> removes_ GUARDED_BY(mu_);      // the remove ops among hidden_'s values
  // op -> (dst, src of a move)
  std::map<OpId, std::pair<Key, std::optional<Key>>> ops_ GUARDED_BY(mu_);
  std::deque<OpOutcome> failures_ GUARDED_BY(mu_);  // newest last
  std::deque<OpOutcome> warnings_ GUARDED_BY(mu_);  // ops that succeeded with a warning
  std::optional<MonoTime> refreshed_ GUARDED_BY(mu_);
};

}  // namespace gf::fs
