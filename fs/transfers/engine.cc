// TransferEngine: see engine.h for the pipeline, journal.h for the op state machine. This file:
// construction, the public operations and the scheduler loop. The steps of a RunOnce pass
// live in engine_plan.cc (directory mv delete plans), engine_submit.cc (batches and their
// submission) and engine_poll.cc (task polling and delivering outcomes).
#include "fs/transfers/engine.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "common/blocking.h"
#include "common/log.h"
#include "fs/paths.h"
#include "fs/transfers/engine_internal.h"

namespace gf::fs {

namespace engine_internal {

Disposition Classify(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kTransport:
      return Disposition::kRetry;
    case ErrorKind::kAuth:
      return Disposition::kBlocked;
    case ErrorKind::kApi:
      break;
    default:
      return Disposition::kFail;
  }
  if (e.NeedsAuthorization() || e.http_status == 401) return Disposition::kBlocked;
  if (e.http_status == 409 || e.CodeIs("Conflict") || e.CodeIs("ClientError.Conflict"))
    return Disposition::kConflict;
  if (e.http_status == 429 || e.CodeIs("ServiceUnavailable")) return Disposition::kRetry;
  if (e.http_status >= 500)
    return e.CodeIs("ExternalError") || e.CodeIs("EndpointError") ? Disposition::kFail
                                                                  : Disposition::kRetry;
  if (e.http_status == 0) return Disposition::kRetry;  // no answer we can judge
  return Disposition::kFail;
}

std::string Truncated(std::string s) {
  if (s.size() > kMaxErrorText) s.resize(kMaxErrorText);
  return s;
}

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', '|');
  return s;
}

bool IsNotFound(const Error& e) {
  return e.http_status == 404 || e.CodeIs("ClientError.NotFound") ||
         e.CodeIs("ExternalError.DirListingFailed.NotFound");
}

bool ValidLocation(const Location& l) {
  return !l.collection.empty() && !l.path.empty() && l.path[0] == '/';
}

}  // namespace engine_internal

namespace {
std::string_view Basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Small public helpers
// ---------------------------------------------------------------------------------------------
OpRequest OpRequest::Copy(Location src, Location dst, uint64_t size, bool recursive) {
  return {OpKind::kCopy, std::move(src), std::move(dst), recursive, size, 0, "", false};
}
OpRequest OpRequest::Move(Location src, Location dst, uint64_t size, bool recursive) {
  return {OpKind::kMove, std::move(src), std::move(dst), recursive, size, 0, "", false};
}
OpRequest OpRequest::Remove(Location path, bool recursive) {
  return {OpKind::kRemove, std::move(path), {}, recursive, 0, 0, "", false};
}
OpRequest OpRequest::Upload(Location dst, std::string staged_id, uint64_t size, bool replaces) {
  return {OpKind::kUpload, {}, std::move(dst), false, size, 0, std::move(staged_id), replaces};
}

std::string TaskLabel(std::string_view verb, std::string_view first_path, size_t count) {
  auto clean = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == ' ' || c == '_' || c == '.' || c == ',' || c == '(' || c == ')' ||
                      c == '+' || c == '-';
      out += ok ? c : '_';
    }
    return out;
  };
  std::string head = "globus-fuse " + clean(verb) + " ";
  std::string tail = count > 1 ? " (+" + std::to_string(count - 1) + " more)" : "";
  std::string name = clean(Basename(first_path));
  const size_t room =
      kMaxLabel > head.size() + tail.size() ? kMaxLabel - head.size() - tail.size() : 0;
  if (name.size() > room)
    name = name.substr(0, room >= 3 ? room - 3 : 0) + (room >= 3 ? "..." : "");
  std::string label = head + name + tail;
  if (label.size() > kMaxLabel) label.resize(kMaxLabel);
  return label;
}

Error ErrorFor(const OpFailure& f, const std::string& context) {
  Error e = Error::Api(0, f.code, f.message);
  e.context = context;
  return e;
}

// Linux: a pid is gone when /proc/<pid>/stat is, or is a zombie (exited, not yet reaped).
static bool ProcessExited(int32_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may contain spaces and parens
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  const char state = stat[paren + 2];
  return state == 'Z' || state == 'X';
}

TransferEngineOptions TransferEngineOptions::FromConfig(const Config& c,
                                                        const std::string& mount_id) {
  TransferEngineOptions o;
  if (!c.state_dir.empty()) o.journal_path = JournalPath(c.state_dir, mount_id);
  o.batch_idle = Millis(std::llround(c.batch_idle_seconds * 1000));
  o.batch_idle_exited = std::min(o.batch_idle, Millis(100));
  o.batch_max_items = c.batch_max_items;
  o.verify_checksum = c.verify_checksum;
  o.preserve_timestamp = c.preserve_timestamp;
  o.encrypt_data = c.encrypt_data;
  o.sync_level = c.sync_level;
  o.max_uploads = std::max(c.upload_parallelism, 1);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Construction, thread
// ---------------------------------------------------------------------------------------------
Result<std::unique_ptr<TransferEngine>> TransferEngine::Open(api::TransferApi& api,
                                                             TransferEngineOptions o,
                                                             Clock& clock) {
  if (o.journal_path.empty()) return Error::Config("transfer engine: no journal path (state_dir)");
  if (o.batch_max_items == 0 || o.max_transfer_tasks < 1 || o.max_delete_tasks < 1 ||
      o.poll_min.count() <= 0 || o.poll_max < o.poll_min || o.retry_min.count() <= 0)
    return Error::Config("transfer engine: invalid batching/polling limits");
  auto j = Journal::Open(o.journal_path, o.journal);
  if (!j.ok()) return std::move(j).error();
  return std::unique_ptr<TransferEngine>(
      new TransferEngine(api, std::move(o), clock, std::move(*j)));
}

TransferEngine::TransferEngine(api::TransferApi& api, TransferEngineOptions o, Clock& clock,
                               std::unique_ptr<Journal> j)
    : api_(api), opts_(std::move(o)), clock_(clock), journal_(std::move(j)) {
  const MonoTime now = clock_.Now();
  MutexLock l(mu_);
  poll_interval_ = opts_.poll_min;
  next_poll_ = now;
  // Upload temp names still noted (a crash between an upload's PUT and its rename, or a temp
  // whose removal failed): each becomes a remove op of that path, queued with the others below.
  // The op comes first: a crash between the two records makes a second, harmless remove
  // (ignore_missing).
  const std::map<OpId, Location> temps = journal_->state().temps;
  for (const auto& [temp_id, temp] : temps) {
    OpRecord rec;
    rec.id = journal_->NextOpId();
    rec.kind = OpKind::kRemove;
    rec.src = temp;
    rec.queued_at = std::chrono::system_clock::to_time_t(clock_.WallNow());
    Status s = AppendLocked(rec);
    if (s.ok()) s = AppendLocked(TempGoneRecord{temp_id});
    if (s.ok())
      log::Info(kLog, "removing the temporary name an interrupted upload left: ", Where(temp));
  }
  for (const auto& [put_id, put] : journal_->state().puts) stale_puts_.insert(put_id);
  size_t queued = 0;
  for (const auto& [id, op] : journal_->state().ops) {
    if (op.state == OpState::kQueued) {
      AddToGroupLocked(op, now);
      ++queued;
    }
  }
  for (const auto& [id, b] : journal_->state().batches) {
    runtime_[id].next_attempt = now;
    runtime_[id].maybe_accepted = b.task_id.empty();  // we may have crashed mid-submission
  }
  if (!journal_->state().ops.empty())
    log::Info(kLog, "journal ", journal_->path(), ": resuming ", journal_->state().ops.size(),
              " operations (", queued, " queued, ", journal_->state().batches.size(), " batches)");
}

TransferEngine::~TransferEngine() { Stop(); }

void TransferEngine::AddListener(OpListener* l) { listeners_.push_back(l); }

void TransferEngine::Start() {
  MutexLock l(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    for (;;) {
      const MonoTime next = RunOnce();
      UniqueLock lock(mu_);
      if (stop_) return;
      if (!work_) {
        // Sleep until the next due time, re-checking at least every second.
        auto wait = std::clamp(std::chrono::duration_cast<Millis>(next - clock_.Now()), Millis(0),
                               Millis(1000));
        cv_.wait_for(lock.native(), wait, [&] {
          mu_.AssertHeld();
          return stop_ || work_;
        });
      }
      work_ = false;
      if (stop_) return;
    }
  });
}

void TransferEngine::Stop() {
  StopUploads();
  {
    MutexLock l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void TransferEngine::WakeLocked() {
  work_ = true;
  cv_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Public operations
// ---------------------------------------------------------------------------------------------
Result<OpId> TransferEngine::Enqueue(const OpRequest& r) {
  if (r.kind == OpKind::kUpload) return EnqueueUpload(r);
  if (!ValidLocation(r.src)) return Error::Local(EINVAL, "transfer: bad source location");
  if (r.kind != OpKind::kRemove) {
    if (!ValidLocation(r.dst)) return Error::Local(EINVAL, "transfer: bad destination location");
    if (r.src == r.dst) return Error::Local(EINVAL, "transfer: source and destination are equal");
  }
  MutexLock l(mu_);
  if (journal_->state().ops.size() >= opts_.max_live_ops)
    return Error::Local(EAGAIN, "transfer: too many pending operations");
  OpRecord rec;
  rec.id = journal_->NextOpId();
  rec.kind = r.kind;
  rec.src = r.src;
  if (r.kind != OpKind::kRemove) rec.dst = r.dst;
  rec.recursive = r.recursive;
  rec.size = r.size;
  rec.queued_at = std::chrono::system_clock::to_time_t(clock_.WallNow());
  GF_TRY_STATUS(AppendLocked(rec));
  AddToGroupLocked(journal_->state().ops.at(rec.id), clock_.Now(), r.origin_pid);
  WakeLocked();
  return rec.id;
}

Status TransferEngine::Wait(OpId id, std::optional<MonoTime> deadline,
                            const std::atomic<bool>* cancel) {
  UniqueLock l(mu_);
  // Someone is blocked on a task: poll at least every poll_waiting from now on.
  ++waiters_;
  struct Leave {
    int& n;
    ~Leave() { --n; }
  } leave{waiters_};  // destroyed before `l`: still under mu_
  if (next_poll_ > clock_.Now() + opts_.poll_waiting) {
    next_poll_ = clock_.Now() + opts_.poll_waiting;
    WakeLocked();
  }
  for (;;) {
    if (auto f = finished_.find(id); f != finished_.end()) {
      const OpStatus& s = f->second.status;
      if (!s.failure) return {};
      return ErrorFor(*s.failure, std::string(Name(s.kind)) + " " + Where(s.src) +
                                      (s.kind == OpKind::kRemove ? "" : " -> " + Where(s.dst)));
    }
    if (!journal_->state().ops.count(id) && !delivering_.count(id))
      return Error::Local(ENOENT, "transfer: no such operation " + std::to_string(id));
    if (cancel && cancel->load()) return Error::Local(EINTR, "transfer: wait interrupted");
    if (stop_)
      return Error::Local(ESHUTDOWN,
                          "transfer: the mount is shutting down (the task goes on at Globus and "
                          "is tracked again at the next mount)");
    if (deadline && clock_.Now() >= *deadline)
      return Error::Local(ETIMEDOUT, "transfer: operation still pending");
    // A short real-time slice only to re-check the cancel flag and the (possibly fake) clock;
    // completion itself wakes us through cv_.
    MayBlock();
    cv_.wait_for(l.native(), Millis(50));
  }
}

Status TransferEngine::Cancel(OpId id) {
  UniqueLock l(mu_);
  if (finished_.count(id)) return {};
  auto it = journal_->state().ops.find(id);
  if (it == journal_->state().ops.end())
    return Error::Local(ENOENT, "transfer: no such operation " + std::to_string(id));
  const JournalOp& op = it->second;
  switch (op.state) {
    case OpState::kSucceeded:
    case OpState::kFailed:
      return {};
    case OpState::kQueued: {
      if (op.kind == OpKind::kUpload) {
        if (auto rt = upload_rt_.find(id); rt != upload_rt_.end() && rt->second.running)
          return Error::Local(EBUSY, "transfer: the upload is running");
        uploads_.erase(id);
      }
      held_.erase(id);
      auto g = groups_.find(KeyFor(op));
      if (g != groups_.end()) {
        std::erase(g->second.ops, id);
        if (g->second.ops.empty()) groups_.erase(g);
      }
      GF_TRY_STATUS(AppendLocked(FailRecord{{id}, {"CANCELED", "cancelled by the user"}}));
      cv_.notify_all();
      l.unlock();
      DeliverFinished();
      return {};
    }
    case OpState::kBatched: {
      BatchRuntime& rt = runtime_[op.batch];
      rt.cancel_requested = true;
      rt.next_attempt = clock_.Now();  // learn the task id (or fail) now, then cancel it
      WakeLocked();
      return {};
    }
    case OpState::kSubmitted:
      break;
  }
  const BatchId b = op.batch;
  runtime_[b].cancel_requested = true;
  const std::string task_id = journal_->state().batches.at(b).task_id;
  l.unlock();
  Status s = api_.CancelTask(task_id);  // no lock across the remote call
  l.lock();
  if (s.ok()) {
    if (auto rt = runtime_.find(b); rt != runtime_.end()) rt->second.cancel_sent = true;
    next_poll_ = clock_.Now();
    poll_interval_ = opts_.poll_min;
    log::Info(kLog, "cancelled task ", task_id, " (op ", id, ")");
  }
  WakeLocked();
  return s;
}

EngineProgress TransferEngine::Progress() const {
  MutexLock l(mu_);
  EngineProgress s;
  for (const auto& [id, op] : journal_->state().ops) {
    if (finished_.count(id)) continue;
    s.ops.push_back(StatusOfLocked(op));
    if (auto rt = upload_rt_.find(id); rt != upload_rt_.end()) {
      s.ops.back().uploading = rt->second.running;
      s.ops.back().bytes_sent = rt->second.sent ? rt->second.sent->load() : 0;
      s.ops.back().waiting_reason = rt->second.waiting_reason;
    }
  }
  for (OpId id : finished_order_) s.ops.push_back(finished_.at(id).status);
  for (const auto& [id, b] : journal_->state().batches) {
    TaskStatus t;
    t.batch = id;
    t.kind = b.record.kind;
    t.label = b.record.label;
    t.submission_id = b.record.submission_id;
    t.task_id = b.task_id;
    t.src_collection = b.record.src_collection;
    t.dst_collection = b.record.dst_collection;
    t.items = b.record.ops.size();
    t.status = b.task_id.empty() ? "SUBMITTING" : "ACTIVE";
    for (OpId op : b.record.ops)
      if (auto o = journal_->state().ops.find(op); o != journal_->state().ops.end())
        t.total_bytes += static_cast<int64_t>(o->second.size);
    if (auto rt = runtime_.find(id); rt != runtime_.end()) {
      const BatchRuntime& r = rt->second;
      t.waiting_reason = r.waiting_reason;
      t.last_error = r.last_error;
      if (r.task) {
        t.status = api::TaskStatusName(r.task->status);
        t.nice_status = r.task->nice_status.value_or("");
        t.files = r.task->files;
        t.files_transferred = r.task->files_transferred;
        t.bytes_transferred = r.task->bytes_transferred;
        t.faults = r.task->faults;
        t.bytes_per_second = r.task->effective_bytes_per_second;
        if (r.task->total_estimated_bytes.value_or(0) > 0)
          t.total_bytes = *r.task->total_estimated_bytes;
      }
    }
    s.tasks.push_back(std::move(t));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The scheduler
// ---------------------------------------------------------------------------------------------
MonoTime TransferEngine::RunOnce() {
  const MonoTime now = clock_.Now();
  if (running_once_.exchange(true)) return now + opts_.poll_min;
  CheckPuts(now);
  StartUploads(now);
  PlanDeletes(now);
  FormBatches(now);
  SubmitBatches(now);
  PollTasks(now);
  DeliverFinished();
  ReleaseHeld(clock_.Now());

  MutexLock l(mu_);
  MonoTime next = now + opts_.poll_max;
  for (const auto& [key, g] : groups_) {
    if (ActiveBatchesLocked(key.kind) >=
        (key.kind == StepKind::kTransfer ? opts_.max_transfer_tasks : opts_.max_delete_tasks))
      continue;  // waits for a task to finish, i.e. for a poll
    next = std::min(next, std::max(GroupDueAtLocked(g, now), form_retry_at_));
  }
  bool submitted = false;
  for (const auto& [id, b] : journal_->state().batches) {
    if (b.task_id.empty()) {
      if (auto rt = runtime_.find(id); rt != runtime_.end())
        next = std::min(next, rt->second.next_attempt);
    } else {
      submitted = true;
    }
  }
  if (submitted) next = std::min(next, next_poll_);
  if (!step_done_.empty()) next = now;
  if (!stale_puts_.empty()) next = std::min(next, std::max(now, puts_retry_at_));
  next = std::min(next, NextUploadLocked(now));
  if (!needs_plan_.empty() && ActiveBatchesLocked(StepKind::kDelete) < opts_.max_delete_tasks) {
    for (OpId id : needs_plan_) {
      auto v = verifying_.find(id);
      next = std::min(next, v == verifying_.end() ? now : v->second.next_attempt);
    }
  }
  running_once_ = false;
  return next;
}

TransferEngine::GroupKey TransferEngine::KeyFor(const JournalOp& op) const {
  GroupKey k;
  k.kind = op.CurrentStep();
  if (k.kind == StepKind::kTransfer) {
    k.src = op.src.collection;
    k.dst = op.dst.collection;
    // Moves always verify: their source is deleted on success.
    k.options.verify_checksum = opts_.verify_checksum || op.kind == OpKind::kMove;
    k.options.preserve_timestamp = opts_.preserve_timestamp;
    k.options.encrypt_data = opts_.encrypt_data;
    // Moves never skip by sync_level: a skipped file is not listed as transferred, and the
    // delete plan of a directory move would keep it (and the source directory).
    k.options.sync_level = op.kind == OpKind::kMove ? std::nullopt : opts_.sync_level;
  } else {
    k.src = op.src.collection;
    // A directory mv's plan decides: the whole tree, or exactly the copied files.
    k.options.recursive = op.plan ? op.plan->whole : op.recursive;
    // mv: the goal is "source gone"; rm: the fs layer checked the path exists. Either way a
    // path that vanished meanwhile must not fail the whole batch.
    k.options.ignore_missing = true;
  }
  return k;
}

void TransferEngine::AddToGroupLocked(const JournalOp& op, MonoTime now, int32_t origin) {
  constexpr size_t kMaxOrigins = 64;  // beyond this, plain idle batching
  if (op.kind == OpKind::kUpload) {   // never batched: StartUploads runs it
    uploads_.insert(op.id);
    return;
  }
  if (op.NeedsPlan()) {  // not batchable before its plan exists (PlanDeletes)
    needs_plan_.insert(op.id);
    return;
  }
  if (op.kind == OpKind::kRemove) {
    if (const OpId user = UserOfLocked(op.src, op.id); user != 0) {  // ORDERING: after it
      if (held_.insert(op.id).second)
        log::Info(kLog, "op ", op.id, " (rm ", Where(op.src), ") waits for op ", user,
                  ", a transfer that uses the path");
      return;
    }
  }
  const GroupKey key = KeyFor(op);
  Group& g = groups_[key];
  if (g.ops.empty()) g.first_at = now;
  g.last_at = now;
  g.ops.push_back(op.id);
  // `rm -r` feeds two delete groups of one collection (files, and recursive directories) in
  // one burst: a directory arrives only after all its files, so its group alone looks idle.
  // A remove keeps every delete group of its collection from going out mid-burst.
  if (op.kind == OpKind::kRemove)
    for (auto& [k, other] : groups_)
      if (k.kind == StepKind::kDelete && k.src == key.src) other.last_at = now;
  if (origin <= 0) {
    g.origin_unknown = true;
  } else if (std::find(g.origins.begin(), g.origins.end(), origin) == g.origins.end()) {
    if (g.origins.size() < kMaxOrigins)
      g.origins.push_back(origin);
    else
      g.origin_unknown = true;
  }
}

bool TransferEngine::GroupDueLocked(const Group& g, MonoTime now) const {
  if (g.urgent || g.ops.size() >= opts_.batch_max_items || now - g.last_at >= opts_.batch_idle ||
      now - g.first_at >= opts_.batch_max_delay)
    return true;
  if (g.origin_unknown || g.origins.empty() || now - g.last_at < opts_.batch_idle_exited)
    return false;
  // A local /proc read per pid (no remote call), only once the group is already a bit idle.
  return std::all_of(g.origins.begin(), g.origins.end(), [this](int32_t pid) {
    return opts_.process_exited ? opts_.process_exited(pid) : ProcessExited(pid);
  });
}

MonoTime TransferEngine::GroupDueAtLocked(const Group& g, MonoTime now) const {
  if (g.urgent) return now;
  MonoTime due = std::min(g.last_at + opts_.batch_idle, g.first_at + opts_.batch_max_delay);
  if (!g.origin_unknown && !g.origins.empty()) {
    // Idle enough but a process still runs: look again shortly.
    constexpr Millis kRecheck{20};
    const MonoTime early = g.last_at + opts_.batch_idle_exited;
    due = std::min(due, early > now ? early : now + kRecheck);
  }
  return due;
}

int TransferEngine::ActiveBatchesLocked(StepKind kind) const {
  int n = 0;
  for (const auto& [id, b] : journal_->state().batches)
    if (b.record.kind == kind) ++n;
  return n;
}

Status TransferEngine::AppendLocked(const JournalRecord& r) {
  Status s = journal_->Append(r);
  if (!s.ok()) log::Error(kLog, "journal append failed: ", s.error().Describe());
  return s;
}

Millis TransferEngine::BackoffLocked(int attempts) const {
  Millis d = opts_.retry_min;
  for (int i = 1; i < attempts && d < opts_.retry_max; ++i) d *= 2;
  return std::min(d, opts_.retry_max);
}

}  // namespace gf::fs
