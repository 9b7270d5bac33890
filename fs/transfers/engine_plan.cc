// TransferEngine: the delete plan of a directory mv (see "mv of a directory" in engine.h).
#include <algorithm>

#include "api/background_calls.h"
#include "common/log.h"
#include "fs/paths.h"
#include "fs/transfers/engine.h"
#include "fs/transfers/engine_internal.h"

namespace gf::fs {

// ---------------------------------------------------------------------------------------------
// Directory mv: the delete plan (see "mv of a directory" in transfer_engine.h)
// ---------------------------------------------------------------------------------------------
void TransferEngine::PlanDeletes(MonoTime now) {
  struct Job {
    OpId id;
    std::string copy_task;
    Location src;
    Verification v;
  };
  std::vector<Job> jobs;
  {
    MutexLock l(mu_);
    const auto& ops = journal_->state().ops;
    for (auto it = needs_plan_.begin(); it != needs_plan_.end();) {
      auto op = ops.find(*it);
      if (op == ops.end() || !op->second.NeedsPlan()) {  // cancelled, retired, planned
        verifying_.erase(*it);
        it = needs_plan_.erase(it);
        continue;
      }
      ++it;
    }
    for (auto it = copied_.begin(); it != copied_.end();) {  // no op needs these pages any more
      const bool needed = std::any_of(needs_plan_.begin(), needs_plan_.end(),
                                      [&](OpId id) { return ops.at(id).copy_task == it->first; });
      it = needed ? std::next(it) : copied_.erase(it);
    }
    // Plan only when a delete slot is free: the listing must be as close as possible to the
    // delete task it decides (anything created after the listing is at risk).
    if (needs_plan_.empty() || ActiveBatchesLocked(StepKind::kDelete) >= opts_.max_delete_tasks)
      return;
    for (OpId id : needs_plan_) {
      const JournalOp& op = ops.at(id);
      if (op.copy_task.empty()) {
        // A journal compacted by an older globus-fuse lost the copy's task id: the copy
        // cannot be verified file by file, so nothing is deleted.
        jobs.push_back({id, "", op.src, {}});
        continue;
      }
      Verification& v = verifying_[id];
      if (v.next_attempt > now) continue;
      jobs.push_back({id, op.copy_task, op.src, std::move(v)});
    }
  }

  // Thousands of calls for a big tree, and nobody types while waiting on them: the rate
  // limiter's background lane, so interactive `ls` keeps its headroom.
  api::BackgroundCalls background;
  int calls = std::max(opts_.verify_calls_per_pass, 1);
  for (Job& job : jobs) {
    std::optional<OpFailure> failed;
    if (job.copy_task.empty()) {
      failed = OpFailure{"NotVerified",
                         "the copy's task id is unknown (journal from an older globus-fuse), so "
                         "the copied files cannot be verified; the source was kept"};
    } else if (calls > 0) {
      failed = Verify(job.copy_task, job.src, job.v, &calls, now);
    }
    MutexLock l(mu_);
    auto op = journal_->state().ops.find(job.id);
    if (op == journal_->state().ops.end() || !op->second.NeedsPlan()) {
      verifying_.erase(job.id);  // cancelled meanwhile
      continue;
    }
    if (failed) {
      verifying_.erase(job.id);
      log::Warn(kLog, "op ", job.id, " (mv ", Where(job.src), "): ", failed->message);
      if (!AppendLocked(FailRecord{{job.id}, *failed}).ok()) continue;  // retried next pass
      needs_plan_.erase(job.id);
      cv_.notify_all();
      continue;
    }
    Verification& v = job.v;
    const bool done = v.transfers_done && v.listing_started && v.dirs.empty();
    if (!done) {
      verifying_[job.id] = std::move(v);
      continue;
    }
    // Compare the files found with the files copied.
    const std::string root = NormalPath(job.src.path);
    PlanRecord rec;
    rec.op = job.id;
    for (const std::string& f : v.files)
      if (!v.transferred.count(f)) ++rec.plan.left;
    rec.plan.unlisted = v.unlisted;
    rec.plan.whole = !v.root_missing && rec.plan.left == 0 && rec.plan.unlisted == 0;
    if (!rec.plan.whole && !v.root_missing)
      rec.plan.paths.assign(v.transferred.begin(), v.transferred.end());
    if (!AppendLocked(rec).ok()) {
      verifying_.erase(job.id);  // list again later: a stale listing must not decide
      continue;
    }
    verifying_.erase(job.id);
    needs_plan_.erase(job.id);
    const JournalOp& planned = journal_->state().ops.at(job.id);
    if (rec.plan.whole) {
      log::Info(kLog, "op ", job.id, " (mv ", Where(job.src), "): all ", v.transferred.size(),
                " file(s) of the source were copied; deleting ", root);
    } else if (v.root_missing) {
      log::Info(kLog, "op ", job.id, " (mv ", Where(job.src),
                "): the source is already gone; nothing to delete");
    } else {
      log::Warn(kLog, "op ", job.id, " (mv ", Where(job.src), "): ", rec.plan.left,
                " file(s) in the source were not copied (", rec.plan.unlisted,
                " unlisted directories); deleting only the ", rec.plan.paths.size(),
                " copied file(s)");
    }
    if (planned.state == OpState::kQueued) {
      AddToGroupLocked(planned, now);
      groups_[KeyFor(planned)].urgent = true;
    } else if (planned.Terminal()) {
      last_task_[job.id] = planned.copy_task;  // nothing to delete: done
    }
    cv_.notify_all();
  }
}

std::optional<OpFailure> TransferEngine::Verify(const std::string& copy_task, const Location& src,
                                                Verification& v, int* calls, MonoTime now) {
  const std::string root = NormalPath(src.path);
  // Transient trouble: keep what we have and try again later.
  auto later = [&](const Error& e) {
    const std::string what = OneLine(e.Describe());
    if (v.waiting_reason != what)
      log::Warn(kLog, "mv ", Where(src), ": verifying the copy: ", what, " (will retry)");
    v.waiting_reason = Truncated(what);
    v.next_attempt = now + (Classify(e) == Disposition::kBlocked ? opts_.retry_max
                                                                 : BackoffLocked(++v.attempts));
  };
  // 1. What the copy task transferred: its pages are shared by every mv batched into it.
  CopiedFiles& copied = copied_[copy_task];
  while (!copied.done && *calls > 0) {
    --*calls;
    auto page = api_.SuccessfulTransfers(copy_task, copied.marker);
    if (!page.ok()) {
      const Disposition d = Classify(page.error());
      if (d == Disposition::kRetry || d == Disposition::kBlocked) {
        later(page.error());
        return std::nullopt;
      }
      return OpFailure{"NotVerified",
                       Truncated("cannot list the files copied by task " + copy_task + ": " +
                                 OneLine(page.error().Describe()) + "; the source was kept")};
    }
    for (const api::SuccessfulTransfer& t : page->transfers)
      copied.paths.push_back(NormalPath(t.source_path));
    if (page->next_marker && !page->next_marker->empty() && *page->next_marker != copied.marker)
      copied.marker = *page->next_marker;
    else
      copied.done = true;
  }
  if (copied.done && !v.transfers_done) {
    for (const std::string& p : copied.paths)
      if (IsUnder(p, root)) v.transferred.insert(p);
    v.transfers_done = true;
  }
  // 2. What the source holds now (breadth first; listed after step 1, as late as possible).
  if (v.transfers_done && !v.listing_started) {
    v.listing_started = true;
    v.dirs.push_back(root);
  }
  while (v.transfers_done && !v.dirs.empty() && *calls > 0) {
    --*calls;
    const std::string dir = v.dirs.front();
    auto listing = api::LsAll(api_, src.collection, dir);
    if (!listing.ok()) {
      const Error& e = listing.error();
      if (IsNotFound(e)) {
        if (dir == root) v.root_missing = true;  // gone: nothing left to lose or to delete
      } else if (const Disposition d = Classify(e);
                 d == Disposition::kRetry || d == Disposition::kBlocked) {
        later(e);
        return std::nullopt;
      } else {
        ++v.unlisted;  // e.g. permission denied: its content is unknown, so it is kept
        log::Warn(kLog, "mv ", Where(src), ": cannot list ", dir, ": ", OneLine(e.Describe()));
      }
      v.dirs.pop_front();
      continue;
    }
    v.dirs.pop_front();
    for (const api::FileEntry& e : listing->entries) {
      const std::string path = JoinPath(dir, e.name);
      if (e.type == api::EntryType::kDir)
        v.dirs.push_back(path);
      else
        v.files.push_back(path);  // files, symlinks, ...: each must have been transferred
    }
    v.entries += listing->entries.size();
    if (v.entries > opts_.verify_max_entries && !v.dirs.empty()) {
      log::Warn(kLog, "mv ", Where(src), ": more than ", opts_.verify_max_entries, " entries; ",
                v.dirs.size(), " directories left unlisted");
      v.unlisted += v.dirs.size();
      v.dirs.clear();
    }
  }
  v.waiting_reason.clear();
  v.attempts = 0;
  v.next_attempt = now;  // more to do: continue in the next pass
  return std::nullopt;
}

}  // namespace gf::fs
