// The journal's records: names, CRC-32C, and the one-line JSON encoding (see journal.h).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "fs/transfers/journal.h"
#include "fs/transfers/journal_internal.h"

namespace gf::fs {

using journal_internal::Invalid;

namespace {
constexpr int kVersion = kJournalVersion;
}  // namespace

// ---------------------------------------------------------------------------------------------
// Names and plans
// ---------------------------------------------------------------------------------------------
const std::vector<StepKind>& StepsFor(OpKind kind) {
  static const std::vector<StepKind> kCopy = {StepKind::kTransfer};
  static const std::vector<StepKind> kMove = {StepKind::kTransfer, StepKind::kDelete};
  static const std::vector<StepKind> kRemove = {StepKind::kDelete};
  static const std::vector<StepKind> kUpload = {StepKind::kUpload};
  switch (kind) {
    case OpKind::kCopy:
      return kCopy;
    case OpKind::kMove:
      return kMove;
    case OpKind::kRemove:
      return kRemove;
    case OpKind::kUpload:
      return kUpload;
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
    case OpKind::kUpload:
      return "upload";
  }
  return "?";
}
const char* Name(StepKind k) {
  switch (k) {
    case StepKind::kTransfer:
      return "transfer";
    case StepKind::kDelete:
      return "delete";
    case StepKind::kUpload:
      return "upload";
  }
  return "?";
}
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
  for (OpKind k : {OpKind::kCopy, OpKind::kMove, OpKind::kRemove, OpKind::kUpload})
    if (s == Name(k)) return k;
  return std::nullopt;
}
std::optional<StepKind> StepKindFrom(std::string_view s) {
  for (StepKind k : {StepKind::kTransfer, StepKind::kDelete, StepKind::kUpload})
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
    if (!r.staged_id.empty()) Str(w, "sid", r.staged_id);
    if (r.replaces) Bool(w, "rx", true);
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
  void operator()(const DoneRecord& r) {
    Str(w, "t", "done");
    Ids(w, "ops", r.ops);
  }
  void operator()(const RetireRecord& r) {
    Str(w, "t", "retire");
    Ids(w, "ops", r.ops);
  }
  void operator()(const TempRecord& r) {
    Str(w, "t", "tmp");
    U64(w, "id", r.id);
    Str(w, "c", r.temp.collection);
    Str(w, "p", r.temp.path);
  }
  void operator()(const PutRecord& r) {
    Str(w, "t", "put");
    U64(w, "id", r.id);
    Str(w, "c", r.path.collection);
    Str(w, "p", r.path.path);
    U64(w, "sz", r.size);
  }
  void operator()(const TempGoneRecord& r) {
    Str(w, "t", "tmpgone");
    U64(w, "id", r.id);
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
    if (f.Has("sid")) r.staged_id = f.S("sid");
    if (f.Has("rx")) r.replaces = f.B("rx");
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
  } else if (t == "done") {
    out = DoneRecord{f.Ids("ops")};
  } else if (t == "retire") {
    out = RetireRecord{f.Ids("ops")};
  } else if (t == "tmp") {
    TempRecord r;
    r.id = f.U("id");
    r.temp = {f.S("c"), f.S("p")};
    out = r;
  } else if (t == "put") {
    PutRecord r;
    r.id = f.U("id");
    r.path = {f.S("c"), f.S("p")};
    r.size = f.U("sz");
    out = r;
  } else if (t == "tmpgone") {
    out = TempGoneRecord{f.U("id")};
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

}  // namespace gf::fs
