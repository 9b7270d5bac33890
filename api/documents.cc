// Parsers for Transfer v0.10 documents (globus-api.md §1). Field access rules (null == absent,
// wrong type == error naming the field) live in json_reader.h; this file only says which fields
// each document has and which are required. Error documents: api_error.cc. Serializers:
// documents_serialize.cc.
#include "api/documents.h"

#include <rapidjson/document.h>

#include <cstdio>

#include "api/json_reader.h"

namespace gf::api {

const char* TaskStatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kActive:
      return "ACTIVE";
    case TaskStatus::kInactive:
      return "INACTIVE";
    case TaskStatus::kSucceeded:
      return "SUCCEEDED";
    case TaskStatus::kFailed:
      return "FAILED";
  }
  return "?";
}

using json::ObjectReader;

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------
namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[pos..]; advances pos.
bool Digits(std::string_view s, std::size_t& pos, int n, int& out) {
  if (pos + static_cast<std::size_t>(n) > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += static_cast<std::size_t>(n);
  out = v;
  return true;
}

bool Expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

// Accepts "YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM|±HH]"; no zone means UTC.
// Fractions are truncated (file times are whole seconds for FUSE anyway).
std::optional<std::time_t> ParseGlobusTime(std::string_view s) {
  std::size_t p = 0;
  int y, mo, d, h, mi, sec;
  if (!Digits(s, p, 4, y) || !Expect(s, p, '-') || !Digits(s, p, 2, mo) || !Expect(s, p, '-') ||
      !Digits(s, p, 2, d)) {
    return std::nullopt;
  }
  if (p >= s.size() || (s[p] != ' ' && s[p] != 'T' && s[p] != 't')) return std::nullopt;
  ++p;
  if (!Digits(s, p, 2, h) || !Expect(s, p, ':') || !Digits(s, p, 2, mi) || !Expect(s, p, ':') ||
      !Digits(s, p, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    ++p;
    std::size_t start = p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
    if (p == start) return std::nullopt;
  }
  int64_t offset_s = 0;
  if (p < s.size()) {
    char z = s[p];
    if (z == 'Z' || z == 'z') {
      ++p;
    } else if (z == '+' || z == '-') {
      ++p;
      int oh = 0, om = 0;
      if (!Digits(s, p, 2, oh)) return std::nullopt;
      if (p < s.size()) {
        Expect(s, p, ':');  // optional colon
        if (!Digits(s, p, 2, om)) return std::nullopt;
      }
      if (oh > 23 || om > 59) return std::nullopt;
      offset_s = (oh * 3600 + om * 60) * (z == '-' ? -1 : 1);
    } else {
      return std::nullopt;
    }
  }
  if (p != s.size()) return std::nullopt;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t t = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return static_cast<std::time_t>(t);
}

std::string FormatTaskTime(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];  // generous: the compiler cannot bound the int fields
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// File documents
// ---------------------------------------------------------------------------------------------
EntryType ParseEntryType(std::string_view s) {
  if (s == "file") return EntryType::kFile;
  if (s == "dir") return EntryType::kDir;
  if (s == "symlink") return EntryType::kSymlink;
  if (s == "invalid_symlink") return EntryType::kInvalidSymlink;
  if (s == "chr") return EntryType::kChr;
  if (s == "blk") return EntryType::kBlk;
  if (s == "pipe") return EntryType::kPipe;
  return EntryType::kOther;
}

std::optional<uint32_t> ParsePermissions(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  uint32_t mode = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  return mode;
}

namespace {

Result<FileEntry> FileEntryFrom(const rapidjson::Value& v, const std::string& what) {
  ObjectReader r(v, what);
  FileEntry e;
  e.name = r.ReqString("name");
  e.type = ParseEntryType(r.ReqString("type"));
  e.size = r.OptUInt("size").value_or(0);
  e.last_modified = r.OptTime("last_modified").value_or(0);
  if (auto perm = r.OptString("permissions")) {
    auto mode = ParsePermissions(*perm);
    if (mode) {
      e.permissions = *mode;
    } else {
      r.Fail("permissions", "not an octal mode: \"" + perm->substr(0, 8) + "\"");
    }
  }
  e.user = r.OptString("user");
  e.group = r.OptString("group");
  e.link_target = r.OptString("link_target");
  e.link_size = r.OptUInt("link_size");
  e.link_last_modified = r.OptTime("link_last_modified");
  GF_TRY_STATUS(r.status());
  return e;
}

Result<Endpoint> EndpointFrom(const rapidjson::Value& v) {
  ObjectReader r(v, "endpoint document");
  Endpoint e;
  e.id = r.ReqString("id");
  // display_name is null on some legacy endpoints; fall back to canonical_name.
  auto display = r.OptString("display_name");
  auto canonical = r.OptString("canonical_name");
  e.display_name = display ? *display : canonical.value_or("");
  e.entity_type = r.OptString("entity_type").value_or("");
  e.non_functional = r.OptBool("non_functional", false);
  e.https_server = r.OptString("https_server");
  e.high_assurance = r.OptBool("high_assurance", false);
  e.authentication_timeout_mins = r.OptInt("authentication_timeout_mins");
  e.default_directory = r.OptString("default_directory");
  e.owner_string = r.OptString("owner_string");
  e.mapped_collection_id = r.OptString("mapped_collection_id");
  e.non_functional_endpoint_id = r.OptString("non_functional_endpoint_id");
  GF_TRY_STATUS(r.status());
  return e;
}

Result<Task> TaskFrom(const rapidjson::Value& v) {
  ObjectReader r(v, "task document");
  Task t;
  t.task_id = r.ReqString("task_id");
  std::string status = r.ReqString("status");
  if (status == "ACTIVE") {
    t.status = TaskStatus::kActive;
  } else if (status == "INACTIVE") {
    t.status = TaskStatus::kInactive;
  } else if (status == "SUCCEEDED") {
    t.status = TaskStatus::kSucceeded;
  } else if (status == "FAILED") {
    t.status = TaskStatus::kFailed;
  } else if (r.ok()) {
    r.Fail("status", "unknown task status \"" + status.substr(0, 20) + "\"");
  }
  std::string type = r.OptString("type").value_or("TRANSFER");
  if (type == "TRANSFER") {
    t.type = TaskType::kTransfer;
  } else if (type == "DELETE") {
    t.type = TaskType::kDelete;
  } else {
    r.Fail("type", "unknown task type \"" + type.substr(0, 20) + "\"");
  }
  t.label = r.OptString("label");
  t.request_time = r.OptTime("request_time").value_or(0);
  t.completion_time = r.OptTime("completion_time");
  t.deadline = r.OptTime("deadline");
  t.source_endpoint_id = r.OptString("source_endpoint_id");
  t.destination_endpoint_id = r.OptString("destination_endpoint_id");
  t.source_endpoint_display_name = r.OptString("source_endpoint_display_name");
  t.destination_endpoint_display_name = r.OptString("destination_endpoint_display_name");
  t.files = r.OptInt("files").value_or(0);
  t.directories = r.OptInt("directories").value_or(0);
  t.files_transferred = r.OptInt("files_transferred").value_or(0);
  t.files_skipped = r.OptInt("files_skipped").value_or(0);
  t.bytes_transferred = r.OptInt("bytes_transferred").value_or(0);
  t.bytes_checksummed = r.OptInt("bytes_checksummed").value_or(0);
  t.effective_bytes_per_second = r.OptInt("effective_bytes_per_second").value_or(0);
  t.total_estimated_bytes = r.OptInt("total_estimated_bytes");
  t.subtasks_total = r.OptInt("subtasks_total").value_or(0);
  t.subtasks_pending = r.OptInt("subtasks_pending").value_or(0);
  t.subtasks_succeeded = r.OptInt("subtasks_succeeded").value_or(0);
  t.subtasks_failed = r.OptInt("subtasks_failed").value_or(0);
  t.faults = r.OptInt("faults").value_or(0);
  if (const auto* fe = r.OptObject("fatal_error")) {
    ObjectReader fr(*fe, "task fatal_error");
    FatalError f;
    f.code = fr.OptString("code").value_or("");
    f.description = fr.OptString("description").value_or("");
    GF_TRY_STATUS(fr.status());
    t.fatal_error = std::move(f);
  }
  // is_ok is null once the task has finished; "not known to be failing" reads as ok.
  t.is_ok = r.OptBool("is_ok", true);
  t.nice_status = r.OptString("nice_status");
  GF_TRY_STATUS(r.status());
  return t;
}

Result<Event> EventFrom(const rapidjson::Value& v) {
  ObjectReader r(v, "event document");
  Event e;
  e.code = r.ReqString("code");
  e.description = r.OptString("description").value_or("");
  e.details = r.OptString("details").value_or("");
  e.is_error = r.OptBool("is_error", false);
  e.time = r.OptTime("time").value_or(0);
  GF_TRY_STATUS(r.status());
  return e;
}

Result<Bookmark> BookmarkFrom(const rapidjson::Value& v) {
  ObjectReader r(v, "bookmark document");
  Bookmark b;
  b.id = r.ReqString("id");
  b.name = r.OptString("name").value_or("");
  b.endpoint_id = r.ReqString("endpoint_id");
  b.path = r.ReqString("path");
  b.pinned = r.OptBool("pinned", false);
  GF_TRY_STATUS(r.status());
  return b;
}

// The documents of the `DATA` array of an already parsed list document, read by `item`.
template <class T, class F>
Result<std::vector<T>> DataItems(ObjectReader& r, F item) {
  const auto* data = r.ReqArray("DATA");
  GF_TRY_STATUS(r.status());
  std::vector<T> out;
  out.reserve(data->Size());
  for (const auto& v : data->GetArray()) {
    auto one = item(v);
    if (!one.ok()) return std::move(one).error();
    out.push_back(std::move(one).value());
  }
  return out;
}

// Parses `json` as an object whose `DATA` array holds documents read by `item`.
template <class T, class F>
Result<std::vector<T>> ParseDataList(std::string_view json, const char* what, F item) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, what));
  ObjectReader r(doc, what);
  return DataItems<T>(r, item);
}

}  // namespace

Result<FileEntry> ParseFileEntry(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "file document"));
  return FileEntryFrom(doc, "file document");
}

Result<FileList> ParseFileList(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "file_list"));
  ObjectReader r(doc, "file_list");
  FileList l;
  const auto* data = r.ReqArray("DATA");
  l.path = r.OptString("path").value_or("");
  l.absolute_path = r.OptString("absolute_path");
  l.endpoint = r.OptString("endpoint").value_or("");
  l.total = r.OptUInt("total");
  l.rename_supported = r.OptBool("rename_supported", false);
  l.symlink_supported = r.OptBool("symlink_supported", false);
  auto length = r.OptUInt("length");
  GF_TRY_STATUS(r.status());
  l.entries.reserve(data->Size());
  for (const auto& v : data->GetArray()) {
    auto e = FileEntryFrom(v, "file_list entry");
    if (!e.ok()) return std::move(e).error();
    l.entries.push_back(std::move(e).value());
  }
  l.length = length.value_or(l.entries.size());
  return l;
}

Result<Endpoint> ParseEndpoint(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "endpoint document"));
  return EndpointFrom(doc);
}

Result<std::vector<Endpoint>> ParseEndpointList(std::string_view json) {
  return ParseDataList<Endpoint>(json, "endpoint_list", EndpointFrom);
}

Result<std::vector<Bookmark>> ParseBookmarkList(std::string_view json) {
  return ParseDataList<Bookmark>(json, "bookmark_list", BookmarkFrom);
}

Result<Task> ParseTask(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "task document"));
  return TaskFrom(doc);
}

Result<std::vector<Task>> ParseTaskList(std::string_view json) {
  return ParseDataList<Task>(json, "task_list", TaskFrom);
}

Result<std::vector<Event>> ParseEventList(std::string_view json) {
  return ParseDataList<Event>(json, "event_list", EventFrom);
}

namespace {
// A marker of marker-paged documents: a number on the wire, accepted as a string too.
std::optional<std::string> MarkerField(const rapidjson::Value& doc, const char* key,
                                       ObjectReader& r) {
  auto it = doc.FindMember(key);
  if (it == doc.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (it->value.IsString()) return std::string(it->value.GetString(), it->value.GetStringLength());
  if (it->value.IsInt64()) return std::to_string(it->value.GetInt64());
  if (it->value.IsUint64()) return std::to_string(it->value.GetUint64());
  r.Fail(key, "expected a number or a string");
  return std::nullopt;
}

Result<SuccessfulTransfer> SuccessfulTransferFrom(const rapidjson::Value& v) {
  ObjectReader r(v, "successful_transfer document");
  SuccessfulTransfer t;
  t.source_path = r.ReqString("source_path");
  t.destination_path = r.ReqString("destination_path");
  t.size = r.OptInt("size");
  GF_TRY_STATUS(r.status());
  return t;
}
}  // namespace

Result<SuccessfulTransfersPage> ParseSuccessfulTransfers(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "successful_transfers"));
  ObjectReader r(doc, "successful_transfers");
  SuccessfulTransfersPage page;
  page.marker = MarkerField(doc, "marker", r).value_or("");
  page.next_marker = MarkerField(doc, "next_marker", r);
  auto transfers = DataItems<SuccessfulTransfer>(r, SuccessfulTransferFrom);
  if (!transfers.ok()) return std::move(transfers).error();
  page.transfers = std::move(transfers).value();
  return page;
}

Result<SubmitResult> ParseSubmitResult(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "submit result"));
  ObjectReader r(doc, "submit result");
  SubmitResult s;
  s.code = r.ReqString("code");
  s.task_id = r.OptString("task_id").value_or("");
  s.submission_id = r.OptString("submission_id").value_or("");
  GF_TRY_STATUS(r.status());
  return s;
}

Result<std::string> ParseSubmissionId(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "submission_id"));
  ObjectReader r(doc, "submission_id");
  std::string value = r.ReqString("value");
  GF_TRY_STATUS(r.status());
  if (value.empty()) r.Fail("value", "empty submission id");
  GF_TRY_STATUS(r.status());
  return value;
}

Result<OperationResult> ParseOperationResult(std::string_view json) {
  rapidjson::Document doc;
  GF_TRY_STATUS(json::Parse(json, doc, "result document"));
  ObjectReader r(doc, "result document");
  OperationResult o;
  o.data_type = r.OptString("DATA_TYPE").value_or("");
  o.code = r.OptString("code").value_or("");
  o.message = r.OptString("message").value_or("");
  o.request_id = r.OptString("request_id").value_or("");
  o.resource = r.OptString("resource").value_or("");
  GF_TRY_STATUS(r.status());
  return o;
}

}  // namespace gf::api
