// The journal's state machine: which record may follow which, and what it changes (see
// journal.h, STATE MACHINE).
#include <set>

#include "fs/transfers/journal.h"
#include "fs/transfers/journal_internal.h"

namespace gf::fs {

using journal_internal::Invalid;

// ---------------------------------------------------------------------------------------------
// State transitions
// ---------------------------------------------------------------------------------------------
namespace {

// Each record type: Check (no mutation) and Apply (assumes Check passed).
struct Checker {
  const JournalState& s;

  Status Live(OpId id) const {
    if (!s.ops.count(id)) return Invalid("unknown op " + std::to_string(id));
    return {};
  }
  Status operator()(const HeaderRecord& r) const {
    if (r.version > kJournalVersion)
      return Invalid("written by a newer globus-fuse (format " + std::to_string(r.version) + ")");
    return {};
  }
  Status operator()(const OpRecord& r) const {
    if (r.id == 0 || s.ops.count(r.id)) return Invalid("duplicate op " + std::to_string(r.id));
    if (r.step < 0 || static_cast<size_t>(r.step) >= StepsFor(r.kind).size())
      return Invalid("bad step");
    if (r.kind == OpKind::kUpload && (r.staged_id.empty() || r.dst.collection.empty() ||
                                      r.dst.path.empty() || r.dst.path[0] != '/'))
      return Invalid("upload op " + std::to_string(r.id) + " without staged id or destination");
    return {};
  }
  Status operator()(const BatchRecord& r) const {
    if (r.id == 0 || s.batches.count(r.id)) return Invalid("duplicate batch");
    if (r.ops.empty()) return Invalid("empty batch");
    if (r.submission_id.empty()) return Invalid("batch without submission_id");
    for (OpId id : r.ops) {
      GF_TRY_STATUS(Live(id));
      const JournalOp& op = s.ops.at(id);
      if (op.state != OpState::kQueued || op.CurrentStep() != r.kind)
        return Invalid("op " + std::to_string(id) + " is not queued for a " + Name(r.kind));
    }
    return {};
  }
  Status operator()(const TaskRecord& r) const {
    auto it = s.batches.find(r.batch);
    if (it == s.batches.end()) return Invalid("task for unknown batch");
    if (r.task_id.empty()) return Invalid("empty task id");
    if (!it->second.task_id.empty() && it->second.task_id != r.task_id)
      return Invalid("batch already has another task");
    return {};
  }
  Status operator()(const EndRecord& r) const {
    if (!s.batches.count(r.batch)) return Invalid("end of unknown batch");
    return {};
  }
  Status operator()(const FailRecord& r) const {
    for (OpId id : r.ops) {
      GF_TRY_STATUS(Live(id));
      if (s.ops.at(id).state != OpState::kQueued) return Invalid("fail of a non-queued op");
    }
    return {};
  }
  Status operator()(const DoneRecord& r) const {
    for (OpId id : r.ops) {
      GF_TRY_STATUS(Live(id));
      const JournalOp& op = s.ops.at(id);
      if (op.state != OpState::kQueued || op.kind != OpKind::kUpload)
        return Invalid("done of op " + std::to_string(id) + ", which is not a queued upload");
    }
    return {};
  }
  Status operator()(const RetireRecord& r) const {
    for (OpId id : r.ops) {
      GF_TRY_STATUS(Live(id));
      if (!s.ops.at(id).Terminal()) return Invalid("retire of a live op");
    }
    return {};
  }
  // A tmp or put note: a fresh id (shared with ops) and an absolute location.
  Status Note(OpId id, const Location& at, const char* what) const {
    if (id == 0 || s.ops.count(id) || s.temps.count(id) || s.puts.count(id))
      return Invalid("duplicate id " + std::to_string(id) + " for " + what);
    if (at.collection.empty() || at.path.empty() || at.path[0] != '/')
      return Invalid(std::string("bad location for ") + what);
    return {};
  }
  Status operator()(const TempRecord& r) const { return Note(r.id, r.temp, "an upload temp name"); }
  Status operator()(const PutRecord& r) const { return Note(r.id, r.path, "a direct upload"); }
  Status operator()(const TempGoneRecord& r) const {
    if (!s.temps.count(r.id) && !s.puts.count(r.id))
      return Invalid("unknown upload temp name " + std::to_string(r.id));
    return {};
  }
  Status operator()(const PlanRecord& r) const {
    GF_TRY_STATUS(Live(r.op));
    if (!s.ops.at(r.op).NeedsPlan())
      return Invalid("plan for op " + std::to_string(r.op) +
                     ", which is not a directory move waiting for its delete");
    if (r.plan.whole && !r.plan.paths.empty()) return Invalid("a whole-directory plan with paths");
    return {};
  }
};

struct Applier {
  JournalState& s;

  void operator()(const HeaderRecord& r) {
    s.next_op = std::max(s.next_op, r.next_op);
    s.next_batch = std::max(s.next_batch, r.next_batch);
  }
  void operator()(const OpRecord& r) {
    JournalOp op;
    op.id = r.id;
    op.kind = r.kind;
    op.src = r.src;
    op.dst = r.dst;
    op.recursive = r.recursive;
    op.size = r.size;
    op.queued_at = r.queued_at;
    op.step = r.step;
    if (r.succeeded) op.state = *r.succeeded ? OpState::kSucceeded : OpState::kFailed;
    op.failure = r.failure;
    op.copy_task = r.copy_task;
    op.plan = r.plan;
    op.staged_id = r.staged_id;
    op.replaces = r.replaces;
    s.ops[r.id] = std::move(op);
    s.next_op = std::max(s.next_op, r.id + 1);
  }
  void operator()(const BatchRecord& r) {
    for (OpId id : r.ops) {
      JournalOp& op = s.ops.at(id);
      op.state = OpState::kBatched;
      op.batch = r.id;
    }
    s.batches[r.id] = JournalBatch{r, ""};
    s.next_batch = std::max(s.next_batch, r.id + 1);
  }
  void operator()(const TaskRecord& r) {
    JournalBatch& b = s.batches.at(r.batch);
    b.task_id = r.task_id;
    for (OpId id : b.record.ops) {
      auto it = s.ops.find(id);
      if (it != s.ops.end() && it->second.batch == r.batch) it->second.state = OpState::kSubmitted;
    }
  }
  void operator()(const EndRecord& r) {
    const JournalBatch& b = s.batches.at(r.batch);
    for (OpId id : b.record.ops) {
      auto it = s.ops.find(id);
      if (it == s.ops.end() || it->second.batch != r.batch) continue;
      JournalOp& op = it->second;
      op.batch = 0;
      if (!r.ok) {
        op.state = OpState::kFailed;
        op.failure = r.failure;
        continue;
      }
      const auto& steps = StepsFor(op.kind);
      const bool last = static_cast<size_t>(op.step) + 1 >= steps.size();
      if (last) {
        op.state = OpState::kSucceeded;
      } else if (op.CurrentStep() == StepKind::kTransfer && op.kind == OpKind::kMove &&
                 !b.record.options.Verified()) {
        // Never delete a source whose copy was not verified.
        op.state = OpState::kFailed;
        op.failure = OpFailure{"NotVerified",
                               "the copy finished without checksum verification; the source "
                               "was kept"};
      } else {
        ++op.step;
        op.state = OpState::kQueued;
        if (op.kind == OpKind::kMove) op.copy_task = b.task_id;
      }
    }
    s.batches.erase(r.batch);
  }
  void operator()(const FailRecord& r) {
    for (OpId id : r.ops) {
      JournalOp& op = s.ops.at(id);
      op.state = OpState::kFailed;
      op.failure = r.failure;
    }
  }
  void operator()(const DoneRecord& r) {
    for (OpId id : r.ops) s.ops.at(id).state = OpState::kSucceeded;
  }
  void operator()(const RetireRecord& r) {
    for (OpId id : r.ops) s.ops.erase(id);
  }
  void operator()(const TempRecord& r) {
    s.temps[r.id] = r.temp;
    s.next_op = std::max(s.next_op, r.id + 1);
  }
  void operator()(const PutRecord& r) {
    s.puts[r.id] = r;
    s.next_op = std::max(s.next_op, r.id + 1);
  }
  void operator()(const TempGoneRecord& r) {
    s.temps.erase(r.id);
    s.puts.erase(r.id);
  }
  void operator()(const PlanRecord& r) {
    JournalOp& op = s.ops.at(r.op);
    op.plan = r.plan;
    // Nothing of the source may be deleted (e.g. no file was copied): the move is done.
    if (!r.plan.whole && r.plan.paths.empty()) op.state = OpState::kSucceeded;
  }
};

}  // namespace

Status CheckRecord(const JournalState& s, const JournalRecord& r) {
  return std::visit(Checker{s}, r);
}

namespace journal_internal {
void ApplyChecked(JournalState& s, const JournalRecord& r) { std::visit(Applier{s}, r); }
}  // namespace journal_internal

Status ApplyRecord(JournalState& s, const JournalRecord& r) {
  GF_TRY_STATUS(CheckRecord(s, r));
  std::visit(Applier{s}, r);
  return {};
}

std::vector<JournalRecord> CompactedRecords(const JournalState& s) {
  std::vector<JournalRecord> out;
  out.push_back(HeaderRecord{kJournalVersion, s.next_op, s.next_batch});
  for (const auto& [id, op] : s.ops) {
    OpRecord r;
    r.id = op.id;
    r.kind = op.kind;
    r.src = op.src;
    r.dst = op.dst;
    r.recursive = op.recursive;
    r.size = op.size;
    r.queued_at = op.queued_at;
    r.step = op.step;
    if (op.Terminal()) r.succeeded = op.state == OpState::kSucceeded;
    r.failure = op.failure;
    r.copy_task = op.copy_task;
    r.plan = op.plan;
    r.staged_id = op.staged_id;
    r.replaces = op.replaces;
    out.push_back(std::move(r));
  }
  for (const auto& [id, b] : s.batches) {
    BatchRecord r = b.record;
    // Only the ops still in this batch (a retired op may have left it).
    std::erase_if(r.ops, [&s, batch = id](OpId op) {
      auto it = s.ops.find(op);
      return it == s.ops.end() || it->second.batch != batch;
    });
    if (r.ops.empty()) continue;
    out.push_back(std::move(r));
    if (!b.task_id.empty()) out.push_back(TaskRecord{id, b.task_id});
  }
  for (const auto& [id, temp] : s.temps) out.push_back(TempRecord{id, temp});
  for (const auto& [id, put] : s.puts) out.push_back(put);
  return out;
}

}  // namespace gf::fs
