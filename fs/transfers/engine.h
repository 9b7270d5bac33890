// TransferEngine: turns cp / mv / rm between collections into server-side Globus tasks,
// durably, in batches, and watches them to the end. FUSE-free; the fs core calls it.
//
// PIPELINE (each arrow is one journal record, see transfers/journal.h for the op state machine):
//
//   Enqueue ─op─▶ [pending group] ─batch─▶ [submitting] ─task─▶ [monitored] ─end─▶ listeners
//                                                                              ─retire─▶ history
//
// * Enqueue() journals the op (fdatasync) before it returns: an acknowledged cp survives a
//   crash. The op joins the pending group for its (step kind, source collection, destination
//   collection, task options) — one group is one future Globus task.
// * Batching: a group becomes a batch when it has been idle for `batch_idle` (no new op), or
//   reached `batch_max_items`, or its oldest op waited `batch_max_delay` (a slow trickle of ops
//   still gets submitted). Ops carry the pid of the process that asked (cp, mv); once every
//   such process has exited the burst is over, and `batch_idle_exited` (shorter) is enough
//   idle time: `cp -r` is submitted ~0.1 s after it ends, while a shell loop of `cp`s (a new
//   process every few ms) still makes one task. Ops without a pid (replayed after a restart)
//   use `batch_idle`. A batch is only formed while a task slot is free (at most
//   `max_transfer_tasks` unfinished transfer tasks and `max_delete_tasks` delete tasks: the
//   service works 3 of each per user at a time), so while the slots are busy ops keep gathering
//   and go out as one bigger task. `cp -r` of 1000 files → one task.
// * Submission: GetSubmissionId → journal it with the op ids ("batch") → Submit. Unknown
//   outcome (transport error, 5xx, 429) → retry later with the SAME submission_id; "Duplicate"
//   is success with the original task_id. 409 Conflict (identical paths in a still-active task,
//   typically the user's previous cp of the same file) → retried until `conflict_give_up`, then
//   the ops fail with EBUSY ("Conflict"). Authorization errors (consent/session/401) block and
//   retry slowly (status shows why) until the user logs in or cancels. Other 4xx fail the ops.
// * Monitoring: one task_list call with filter=task_id:a,b,c (≤ 1000 ids per call) per poll.
//   The poll interval starts at `poll_min` after a submission or any change and doubles up to
//   `poll_max` while nothing changes — or up to `poll_waiting` while someone is blocked in
//   Wait() (fsync or open of a pending file, --copy-mode=wait), as `globus task wait` does. Only
//   tasks whose `faults` grew get an event_list call; an error event whose code is in
//   `fatal_event_codes` (FILE_NOT_FOUND, PERMISSION_DENIED, ...) cancels the task, and the ops
//   fail with that event's code and details — not after the service's 24 h deadline.
// * mv: copy step (verify_checksum forced on, sync_level forced off: a file skipped by a sync
//   level would not be listed as transferred, see below) → only after it SUCCEEDED, a delete
//   task of the source (its own submission_id, ignore_missing). A failed copy fails the op; the
//   source is untouched. Every step is a journal record, so a restart resumes at the right step.
// * mv of a directory: data is never deleted before its copy is verified complete, and the
//   recursive copy only copied what existed when the task enumerated the tree. So between the
//   copy and the delete the engine makes a delete PLAN (PlanDeletes):
//     1. the copy task's successful transfers (GET task/{id}/successful_transfers, marker
//        paging): the files it actually transferred (fetched once per task, however many
//        directory mvs were batched into it);
//     2. then a listing of the source tree (LsAll per directory, breadth first, at most
//        `verify_max_entries` entries), as late as possible: only when a delete task slot is
//        free, and the delete batch is formed and submitted in the same RunOnce pass;
//     3. every file found was transferred → plan "whole": one recursive delete of the source,
//        as before. Otherwise → plan "files": a non-recursive delete of exactly the transferred
//        files; the other files and every directory stay, and the op succeeds WITH A WARNING
//        (OpResult::warning, OpStatus::warning: "N file(s) ... left in place at <src>").
//   The plan is one journal record ("plan"); until it is written nothing is batched, and after
//   a restart the plan is simply made again (no task was submitted for it). At most
//   `verify_calls_per_pass` remote calls per RunOnce go to plans, so a big tree does not stall
//   polling; every call still goes through the client's rate limiter, on its background lane
//   (interactive calls keep a share of the budget to themselves: api/rate_limiter.h). A copy whose
//   transferred files cannot be fetched (the task is unknown, or an old journal lost its task id)
//   fails the op with NotVerified: nothing is deleted. A file created in the source after the
//   listing and before the delete task runs is still deleted by a "whole" plan: that window (one
//   listing + one submission + the service's queue) is the remaining race (docs/SEMANTICS.md).
// * Restart: Open() replays the journal: submitted tasks are tracked again (no resubmission);
//   batches without a task_id are resubmitted with their persisted submission_id (Duplicate →
//   the original task); queued ops are batched; finished-but-unreported ops are reported again
//   (listeners get each completion at least once). An upload temp name noted by TempBegin and
//   never closed by TempGone (a crash between an upload's PUT and its rename) becomes a remove
//   op of that temp path (ignore_missing, like every delete here): the crash's leftover goes,
//   the file it was to replace is never touched. A direct PUT's note left open (a crash mid-PUT
//   of a new file) makes the next Open stat that name (CheckPuts, on the background lane): a
//   file whose size is not the upload's is its partial and becomes a remove op; one of the
//   right size, or none, only closes the note.
//
// UPLOADS (write_mode = background; journal.h "UPLOADS"). Enqueue(OpRequest::Upload(...))
// journals an upload op (fdatasync) and returns. Upload ops never join a group or a batch: each
// pass starts queued ones on the engine's upload threads (at most `max_uploads` at a time, oldest
// first, one per destination path at a time) through the UploadRunner the fs write path set
// (SetUploadRunner); the runner makes its remote calls on the background lane. Success appends
// "done", a refusal appends "fail" (the staged file stays, the runner's message says where);
// transient errors are retried `upload_attempts` times with the usual backoff, authorization
// errors until the user logs in (status shows why meanwhile). A newer upload of the same path
// supersedes a still-queued one (which fails with code SUPERSEDED: listeners discard its staged
// file); an upload already running is waited for before the newer one starts. Stop() (unmount,
// SIGTERM) cancels the uploads in flight: they stay queued in the journal, and the next Open()
// queues them again (the runner adopts their staged files by id).
//
// ORDERING. A remove op is held back (not grouped, not batched) while an older unfinished copy,
// move or upload uses its path: reads or writes it, something below it, or a directory above
// it. It joins its group once every such op ended (succeeded, failed or was cancelled). So `rm`
// of a pending destination removes what the transfer made, after it made it, and nothing a
// pending transfer still reads is deleted before it was read. The rule reads only the journal's
// ops, so a restart keeps the order. InUse() answers the same question for the fs layer, which
// then queues a remove op instead of sending an immediate HTTPS DELETE.
//
// DRIVING. All scheduling reads the injected Clock. RunOnce() does every piece of work that is
// due now and returns when it next needs to run; Start() runs a thread that loops on it. Tests
// don't Start(): they move a FakeClock and call RunOnce().
//
// THREAD-SAFETY. Every public method is thread-safe. One mutex `mu_` guards the journal and all
// engine state; it is never held across a remote call or a listener callback (remote calls work
// on copies taken under the lock, results are applied under it afterwards). RunOnce() is not
// re-entrant: a concurrent call returns immediately. Lock order: TransferEngine::mu_ is a leaf
// (the journal has no lock of its own; listeners are called without it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/transfer_api.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/mutex.h"
#include "fs/transfers/journal.h"

namespace gf::fs {

// What the fs layer asks for. Use the named constructors.
struct OpRequest {
  OpKind kind = OpKind::kCopy;
  Location src;
  Location dst;            // unused for kRemove
  bool recursive = false;  // a directory tree
  uint64_t size = 0;       // bytes, when known (status display only)
  int32_t origin_pid = 0;  // the process that asked (0: unknown). Batching only; not journaled.

  static OpRequest Copy(Location src, Location dst, uint64_t size, bool recursive = false);
  static OpRequest Move(Location src, Location dst, uint64_t size, bool recursive = false);
  static OpRequest Remove(Location path, bool recursive = false);
  // A background upload of the staged file `staged_id` (`size` bytes) to `dst`.
  static OpRequest Upload(Location dst, std::string staged_id, uint64_t size, bool replaces);

  std::string staged_id;  // kUpload only
  bool replaces = false;  // kUpload only: a file is at dst (upload through a temp name)
};

// A finished op (or step), as delivered to listeners.
struct OpResult {
  OpId id = 0;
  OpKind kind = OpKind::kCopy;
  Location src, dst;
  bool recursive = false;
  std::string task_id;  // the task that ended (empty if it never got one)
  Status status;        // ok, or the Globus error (code "FILE_NOT_FOUND", "CANCELED", ...)
  // Succeeded with a caveat (a directory mv that left files not copied in the source): the
  // sentence to show the user. Empty otherwise.
  std::string warning;
  std::string staged_id;  // uploads: the staged file the op uploaded (or kept)
};

// Runs the upload ops (OpKind::kUpload) for the engine; the fs write path implements it.
class UploadRunner {
 public:
  virtual ~UploadRunner() = default;
  // Uploads op.staged_id's staged file to op.dst. Called on an engine upload thread, never with
  // the engine lock held. `sent`: bytes sent so far (status). `cancel` becomes true when the
  // engine stops: return promptly; the op stays queued in the journal.
  virtual Status RunUpload(const JournalOp& op, std::atomic<uint64_t>& sent,
                           const std::atomic<bool>& cancel) = 0;
};

// Completion callbacks. Called from the thread running RunOnce() (or Cancel()), never with the
// engine lock held; they may call any engine method except Wait(). Keep them short.
class OpListener {
 public:
  virtual ~OpListener() = default;
  // The op reached Succeeded or Failed. At-least-once across restarts.
  virtual void OnOpFinished(const OpResult& r) = 0;
  // A non-final step succeeded (mv: the copy is verified at the destination; deleting the
  // source starts now). Default: ignored.
  virtual void OnStepFinished(const OpResult& /*r*/) {}
};

// ---- status (`globus-fuse status`) ----
struct OpStatus {
  OpId id = 0;
  OpKind kind = OpKind::kCopy;
  Location src, dst;
  bool recursive = false;
  uint64_t size = 0;
  std::time_t queued_at = 0;
  OpState state = OpState::kQueued;
  StepKind step = StepKind::kTransfer;
  BatchId batch = 0;  // join with TaskStatus
  std::optional<OpFailure> failure;
  bool verifying = false;  // a directory mv making its delete plan (see PlanDeletes)
  std::string warning;     // see OpResult::warning
  // Uploads: the staged file, whether it is being sent now, the bytes sent by the current
  // attempt, and why it waits to be retried (empty when it does not).
  std::string staged_id;
  bool uploading = false;
  uint64_t bytes_sent = 0;
  std::string waiting_reason;
  // A remove held back (see ORDERING): the older copy, move or upload it waits for.
  OpId waits_for = 0;
};

struct TaskStatus {
  BatchId batch = 0;
  StepKind kind = StepKind::kTransfer;
  std::string label, submission_id, task_id;  // task_id empty while submitting
  std::string src_collection, dst_collection;
  size_t items = 0;
  std::string status;  // "SUBMITTING", or the task's ACTIVE / INACTIVE / ...
  std::string nice_status;
  int64_t files = 0, files_transferred = 0, bytes_transferred = 0, faults = 0;
  int64_t total_bytes = 0;       // service estimate, else the sum of the ops' sizes
  int64_t bytes_per_second = 0;  // effective rate (ETA = (total - done) / rate)
  std::string waiting_reason;    // why submission is being retried ("503 ServiceUnavailable")
  std::optional<api::Event> last_error;  // newest error event (code, description, details)
};

struct EngineProgress {
  std::vector<OpStatus> ops;      // live ops, then recently finished ones (newest last)
  std::vector<TaskStatus> tasks;  // live batches
};

struct TransferEngineOptions {
  std::string journal_path;  // JournalPath(state_dir, mount_id)
  JournalOptions journal;

  Millis batch_idle{500};
  Millis batch_idle_exited{100};  // idle time that is enough once the ops' processes exited
  // Whether the process with this pid has exited (default: /proc/<pid>/stat missing or a
  // zombie). Injected by tests.
  std::function<bool(int32_t)> process_exited;
  Millis batch_max_delay{10000};
  uint64_t batch_max_items = 10000;
  int max_transfer_tasks = 3;
  int max_delete_tasks = 3;

  // Task options (copies; moves always verify).
  bool verify_checksum = true;
  bool preserve_timestamp = true;
  bool encrypt_data = false;
  std::optional<int> sync_level;

  Millis poll_min{250};  // first look soon after a submission; then doubling to poll_max
  Millis poll_max{30000};
  Millis poll_waiting{1000};  // poll interval cap while a Wait() is blocked
  Millis retry_min{1000};     // submission / submission_id retries
  Millis retry_max{30000};
  Millis conflict_give_up{15 * 60 * 1000};
  // Event codes that make an ACTIVE task hopeless. UNVERIFIED beyond FILE_NOT_FOUND and
  // PERMISSION_DENIED (both seen in captured event lists).
  std::vector<std::string> fatal_event_codes = {"FILE_NOT_FOUND", "PERMISSION_DENIED",
                                                "QUOTA_EXCEEDED", "NO_SPACE_LEFT"};

  // Directory mv delete plans: remote calls per RunOnce pass, and the most source entries
  // listed per plan (beyond it the listing is incomplete: only copied files are deleted).
  int verify_calls_per_pass = 50;
  uint64_t verify_max_entries = 1000000;

  // Background uploads: at most this many at a time; a transient failure is retried this many
  // times in all (with backoff) before the op fails.
  int max_uploads = 2;
  int upload_attempts = 5;

  size_t max_live_ops = 100000;    // Enqueue fails with EAGAIN beyond this
  size_t finished_history = 1000;  // finished ops kept for Wait() and status

  static TransferEngineOptions FromConfig(const Config& c, const std::string& mount_id);
};

class TransferEngine {
 public:
  // Opens and replays the journal. Nothing remote happens until RunOnce()/Start().
  static Result<std::unique_ptr<TransferEngine>> Open(api::TransferApi& api,
                                                      TransferEngineOptions o,
                                                      Clock& clock = SystemClock::Instance());
  ~TransferEngine();  // Stop()s
  TransferEngine(const TransferEngine&) = delete;
  TransferEngine& operator=(const TransferEngine&) = delete;

  // Listeners are not owned and must outlive the engine (or be removed... they can't: add them
  // before Start()).
  void AddListener(OpListener* l);

  // Background thread around RunOnce(). Stop() joins it; pending work stays in the journal.
  void Start();
  void Stop();

  // Journals the op (durable when this returns) and queues it. Errors: EINVAL (bad request),
  // EAGAIN (max_live_ops reached), or the journal's write error.
  Result<OpId> Enqueue(const OpRequest& r);
  // An upload op whose first attempt the caller makes itself, at once (the empty file a last
  // close makes, write/write_ops.cc MakeEmpty): journaled like Enqueue(OpRequest::Upload(...)),
  // and marked running so no upload thread starts it meanwhile. EndClaimedUpload reports that
  // attempt: success appends "done"; a failure is handled as an upload thread's (retried by the
  // engine, or failed). A crash before the end leaves the op queued for the next Open.
  // EndClaimedUpload returns true while the op is still to be retried.
  Result<OpId> EnqueueClaimedUpload(const OpRequest& r);
  bool EndClaimedUpload(OpId id, const Status& attempt) EXCLUDES(mu_);

  // A foreground upload is about to PUT to the hidden temp name `temp` (journal.h, "UPLOAD
  // TEMP NAMES"): noted durably before this returns (EINVAL for a bad location, or the
  // journal's write error). TempGone(id) once the name is gone again; until then a crash leaves
  // it to the next Open, which deletes that path.
  Result<OpId> TempBegin(const Location& temp);
  Status TempGone(OpId id);
  // A brand-new file of `size` bytes is about to be PUT straight to `path` (journal.h, "DIRECT
  // PUTS"): noted (not fdatasync'd) before this returns. Closed by TempGone(id) once the PUT
  // ended and no partial of it is left; until then a crash leaves it to the next Open, which
  // stats the name and removes it when its size is not `size` (a partial).
  Result<OpId> PutBegin(const Location& path, uint64_t size);

  // The runner of upload ops (not owned; set before Start(), or nullptr). Upload ops wait in the
  // journal while there is none.
  void SetUploadRunner(UploadRunner* r) EXCLUDES(mu_);
  // Cancels the uploads in flight (they stay queued in the journal), waits for their threads,
  // and starts no upload afterwards. Stop() calls it; so does the runner before it goes away.
  void StopUploads() EXCLUDES(mu_);
  // Upload ops not finished yet (queued, running or waiting for a retry), all or of one path.
  size_t PendingUploads() const EXCLUDES(mu_);
  bool UploadPending(const Location& dst) const EXCLUDES(mu_);
  // The staged ids those ops will still send (what `status` must not call kept).
  std::set<std::string> PendingUploadStages() const EXCLUDES(mu_);

  // Blocks until the op finished and its listeners ran; returns its outcome. Also returns
  // ETIMEDOUT when `deadline` (on the engine's clock) passes, EINTR when *cancel becomes true,
  // ENOENT for an unknown (or long forgotten) op, ESHUTDOWN once Stop() was called (unmount).
  // Waiting does not cancel anything.
  Status Wait(OpId id, std::optional<MonoTime> deadline = std::nullopt,
              const std::atomic<bool>* cancel = nullptr);

  // Cancels the op: a queued op fails at once with CANCELED; a submitted one gets its Globus
  // task cancelled (remote call, in this thread) and fails with CANCELED when the next poll
  // sees it. Granularity is the task: the other ops batched into the same task fail too.
  // Cancelling a finished op is a no-op.
  Status Cancel(OpId id);

  // True when an unfinished copy, move or upload reads or writes `at`, something below it or a
  // directory above it (see ORDERING): a remove of `at` queued now would be held back.
  bool InUse(const Location& at) const EXCLUDES(mu_);

  // What every live and recently finished op and every live batch is doing.
  EngineProgress Progress() const;

  // Does everything due at clock.Now(): batch, submit, poll, report. Returns the next time it
  // has work (at most poll_max ahead).
  MonoTime RunOnce();

 private:
  struct GroupKey {
    StepKind kind;
    std::string src, dst;
    TaskOptions options;
    auto operator<=>(const GroupKey&) const = default;
  };
  struct Group {
    std::vector<OpId> ops;
    MonoTime first_at{}, last_at{};
    std::vector<int32_t> origins;  // distinct pids of the processes that queued ops (bounded)
    bool origin_unknown = false;   // an op without a pid, or too many pids to watch
    bool urgent = false;           // holds a freshly planned mv delete: batch it now (race window)
  };
  // A directory mv's delete plan in the making. Only RunOnce touches it (not journaled: after a
  // restart the plan is made again from scratch).
  struct Verification {
    bool transfers_done = false;
    std::set<std::string> transferred;  // normalized source paths under the op's source
    bool listing_started = false;
    std::deque<std::string> dirs;  // still to list
    std::vector<std::string> files;
    uint64_t entries = 0, unlisted = 0;
    bool root_missing = false;
    MonoTime next_attempt{};
    int attempts = 0;
    std::string waiting_reason;
  };
  // The files one copy task transferred (successful_transfers, all pages). Several directory
  // mvs batched into one copy task share it: the pages are fetched once, not once per mv.
  // Dropped when no op waiting for a plan names the task. Only RunOnce touches it.
  struct CopiedFiles {
    std::string marker;  // next successful_transfers page
    bool done = false;
    std::vector<std::string> paths;  // normalized source paths, every page so far
  };
  struct BatchRuntime {
    MonoTime next_attempt{};
    int attempts = 0;
    std::optional<MonoTime> conflict_since;
    std::string waiting_reason;
    bool maybe_accepted = false;    // an attempt had an unknown outcome (or we restarted)
    bool cancel_requested = false;  // user Cancel(); remote cancel still owed
    bool cancel_sent = false;
    std::optional<OpFailure> fatal;  // fatal event seen; the task was (or will be) cancelled
    std::optional<api::Task> task;
    int64_t faults_seen = 0;
    std::optional<api::Event> last_error;
    int missing_polls = 0;
  };
  struct Finished {
    OpStatus status;
    std::string task_id;
  };

  TransferEngine(api::TransferApi& api, TransferEngineOptions o, Clock& clock,
                 std::unique_ptr<Journal> j);

  // Steps of RunOnce (each takes and drops mu_ as needed).
  void PlanDeletes(MonoTime now) EXCLUDES(mu_);
  void FormBatches(MonoTime now) EXCLUDES(mu_);
  void SubmitBatches(MonoTime now) EXCLUDES(mu_);
  void PollTasks(MonoTime now) EXCLUDES(mu_);
  void DeliverFinished() EXCLUDES(mu_);
  // The direct PUTs a crash interrupted (put notes open at Open): stat each name, remove a
  // partial file, close the note.
  void CheckPuts(MonoTime now) EXCLUDES(mu_);
  // Starts due upload ops on upload threads and joins the threads that ended.
  void StartUploads(MonoTime now) EXCLUDES(mu_);
  // An upload thread: runs the op, then records its outcome.
  void RunUploadOp(UploadRunner* runner, JournalOp op, std::shared_ptr<std::atomic<uint64_t>> sent)
      EXCLUDES(mu_);

  Result<OpId> EnqueueUpload(const OpRequest& r, bool claimed = false) EXCLUDES(mu_);
  // An upload attempt of the queued op `id` ended with `s` (on an upload thread: `thread`):
  // "done", a retry later, or "fail". True when the op is still queued.
  bool UploadEndedLocked(OpId id, const Status& s, bool thread) REQUIRES(mu_);
  // ORDERING: the oldest unfinished copy, move or upload older than `op` that uses `at` (0: none;
  // `op` 0: any age). Groups the held-back removes whose transfers ended.
  OpId UserOfLocked(const Location& at, OpId op) const REQUIRES(mu_);
  void ReleaseHeld(MonoTime now) EXCLUDES(mu_);
  // When StartUploads has something to start (max: nothing; an upload thread's end wakes the
  // engine itself).
  MonoTime NextUploadLocked(MonoTime now) const REQUIRES(mu_);

  // Under mu_.
  GroupKey KeyFor(const JournalOp& op) const;  // (reads only the options)
  void AddToGroupLocked(const JournalOp& op, MonoTime now, int32_t origin = 0) REQUIRES(mu_);
  bool GroupDueLocked(const Group& g, MonoTime now) const REQUIRES(mu_);
  MonoTime GroupDueAtLocked(const Group& g, MonoTime now) const REQUIRES(mu_);
  int ActiveBatchesLocked(StepKind kind) const REQUIRES(mu_);
  Status AppendLocked(const JournalRecord& r) REQUIRES(mu_);
  void EndBatchLocked(BatchId b, bool ok, OpFailure f) REQUIRES(mu_);
  void AfterBatchEndLocked(const std::vector<OpId>& ops, const std::string& task_id) REQUIRES(mu_);
  OpStatus StatusOfLocked(const JournalOp& op) const REQUIRES(mu_);
  Millis BackoffLocked(int attempts) const;  // (reads only the options)
  void WakeLocked() REQUIRES(mu_);
  std::string WarningLocked(const JournalOp& op) const REQUIRES(mu_);
  // Outside mu_: advances `v` by at most `*calls` remote calls. Returns a failure when the copy
  // cannot be verified file by file (the op must fail, nothing deleted).
  std::optional<OpFailure> Verify(const std::string& copy_task, const Location& src,
                                  Verification& v, int* calls, MonoTime now);

  api::TransferApi& api_;
  const TransferEngineOptions opts_;
  Clock& clock_;
  std::vector<OpListener*> listeners_;  // set before Start(); read without the lock

  mutable Mutex mu_;            // guards everything below (a leaf lock)
  std::condition_variable cv_;  // state changes (waiters) and new work (the thread)
  std::unique_ptr<Journal> journal_ PT_GUARDED_BY(mu_);
  std::map<GroupKey, Group> groups_ GUARDED_BY(mu_);
  std::map<BatchId, BatchRuntime> runtime_ GUARDED_BY(mu_);
  MonoTime form_retry_at_ GUARDED_BY(mu_){};
  int form_attempts_ GUARDED_BY(mu_) = 0;
  MonoTime next_poll_ GUARDED_BY(mu_){};
  Millis poll_interval_ GUARDED_BY(mu_){0};
  // (op, task): OnStepFinished owed
  std::vector<std::pair<OpId, std::string>> step_done_ GUARDED_BY(mu_);
  // terminal, undelivered op -> the task that ended it
  std::map<OpId, std::string> last_task_ GUARDED_BY(mu_);
  std::set<OpId> delivering_ GUARDED_BY(mu_);  // terminal ops whose listeners are running
  // recently finished, bounded by finished_history
  std::map<OpId, Finished> finished_ GUARDED_BY(mu_);
  std::set<OpId> needs_plan_ GUARDED_BY(mu_);  // directory mvs waiting for their delete plan
  std::set<OpId> held_ GUARDED_BY(mu_);        // removes held back (ORDERING)
  std::map<OpId, Verification> verifying_ GUARDED_BY(mu_);  // see Verification
  // Copy task id -> its files. RunOnce only (running_once_ serializes it; Verify reads it
  // without mu_).
  std::map<std::string, CopiedFiles> copied_;
  std::deque<OpId> finished_order_ GUARDED_BY(mu_);
  // Put notes found open at Open (a crash mid-PUT), still to be checked, and when to retry.
  std::set<OpId> stale_puts_ GUARDED_BY(mu_);
  MonoTime puts_retry_at_ GUARDED_BY(mu_){};
  int puts_attempts_ GUARDED_BY(mu_) = 0;
  // Upload ops (queued, not finished) and their runtime state (threads, retries).
  struct UploadRuntime {
    std::thread thread;
    bool running = false;
    bool ended = false;  // the thread ended: join it
    std::shared_ptr<std::atomic<uint64_t>> sent;
    MonoTime next_attempt{};
    int attempts = 0;
    std::string waiting_reason;
  };
  std::set<OpId> uploads_ GUARDED_BY(mu_);
  std::map<OpId, UploadRuntime> upload_rt_ GUARDED_BY(mu_);
  UploadRunner* runner_ GUARDED_BY(mu_) = nullptr;
  bool uploads_stopped_ GUARDED_BY(mu_) = false;
  std::atomic<bool> upload_cancel_{false};
  int waiters_ GUARDED_BY(mu_) = 0;  // threads blocked in Wait()
  bool work_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<bool> running_once_{false};
  std::thread thread_;
};

// Task label: "globus-fuse cp run42.h5 (+41 more)". Only [A-Za-z0-9 _.,()+-] (others become
// '_'), at most kMaxLabel characters (the service's label limits are UNVERIFIED: stay short).
inline constexpr size_t kMaxLabel = 128;
std::string TaskLabel(std::string_view verb, std::string_view first_path, size_t count);

// The Error an op failure becomes for Wait() and listeners (kind kApi, code = failure.code).
Error ErrorFor(const OpFailure& f, const std::string& context);

}  // namespace gf::fs
