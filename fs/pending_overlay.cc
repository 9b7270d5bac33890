// PendingOverlay: see pending_overlay.h.
#include "fs/pending_overlay.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

namespace gf::fs {

namespace {
std::string StateName(const OpStatus& op, const TaskStatus* task) {
  if (op.verifying) return "verifying-copy";
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
}  // namespace

PendingOverlay::PendingOverlay(TransferEngine* engine, Clock& clock)
    : engine_(engine), clock_(clock) {}

std::string PendingOverlay::ParentOf(const std::string& path) {
  auto s = path.rfind('/');
  return s == 0 || s == std::string::npos ? "/" : path.substr(0, s);
}

// ---------------------------------------------------------------------------------------------
// fed by the fs core

void PendingOverlay::AddPlaceholder(const Location& dst, const Meta& meta, uint64_t fh) {
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = pending_[K(dst)];
  if (e.op != 0) ops_.erase(e.op);  // a newer cp of the same destination takes the view over
  e = Entry{meta, 0, fh, "created", ""};
}

bool PendingOverlay::DropPlaceholder(const Location& dst, uint64_t fh) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(K(dst));
  if (it == pending_.end() || it->second.op != 0 || (fh != 0 && it->second.fh != fh)) return false;
  pending_.erase(it);
  return true;
}

void PendingOverlay::AddCopy(OpId op, const Location& src, const Location& dst, const Meta& meta) {
  (void)src;
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = pending_[K(dst)];
  e = Entry{meta, op, 0, "queued", ""};
  ops_[op] = {K(dst), std::nullopt};
}

void PendingOverlay::AddMove(OpId op, const Location& src, const Location& dst, const Meta& meta) {
  std::lock_guard<std::mutex> l(mu_);
  pending_[K(dst)] = Entry{meta, op, 0, "queued", ""};
  hidden_[K(src)] = op;
  ops_[op] = {K(dst), K(src)};
}

std::optional<OpId> PendingOverlay::PendingOp(const Location& dst) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(K(dst));
  if (it == pending_.end()) return std::nullopt;
  return it->second.op;
}

bool PendingOverlay::SetMtime(const Location& dst, int64_t mtime) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(K(dst));
  if (it == pending_.end()) return false;
  it->second.meta.mtime = mtime;
  return true;
}

void PendingOverlay::Rebuild() {
  if (!engine_) return;
  EngineSnapshot s = engine_->Snapshot();
  for (const OpStatus& op : s.ops) {
    if (op.state == OpState::kSucceeded || op.state == OpState::kFailed) continue;
    if (op.kind == OpKind::kRemove) continue;
    Meta m;
    m.type = op.recursive ? api::EntryType::kDir : api::EntryType::kFile;
    m.size = op.recursive ? 4096 : op.size;
    m.mtime = op.queued_at;
    m.permissions = op.recursive ? 0755 : 0644;
    if (op.kind == OpKind::kMove && op.step == StepKind::kDelete) {
      // The copy is verified: the destination is real; only the source stays hidden.
      std::lock_guard<std::mutex> l(mu_);
      hidden_[K(op.src)] = op.id;
      ops_[op.id] = {K(op.dst), K(op.src)};
      continue;
    }
    if (op.kind == OpKind::kMove)
      AddMove(op.id, op.src, op.dst, m);
    else
      AddCopy(op.id, op.src, op.dst, m);
  }
}

std::optional<OpFailure> PendingOverlay::FailureOf(OpId op) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const Failure& f : failures_)
    if (f.op == op) return f.failure;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Overlay

std::optional<Meta> PendingOverlay::Pending(const std::string& collection_id,
                                            const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find({collection_id, path});
  if (it == pending_.end()) return std::nullopt;
  return it->second.meta;
}

bool PendingOverlay::Hidden(const std::string& collection_id, const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (hidden_.empty()) return false;
  // The hidden source itself, or anything below it: walk up the path (depth, not size).
  for (std::string p = path;; p = ParentOf(p)) {
    if (hidden_.count({collection_id, p})) return true;
    if (p == "/") return false;
  }
}

bool PendingOverlay::AnyHidden(const std::string& collection_id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = hidden_.lower_bound({collection_id, std::string()});
  return it != hidden_.end() && it->first.first == collection_id;
}

std::vector<std::pair<std::string, Meta>> PendingOverlay::PendingChildren(
    const std::string& collection_id, const std::string& dir_path) {
  std::vector<std::pair<std::string, Meta>> out;
  std::lock_guard<std::mutex> l(mu_);
  const std::string prefix = dir_path == "/" ? "/" : dir_path + "/";
  for (auto it = pending_.lower_bound({collection_id, prefix});
       it != pending_.end() && it->first.first == collection_id &&
       it->first.second.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    std::string rest = it->first.second.substr(prefix.size());
    if (rest.empty() || rest.find('/') != std::string::npos) continue;
    out.emplace_back(rest, it->second.meta);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> PendingOverlay::Xattrs(
    const std::string& collection_id, const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!pending_.count({collection_id, path})) return {};
  }
  RefreshIfStale();
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find({collection_id, path});
  if (it == pending_.end()) return {};
  std::vector<std::pair<std::string, std::string>> out = {{"user.globus.status", it->second.state}};
  if (!it->second.task_id.empty()) out.emplace_back("user.globus.task_id", it->second.task_id);
  return out;
}

void PendingOverlay::RefreshIfStale() {
  if (!engine_) return;
  const MonoTime now = clock_.Now();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (refreshed_ && now - *refreshed_ < kRefresh) return;
    refreshed_ = now;
  }
  EngineSnapshot s = engine_->Snapshot();  // without our lock
  std::map<BatchId, const TaskStatus*> tasks;
  for (const TaskStatus& t : s.tasks) tasks[t.batch] = &t;
  std::lock_guard<std::mutex> l(mu_);
  for (const OpStatus& op : s.ops) {
    auto o = ops_.find(op.id);
    if (o == ops_.end()) continue;
    auto e = pending_.find(o->second.first);
    if (e == pending_.end() || e->second.op != op.id) continue;
    auto t = tasks.find(op.batch);
    const TaskStatus* task = op.batch && t != tasks.end() ? t->second : nullptr;
    e->second.state = StateName(op, task);
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
    std::lock_guard<std::mutex> l(mu_);
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
  if (settled_) settled_(ev);
}

void PendingOverlay::OnOpFinished(const OpResult& r) {
  if (r.kind == OpKind::kRemove) return;
  SettledEvent ev;
  ev.op = r.id;
  ev.kind = r.kind;
  ev.dst = r.dst;
  ev.ok = r.status.ok();
  ev.source = r.src;
  ev.warning = r.warning;
  if (!ev.ok) ev.error = r.status.error().Describe();
  if (r.kind == OpKind::kMove) ev.src = r.src;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto o = ops_.find(r.id); o != ops_.end()) {
      auto e = pending_.find(o->second.first);
      if (e != pending_.end() && e->second.op == r.id) pending_.erase(e);
      if (o->second.second) {
        auto h = hidden_.find(*o->second.second);
        if (h != hidden_.end() && h->second == r.id) hidden_.erase(h);
      }
      ops_.erase(o);
    }
    if (!r.status.ok()) {
      const Error& err = r.status.error();
      failures_.push_back(Failure{r.id, r.kind, r.src, r.dst, OpFailure{err.code, err.message},
                                  r.task_id,
                                  std::chrono::system_clock::to_time_t(clock_.WallNow())});
      while (failures_.size() > kMaxFailures) failures_.pop_front();
    }
    if (!r.warning.empty()) {
      warnings_.push_back(Failure{r.id, r.kind, r.src, r.dst, OpFailure{"Warning", r.warning},
                                  r.task_id,
                                  std::chrono::system_clock::to_time_t(clock_.WallNow())});
      while (warnings_.size() > kMaxFailures) warnings_.pop_front();
    }
  }
  if (settled_) settled_(ev);
}

// ---------------------------------------------------------------------------------------------
// status

std::string PendingOverlay::StatusJson() {
  namespace rj = rapidjson;
  rj::StringBuffer buf;
  rj::Writer<rj::StringBuffer> w(buf);
  auto name = [&](const std::string& id) {
    std::string n = name_of_ ? name_of_(id) : "";
    return n.empty() ? id : n;
  };
  auto location = [&](const char* key, const Location& loc) {
    w.Key(key);
    w.StartObject();
    w.Key("collection");
    w.String(loc.collection.c_str());
    w.Key("name");
    w.String(name(loc.collection).c_str());
    w.Key("path");
    w.String(loc.path.c_str());
    w.EndObject();
  };
  EngineSnapshot s;
  if (engine_) s = engine_->Snapshot();
  w.StartObject();
  w.Key("implemented");
  w.Bool(engine_ != nullptr);
  std::map<BatchId, std::vector<const OpStatus*>> by_batch;
  std::vector<const OpStatus*> queued, finished;
  for (const OpStatus& op : s.ops) {
    if (op.state == OpState::kSucceeded || op.state == OpState::kFailed)
      finished.push_back(&op);
    else if (op.state == OpState::kQueued)
      queued.push_back(&op);
    else
      by_batch[op.batch].push_back(&op);
  }
  constexpr size_t kShownOps = 20;
  auto op_json = [&](const OpStatus& op) {
    w.StartObject();
    w.Key("id");
    w.Uint64(op.id);
    w.Key("kind");
    w.String(Name(op.kind));
    location("source", op.src);
    if (op.kind != OpKind::kRemove) location("destination", op.dst);
    w.Key("recursive");
    w.Bool(op.recursive);
    w.Key("size");
    w.Uint64(op.size);
    w.Key("state");
    w.String(StateName(op, nullptr).c_str());
    if (!op.warning.empty()) {
      w.Key("warning");
      w.String(op.warning.c_str());
    }
    if (op.failure) {
      w.Key("error");
      w.StartObject();
      w.Key("code");
      w.String(op.failure->code.c_str());
      w.Key("message");
      w.String(op.failure->message.c_str());
      w.EndObject();
    }
    w.EndObject();
  };
  w.Key("tasks");
  w.StartArray();
  for (const TaskStatus& t : s.tasks) {
    w.StartObject();
    w.Key("batch");
    w.Uint64(t.batch);
    w.Key("kind");
    w.String(Name(t.kind));
    w.Key("label");
    w.String(t.label.c_str());
    w.Key("task_id");
    w.String(t.task_id.c_str());
    w.Key("submission_id");
    w.String(t.submission_id.c_str());
    w.Key("source_collection");
    w.String(t.src_collection.c_str());
    w.Key("source_name");
    w.String(name(t.src_collection).c_str());
    w.Key("destination_collection");
    w.String(t.dst_collection.c_str());
    w.Key("destination_name");
    w.String(t.dst_collection.empty() ? "" : name(t.dst_collection).c_str());
    w.Key("items");
    w.Uint64(t.items);
    w.Key("status");
    w.String(t.status.c_str());
    w.Key("nice_status");
    w.String(t.nice_status.c_str());
    w.Key("files");
    w.Int64(t.files);
    w.Key("files_transferred");
    w.Int64(t.files_transferred);
    w.Key("bytes_transferred");
    w.Int64(t.bytes_transferred);
    w.Key("total_bytes");
    w.Int64(t.total_bytes);
    w.Key("bytes_per_second");
    w.Int64(t.bytes_per_second);
    w.Key("faults");
    w.Int64(t.faults);
    w.Key("waiting_reason");
    w.String(t.waiting_reason.c_str());
    w.Key("last_error");
    if (t.last_error) {
      w.StartObject();
      w.Key("code");
      w.String(t.last_error->code.c_str());
      w.Key("description");
      w.String(t.last_error->description.c_str());
      w.Key("details");
      w.String(t.last_error->details.c_str());
      w.Key("time");
      w.Int64(static_cast<int64_t>(t.last_error->time));
      w.EndObject();
    } else {
      w.Null();
    }
    w.Key("ops");
    w.StartArray();
    const auto& ops = by_batch[t.batch];
    for (size_t i = 0; i < ops.size() && i < kShownOps; ++i) op_json(*ops[i]);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("queued_count");
  w.Uint64(queued.size());
  w.Key("queued");
  w.StartArray();
  for (size_t i = 0; i < queued.size() && i < kShownOps; ++i) op_json(*queued[i]);
  w.EndArray();
  w.Key("finished");
  w.StartArray();
  for (size_t i = finished.size() > kShownOps ? finished.size() - kShownOps : 0;
       i < finished.size(); ++i)
    op_json(*finished[i]);
  w.EndArray();
  // Copy under the lock; write (which resolves names through the fs core) without it.
  std::deque<Failure> failures;
  std::deque<Failure> warnings;
  size_t pending_entries = 0, hidden_entries = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    failures = failures_;
    warnings = warnings_;
    pending_entries = pending_.size();
    hidden_entries = hidden_.size();
  }
  auto entries = [&](const char* key, const std::deque<Failure>& list) {
    w.Key(key);
    w.StartArray();
    for (const Failure& f : list) {
      w.StartObject();
      w.Key("op");
      w.Uint64(f.op);
      w.Key("kind");
      w.String(Name(f.kind));
      location("source", f.src);
      location("destination", f.dst);
      w.Key("code");
      w.String(f.failure.code.c_str());
      w.Key("message");
      w.String(f.failure.message.c_str());
      w.Key("task_id");
      w.String(f.task_id.c_str());
      w.Key("time");
      w.Int64(static_cast<int64_t>(f.when));
      w.EndObject();
    }
    w.EndArray();
  };
  entries("failures", failures);
  entries("warnings", warnings);
  w.Key("pending_entries");
  w.Uint64(pending_entries);
  w.Key("hidden_entries");
  w.Uint64(hidden_entries);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace gf::fs
