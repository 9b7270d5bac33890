// The pending-operation journal: see journal.h for the format and the state machine.
#include "fs/transfers/journal.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "common/log.h"

namespace gf::fs {

namespace {
constexpr char kLog[] = "journal";
constexpr int kVersion = kJournalVersion;

Error Invalid(std::string what) { return Error::Local(EINVAL, "journal: " + std::move(what)); }
Error Sys(const std::string& what) {
  int e = errno;
  return Error::Local(e, "journal: " + what + ": " + std::strerror(e));
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Names and plans
// ---------------------------------------------------------------------------------------------
const std::vector<StepKind>& StepsFor(OpKind kind) {
  static const std::vector<StepKind> kCopy = {StepKind::kTransfer};
  static const std::vector<StepKind> kMove = {StepKind::kTransfer, StepKind::kDelete};
  static const std::vector<StepKind> kRemove = {StepKind::kDelete};
  switch (kind) {
    case OpKind::kCopy:
      return kCopy;
    case OpKind::kMove:
      return kMove;
    case OpKind::kRemove:
      return kRemove;
  }
  return kCopy;
}

const char* Name(OpKind k) {
  switch (k) {
    case OpKind::kCopy:
      return "copy";
    case OpKind::kMove:
      return "move";
    case OpKind::kRemove:
      return "remove";
  }
  return "?";
}
const char* Name(StepKind k) { return k == StepKind::kTransfer ? "transfer" : "delete"; }
const char* Name(OpState s) {
  switch (s) {
    case OpState::kQueued:
      return "queued";
    case OpState::kBatched:
      return "batched";
    case OpState::kSubmitted:
      return "submitted";
    case OpState::kSucceeded:
      return "succeeded";
    case OpState::kFailed:
      return "failed";
  }
  return "?";
}

namespace {
std::optional<OpKind> OpKindFrom(std::string_view s) {
  for (OpKind k : {OpKind::kCopy, OpKind::kMove, OpKind::kRemove})
    if (s == Name(k)) return k;
  return std::nullopt;
}
std::optional<StepKind> StepKindFrom(std::string_view s) {
  for (StepKind k : {StepKind::kTransfer, StepKind::kDelete})
    if (s == Name(k)) return k;
  return std::nullopt;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
// ---------------------------------------------------------------------------------------------
uint32_t Crc32c(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = kTable[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------
namespace {
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer& w, const char* key, std::string_view v) {
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void U64(Writer& w, const char* key, uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}
void Bool(Writer& w, const char* key, bool v) {
  w.Key(key);
  w.Bool(v);
}
void Ids(Writer& w, const char* key, const std::vector<uint64_t>& ids) {
  w.Key(key);
  w.StartArray();
  for (uint64_t id : ids) w.Uint64(id);
  w.EndArray();
}
void Failure(Writer& w, const OpFailure& f) {
  Str(w, "ec", f.code);
  Str(w, "em", f.message);
}
void Plan(Writer& w, const char* key, const DeletePlan& p) {
  w.Key(key);
  w.StartObject();
  Bool(w, "whole", p.whole);
  w.Key("paths");
  w.StartArray();
  for (const std::string& path : p.paths)
    w.String(path.data(), static_cast<rapidjson::SizeType>(path.size()));
  w.EndArray();
  U64(w, "left", p.left);
  U64(w, "unlisted", p.unlisted);
  w.EndObject();
}

struct Encoder {
  Writer& w;
  void operator()(const HeaderRecord& r) {
    Str(w, "t", "hdr");
    w.Key("v");
    w.Int(r.version);
    U64(w, "next_op", r.next_op);
    U64(w, "next_batch", r.next_batch);
  }
  void operator()(const OpRecord& r) {
    Str(w, "t", "op");
    U64(w, "id", r.id);
    Str(w, "k", Name(r.kind));
    Str(w, "sc", r.src.collection);
    Str(w, "sp", r.src.path);
    Str(w, "dc", r.dst.collection);
    Str(w, "dp", r.dst.path);
    Bool(w, "r", r.recursive);
    U64(w, "sz", r.size);
    w.Key("at");
    w.Int64(static_cast<int64_t>(r.queued_at));
    if (r.step != 0) {
      w.Key("step");
      w.Int(r.step);
    }
    if (r.succeeded) Bool(w, "ok", *r.succeeded);
    if (r.failure) Failure(w, *r.failure);
    if (!r.copy_task.empty()) Str(w, "ct", r.copy_task);
    if (r.plan) Plan(w, "plan", *r.plan);
  }
  void operator()(const BatchRecord& r) {
    Str(w, "t", "batch");
    U64(w, "id", r.id);
    Str(w, "k", Name(r.kind));
    Str(w, "sub", r.submission_id);
    Str(w, "sc", r.src_collection);
    Str(w, "dc", r.dst_collection);
    Ids(w, "ops", r.ops);
    Str(w, "label", r.label);
    Bool(w, "vc", r.options.verify_checksum);
    Bool(w, "pt", r.options.preserve_timestamp);
    Bool(w, "ed", r.options.encrypt_data);
    if (r.options.sync_level) {
      w.Key("sl");
      w.Int(*r.options.sync_level);
    }
    Bool(w, "rec", r.options.recursive);
    Bool(w, "im", r.options.ignore_missing);
  }
  void operator()(const TaskRecord& r) {
    Str(w, "t", "task");
    U64(w, "b", r.batch);
    Str(w, "task", r.task_id);
  }
  void operator()(const EndRecord& r) {
    Str(w, "t", "end");
    U64(w, "b", r.batch);
    Bool(w, "ok", r.ok);
    if (!r.ok) Failure(w, r.failure);
  }
  void operator()(const FailRecord& r) {
    Str(w, "t", "fail");
    Ids(w, "ops", r.ops);
    Failure(w, r.failure);
  }
  void operator()(const RetireRecord& r) {
    Str(w, "t", "retire");
    Ids(w, "ops", r.ops);
  }
  void operator()(const PlanRecord& r) {
    Str(w, "t", "plan");
    U64(w, "op", r.op);
    Plan(w, "plan", r.plan);
  }
};

// Field readers: a missing or mistyped required field makes the record invalid.
class Fields {
 public:
  explicit Fields(const rapidjson::Value& v) : v_(v) {}
  bool ok() const { return ok_; }
  std::string S(const char* k) {
    auto it = v_.FindMember(k);
    if (it == v_.MemberEnd() || !it->value.IsString()) return Bad();
    return {it->value.GetString(), it->value.GetStringLength()};
  }
  uint64_t U(const char* k) {
    auto it = v_.FindMember(k);
    if (it == v_.MemberEnd() || !it->value.IsUint64()) return Bad(), 0;
    return it->value.GetUint64();
  }
  int64_t I(const char* k) {
    auto it = v_.FindMember(k);
    if (it == v_.MemberEnd() || !it->value.IsInt64()) return Bad(), 0;
    return it->value.GetInt64();
  }
  bool B(const char* k) {
    auto it = v_.FindMember(k);
    if (it == v_.MemberEnd() || !it->value.IsBool()) return Bad(), false;
    return it->value.GetBool();
  }
  bool Has(const char* k) const { return v_.HasMember(k); }
  std::vector<uint64_t> Ids(const char* k) {
    std::vector<uint64_t> out;
    auto it = v_.FindMember(k);
    if (it == v_.MemberEnd() || !it->value.IsArray()) return Bad(), out;
    for (const auto& e : it->value.GetArray()) {
      if (!e.IsUint64()) return Bad(), out;
      out.push_back(e.GetUint64());
    }
    return out;
  }
  OpFailure Failure() { return {S("ec"), S("em")}; }
  DeletePlan Plan(const char* k) {
    DeletePlan p;
    auto it = v_.FindMember(k);
    if (it == v_.MemberEnd() || !it->value.IsObject()) return Bad(), p;
    Fields f(it->value);
    p.whole = f.B("whole");
    p.left = f.U("left");
    p.unlisted = f.U("unlisted");
    auto paths = it->value.FindMember("paths");
    if (paths == it->value.MemberEnd() || !paths->value.IsArray()) return Bad(), p;
    for (const auto& e : paths->value.GetArray()) {
      if (!e.IsString()) return Bad(), p;
      p.paths.emplace_back(e.GetString(), e.GetStringLength());
    }
    if (!f.ok()) Bad();
    return p;
  }

 private:
  std::string Bad() {
    ok_ = false;
    return {};
  }
  const rapidjson::Value& v_;
  bool ok_ = true;
};

Result<JournalRecord> DecodeJson(const rapidjson::Value& v) {
  Fields f(v);
  std::string t = f.S("t");
  JournalRecord out;
  if (t == "hdr") {
    HeaderRecord r;
    r.version = static_cast<int>(f.I("v"));
    r.next_op = f.U("next_op");
    r.next_batch = f.U("next_batch");
    out = r;
  } else if (t == "op") {
    OpRecord r;
    r.id = f.U("id");
    auto kind = OpKindFrom(f.S("k"));
    if (!kind) return Invalid("unknown op kind");
    r.kind = *kind;
    r.src = {f.S("sc"), f.S("sp")};
    r.dst = {f.S("dc"), f.S("dp")};
    r.recursive = f.B("r");
    r.size = f.U("sz");
    r.queued_at = static_cast<std::time_t>(f.I("at"));
    if (f.Has("step")) r.step = static_cast<int>(f.I("step"));
    if (f.Has("ok")) r.succeeded = f.B("ok");
    if (f.Has("ec")) r.failure = f.Failure();
    if (f.Has("ct")) r.copy_task = f.S("ct");
    if (f.Has("plan")) r.plan = f.Plan("plan");
    out = r;
  } else if (t == "batch") {
    BatchRecord r;
    r.id = f.U("id");
    auto kind = StepKindFrom(f.S("k"));
    if (!kind) return Invalid("unknown batch kind");
    r.kind = *kind;
    r.submission_id = f.S("sub");
    r.src_collection = f.S("sc");
    r.dst_collection = f.S("dc");
    r.ops = f.Ids("ops");
    r.label = f.S("label");
    r.options.verify_checksum = f.B("vc");
    r.options.preserve_timestamp = f.B("pt");
    r.options.encrypt_data = f.B("ed");
    if (f.Has("sl")) r.options.sync_level = static_cast<int>(f.I("sl"));
    r.options.recursive = f.B("rec");
    r.options.ignore_missing = f.B("im");
    out = r;
  } else if (t == "task") {
    out = TaskRecord{f.U("b"), f.S("task")};
  } else if (t == "end") {
    EndRecord r;
    r.batch = f.U("b");
    r.ok = f.B("ok");
    if (!r.ok) r.failure = f.Failure();
    out = r;
  } else if (t == "fail") {
    FailRecord r;
    r.ops = f.Ids("ops");
    r.failure = f.Failure();
    out = r;
  } else if (t == "retire") {
    out = RetireRecord{f.Ids("ops")};
  } else if (t == "plan") {
    PlanRecord r;
    r.op = f.U("op");
    r.plan = f.Plan("plan");
    out = r;
  } else {
    return Invalid("unknown record type '" + t + "'");
  }
  if (!f.ok()) return Invalid("record '" + t + "' has missing or mistyped fields");
  return out;
}
}  // namespace

std::string EncodeRecord(const JournalRecord& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  std::visit(Encoder{w}, r);
  w.EndObject();
  std::string json(buf.GetString(), buf.GetSize());
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", Crc32c(json));
  return std::string(crc) + " " + json;
}

Result<JournalRecord> DecodeRecord(std::string_view line) {
  if (line.size() < 10 || line[8] != ' ') return Invalid("malformed line");
  std::string_view json = line.substr(9);
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", Crc32c(json));
  if (line.substr(0, 8) != std::string_view(crc, 8)) return Invalid("checksum mismatch");
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return Invalid("bad JSON");
  return DecodeJson(doc);
}

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
    if (r.version > kVersion)
      return Invalid("written by a newer globus-fuse (format " + std::to_string(r.version) + ")");
    return {};
  }
  Status operator()(const OpRecord& r) const {
    if (r.id == 0 || s.ops.count(r.id)) return Invalid("duplicate op " + std::to_string(r.id));
    if (r.step < 0 || static_cast<size_t>(r.step) >= StepsFor(r.kind).size())
      return Invalid("bad step");
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
  Status operator()(const RetireRecord& r) const {
    for (OpId id : r.ops) {
      GF_TRY_STATUS(Live(id));
      if (!s.ops.at(id).Terminal()) return Invalid("retire of a live op");
    }
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
  void operator()(const RetireRecord& r) {
    for (OpId id : r.ops) s.ops.erase(id);
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

Status ApplyRecord(JournalState& s, const JournalRecord& r) {
  GF_TRY_STATUS(CheckRecord(s, r));
  std::visit(Applier{s}, r);
  return {};
}

std::vector<JournalRecord> CompactedRecords(const JournalState& s) {
  std::vector<JournalRecord> out;
  out.push_back(HeaderRecord{kVersion, s.next_op, s.next_batch});
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
  return out;
}

// ---------------------------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------------------------
std::string JournalPath(const std::string& state_dir, const std::string& mount_id) {
  return state_dir + "/journal/" + mount_id + ".log";
}

namespace {
std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status MakeDirs(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return {};
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return Error::Local(ENOTDIR, "journal: " + dir + " is not a directory");
  }
  GF_TRY_STATUS(MakeDirs(DirOf(dir)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Sys("mkdir " + dir);
  return {};
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Sys("open " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Sys("fsync " + dir);
  return {};
}
}  // namespace

int Journal::Sync(int fd) const { return opts_.sync ? opts_.sync(fd) : ::fdatasync(fd); }

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& path, JournalOptions o) {
  std::unique_ptr<Journal> j(new Journal(path, std::move(o)));
  const std::string dir = DirOf(path);
  GF_TRY_STATUS(MakeDirs(dir));
  j->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (j->fd_ < 0) return Sys("open " + path);
  if (::flock(j->fd_, LOCK_EX | LOCK_NB) != 0)
    return Error::Local(EBUSY, "journal: " + path + " is in use by another globus-fuse");
  GF_TRY_STATUS(j->Replay());
  if (j->records_ == 0) {  // new (or emptied) file: start with a header
    GF_TRY_STATUS(j->Append(HeaderRecord{kVersion, j->state_.next_op, j->state_.next_batch}));
    GF_TRY_STATUS(SyncDir(dir));
  } else if (j->version_at_open_ < kVersion) {
    // An older format: rewrite it as this one before appending records it does not know.
    log::Info(kLog, path, ": upgrading from format ", j->version_at_open_, " to ", kVersion);
    GF_TRY_STATUS(j->Compact());
  }
  return j;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

Status Journal::Replay() {
  std::string data;
  char buf[1 << 16];
  if (::lseek(fd_, 0, SEEK_SET) < 0) return Sys("lseek " + path_);
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Sys("read " + path_);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) break;  // no LF: torn
    auto rec = DecodeRecord(std::string_view(data).substr(pos, nl - pos));
    if (!rec.ok()) break;  // bad CRC / JSON: torn or corrupt; everything after is dropped
    if (const auto* h = std::get_if<HeaderRecord>(&*rec); h && version_at_open_ == 0)
      version_at_open_ = h->version;
    Status applied = ApplyRecord(state_, *rec);
    if (!applied.ok()) {
      // A record that checks out but does not fit the state: a bug, not a crash artefact.
      // Refuse a newer format outright; otherwise skip the record and keep the rest.
      if (std::holds_alternative<HeaderRecord>(*rec)) return applied;
      log::Warn(kLog, path_, ": skipping inconsistent record at byte ", pos, ": ",
                applied.error().Describe());
    }
    ++records_;
    pos = nl + 1;
  }
  size_ = pos;
  dropped_bytes_ = data.size() - pos;
  if (dropped_bytes_ > 0) {
    log::Warn(kLog, path_, ": dropping ", dropped_bytes_,
              " bytes of torn or corrupt records at byte ", pos);
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) return Sys("ftruncate " + path_);
    if (Sync(fd_) != 0) return Sys("sync " + path_);
  }
  if (::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) return Sys("lseek " + path_);
  return {};
}

Status Journal::WriteLine(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Sys("write " + path_);
    done += static_cast<size_t>(n);
  }
  return {};
}

Status Journal::Append(const JournalRecord& r) {
  if (fd_ < 0) return Error::Local(EIO, "journal: " + path_ + " is unusable after an error");
  GF_TRY_STATUS(CheckRecord(state_, r));
  const std::string line = EncodeRecord(r) + "\n";
  Status written = WriteLine(fd_, line);
  if (written.ok() && Sync(fd_) != 0) written = Sys("sync " + path_);
  if (!written.ok()) {
    // Cut the partial or unsynced record off so later records are not glued to it.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 ||
        ::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) {
      log::Error(kLog, path_, ": cannot roll back a failed append; journal disabled");
      ::close(fd_);
      fd_ = -1;
    }
    return written;
  }
  size_ += line.size();
  ++records_;
  std::visit(Applier{state_}, r);

  const uint64_t live = state_.ops.size() + state_.batches.size();
  if (records_ > std::max(opts_.compact_min_records, opts_.compact_ratio * live)) {
    Status c = Compact();
    if (!c.ok()) log::Warn(kLog, "compaction failed (will retry): ", c.error().Describe());
  }
  return {};
}

Status Journal::Compact() {
  if (fd_ < 0) return Error::Local(EIO, "journal: " + path_ + " is unusable after an error");
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Sys("open " + tmp);
  auto fail = [&](Error e) -> Status {
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return fail(Sys("flock " + tmp));
  std::string text;
  uint64_t n = 0;
  for (const JournalRecord& r : CompactedRecords(state_)) {
    text += EncodeRecord(r);
    text += '\n';
    ++n;
  }
  if (Status w = WriteLine(fd, text); !w.ok()) return fail(w.error());
  if (Sync(fd) != 0) return fail(Sys("sync " + tmp));
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return fail(Sys("rename " + tmp));
  ::close(fd_);
  fd_ = fd;
  size_ = text.size();
  records_ = n;
  if (::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) return Sys("lseek " + path_);
  return SyncDir(DirOf(path_));
}

}  // namespace gf::fs
