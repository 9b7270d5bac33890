// DeleteOps: rm and rmdir of remote entries (docs/SEMANTICS.md, "Deletes").
//
//   unlink(2) of a remote file,   delete_mode=https (the default) on a collection with an HTTPS
//   HTTPS                         server: one synchronous HTTPS DELETE (api::DataApi::Delete,
//                                 through Remote: a consent/login error is authorized and the
//                                 DELETE retried once). unlink returns its result: 0 on 2xx;
//                                 a 404 (the file is already gone) is 0 as well; anything else
//                                 is its errno (403: EACCES) and the name stays. Nothing is
//                                 journaled and no task is made; on success the parent's cached
//                                 listing loses the name (Superblock::AfterRemoved), so the name
//                                 can be made again at once (vim swap files, sqlite journals).
//                                 Ctrl-C aborts the request (EINTR; whether the server acted is
//                                 unknown, so what is cached about the name is dropped).
//   a burst of rm (rm -r, rm *)   one round trip per file would make `rm -r` of a big tree
//                                 slow (1000 files at 50 ms: ~55 s, against seconds for one
//                                 task), and its directories, spread over that time, would miss
//                                 each other's batch. So once one process (origin_pid) removed
//                                 delete_burst DIFFERENT files over HTTPS, each within
//                                 kBurstGap of its previous remove, its further files become
//                                 remove ops (the task path below) until it pauses for
//                                 kBurstGap. Removing the same names again and again (a sqlite
//                                 journal, a swap file) never counts as a burst.
//   unlink(2) of a remote file,   a remove op (TransferEngine::Enqueue: journaled with
//   task                          fdatasync before it returns); the overlay hides the name at
//                                 once; the engine batches every remove queued close together
//                                 in one collection into one delete task. Used with
//                                 delete_mode=task, on collections without an HTTPS server, for
//                                 a burst's files (above), and for SYMLINKS (a delete task
//                                 never follows a symlink; what an HTTPS DELETE of one does is
//                                 UNVERIFIED: the server serves GETs through links, so it might
//                                 delete the target).
//   rmdir(2) of a remote directory  ENOTEMPTY unless a fresh listing, minus the names hidden by
//                                 pending removes, plus pending entries not removed, is empty;
//                                 then a recursive remove op (the service needs recursive=true
//                                 even for an empty directory, and the files under it that the
//                                 user removed first may not be deleted yet). A directory that a
//                                 pending copy or move makes is ENOTEMPTY: what it will hold is
//                                 not known here.
//   what a pending transfer uses  a remove op, never an HTTPS DELETE, when a pending copy, move
//   (rm of a pending destination, or upload reads or writes the path, something below it or a
//   of a copy's source)           directory above it (TransferEngine::InUse). The name goes at
//                                 once; the engine holds the op back until every such transfer
//                                 ended (ORDERING in engine.h), then deletes. So `cp a b; rm b`
//                                 ends with no b (the copy is not cancelled: it runs, then b is
//                                 deleted), and `cp a b; rm a` deletes a only after b has a's
//                                 bytes: nothing a pending transfer still reads is deleted
//                                 first. Not EBUSY and not a wait in unlink: the kernel holds
//                                 the directory locked during unlink, so waiting for a transfer
//                                 there would freeze every `ls` of it.
//
// So `rm -r` of a tree becomes at most two tasks: one non-recursive task of its files and one
// recursive task of its directories (the engine groups by the task's `recursive` flag; a path
// that a recursive item already covers is harmless: ignore_missing is always true, so a task
// replayed after a crash does not fail on what its first run removed).
//
// Refused before anything is queued:
//   * the mount root, .by-id, a collection's own directory: EPERM (they are not remote
//     entries); "~" (the home directory): EBUSY;
//   * a placeholder `cp` has created and not copied into yet (its handle is open): EBUSY.
// A placeholder nobody copied into is local only: dropped, with no remote call.
//
// An upload of the name in flight was waited for before (Filesystem::Unlink asks
// WriteOps::RemoveLocalOnly, which waits), so the DELETE removes what that upload made.
//
// --copy-mode=wait applies to tasks: unlink/rmdir return when the delete task ended, with its
// error; Ctrl-C cancels the task (as for cp; the name reappears when the cancel took effect).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/result.h"
#include "fs/options.h"
#include "fs/superblock/superblock.h"
#include "fs/transfers/engine.h"

namespace gf::fs {

class DeleteOps {
 public:
  // The burst rule (see above); the number of files is the delete_burst option.
  static constexpr std::chrono::seconds kBurstGap{1};

  DeleteOps(Superblock& sb, TransferEngine& engine, const FsOptions& options, Clock& clock);

  Status Unlink(const InodePtr& parent, const std::string& name, const std::atomic<bool>* cancel,
                int32_t origin_pid);
  Status Rmdir(const InodePtr& parent, const std::string& name, const std::atomic<bool>* cancel,
               int32_t origin_pid);

 private:
  Status Remove(const InodePtr& parent, const std::string& name, bool dir,
                const std::atomic<bool>* cancel, int32_t origin_pid);
  // The HTTPS DELETE of a file (see the header comment); nullopt: use a delete task instead
  // (the server answered 404 for a "/~/..." path that Transfer still finds: it does not
  // expand "~", and where "~" is could not be learnt).
  std::optional<Status> DeleteNow(const InodePtr& parent, const std::string& name,
                                  const Collection& c, const std::string& path,
                                  const std::atomic<bool>* cancel);
  // Whether this remove of a file by `pid` may be an HTTPS DELETE (the burst rule); records it.
  bool HttpsAllowed(int32_t pid, const std::string& path) EXCLUDES(mu_);
  // ENOTEMPTY unless the directory at `path` shows no entry (fresh listing, overlay applied).
  Status CheckEmpty(const Collection& c, const std::string& path);
  // --copy-mode=wait: the op's outcome; Ctrl-C cancels it.
  Status WaitFor(OpId op, const std::atomic<bool>* cancel, const Collection& c,
                 const std::string& path, const char* what);

  Superblock& sb_;
  TransferEngine& engine_;
  const FsOptions& options_;
  const bool https_files_;  // delete_mode is "https"
  Clock& clock_;

  struct Burst {
    MonoTime last{};
    std::set<std::string> names;  // removed over HTTPS in this burst (at most delete_burst)
    bool told = false;            // the switch to tasks was logged
  };
  Mutex mu_;  // leaf lock: guards bursts_
  std::map<int32_t, Burst> bursts_ GUARDED_BY(mu_);
};

}  // namespace gf::fs
