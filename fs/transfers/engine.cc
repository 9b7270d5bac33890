// TransferEngine: see transfer_engine.h for the pipeline, fs/journal.h for the op state machine.
#include "fs/transfers/engine.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "api/background_calls.h"
#include "common/log.h"

namespace gf::fs {

namespace {
constexpr char kLog[] = "transfer";
constexpr size_t kTaskListChunk = 1000;  // task_list limit
constexpr size_t kMaxErrorText = 2000;   // event details kept per task / op failure
constexpr int kMissingPollsBeforeLookup = 1;

// What to do about a failed submission (or submission_id) call.
enum class Disposition {
  kRetry,     // unknown outcome or transient: same submission_id later
  kConflict,  // 409: identical paths in a still-active task
  kBlocked,   // needs the user to (re)authorize: retry slowly, show why
  kFail,      // the service refused the document: fail the ops
};

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

std::string_view Basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Log lines stay single lines (GridFTP details are multi-line).
std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', '|');
  return s;
}

std::string LocationText(const Location& l) { return l.collection + ":" + l.path; }

bool ValidLocation(const Location& l) {
  return !l.collection.empty() && !l.path.empty() && l.path[0] == '/';
}

// "/a//b/" -> "/a/b": the form paths are compared in (listing vs. successful transfers).
std::string NormalPath(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool IsUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

bool IsNotFound(const Error& e) {
  return e.http_status == 404 || e.CodeIs("ClientError.NotFound") ||
         e.CodeIs("ExternalError.DirListingFailed.NotFound");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Small public helpers
// ---------------------------------------------------------------------------------------------
OpRequest OpRequest::Copy(Location src, Location dst, uint64_t size, bool recursive) {
  return {OpKind::kCopy, std::move(src), std::move(dst), recursive, size};
}
OpRequest OpRequest::Move(Location src, Location dst, uint64_t size, bool recursive) {
  return {OpKind::kMove, std::move(src), std::move(dst), recursive, size};
}
OpRequest OpRequest::Remove(Location path, bool recursive) {
  return {OpKind::kRemove, std::move(path), {}, recursive, 0};
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
  std::lock_guard<std::mutex> l(mu_);
  poll_interval_ = opts_.poll_min;
  next_poll_ = now;
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
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    for (;;) {
      const MonoTime next = RunOnce();
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_) return;
      if (!work_) {
        // Sleep until the next due time, re-checking at least every second.
        auto wait = std::clamp(std::chrono::duration_cast<Millis>(next - clock_.Now()), Millis(0),
                               Millis(1000));
        cv_.wait_for(lock, wait, [&] { return stop_ || work_; });
      }
      work_ = false;
      if (stop_) return;
    }
  });
}

void TransferEngine::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
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
  if (!ValidLocation(r.src)) return Error::Local(EINVAL, "transfer: bad source location");
  if (r.kind != OpKind::kRemove) {
    if (!ValidLocation(r.dst)) return Error::Local(EINVAL, "transfer: bad destination location");
    if (r.src == r.dst) return Error::Local(EINVAL, "transfer: source and destination are equal");
  }
  std::lock_guard<std::mutex> l(mu_);
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
  std::unique_lock<std::mutex> l(mu_);
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
      return ErrorFor(*s.failure,
                      std::string(Name(s.kind)) + " " + LocationText(s.src) +
                          (s.kind == OpKind::kRemove ? "" : " -> " + LocationText(s.dst)));
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
    cv_.wait_for(l, Millis(50));
  }
}

Status TransferEngine::Cancel(OpId id) {
  std::unique_lock<std::mutex> l(mu_);
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
  std::lock_guard<std::mutex> l(mu_);
  EngineProgress s;
  for (const auto& [id, op] : journal_->state().ops)
    if (!finished_.count(id)) s.ops.push_back(StatusOfLocked(op));
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
  PlanDeletes(now);
  FormBatches(now);
  SubmitBatches(now);
  PollTasks(now);
  DeliverFinished();

  std::lock_guard<std::mutex> l(mu_);
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
  if (op.NeedsPlan()) {               // not batchable before its plan exists (PlanDeletes)
    needs_plan_.insert(op.id);
    return;
  }
  Group& g = groups_[KeyFor(op)];
  if (g.ops.empty()) g.first_at = now;
  g.last_at = now;
  g.ops.push_back(op.id);
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
    std::lock_guard<std::mutex> l(mu_);
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
    std::lock_guard<std::mutex> l(mu_);
    auto op = journal_->state().ops.find(job.id);
    if (op == journal_->state().ops.end() || !op->second.NeedsPlan()) {
      verifying_.erase(job.id);  // cancelled meanwhile
      continue;
    }
    if (failed) {
      verifying_.erase(job.id);
      log::Warn(kLog, "op ", job.id, " (mv ", LocationText(job.src), "): ", failed->message);
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
      log::Info(kLog, "op ", job.id, " (mv ", LocationText(job.src), "): all ",
                v.transferred.size(), " file(s) of the source were copied; deleting ", root);
    } else if (v.root_missing) {
      log::Info(kLog, "op ", job.id, " (mv ", LocationText(job.src),
                "): the source is already gone; nothing to delete");
    } else {
      log::Warn(kLog, "op ", job.id, " (mv ", LocationText(job.src), "): ", rec.plan.left,
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
      log::Warn(kLog, "mv ", LocationText(src), ": verifying the copy: ", what, " (will retry)");
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
        log::Warn(kLog, "mv ", LocationText(src), ": cannot list ", dir, ": ",
                  OneLine(e.Describe()));
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
      log::Warn(kLog, "mv ", LocationText(src), ": more than ", opts_.verify_max_entries,
                " entries; ", v.dirs.size(), " directories left unlisted");
      v.unlisted += v.dirs.size();
      v.dirs.clear();
    }
  }
  v.waiting_reason.clear();
  v.attempts = 0;
  v.next_attempt = now;  // more to do: continue in the next pass
  return std::nullopt;
}

void TransferEngine::FormBatches(MonoTime now) {
  for (;;) {
    GroupKey key;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (now < form_retry_at_) return;
      auto ready = std::find_if(groups_.begin(), groups_.end(), [&](const auto& kv) {
        const Group& g = kv.second;
        const int limit = kv.first.kind == StepKind::kTransfer ? opts_.max_transfer_tasks
                                                               : opts_.max_delete_tasks;
        return ActiveBatchesLocked(kv.first.kind) < limit && GroupDueLocked(g, now);
      });
      if (ready == groups_.end()) return;
      key = ready->first;
    }
    auto sub = api_.GetSubmissionId();  // no lock across the remote call
    std::lock_guard<std::mutex> l(mu_);
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
    std::lock_guard<std::mutex> l(mu_);
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
    std::lock_guard<std::mutex> l(mu_);
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

void TransferEngine::PollTasks(MonoTime now) {
  std::map<std::string, BatchId> tracked;  // task_id -> batch
  {
    std::lock_guard<std::mutex> l(mu_);
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
      std::lock_guard<std::mutex> l(mu_);
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
    std::lock_guard<std::mutex> l(mu_);
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
    std::lock_guard<std::mutex> l(mu_);
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
    std::lock_guard<std::mutex> l(mu_);
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
  std::lock_guard<std::mutex> l(mu_);
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
  return s;
}

std::string TransferEngine::WarningLocked(const JournalOp& op) const {
  if (op.state != OpState::kSucceeded || !op.plan || (op.plan->left == 0 && op.plan->unlisted == 0))
    return "";
  const std::string where = LocationText(op.src);
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
    std::lock_guard<std::mutex> l(mu_);
    auto make = [&](const JournalOp& op, const std::string& task) {
      OpResult r;
      r.id = op.id;
      r.kind = op.kind;
      r.src = op.src;
      r.dst = op.dst;
      r.recursive = op.recursive;
      r.task_id = task;
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
        r.status = ErrorFor(*op.failure, std::string(Name(op.kind)) + " " + LocationText(op.src));
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

  std::lock_guard<std::mutex> l(mu_);
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
