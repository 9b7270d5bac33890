// TransferEngine: forming batches (one per future Globus task) and submitting them.
#include <algorithm>

#include "common/log.h"
#include "fs/paths.h"
#include "fs/transfers/engine.h"
#include "fs/transfers/engine_internal.h"

namespace gf::fs {

void TransferEngine::FormBatches(MonoTime now) {
  for (;;) {
    GroupKey key;
    {
      MutexLock l(mu_);
      if (now < form_retry_at_) return;
      auto ready = std::find_if(groups_.begin(), groups_.end(), [&](const auto& kv) {
        mu_.AssertHeld();  // called by find_if, under `l`
        const Group& g = kv.second;
        const int limit = kv.first.kind == StepKind::kTransfer ? opts_.max_transfer_tasks
                                                               : opts_.max_delete_tasks;
        return ActiveBatchesLocked(kv.first.kind) < limit && GroupDueLocked(g, now);
      });
      if (ready == groups_.end()) return;
      key = ready->first;
    }
    auto sub = api_.GetSubmissionId();  // no lock across the remote call
    MutexLock l(mu_);
    if (!sub.ok()) {
      form_retry_at_ = now + BackoffLocked(++form_attempts_);
      log::Warn(kLog, "submission_id: ", sub.error().Describe(), " (will retry)");
      return;
    }
    form_attempts_ = 0;
    auto it = groups_.find(key);
    if (it == groups_.end()) continue;  // all of it cancelled meanwhile
    Group& g = it->second;
    const size_t n = std::min<size_t>(g.ops.size(), opts_.batch_max_items);
    BatchRecord rec;
    rec.id = journal_->NextBatchId();
    rec.kind = key.kind;
    rec.submission_id = *sub;
    rec.src_collection = key.src;
    rec.dst_collection = key.dst;
    rec.ops.assign(g.ops.begin(), g.ops.begin() + static_cast<std::ptrdiff_t>(n));
    rec.options = key.options;
    // Label: the verb says what the user did.
    bool all_moves = true, all_copies = true;
    for (OpId id : rec.ops) {
      OpKind k = journal_->state().ops.at(id).kind;
      all_moves &= k == OpKind::kMove;
      all_copies &= k == OpKind::kCopy;
    }
    const std::string verb = key.kind == StepKind::kTransfer
                                 ? (all_moves    ? "mv"
                                    : all_copies ? "cp"
                                                 : "cp+mv")
                                 : (all_moves ? "mv-delete-source" : "rm");
    rec.label = TaskLabel(verb, journal_->state().ops.at(rec.ops.front()).src.path, n);
    if (!AppendLocked(rec).ok()) {
      form_retry_at_ = now + BackoffLocked(++form_attempts_);
      return;
    }
    g.ops.erase(g.ops.begin(), g.ops.begin() + static_cast<std::ptrdiff_t>(n));
    g.urgent = false;
    if (g.ops.empty()) groups_.erase(it);
    runtime_[rec.id].next_attempt = now;
    log::Info(kLog, "batch ", rec.id, ": ", n, " item(s), submission_id ", rec.submission_id);
  }
}

void TransferEngine::SubmitBatches(MonoTime now) {
  struct Job {
    BatchId id;
    StepKind kind;
    api::TransferRequest transfer;
    api::DeleteRequest del;
  };
  std::vector<Job> jobs;
  {
    MutexLock l(mu_);
    const JournalState& s = journal_->state();
    for (const auto& [id, b] : s.batches) {
      if (!b.task_id.empty() || runtime_[id].next_attempt > now) continue;
      const BatchRecord& r = b.record;
      Job job{id, r.kind, {}, {}};
      if (r.kind == StepKind::kTransfer) {
        api::TransferRequest& t = job.transfer;
        t.submission_id = r.submission_id;
        t.source_endpoint = r.src_collection;
        t.destination_endpoint = r.dst_collection;
        t.label = r.label;
        t.verify_checksum = r.options.verify_checksum;
        t.preserve_timestamp = r.options.preserve_timestamp;
        t.encrypt_data = r.options.encrypt_data;
        t.sync_level = r.options.sync_level;
        for (OpId op : r.ops) {
          const JournalOp& o = s.ops.at(op);
          t.items.push_back({o.src.path, o.dst.path, o.recursive});
        }
      } else {
        api::DeleteRequest& d = job.del;
        d.submission_id = r.submission_id;
        d.endpoint = r.src_collection;
        d.label = r.label;
        d.recursive = r.options.recursive;
        d.ignore_missing = r.options.ignore_missing;
        for (OpId op : r.ops) {
          const JournalOp& o = s.ops.at(op);
          if (o.plan && !o.plan->whole)  // a directory mv: exactly the copied files
            d.paths.insert(d.paths.end(), o.plan->paths.begin(), o.plan->paths.end());
          else
            d.paths.push_back(o.src.path);
        }
      }
      jobs.push_back(std::move(job));
    }
  }
  for (Job& job : jobs) {
    auto res = job.kind == StepKind::kTransfer ? api_.SubmitTransfer(job.transfer)
                                               : api_.SubmitDelete(job.del);
    MutexLock l(mu_);
    if (!journal_->state().batches.count(job.id)) continue;
    BatchRuntime& rt = runtime_[job.id];
    if (res.ok() && !res->task_id.empty()) {
      if (!AppendLocked(TaskRecord{job.id, res->task_id}).ok()) {
        // Not durable: submit again later, the service answers Duplicate with this task.
        rt.next_attempt = now + BackoffLocked(++rt.attempts);
        continue;
      }
      log::Info(kLog, "batch ", job.id, ": task ", res->task_id, " (", res->code, ")");
      rt.waiting_reason.clear();
      rt.attempts = 0;
      poll_interval_ = opts_.poll_min;
      // First look one poll_min after submission (an earlier due poll may wait that long).
      next_poll_ =
          next_poll_ <= now ? now + opts_.poll_min : std::min(next_poll_, now + opts_.poll_min);
      continue;
    }
    Error e = res.ok() ? Error::Transport(TransportFailure::kMalformedBody,
                                          "submit answer without task_id")
                       : std::move(res).error();
    const std::string what = OneLine(e.Describe());
    const Disposition disposition = Classify(e);
    switch (disposition) {
      case Disposition::kFail:
        log::Warn(kLog, "batch ", job.id, ": submission refused: ", what);
        EndBatchLocked(job.id, false, {e.code.empty() ? "SubmitFailed" : e.code, Truncated(what)});
        continue;
      case Disposition::kConflict:
        if (!rt.conflict_since) rt.conflict_since = now;
        if (now - *rt.conflict_since >= opts_.conflict_give_up) {
          EndBatchLocked(job.id, false, {"Conflict", Truncated(what)});
          continue;
        }
        rt.next_attempt = now + BackoffLocked(++rt.attempts);
        break;
      case Disposition::kBlocked:
        rt.next_attempt = now + opts_.retry_max;
        break;
      case Disposition::kRetry:
        rt.maybe_accepted = true;
        rt.next_attempt = now + BackoffLocked(++rt.attempts);
        break;
    }
    if (rt.cancel_requested && !rt.maybe_accepted) {
      // Cancelled, and the service never took it: nothing remote to cancel.
      EndBatchLocked(job.id, false, {"CANCELED", "cancelled by the user before submission"});
      continue;
    }
    if (rt.waiting_reason != what)  // log changes, not every retry
      log::Warn(kLog, "batch ", job.id, ": submission will be retried: ", what);
    rt.waiting_reason = Truncated(what);
  }
}

}  // namespace gf::fs
