// Typed Transfer v0.10 documents (see docs/reference/globus-api.md).
// Parsers live in api/documents.cc; every fixture in tests/fixtures/globus parses.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace gf::api {

// Entry `type` values. The service sends "dir", "file", "invalid_symlink", "chr", "blk", "pipe",
// "other" (globus-api.md §1.1). Decision for symlinks: a *valid* symlink is reported by the
// service with the type of its target (plain fields describe the target, `link_*` the link), so
// the parser keeps that type and exposes `link_target`; kSymlink is produced only for an
// explicit "symlink" type string. Dangling links are kInvalidSymlink. Unknown strings map to
// kOther (a new type must not make a whole listing fail).
enum class EntryType { kFile, kDir, kSymlink, kInvalidSymlink, kChr, kBlk, kPipe, kOther };

// One `file` document (an `ls` entry, or a `stat` body). Timestamps use the file-document
// format "YYYY-MM-DD HH:MM:SS+00:00" (space separator).
struct FileEntry {
  std::string name;
  EntryType type = EntryType::kFile;
  uint64_t size = 0;
  std::time_t last_modified = 0;  // seconds since the epoch, UTC
  uint32_t permissions = 0;       // mode bits from the 4-digit octal string ("2770" keeps setgid)
  std::optional<std::string> user, group;
  std::optional<std::string> link_target;
  std::optional<uint64_t> link_size;
  std::optional<std::time_t> link_last_modified;
};

struct FileList {
  std::string path;  // echoed with a trailing '/'
  std::optional<std::string> absolute_path;
  std::string endpoint;
  std::vector<FileEntry> entries;
  uint64_t length = 0;
  std::optional<uint64_t> total;  // undocumented but present; absent => single page
  bool rename_supported = false;
  bool symlink_supported = false;
};

struct Endpoint {
  std::string id;
  std::string display_name;
  std::string
      entity_type;  // GCSv5_mapped_collection, GCSv5_guest_collection, GCSv5_endpoint, GCP_...
  bool non_functional = false;
  std::optional<std::string> https_server;  // origin, no path; null on GCP/GCSv4/endpoints
  bool high_assurance = false;
  std::optional<int64_t> authentication_timeout_mins;
  std::optional<std::string> default_directory;
  std::optional<std::string> owner_string;
  std::optional<std::string> mapped_collection_id;
  std::optional<std::string> non_functional_endpoint_id;
  bool IsMappedGcsv5() const { return entity_type == "GCSv5_mapped_collection"; }
};

struct Bookmark {
  std::string id;
  std::string name;
  std::string endpoint_id;
  std::string path;
  bool pinned = false;
};

enum class TaskStatus { kActive, kInactive, kSucceeded, kFailed };
const char* TaskStatusName(TaskStatus s);  // "ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED"
enum class TaskType { kTransfer, kDelete };

struct FatalError {
  std::string code;
  std::string description;
};

// A task document. Timestamps use the task format "YYYY-MM-DDTHH:MM:SS+00:00".
struct Task {
  std::string task_id;
  TaskType type = TaskType::kTransfer;
  TaskStatus status = TaskStatus::kActive;
  std::optional<std::string> label;
  std::time_t request_time = 0;
  std::optional<std::time_t> completion_time;
  std::optional<std::time_t> deadline;
  std::optional<std::string> source_endpoint_id, destination_endpoint_id;
  std::optional<std::string> source_endpoint_display_name, destination_endpoint_display_name;
  int64_t files = 0, directories = 0, files_transferred = 0, files_skipped = 0;
  int64_t bytes_transferred = 0, bytes_checksummed = 0, effective_bytes_per_second = 0;
  std::optional<int64_t> total_estimated_bytes;
  int64_t subtasks_total = 0, subtasks_pending = 0, subtasks_succeeded = 0, subtasks_failed = 0;
  int64_t faults = 0;
  std::optional<FatalError> fatal_error;
  bool is_ok = true;
  std::optional<std::string> nice_status;
};

struct Event {
  std::string code;
  std::string description;
  std::string details;
  bool is_error = false;
  std::time_t time = 0;
};

// One file of `GET /task/{id}/successful_transfers` (globus-api.md §1.7): only files that were
// actually transferred (no directories, nothing skipped by sync_level or skip_source_errors).
struct SuccessfulTransfer {
  std::string source_path;
  std::string destination_path;
  std::optional<int64_t> size;  // docs-derived field; not always present
};

// One page of successful transfers. Marker paging: ask again with `marker = next_marker` until
// next_marker is absent. Markers are opaque (numbers on the wire): kept as their decimal text.
struct SuccessfulTransfersPage {
  std::string marker;
  std::optional<std::string> next_marker;  // nullopt: this was the last page
  std::vector<SuccessfulTransfer> transfers;
};

struct SubmitResult {
  std::string code;  // "Accepted" or "Duplicate" (both success)
  std::string task_id;
  std::string submission_id;
};

struct TransferItem {
  std::string source_path;
  std::string destination_path;
  bool recursive = false;
};

struct TransferRequest {
  std::string submission_id;
  std::string source_endpoint;
  std::string destination_endpoint;
  std::vector<TransferItem> items;
  std::string label;
  std::optional<int> sync_level;  // 0 exists, 1 size, 2 mtime, 3 checksum
  bool verify_checksum = true;
  bool preserve_timestamp = true;
  bool encrypt_data = false;
  bool skip_source_errors = false;
  std::optional<std::string> deadline;  // task timestamp format
};

// A delete task (globus-api.md §1.6, writes-and-deletes.md §2.1). Each path is one delete_item.
struct DeleteRequest {
  std::string submission_id;
  std::string endpoint;
  std::vector<std::string> paths;
  // One flag for the whole task: the service has no per-item `recursive` ("If any of the paths
  // are directories, recursive must be set True on the top level", SDK DeleteData), and a
  // directory needs it even when empty. fs/write/delete_plan.h keeps files and directories in
  // separate tasks so a file path is never deleted recursively.
  bool recursive = false;
  bool ignore_missing = false;
  // Sent explicitly, overriding the service's defaults: `*?[]` in a name are literal (the
  // default expands them in the last component), and no email per `rm` (notify_* default true).
  bool interpret_globs = false;
  bool notify_on_succeeded = false;
  bool notify_on_failed = false;
  bool notify_on_inactive = false;
  std::string label;
};

// The common result document of mkdir / rename / cancel ("mkdir_result", "result").
struct OperationResult {
  std::string data_type;
  std::string code;  // "DirectoryCreated", "FileRenamed", "Canceled"
  std::string message;
  std::string request_id;
  std::string resource;  // with or without the /v0.10 prefix: do not depend on it
};

// ---- parsing (documents.cc) ----
// Every parser tolerates null and missing optional fields. A missing required field, a field
// of the wrong type, or a body that is not JSON yields kTransport/kMalformedBody whose message
// names the document and the field. Required fields: file entry `name`, `type`; file list
// `DATA`; endpoint `id`; list documents `DATA`; bookmark `id`, `endpoint_id`, `path`; task
// `task_id`, `status`; event `code`; successful transfer `source_path`, `destination_path`;
// submit result `code`; submission id `value`.
EntryType ParseEntryType(std::string_view s);
// "0644" / "2770" / "755" -> mode bits (at most 4 octal digits); nullopt when not octal.
std::optional<uint32_t> ParsePermissions(std::string_view s);
Result<OperationResult> ParseOperationResult(std::string_view json);
// Time formats: file documents use ' ', task documents use 'T'. Both accept either.
std::optional<std::time_t> ParseGlobusTime(std::string_view s);
std::string FormatTaskTime(std::time_t t);  // "YYYY-MM-DDTHH:MM:SS+00:00"

Result<FileEntry> ParseFileEntry(std::string_view json);
Result<FileList> ParseFileList(std::string_view json);
Result<Endpoint> ParseEndpoint(std::string_view json);
Result<std::vector<Endpoint>> ParseEndpointList(std::string_view json);
Result<std::vector<Bookmark>> ParseBookmarkList(std::string_view json);
Result<Task> ParseTask(std::string_view json);
Result<std::vector<Task>> ParseTaskList(std::string_view json);
Result<std::vector<Event>> ParseEventList(std::string_view json);
Result<SuccessfulTransfersPage> ParseSuccessfulTransfers(std::string_view json);
Result<SubmitResult> ParseSubmitResult(std::string_view json);
Result<std::string> ParseSubmissionId(std::string_view json);

std::string SerializeTransfer(const TransferRequest& r);
std::string SerializeDelete(const DeleteRequest& r);
// {"DATA_TYPE": "mkdir", "path"} and {"DATA_TYPE": "rename", "old_path", "new_path"}.
std::string SerializeMkdir(const std::string& path);
std::string SerializeRename(const std::string& old_path, const std::string& new_path);

// Build the Error for a non-2xx answer: parses `code`, `message`, `request_id`, `resource`,
// `authorization_parameters` (lists or comma-joined strings), legacy top-level
// `required_scopes`, and Auth's `{"error": ...}` / `{"errors": [...]}` shapes. A body that is
// not JSON still yields an Error with the status and a code of "" (never a crash).
Error ParseApiError(int http_status, std::string_view body);
// A collection's HTTPS server answers some transient backend faults with 404 and a GridFTP
// ENDPOINT_ERROR / INTERNAL_ERROR body (writes-and-deletes.md §1.6): not a missing file, and
// worth retrying on a fresh connection. True for the codes ParseApiError gives those answers.
bool IsTransientBackendFault(const Error& e);

}  // namespace gf::api
