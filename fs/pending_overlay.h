// PendingOverlay: what the mount shows while cp/mv run as Globus transfer tasks (issue 6).
//
// The TransferEngine (fs/transfer_engine.h) owns the truth about operations: the journal, the
// batches, the tasks. This class owns only the *view* of them that the filesystem core merges
// into lookups, listings, getattr and xattrs (it implements fs/hooks.h's Overlay):
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
//     that were added during the move and were not copied).
//
// FEEDS. The fs core adds entries when it queues an op (AddCopy/AddMove) and placeholders on
// create; the engine's listener callbacks (OnOpFinished, OnStepFinished) remove or update them;
// Rebuild() recreates every entry of a live op from the engine's Snapshot() after a restart.
// Task ids and states come from Snapshot(), refreshed lazily (at most every kRefresh) when an
// xattr or the status file asks, so the hot paths (lookup, readdir) never copy engine state.
//
// SETTLING. When an op ends, the overlay drops its entries and then calls the `settled`
// callback (the fs core invalidates its caches and tells the kernel), outside its lock.
// Failures and warnings are remembered (bounded) for `globus-fuse status`; failures also for
// fsync (EIO).
//
// THREADS. All methods are thread-safe. `mu_` is a leaf lock: it is never held while calling
// the engine, the settled callback or anything else. Lock order as seen from outside:
// (fs core locks, e.g. a DirHandle) -> PendingOverlay::mu_; engine callbacks arrive without the
// engine's lock.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "fs/hooks.h"
#include "fs/transfer_engine.h"

namespace gf::fs {

// An op ended: what the fs core must refresh.
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

class PendingOverlay final : public Overlay, public OpListener {
 public:
  using Settled = std::function<void(const SettledEvent&)>;
  using NameOf = std::function<std::string(const std::string& collection_id)>;

  // `engine` may be null (tests of the view alone). Call Rebuild() after construction to show
  // the ops a previous run left in the journal.
  PendingOverlay(TransferEngine* engine, Clock& clock = SystemClock::Instance());

  // Set before the engine starts.
  void SetSettled(Settled s) { settled_ = std::move(s); }
  void SetNameOf(NameOf n) { name_of_ = std::move(n); }

  // ---- fed by the fs core ----
  // A local, empty (or truncated) file owned by file handle `fh`.
  void AddPlaceholder(const Location& dst, const Meta& meta, uint64_t fh);
  // Drops the placeholder at `dst` if it has no op (and, when fh != 0, belongs to `fh`).
  // Returns true when one was dropped.
  bool DropPlaceholder(const Location& dst, uint64_t fh);
  void AddCopy(OpId op, const Location& src, const Location& dst, const Meta& meta);
  void AddMove(OpId op, const Location& src, const Location& dst, const Meta& meta);
  // The entry at `dst`: nullopt if none; op 0 for a placeholder.
  std::optional<OpId> PendingOp(const Location& dst) const;
  // setattr on a pending entry (cp -p sets the mtime the transfer will preserve). False when
  // `dst` is not pending.
  bool SetMtime(const Location& dst, int64_t mtime);
  // Recreates the entries of every live op in the engine (restart).
  void Rebuild();
  // The failure of a recently finished op (for fsync), if it failed.
  std::optional<OpFailure> FailureOf(OpId op) const;

  // The "transfers" member of the status file (a JSON object).
  std::string StatusJson();

  // ---- Overlay ----
  std::optional<Meta> Pending(const std::string& collection_id, const std::string& path) override;
  bool Hidden(const std::string& collection_id, const std::string& path) override;
  bool AnyHidden(const std::string& collection_id) override;
  std::vector<std::pair<std::string, Meta>> PendingChildren(const std::string& collection_id,
                                                            const std::string& dir_path) override;
  std::vector<std::pair<std::string, std::string>> Xattrs(const std::string& collection_id,
                                                          const std::string& path) override;

  // ---- OpListener ----
  void OnOpFinished(const OpResult& r) override;
  void OnStepFinished(const OpResult& r) override;

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
  };
  struct Failure {
    OpId op = 0;
    OpKind kind = OpKind::kCopy;
    Location src, dst;
    OpFailure failure;
    std::string task_id;
    std::time_t when = 0;
  };

  static Key K(const Location& l) { return {l.collection, l.path}; }
  static std::string ParentOf(const std::string& path);
  void RefreshIfStale();

  TransferEngine* const engine_;
  Clock& clock_;
  Settled settled_;
  NameOf name_of_;

  mutable std::mutex mu_;  // leaf: guards everything below
  std::map<Key, Entry> pending_;
  std::map<Key, OpId> hidden_;                              // move sources
  std::map<OpId, std::pair<Key, std::optional<Key>>> ops_;  // op -> (dst, src of a move)
  std::deque<Failure> failures_;                            // newest last
  std::deque<Failure> warnings_;  // ops that succeeded with a warning (code "Warning")
  std::optional<MonoTime> refreshed_;
};

}  // namespace gf::fs
