// The pending-operation journal: the durable record of every remote operation globus-fuse has
// promised the kernel but the service has not finished yet.
//
// WHAT IT HOLDS. An *op* is one user-visible request (a `cp` of a file or tree, an `mv` across
// collections, an `rm`). Each op kind has a fixed plan of remote *steps*
// (StepsFor): copy = [transfer], move = [transfer, delete source], remove = [delete]. Ops that
// share a step kind and collection pair are grouped into a *batch*, which is one Globus task.
// The delete step of a *directory* move first needs a delete *plan* (which paths to delete),
// made from the copy task's successful transfers and a listing of the source (see
// transfers/engine.h, "mv of a directory").
//
// STATE MACHINE of an op (per step; `step` indexes StepsFor(kind)):
//
//     Queued ──batch──▶ Batched(batch: submission_id) ──task──▶ Submitted(task_id)
//        │                   │                                       │
//        │ fail              │ end(failed)                           │ end(ok)      end(failed)
//        ▼                   ▼                                       ▼                ▼
//      Failed ◀──────────── Failed           next step? ── yes ─▶ Queued(step+1)   Failed
//                                                   └─── no ──▶ Succeeded
//     Succeeded | Failed ──retire──▶ (gone)
//
// so an `mv` runs Queued → Batched → Submitted → Queued(step 1: delete source) → Batched →
// Submitted → Succeeded. The move's delete step is only entered when the transfer batch ended
// ok AND was verified (verify_checksum or sync_level 3): data is never deleted before its copy
// is verified complete; an unverified "success" fails the op and keeps the source.
//
// A directory move (recursive) has one more transition inside its delete step:
//
//     Queued(step 1, no plan) ──plan──▶ Queued(step 1, plan) ──batch──▶ ...   (as above)
//                │                          └─ plan with nothing to delete ─▶ Succeeded
//                └─ fail (the copy cannot be verified file by file) ─▶ Failed
//
// Entering step 1 remembers the copy's task_id in the op (`copy_task`, from the transfer
// batch's task record), so the plan can be made again after a restart. The engine never
// batches a directory move's delete without a plan; a plan is either "the whole directory"
// (recursive delete: every file found in the source was transferred) or "exactly these files"
// (non-recursive: the rest, directories included, stays in place).
//
// FILE FORMAT. One append-only file per mount, `<state_dir>/journal/<mount-id>.log` (mode 0600,
// exclusively flock()ed so two mounts cannot share it). One file rather than one per op: a
// `cp -r` of 10^5 files would otherwise create, fsync and unlink 10^5 files plus their
// directory; here each record costs one write() + fdatasync(). Every line is
//
//     <crc32c of JSON, 8 lowercase hex digits> <space> <one-line JSON record> <LF>
//
// Records ("t"): hdr (format version, id counters), op (queued; also the compacted snapshot of an
// op), batch (submission_id taken BEFORE submitting, with its op ids, label and options), task
// (the service's task_id), end (a batch's task finished: ok, or failed with code + message),
// fail (ops failed outside any task, e.g. cancelled while queued), done (ops that succeeded
// outside any task: uploads; format 5), plan (a directory move's
// delete plan; format 2), retire (ops the engine is done with), tmp / tmpgone (format 3: a
// foreground upload is about to PUT to a hidden temp name / that name is gone again; see
// "UPLOAD TEMP NAMES"), put (format 4: a new file is about to be PUT to its final name; closed
// by tmpgone too; see "DIRECT PUTS"). A line without its LF, with a bad CRC or bad JSON is a torn
// write from a crash: replay stops there and the file is truncated back to the last good record, so
// the state after a crash is always the state after some prefix of acknowledged Append()s.
//
// DURABILITY. Append() = validate → write() the whole line → fdatasync() → apply to the in-memory
// state → return. If the write or sync fails, the file is truncated back to its previous length
// and the state is unchanged, so nothing later can be glued onto a half record.
//
// UPLOAD TEMP NAMES. A replacement of an existing file is PUT to `.globus-fuse.<hex>.tmp` next
// to it, then renamed over it (fs/write/uploader.h). These uploads run in the foreground (in
// close/fsync) and are not ops, but a crash between the PUT and the rename would leave the temp
// name at the collection for good. So a "tmp" record (an id from the op counter + the temp's
// location) is appended before the first byte is sent and "tmpgone" once the name is gone
// again (renamed, or removed after a failure) or holds data the user must keep. A "tmp" record
// without its "tmpgone" at Open means a crash in between: TransferEngine turns it into a remove
// op of that temp path (ignore_missing; the final name is never touched) and closes it.
//
// DIRECT PUTS. A brand-new file is PUT straight to its final name (no temp, no Transfer call).
// A kill -9 mid-PUT could leave a partial file there that looks complete. So a "put" record
// {id, final location, expected size} is appended before the first byte is sent, and closed by
// "tmpgone" once the PUT ended (succeeded, or failed and its partial file is gone or was never
// made; written after the close is answered, fs/write/write_ops_background.cc EndPut). An open
// "put" at Open means a crash in between: TransferEngine stats the name and
// removes it only when its size is not the expected one. These two records are appended
// WITHOUT fdatasync (AppendUnsynced): a killed process cannot lose a completed write(2) (the
// page cache survives it), so kill -9 never leaves a partial unnoticed; only a power loss or a
// kernel crash mid-PUT may (docs/WRITES.md). An fdatasync per small file would cost `cp -r`
// one disk flush per file.
//
// UPLOADS (format 5). write_mode = background journals each close's upload as an op of kind
// "upload" {dst, size, staged id "sid", replaces "rx"} (src unused) before the close returns. Its
// one step never joins a batch: the engine runs it through its UploadRunner and ends it with
// "done" (succeeded outside any batch) or "fail". The staged file `<sid>.data` under the mount's
// staging directory is the upload's body; after a crash the next mount adopts it by that id
// and uploads it again (a whole-file PUT, so again is safe).
//
// VERSIONS. Format 5 added the upload op kind and the done record. Format 4 added put (an older
// globus-fuse, which would read it as an unknown record, refuses the file). Format 3 added tmp /
// tmpgone. Format 2 added the plan record and the op snapshot's "ct"/"plan" fields. Older files are
// upgraded at Open (a compaction), so an older globus-fuse refuses the file instead of truncating
// it at the first record it does not know. Format 1 files are read as they are (a directory move
// found at its delete step without a plan gets one, from the copy task replayed out of the file's
// task record); opening one rewrites it at once in the current format (a compaction), so an older
// globus-fuse refuses the file ("written by a newer globus-fuse") instead of truncating it at the
// first record it does not know.
//
// COMPACTION. When the log holds many more records than live ops, Compact() writes the live state
// (hdr + one op record per op + batch/task records) to `<path>.tmp`, fsyncs it, renames it over
// the log and fsyncs the directory. A crash at any point leaves either the old or the new file.
//
// THREAD-SAFETY: none. The owner (TransferEngine) serializes all calls under its own mutex.
#pragma once

#include <compare>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "fs/types.h"

namespace gf::fs {

using BatchId = uint64_t;

inline constexpr int kJournalVersion = 5;

enum class OpKind { kCopy, kMove, kRemove, kUpload };
// kUpload: a background upload of a staged file (write_mode = background). Never batched into a
// Globus task: the engine runs it through its UploadRunner (transfers/engine.h, "UPLOADS").
enum class StepKind { kTransfer, kDelete, kUpload };
enum class OpState { kQueued, kBatched, kSubmitted, kSucceeded, kFailed };

// The remote steps an op of this kind runs, in order.
const std::vector<StepKind>& StepsFor(OpKind kind);
const char* Name(OpKind k);    // "copy", "move", "remove", "upload"
const char* Name(StepKind k);  // "transfer", "delete", "upload"
const char* Name(OpState s);   // "queued", "batched", "submitted", "succeeded", "failed"

// Why an op failed, as the service (or the engine) said it. `code` is a Globus code
// ("FILE_NOT_FOUND", "CANCELED", "ClientError.BadRequest", ...), `message` human text.
struct OpFailure {
  std::string code;
  std::string message;
  bool operator==(const OpFailure&) const = default;
};

// Transfer/delete options frozen into a batch, so a resubmission after a restart sends the same
// document even if the configuration changed meanwhile.
struct TaskOptions {
  bool verify_checksum = true;
  bool preserve_timestamp = true;
  bool encrypt_data = false;
  std::optional<int> sync_level;
  bool recursive = false;       // delete batches: one flag for the whole task
  bool ignore_missing = false;  // delete batches
  auto operator<=>(const TaskOptions&) const = default;
  // True when a successful transfer with these options proves the copy is complete and intact.
  bool Verified() const { return verify_checksum || sync_level.value_or(0) >= 3; }
};

// How the delete step of a directory move deletes (made after the copy succeeded).
struct DeletePlan {
  bool whole = true;               // one recursive delete of the source directory
  std::vector<std::string> paths;  // !whole: exactly these files, non-recursive
  uint64_t left = 0;      // files found in the source that the copy did not transfer (kept)
  uint64_t unlisted = 0;  // directories of the source that could not be listed (kept)
  bool operator==(const DeletePlan&) const = default;
};

// ---- records ----
struct OpRecord {  // "op": an op was queued (or, in a compacted log, its snapshot)
  OpId id = 0;
  OpKind kind = OpKind::kCopy;
  Location src, dst;  // remove: dst unused
  bool recursive = false;
  uint64_t size = 0;
  std::time_t queued_at = 0;  // wall clock, for status
  // Snapshot fields (compaction only; a fresh op has step 0 and no outcome):
  int step = 0;
  std::optional<bool> succeeded;  // set = terminal
  std::optional<OpFailure> failure;
  std::string copy_task;           // moves past their copy: the copy's task_id ("ct")
  std::optional<DeletePlan> plan;  // directory moves: the delete plan, once made
  // Uploads (format 5): the staged file's id (`<cache_dir>/<mount id>/<sid>.data`, "sid") and
  // whether the upload replaces a file at dst (through a temp name and a rename, "rx").
  std::string staged_id;
  bool replaces = false;
};
struct BatchRecord {  // "batch": ops grouped into one task, submission_id taken
  BatchId id = 0;
  StepKind kind = StepKind::kTransfer;
  std::string submission_id;
  std::string src_collection;  // delete: the collection deleted from
  std::string dst_collection;  // delete: empty
  std::vector<OpId> ops;
  std::string label;
  TaskOptions options;
};
struct TaskRecord {  // "task": the service accepted the batch
  BatchId batch = 0;
  std::string task_id;
};
struct EndRecord {  // "end": the batch's task finished (or submission failed for good)
  BatchId batch = 0;
  bool ok = false;
  OpFailure failure;  // when !ok
};
struct FailRecord {  // "fail": ops failed outside a batch (e.g. cancelled while queued)
  std::vector<OpId> ops;
  OpFailure failure;
};
struct PlanRecord {  // "plan": a directory move's delete plan (op queued at its delete step)
  OpId op = 0;
  DeletePlan plan;
};
struct DoneRecord {  // "done": ops that succeeded outside a batch (an upload; format 5)
  std::vector<OpId> ops;
};
struct RetireRecord {  // "retire": terminal ops the engine no longer needs
  std::vector<OpId> ops;
};
struct TempRecord {  // "tmp": an upload is about to PUT to this hidden temp name (format 3)
  OpId id = 0;       // taken from the op id counter
  Location temp;
};
struct PutRecord {    // "put": a brand-new file is about to be PUT straight to its name (format 4)
  OpId id = 0;        // taken from the op id counter
  Location path;      // the final name
  uint64_t size = 0;  // the whole upload's size: a file of another size there is a partial
};
struct TempGoneRecord {  // "tmpgone": that temp name is gone again (or must be kept); also
  OpId id = 0;           // closes a "put" note (the PUT ended, and no partial of it is left)
};
struct HeaderRecord {  // "hdr": first line of every file
  int version = kJournalVersion;
  OpId next_op = 1;
  BatchId next_batch = 1;
};

using JournalRecord =
    std::variant<HeaderRecord, OpRecord, BatchRecord, TaskRecord, EndRecord, FailRecord,
                 RetireRecord, PlanRecord, TempRecord, TempGoneRecord, PutRecord, DoneRecord>;

// One line (without the LF) for a record, and back. Decode rejects bad CRC/JSON/fields.
std::string EncodeRecord(const JournalRecord& r);
Result<JournalRecord> DecodeRecord(std::string_view line);

// ---- state ----
struct JournalOp {
  OpId id = 0;
  OpKind kind = OpKind::kCopy;
  Location src, dst;
  bool recursive = false;
  uint64_t size = 0;
  std::time_t queued_at = 0;
  int step = 0;
  OpState state = OpState::kQueued;
  BatchId batch = 0;  // when kBatched / kSubmitted
  std::optional<OpFailure> failure;
  std::string copy_task;           // moves past their copy step: the copy's task_id
  std::optional<DeletePlan> plan;  // directory moves: set once the delete plan is made
  std::string staged_id;           // uploads: see OpRecord
  bool replaces = false;           // uploads: see OpRecord

  StepKind CurrentStep() const { return StepsFor(kind)[static_cast<size_t>(step)]; }
  bool Terminal() const { return state == OpState::kSucceeded || state == OpState::kFailed; }
  // A directory move queued for its delete step without a plan: it must not be batched yet.
  bool NeedsPlan() const {
    return kind == OpKind::kMove && recursive && state == OpState::kQueued &&
           CurrentStep() == StepKind::kDelete && !plan;
  }
};
struct JournalBatch {
  BatchRecord record;
  std::string task_id;  // empty until accepted
};
struct JournalState {
  std::map<OpId, JournalOp> ops;
  std::map<BatchId, JournalBatch> batches;  // live batches only (an ended batch is dropped)
  std::map<OpId, Location> temps;  // upload temp names not known to be gone (tmp, no tmpgone)
  std::map<OpId, PutRecord> puts;  // direct PUTs not known to have ended (put, no tmpgone)
  OpId next_op = 1;
  BatchId next_batch = 1;
};

// Checks that `r` is a legal transition from `s`, without changing anything.
Status CheckRecord(const JournalState& s, const JournalRecord& r);
// Checks, then applies. The only code that changes a JournalState.
Status ApplyRecord(JournalState& s, const JournalRecord& r);
// The records that rebuild `s` from nothing (what compaction writes).
std::vector<JournalRecord> CompactedRecords(const JournalState& s);

struct JournalOptions {
  // Compact when the log has more than max(compact_min_records, compact_ratio × live ops)
  // records.
  uint64_t compact_min_records = 4096;
  uint64_t compact_ratio = 4;
  // The durability barrier; tests inject failures. Default: fdatasync(fd).
  std::function<int(int fd)> sync = nullptr;
};

class Journal {
 public:
  // Opens (creating it and its directory, 0700/0600) and replays the log. A torn tail is
  // truncated away (and logged). Fails if another process holds the file.
  static Result<std::unique_ptr<Journal>> Open(const std::string& path, JournalOptions o = {});
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Durably appends `r` and applies it; see DURABILITY above. Returns only after fdatasync.
  // May compact afterwards (a failed compaction is logged; the appended record stays durable).
  Status Append(const JournalRecord& r);
  // Appends without the fdatasync: the record survives a kill of this process (the page cache
  // keeps the write) but not necessarily a power loss. For the "put" notes (see DIRECT PUTS).
  Status AppendUnsynced(const JournalRecord& r);
  // Rewrites the file as CompactedRecords(state()).
  Status Compact();

  const JournalState& state() const { return state_; }
  // Allocate ids (made durable by the record that uses them; hdr persists the counters).
  OpId NextOpId() { return state_.next_op; }
  BatchId NextBatchId() { return state_.next_batch; }

  const std::string& path() const { return path_; }
  uint64_t records_in_file() const { return records_; }
  uint64_t dropped_bytes_at_open() const { return dropped_bytes_; }
  // The format of the file as opened (0 for a new file), before any upgrade.
  int version_at_open() const { return version_at_open_; }

 private:
  Journal(std::string path, JournalOptions o) : path_(std::move(path)), opts_(std::move(o)) {}
  Status Replay();
  Status WriteLine(int fd, const std::string& line);
  Status AppendImpl(const JournalRecord& r, bool sync);
  int Sync(int fd) const;

  std::string path_;
  JournalOptions opts_;
  int fd_ = -1;
  uint64_t size_ = 0;     // bytes of good records in the file
  uint64_t records_ = 0;  // records in the file
  uint64_t dropped_bytes_ = 0;
  int version_at_open_ = 0;
  JournalState state_;
};

// `<state_dir>/journal/<mount_id>.log`
std::string JournalPath(const std::string& state_dir, const std::string& mount_id);

// CRC-32C (Castagnoli), exposed for tests.
uint32_t Crc32c(std::string_view data);

}  // namespace gf::fs
