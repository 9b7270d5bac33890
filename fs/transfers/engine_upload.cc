// TransferEngine: background uploads (write_mode = background; engine.h "UPLOADS"). Upload ops
// are journaled like cp/mv but never batched: each runs on an upload thread through the
// UploadRunner the fs write path set. Also the journal notes of foreground uploads (temp names,
// direct PUTs) and CheckPuts, which cleans up after a crash mid-PUT.
#include <algorithm>
#include <set>

#include "api/background_calls.h"
#include "common/log.h"
#include "fs/paths.h"
#include "fs/transfers/engine.h"
#include "fs/transfers/engine_internal.h"

namespace gf::fs {

namespace {
constexpr const char* kSuperseded = "SUPERSEDED";
}  // namespace

Result<OpId> TransferEngine::EnqueueClaimedUpload(const OpRequest& r) {
  if (r.kind != OpKind::kUpload) return Error::Local(EINVAL, "upload: not an upload");
  return EnqueueUpload(r, true);
}

bool TransferEngine::EndClaimedUpload(OpId id, const Status& attempt) {
  MutexLock l(mu_);
  return UploadEndedLocked(id, attempt, false);
}

Result<OpId> TransferEngine::EnqueueUpload(const OpRequest& r, bool claimed) {
  if (!ValidLocation(r.dst)) return Error::Local(EINVAL, "upload: bad destination location");
  if (r.staged_id.empty()) return Error::Local(EINVAL, "upload: no staged file");
  MutexLock l(mu_);
  if (journal_->state().ops.size() >= opts_.max_live_ops)
    return Error::Local(EAGAIN, "transfer: too many pending operations");
  OpRecord rec;
  rec.id = journal_->NextOpId();
  rec.kind = OpKind::kUpload;
  rec.dst = r.dst;
  rec.size = r.size;
  rec.staged_id = r.staged_id;
  rec.replaces = r.replaces;
  rec.queued_at = std::chrono::system_clock::to_time_t(clock_.WallNow());
  // A still-queued upload of the same path is replaced by this one (the newest data wins). The
  // new op is journaled first: a crash between the two records leaves both, uploaded in order.
  FailRecord superseded{{}, {kSuperseded, "a newer close of the file replaced this upload"}};
  for (OpId id : uploads_) {
    auto rt = upload_rt_.find(id);
    if (journal_->state().ops.at(id).dst == r.dst &&
        (rt == upload_rt_.end() || !rt->second.running))
      superseded.ops.push_back(id);
  }
  GF_TRY_STATUS(AppendLocked(rec));
  AddToGroupLocked(journal_->state().ops.at(rec.id), clock_.Now());
  if (claimed) {  // its first attempt is the caller's: no upload thread starts it meanwhile
    UploadRuntime& rt = upload_rt_[rec.id];
    rt.running = true;
    rt.sent = std::make_shared<std::atomic<uint64_t>>(0);
  }
  if (!superseded.ops.empty() && AppendLocked(superseded).ok())
    for (OpId id : superseded.ops) {
      uploads_.erase(id);
      // Not running; an earlier attempt's ended thread is joined (and the entry dropped) by
      // the next StartUploads.
      if (auto rt = upload_rt_.find(id); rt != upload_rt_.end() && !rt->second.thread.joinable())
        upload_rt_.erase(rt);
    }
  WakeLocked();
  return rec.id;
}

void TransferEngine::SetUploadRunner(UploadRunner* r) {
  MutexLock l(mu_);
  runner_ = r;
  if (r) {
    uploads_stopped_ = false;
    upload_cancel_ = false;
  }
  WakeLocked();
}

void TransferEngine::StopUploads() {
  std::vector<std::thread> threads;
  {
    MutexLock l(mu_);
    uploads_stopped_ = true;
    runner_ = nullptr;
    upload_cancel_ = true;
    for (auto& [id, rt] : upload_rt_)
      if (rt.thread.joinable()) threads.push_back(std::move(rt.thread));
  }
  for (std::thread& t : threads) t.join();
  MutexLock l(mu_);
  for (auto& [id, rt] : upload_rt_) rt.running = rt.ended = false;
}

size_t TransferEngine::PendingUploads() const {
  MutexLock l(mu_);
  return uploads_.size();
}

std::set<std::string> TransferEngine::PendingUploadStages() const {
  MutexLock l(mu_);
  std::set<std::string> out;
  for (OpId id : uploads_)
    if (const std::string& staged = journal_->state().ops.at(id).staged_id; !staged.empty())
      out.insert(staged);
  return out;
}

bool TransferEngine::UploadPending(const Location& dst) const {
  MutexLock l(mu_);
  return std::any_of(uploads_.begin(), uploads_.end(), [&](OpId id) {
    mu_.AssertHeld();
    return journal_->state().ops.at(id).dst == dst;
  });
}

void TransferEngine::StartUploads(MonoTime now) {
  std::vector<std::thread> ended;
  {
    MutexLock l(mu_);
    for (auto it = upload_rt_.begin(); it != upload_rt_.end();) {
      UploadRuntime& rt = it->second;
      if (rt.ended && rt.thread.joinable()) {
        ended.push_back(std::move(rt.thread));
        rt.ended = false;
      }
      if (!rt.running && !rt.thread.joinable() && !uploads_.count(it->first)) {
        it = upload_rt_.erase(it);
        continue;
      }
      ++it;
    }
    UploadRunner* runner = runner_;
    if (runner && !uploads_stopped_ && !stop_) {
      int running = 0;
      std::set<std::pair<std::string, std::string>> busy;  // one upload per path at a time
      for (const auto& [id, rt] : upload_rt_)
        if (rt.running) {
          ++running;
          const Location& d = journal_->state().ops.at(id).dst;
          busy.emplace(d.collection, d.path);
        }
      for (OpId id : uploads_) {  // oldest first
        if (running >= opts_.max_uploads) break;
        const JournalOp& op = journal_->state().ops.at(id);
        UploadRuntime& rt = upload_rt_[id];
        if (rt.running) continue;
        // An older op of the path (running, or waiting for its retry) goes first.
        if (!busy.emplace(op.dst.collection, op.dst.path).second) continue;
        if (now < rt.next_attempt || rt.thread.joinable()) continue;
        rt.running = true;
        rt.sent = std::make_shared<std::atomic<uint64_t>>(0);
        rt.thread = std::thread(&TransferEngine::RunUploadOp, this, runner, op, rt.sent);
        ++running;
      }
    }
  }
  for (std::thread& t : ended) t.join();
}

MonoTime TransferEngine::NextUploadLocked(MonoTime now) const {
  MonoTime next = MonoTime::max();
  if (!runner_ || uploads_stopped_ || stop_) return next;
  int running = 0;
  std::set<std::pair<std::string, std::string>> busy;
  for (const auto& [id, rt] : upload_rt_) {
    if (!rt.running && !rt.ended) continue;
    ++running;  // an ended thread not joined yet: its end woke the engine already
    if (auto op = journal_->state().ops.find(id); op != journal_->state().ops.end())
      busy.emplace(op->second.dst.collection, op->second.dst.path);
  }
  if (running >= opts_.max_uploads) return next;  // a thread's end wakes the engine
  for (OpId id : uploads_) {
    const Location& d = journal_->state().ops.at(id).dst;      // (queued: live)
    if (!busy.emplace(d.collection, d.path).second) continue;  // after the older one of its path
    auto rt = upload_rt_.find(id);
    next = std::min(next, std::max(now, rt == upload_rt_.end() ? now : rt->second.next_attempt));
  }
  return next;
}

void TransferEngine::RunUploadOp(UploadRunner* runner, JournalOp op,
                                 std::shared_ptr<std::atomic<uint64_t>> sent) {
  log::Debug(kLog, "upload ", op.id, ": ", Where(op.dst), " (", op.size, " bytes) starts");
  Status s = runner->RunUpload(op, *sent, upload_cancel_);
  MutexLock l(mu_);
  UploadEndedLocked(op.id, s, true);
}

bool TransferEngine::UploadEndedLocked(OpId id, const Status& s, bool thread) {
  UploadRuntime& rt = upload_rt_[id];
  rt.running = false;
  rt.ended = thread;  // a thread to join (a claimed attempt has none)
  WakeLocked();
  auto live = journal_->state().ops.find(id);
  if (live == journal_->state().ops.end() || live->second.state != OpState::kQueued) return false;
  const Location dst = live->second.dst;
  if (upload_cancel_) {  // the mount stops: the op stays queued for the next one
    log::Info(kLog, "upload ", id, ": ", Where(dst),
              " interrupted by the stop; it stays in the journal for the next mount");
    return true;
  }
  if (s.ok()) {
    if (AppendLocked(DoneRecord{{id}}).ok()) {
      uploads_.erase(id);
      log::Debug(kLog, "upload ", id, ": ", Where(dst), " done");
      return false;
    }
    rt.next_attempt = clock_.Now() + BackoffLocked(++rt.attempts);  // uploaded again: harmless
    return true;
  }
  const Error& e = s.error();
  const Disposition d = Classify(e);
  if (d == Disposition::kBlocked ||
      (d == Disposition::kRetry && ++rt.attempts < opts_.upload_attempts)) {
    if (d == Disposition::kBlocked) ++rt.attempts;
    rt.next_attempt = clock_.Now() + BackoffLocked(rt.attempts);
    rt.waiting_reason = Truncated(OneLine(e.Describe()));
    log::Warn(kLog, "upload ", id, ": ", Where(dst), ": ", rt.waiting_reason, " (will retry)");
    return true;
  }
  OpFailure f{e.code.empty() ? "UploadFailed" : e.code, Truncated(OneLine(e.Describe()))};
  if (AppendLocked(FailRecord{{id}, f}).ok()) uploads_.erase(id);
  log::Error(kLog, "upload ", id, ": ", Where(dst), " failed: ", f.message);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Foreground uploads' journal notes: temp names and direct PUTs (journal.h)
// ---------------------------------------------------------------------------------------------
Result<OpId> TransferEngine::TempBegin(const Location& temp) {
  if (!ValidLocation(temp)) return Error::Local(EINVAL, "upload: bad temp location");
  MutexLock l(mu_);
  const OpId id = journal_->NextOpId();
  GF_TRY_STATUS(AppendLocked(TempRecord{id, temp}));
  return id;
}

Status TransferEngine::TempGone(OpId id) {
  MutexLock l(mu_);
  // A put note's end needs no fdatasync either: lost, it only makes the next mount stat a name.
  if (journal_->state().puts.count(id)) {
    Status s = journal_->AppendUnsynced(TempGoneRecord{id});
    if (!s.ok()) log::Error(kLog, "journal append failed: ", s.error().Describe());
    return s;
  }
  return AppendLocked(TempGoneRecord{id});
}

Result<OpId> TransferEngine::PutBegin(const Location& path, uint64_t size) {
  if (!ValidLocation(path)) return Error::Local(EINVAL, "upload: bad location");
  MutexLock l(mu_);
  const OpId id = journal_->NextOpId();
  if (Status s = journal_->AppendUnsynced(PutRecord{id, path, size}); !s.ok()) {
    log::Error(kLog, "journal append failed: ", s.error().Describe());
    return s.error();
  }
  return id;
}

void TransferEngine::CheckPuts(MonoTime now) {
  std::map<OpId, PutRecord> todo;
  {
    MutexLock l(mu_);
    if (stale_puts_.empty() || now < puts_retry_at_) return;
    for (OpId id : stale_puts_)
      if (auto it = journal_->state().puts.find(id); it != journal_->state().puts.end())
        todo.emplace(id, it->second);
  }
  bool retry = false;
  for (const auto& [id, put] : todo) {
    Result<api::FileEntry> st = Error::Local(EIO, "not asked");
    {
      api::BackgroundCalls background;
      st = api_.Stat(put.path.collection, put.path.path);
    }
    if (!st.ok() && !IsNotFound(st.error())) {
      log::Warn(kLog, "checking what an interrupted upload left at ", Where(put.path),
                " (will retry): ", st.error().Describe());
      retry = true;
      continue;
    }
    // A cut-off PUT leaves fewer bytes than its body: a bigger file is not ours (another
    // client wrote the name since), and neither is a directory.
    const bool partial = st.ok() && st->type == api::EntryType::kFile && st->size < put.size;
    MutexLock l(mu_);
    stale_puts_.erase(id);
    // A PUT of this mount to the same name replaces the partial anyway (and a remove could
    // catch the new file): leave the name to it.
    bool rewritten = false;
    for (const auto& [other, p] : journal_->state().puts)
      rewritten = rewritten || (other != id && !stale_puts_.count(other) && p.path == put.path);
    // So does a pending background upload of the name (journaled, uploaded again after a
    // crash): removing the partial could remove that upload's file instead.
    for (OpId u : uploads_) rewritten = rewritten || journal_->state().ops.at(u).dst == put.path;
    if (partial && !rewritten) {
      // The op first: a crash between the two records makes a second, harmless remove.
      OpRecord rec;
      rec.id = journal_->NextOpId();
      rec.kind = OpKind::kRemove;
      rec.src = put.path;
      rec.queued_at = std::chrono::system_clock::to_time_t(clock_.WallNow());
      if (!AppendLocked(rec).ok()) {
        stale_puts_.insert(id);
        retry = true;
        continue;
      }
      AddToGroupLocked(journal_->state().ops.at(rec.id), now);
      log::Warn(kLog, "removing the partial file an interrupted upload left at ", Where(put.path),
                " (", st->size, " of ", put.size, " bytes)");
    }
    (void)AppendLocked(TempGoneRecord{id});
  }
  MutexLock l(mu_);
  if (retry) puts_retry_at_ = now + BackoffLocked(++puts_attempts_);
}

}  // namespace gf::fs
