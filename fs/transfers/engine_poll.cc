// TransferEngine: polling tasks, ending batches, delivering outcomes to listeners.
#include <algorithm>

#include "common/log.h"
#include "fs/paths.h"
#include "fs/transfers/engine.h"
#include "fs/transfers/engine_internal.h"

namespace gf::fs {

void TransferEngine::PollTasks(MonoTime now) {
  std::map<std::string, BatchId> tracked;  // task_id -> batch
  {
    MutexLock l(mu_);
    if (now < next_poll_) return;
    for (const auto& [id, b] : journal_->state().batches)
      if (!b.task_id.empty()) tracked[b.task_id] = id;
    if (tracked.empty()) return;
  }

  // 1. One task_list call per 1000 tasks.
  std::map<std::string, api::Task> seen;
  std::vector<std::string> ids;
  for (const auto& [task, b] : tracked) ids.push_back(task);
  for (size_t i = 0; i < ids.size(); i += kTaskListChunk) {
    api::TaskListQuery q;
    q.task_ids.assign(
        ids.begin() + static_cast<std::ptrdiff_t>(i),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kTaskListChunk)));
    q.limit = static_cast<int>(q.task_ids.size());
    auto r = api_.TaskList(q);
    if (!r.ok()) {
      log::Warn(kLog, "task_list: ", r.error().Describe(), " (will retry)");
      MutexLock l(mu_);
      poll_interval_ = std::min(poll_interval_ * 2, opts_.poll_max);
      next_poll_ = now + poll_interval_;
      return;
    }
    for (api::Task& t : *r) seen[t.task_id] = std::move(t);
  }

  // 2. Tasks the list did not return (should not happen): ask for them one by one, after a
  //    poll's grace; a 404 ends the batch.
  std::map<std::string, Error> vanished;
  std::vector<std::string> lookups;
  {
    MutexLock l(mu_);
    for (const auto& [task, b] : tracked) {
      if (seen.count(task)) continue;
      if (++runtime_[b].missing_polls > kMissingPollsBeforeLookup) lookups.push_back(task);
    }
  }
  for (const std::string& task : lookups) {
    auto r = api_.GetTask(task);
    if (r.ok()) {
      seen[task] = std::move(*r);
    } else if (r.error().http_status == 404) {
      vanished.emplace(task, r.error());
    }
  }

  // 3. Events, only for tasks whose fault count grew.
  std::vector<std::string> event_tasks;
  {
    MutexLock l(mu_);
    for (const auto& [task, t] : seen) {
      const BatchRuntime& rt = runtime_[tracked[task]];
      const bool running =
          t.status == api::TaskStatus::kActive || t.status == api::TaskStatus::kInactive;
      if (t.faults > rt.faults_seen && (running || t.status == api::TaskStatus::kFailed))
        event_tasks.push_back(task);
    }
  }
  std::map<std::string, api::Event> newest_error;
  for (const std::string& task : event_tasks) {
    auto r = api_.EventList(task, 10, 0);
    if (!r.ok()) {
      log::Warn(kLog, "event_list ", task, ": ", r.error().Describe());
      continue;
    }
    for (const api::Event& e : *r) {  // newest first
      if (e.is_error) {
        newest_error[task] = e;
        break;
      }
    }
  }

  // 4. Cancellations owed: the user asked, or a fatal event makes the task hopeless.
  std::vector<std::string> cancels;
  {
    MutexLock l(mu_);
    for (const auto& [task, t] : seen) {
      BatchRuntime& rt = runtime_[tracked[task]];
      if (auto ev = newest_error.find(task); ev != newest_error.end()) {
        rt.last_error = ev->second;
        rt.last_error->details = Truncated(rt.last_error->details);
        const auto& fatal = opts_.fatal_event_codes;
        if (!rt.fatal && std::find(fatal.begin(), fatal.end(), ev->second.code) != fatal.end()) {
          std::string msg = ev->second.description;
          if (!ev->second.details.empty()) msg += ": " + ev->second.details;
          rt.fatal = OpFailure{ev->second.code, Truncated(msg)};
        }
      }
      rt.faults_seen = std::max(rt.faults_seen, t.faults);
      const bool running =
          t.status == api::TaskStatus::kActive || t.status == api::TaskStatus::kInactive;
      if (running && (rt.cancel_requested || rt.fatal) && !rt.cancel_sent) cancels.push_back(task);
    }
  }
  std::set<std::string> cancelled;
  for (const std::string& task : cancels) {
    Status s = api_.CancelTask(task);
    if (s.ok()) {
      cancelled.insert(task);
      log::Info(kLog, "cancelled task ", task);
    } else {
      log::Warn(kLog, "cancel ", task, ": ", s.error().Describe(), " (will retry)");
    }
  }

  // 5. Apply.
  MutexLock l(mu_);
  bool changed = !cancelled.empty();
  for (const auto& [task, b] : tracked) {
    if (!journal_->state().batches.count(b)) continue;  // ended meanwhile (Cancel, ...)
    BatchRuntime& rt = runtime_[b];
    if (cancelled.count(task)) rt.cancel_sent = true;
    if (auto v = vanished.find(task); v != vanished.end()) {
      EndBatchLocked(b, false, {"TaskNotFound", Truncated(v->second.Describe())});
      changed = true;
      continue;
    }
    auto it = seen.find(task);
    if (it == seen.end()) continue;
    const api::Task& t = it->second;
    rt.missing_polls = 0;
    if (!rt.task || rt.task->status != t.status || rt.task->faults != t.faults ||
        rt.task->files_transferred != t.files_transferred)
      changed = true;
    rt.task = t;
    if (t.status == api::TaskStatus::kSucceeded) {
      EndBatchLocked(b, true, {});
    } else if (t.status == api::TaskStatus::kFailed) {
      OpFailure f;
      if (rt.fatal) {
        f = *rt.fatal;  // we cancelled it because of this event: report the cause
      } else if (t.fatal_error) {
        f = {t.fatal_error->code, t.fatal_error->description};
        if (rt.last_error && !rt.last_error->details.empty())
          f.message += " (last error " + rt.last_error->code + ": " + rt.last_error->details + ")";
      } else {
        f = {"FAILED", "the task failed"};
      }
      f.message = Truncated(f.message);
      EndBatchLocked(b, false, f);
    }
  }
  const Millis cap = waiters_ > 0 ? std::min(opts_.poll_waiting, opts_.poll_max) : opts_.poll_max;
  poll_interval_ = changed ? opts_.poll_min : std::min(poll_interval_ * 2, cap);
  next_poll_ = now + poll_interval_;
}

void TransferEngine::EndBatchLocked(BatchId b, bool ok, OpFailure f) {
  const JournalBatch& batch = journal_->state().batches.at(b);
  const std::string task_id = batch.task_id;
  const std::vector<OpId> ops = batch.record.ops;
  EndRecord rec{b, ok, ok ? OpFailure{} : std::move(f)};
  if (!AppendLocked(rec).ok()) return;  // stays live; the next poll tries again
  if (ok)
    log::Info(kLog, "batch ", b, " (task ", task_id, ") succeeded");
  else
    log::Warn(kLog, "batch ", b, " (task ", task_id, ") failed: ", rec.failure.code, ": ",
              OneLine(rec.failure.message));
  runtime_.erase(b);
  AfterBatchEndLocked(ops, task_id);
}

void TransferEngine::AfterBatchEndLocked(const std::vector<OpId>& ops, const std::string& task_id) {
  const MonoTime now = clock_.Now();
  for (OpId id : ops) {
    auto it = journal_->state().ops.find(id);
    if (it == journal_->state().ops.end()) continue;
    if (it->second.state == OpState::kQueued) {  // next step (mv: delete the source)
      AddToGroupLocked(it->second, now);
      step_done_.emplace_back(id, task_id);
    } else if (it->second.Terminal()) {
      last_task_[id] = task_id;
    }
  }
  cv_.notify_all();
}

OpStatus TransferEngine::StatusOfLocked(const JournalOp& op) const {
  OpStatus s;
  s.id = op.id;
  s.kind = op.kind;
  s.src = op.src;
  s.dst = op.dst;
  s.recursive = op.recursive;
  s.size = op.size;
  s.queued_at = op.queued_at;
  s.state = op.state;
  s.step = op.CurrentStep();
  s.batch = op.batch;
  s.failure = op.failure;
  s.verifying = op.NeedsPlan();
  s.warning = WarningLocked(op);
  s.staged_id = op.staged_id;
  if (held_.count(op.id)) s.waits_for = UserOfLocked(op.src, op.id);
  return s;
}

std::string TransferEngine::WarningLocked(const JournalOp& op) const {
  if (op.state != OpState::kSucceeded || !op.plan || (op.plan->left == 0 && op.plan->unlisted == 0))
    return "";
  const std::string where = Where(op.src);
  std::string w = "mv of " + where + ":";
  if (op.plan->left > 0)
    w += " " + std::to_string(op.plan->left) +
         " file(s) not copied by the transfer (added to the source during the move) were left in "
         "place at " +
         where + ";";
  if (op.plan->unlisted > 0)
    w += " " + std::to_string(op.plan->unlisted) +
         " director(ies) of the source could not be listed and were left in place;";
  w += " only the " + std::to_string(op.plan->paths.size()) +
       " copied file(s) were deleted from the source";
  return w;
}

void TransferEngine::DeliverFinished() {
  std::vector<OpResult> steps, done;
  {
    MutexLock l(mu_);
    auto make = [&](const JournalOp& op, const std::string& task) {
      OpResult r;
      r.id = op.id;
      r.kind = op.kind;
      r.src = op.src;
      r.dst = op.dst;
      r.recursive = op.recursive;
      r.task_id = task;
      r.staged_id = op.staged_id;
      return r;
    };
    for (const auto& [id, task] : step_done_)
      if (auto it = journal_->state().ops.find(id); it != journal_->state().ops.end())
        steps.push_back(make(it->second, task));
    step_done_.clear();
    for (const auto& [id, op] : journal_->state().ops) {
      if (!op.Terminal() || delivering_.count(id) || finished_.count(id)) continue;
      auto task = last_task_.find(id);
      OpResult r = make(op, task == last_task_.end() ? "" : task->second);
      if (task != last_task_.end()) last_task_.erase(task);
      if (op.failure)
        r.status = ErrorFor(*op.failure, std::string(Name(op.kind)) + " " + Where(op.src));
      r.warning = WarningLocked(op);
      done.push_back(std::move(r));
      delivering_.insert(id);
    }
  }
  if (steps.empty() && done.empty()) return;
  for (const OpResult& r : steps)
    for (OpListener* l : listeners_) l->OnStepFinished(r);
  for (const OpResult& r : done)
    for (OpListener* l : listeners_) l->OnOpFinished(r);

  MutexLock l(mu_);
  RetireRecord retire;
  for (const OpResult& r : done) {
    delivering_.erase(r.id);
    auto it = journal_->state().ops.find(r.id);
    if (it == journal_->state().ops.end()) continue;
    finished_[r.id] = Finished{StatusOfLocked(it->second), r.task_id};
    finished_order_.push_back(r.id);
    retire.ops.push_back(r.id);
  }
  while (finished_order_.size() > opts_.finished_history) {
    finished_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
  // If this fails the ops are reported again after a restart (at-least-once); harmless.
  if (!retire.ops.empty()) (void)AppendLocked(retire);
  cv_.notify_all();
}

}  // namespace gf::fs
