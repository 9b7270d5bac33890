// PendingOverlay: see pending_overlay.h.
#include "fs/transfers/pending_overlay.h"

#include <algorithm>

#include "fs/paths.h"

namespace gf::fs {

std::string OpStateName(const OpStatus& op, const TaskStatus* task) {
  if (op.verifying) return "verifying-copy";
  if (op.kind == OpKind::kUpload && op.state == OpState::kQueued)
    return op.uploading ? "uploading" : op.waiting_reason.empty() ? "queued" : "retrying";
  const bool ended = op.state == OpState::kSucceeded || op.state == OpState::kFailed;
  if (!ended && op.kind == OpKind::kMove && op.step == StepKind::kDelete) return "deleting-source";
  switch (op.state) {
    case OpState::kQueued:
      return "queued";
    case OpState::kBatched:
      return "submitting";
    case OpState::kSubmitted:
      return task && task->status == "INACTIVE" ? "inactive" : "active";
    case OpState::kSucceeded:
      return "succeeded";
    case OpState::kFailed:
      return "failed";
  }
  return "queued";
}

PendingOverlay::PendingOverlay(TransferEngine& engine, SettledSink& settled, Clock& clock)
    : engine_(engine), settled_(settled), clock_(clock) {
  engine_.AddListener(this);
  Rebuild();
}

// ---------------------------------------------------------------------------------------------
// fed by CopyOps

void PendingOverlay::AddPlaceholder(const Location& dst, const Meta& meta, uint64_t fh) {
  MutexLock l(mu_);
  Entry& e = pending_[K(dst)];
  if (e.op != 0) ops_.erase(e.op);  // a newer cp of the same destination takes the view over
  e = Entry{meta, 0, fh, "created", ""};
}

bool PendingOverlay::DropPlaceholder(const Location& dst, uint64_t fh) {
  MutexLock l(mu_);
  auto it = pending_.find(K(dst));
  if (it == pending_.end() || it->second.op != 0 || (fh != 0 && it->second.fh != fh)) return false;
  pending_.erase(it);
  return true;
}

void PendingOverlay::AddCopy(OpId op, const Location& dst, const Meta& meta) {
  MutexLock l(mu_);
  Entry& e = pending_[K(dst)];
  e = Entry{meta, op, 0, "queued", ""};
  ops_[op] = {K(dst), std::nullopt};
}

void PendingOverlay::AddUpload(OpId op, const Location& dst, const Meta& meta) {
  MutexLock l(mu_);
  Entry& e = pending_[K(dst)];
  if (e.op != 0) ops_.erase(e.op);  // a newer upload of the name takes the view over
  e = Entry{meta, op, 0, "queued", "", true};
  ops_[op] = {K(dst), std::nullopt};
}

void PendingOverlay::DropUpload(OpId op) {
  MutexLock l(mu_);
  auto o = ops_.find(op);
  if (o == ops_.end()) return;
  if (auto e = pending_.find(o->second.first); e != pending_.end() && e->second.op == op)
    pending_.erase(e);
  ops_.erase(o);
}

bool PendingOverlay::PendingUpload(const Location& dst) const {
  MutexLock l(mu_);
  auto it = pending_.find(K(dst));
  return it != pending_.end() && it->second.upload;
}

void PendingOverlay::AddRemove(OpId op, const Location& path) {
  MutexLock l(mu_);
  hidden_[K(path)] = op;
  removes_.insert(op);
  ops_[op] = {Key{}, K(path)};  // no pending entry: only the hidden name
}

std::optional<OpId> PendingOverlay::PendingRemove(const Location& at) const {
  MutexLock l(mu_);
  if (removes_.empty()) return std::nullopt;
  for (std::string p = at.path;; p = ParentPath(p)) {
    if (auto it = hidden_.find({at.collection, p});
        it != hidden_.end() && removes_.count(it->second))
      return it->second;
    if (p == "/") return std::nullopt;
  }
}

void PendingOverlay::AddMove(OpId op, const Location& src, const Location& dst, const Meta& meta) {
  MutexLock l(mu_);
  pending_[K(dst)] = Entry{meta, op, 0, "queued", ""};
  hidden_[K(src)] = op;
  ops_[op] = {K(dst), K(src)};
}

std::optional<OpId> PendingOverlay::PendingOp(const Location& dst) const {
  MutexLock l(mu_);
  auto it = pending_.find(K(dst));
  if (it == pending_.end()) return std::nullopt;
  return it->second.op;
}

bool PendingOverlay::SetMtime(const Location& dst, int64_t mtime) {
  MutexLock l(mu_);
  auto it = pending_.find(K(dst));
  if (it == pending_.end()) return false;
  it->second.meta.mtime = mtime;
  return true;
}

void PendingOverlay::Rebuild() {
  EngineProgress s = engine_.Progress();
  for (const OpStatus& op : s.ops) {
    if (op.state == OpState::kSucceeded || op.state == OpState::kFailed) continue;
    if (op.kind == OpKind::kRemove) {
      AddRemove(op.id, op.src);
      continue;
    }
    if (op.kind == OpKind::kUpload) {
      Meta m;
      m.type = api::EntryType::kFile;
      m.size = op.size;
      m.mtime = op.queued_at;
      m.permissions = 0644;
      AddUpload(op.id, op.dst, m);
      continue;
    }
    Meta m;
    m.type = op.recursive ? api::EntryType::kDir : api::EntryType::kFile;
    m.size = op.recursive ? 4096 : op.size;
    m.mtime = op.queued_at;
    m.permissions = op.recursive ? 0755 : 0644;
    if (op.kind == OpKind::kMove && op.step == StepKind::kDelete) {
      // The copy is verified: the destination is real; only the source stays hidden.
      MutexLock l(mu_);
      hidden_[K(op.src)] = op.id;
      ops_[op.id] = {K(op.dst), K(op.src)};
      continue;
    }
    if (op.kind == OpKind::kMove)
      AddMove(op.id, op.src, op.dst, m);
    else
      AddCopy(op.id, op.dst, m);
  }
}

std::optional<OpFailure> PendingOverlay::FailureOf(OpId op) const {
  MutexLock l(mu_);
  for (const OpOutcome& f : failures_)
    if (f.op == op) return f.failure;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// read by the superblock

std::optional<Meta> PendingOverlay::Pending(const std::string& collection_id,
                                            const std::string& path) {
  MutexLock l(mu_);
  auto it = pending_.find({collection_id, path});
  if (it == pending_.end()) return std::nullopt;
  return it->second.meta;
}

bool PendingOverlay::Hidden(const std::string& collection_id, const std::string& path) {
  MutexLock l(mu_);
  return HiddenLocked(collection_id, path);
}

bool PendingOverlay::HiddenLocked(const std::string& collection_id, const std::string& path) const {
  if (hidden_.empty()) return false;
  // The hidden source itself, or anything below it: walk up the path (depth, not size).
  for (std::string p = path;; p = ParentPath(p)) {
    if (hidden_.count({collection_id, p})) return true;
    if (p == "/") return false;
  }
}

uint64_t PendingOverlay::Unhidden() const {
  MutexLock l(mu_);
  return unhidden_;
}

bool PendingOverlay::AnyHidden(const std::string& collection_id) {
  MutexLock l(mu_);
  auto it = hidden_.lower_bound({collection_id, std::string()});
  return it != hidden_.end() && it->first.first == collection_id;
}

std::vector<std::pair<std::string, Meta>> PendingOverlay::PendingChildren(
    const std::string& collection_id, const std::string& dir_path) {
  std::vector<std::pair<std::string, Meta>> out;
  MutexLock l(mu_);
  const std::string prefix = dir_path == "/" ? "/" : dir_path + "/";
  for (auto it = pending_.lower_bound({collection_id, prefix});
       it != pending_.end() && it->first.first == collection_id &&
       it->first.second.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    std::string rest = it->first.second.substr(prefix.size());
    if (rest.empty() || rest.find('/') != std::string::npos) continue;
    if (HiddenLocked(collection_id, it->first.second)) continue;  // removed while pending
    out.emplace_back(rest, it->second.meta);
  }
  return out;
}

std::optional<PendingOverlay::Key> PendingOverlay::ShownAtLocked(const Key& at) const {
  if (pending_.count(at)) return at;
  // The source of a pending move, reached through its inode: the kernel moved its dentry to
  // the destination name at rename and drops it only when the notifier's invalidation arrives
  // (after rename(2) returned). Until then that name leads here: answer for the destination.
  auto h = hidden_.find(at);
  if (h == hidden_.end() || removes_.count(h->second)) return std::nullopt;
  auto o = ops_.find(h->second);
  if (o == ops_.end() || !o->second.second || *o->second.second != at) return std::nullopt;
  auto e = pending_.find(o->second.first);
  if (e == pending_.end() || e->second.op != h->second) return std::nullopt;
  return o->second.first;
}

std::vector<std::pair<std::string, std::string>> PendingOverlay::Xattrs(
    const std::string& collection_id, const std::string& path) {
  {
    MutexLock l(mu_);
    if (!ShownAtLocked({collection_id, path})) return {};
  }
  RefreshIfStale();
  MutexLock l(mu_);
  const std::optional<Key> at = ShownAtLocked({collection_id, path});
  if (!at) return {};
  auto it = pending_.find(*at);
  std::vector<std::pair<std::string, std::string>> out = {{"user.globus.status", it->second.state}};
  if (!it->second.task_id.empty()) out.emplace_back("user.globus.task_id", it->second.task_id);
  return out;
}

void PendingOverlay::RefreshIfStale() {
  const MonoTime now = clock_.Now();
  {
    MutexLock l(mu_);
    if (refreshed_ && now - *refreshed_ < kRefresh) return;
    refreshed_ = now;
  }
  EngineProgress s = engine_.Progress();  // without our lock
  std::map<BatchId, const TaskStatus*> tasks;
  for (const TaskStatus& t : s.tasks) tasks[t.batch] = &t;
  MutexLock l(mu_);
  for (const OpStatus& op : s.ops) {
    auto o = ops_.find(op.id);
    if (o == ops_.end()) continue;
    auto e = pending_.find(o->second.first);
    if (e == pending_.end() || e->second.op != op.id) continue;
    auto t = tasks.find(op.batch);
    const TaskStatus* task = op.batch && t != tasks.end() ? t->second : nullptr;
    e->second.state = OpStateName(op, task);
    if (task && !task->task_id.empty()) e->second.task_id = task->task_id;
  }
}

// ---------------------------------------------------------------------------------------------
// OpListener

void PendingOverlay::OnStepFinished(const OpResult& r) {
  // mv: the copy is verified at the destination. The destination is now real (drop its pending
  // entry); the source stays hidden until the delete step ends.
  SettledEvent ev;
  {
    MutexLock l(mu_);
    auto o = ops_.find(r.id);
    if (o == ops_.end()) return;
    auto e = pending_.find(o->second.first);
    if (e != pending_.end() && e->second.op == r.id) pending_.erase(e);
  }
  ev.op = r.id;
  ev.kind = r.kind;
  ev.dst = r.dst;
  ev.ok = true;
  ev.step = true;
  settled_.OnSettled(ev);
}

void PendingOverlay::OnOpFinished(const OpResult& r) {
  if (r.kind == OpKind::kUpload && !r.status.ok() && r.status.error().code == "SUPERSEDED") {
    // A newer upload of the name replaced it: that one owns the entry; nothing settled.
    MutexLock l(mu_);
    ops_.erase(r.id);
    return;
  }
  SettledEvent ev;
  ev.op = r.id;
  ev.kind = r.kind;
  ev.dst = r.kind == OpKind::kRemove ? r.src : r.dst;
  ev.ok = r.status.ok();
  ev.source = r.src;
  ev.warning = r.warning;
  if (!ev.ok) ev.error = r.status.error().Describe();
  if (r.kind == OpKind::kMove || r.kind == OpKind::kRemove) ev.src = r.src;
  {
    MutexLock l(mu_);
    removes_.erase(r.id);
    if (auto o = ops_.find(r.id); o != ops_.end()) {
      auto e = pending_.find(o->second.first);
      if (e != pending_.end() && e->second.op == r.id) pending_.erase(e);
      if (o->second.second) {
        auto h = hidden_.find(*o->second.second);
        if (h != hidden_.end() && h->second == r.id) {
          hidden_.erase(h);
          ++unhidden_;
        }
      }
      ops_.erase(o);
    }
    if (!r.status.ok()) {
      const Error& err = r.status.error();
      failures_.push_back(OpOutcome{r.id, r.kind, r.src, r.dst, OpFailure{err.code, err.message},
                                    r.task_id,
                                    std::chrono::system_clock::to_time_t(clock_.WallNow())});
      while (failures_.size() > kMaxFailures) failures_.pop_front();
    }
    if (!r.warning.empty()) {
      warnings_.push_back(OpOutcome{r.id, r.kind, r.src, r.dst, OpFailure{"Warning", r.warning},
                                    r.task_id,
                                    std::chrono::system_clock::to_time_t(clock_.WallNow())});
      while (warnings_.size() > kMaxFailures) warnings_.pop_front();
    }
  }
  settled_.OnSettled(ev);
}

TransfersStats PendingOverlay::Stats() const {
  TransfersStats s;
  s.progress = engine_.Progress();
  MutexLock l(mu_);
  s.failures = failures_;
  s.warnings = warnings_;
  s.pending_entries = pending_.size();
  s.hidden_entries = hidden_.size();
  return s;
}

}  // namespace gf::fs
