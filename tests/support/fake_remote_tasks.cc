// FakeRemote, task half: submission ids, transfer/delete submission, task monitoring and task
// execution over the same in-memory tree as fake_remote.cc. Mirrors the real service
// (docs/reference/globus-api.md §1.5–1.7):
//  * GetSubmissionId hands out fresh UUID-like ids; a submission must use one of them.
//  * Resubmitting a submission_id answers code "Duplicate" with the ORIGINAL task_id.
//  * No items → 400 ClientError.BadRequest.NoTransferItems; unknown collection → 404
//    EndpointNotFound; a transfer whose (source, destination) item paths repeat an item of a
//    still-ACTIVE transfer between the same collections → 409 Conflict.
//  * Tasks stay ACTIVE until RunTasks(). A transfer whose source is missing stays ACTIVE with
//    faults++ and a FILE_NOT_FOUND error event (the real service retries until the deadline).
//    A delete of a missing path without ignore_missing FAILS with fatal_error FILE_NOT_FOUND;
//    a directory item in a task without `recursive` fails it (even an empty directory). A
//    delete whose paths repeat a still-ACTIVE delete's is 409 Conflict.
//  * At most 3 delete tasks are worked at a time (SetDeleteConcurrency): each RunTasks() works
//    the oldest ones; the rest stay ACTIVE and "Queued".
//  * CancelTask: an ACTIVE task becomes FAILED with fatal_error CANCELED; cancelling a finished
//    task changes nothing (the real answer for that case is UNVERIFIED).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "tests/support/fake_remote.h"

namespace gf::testing {

namespace {
constexpr std::time_t kEpoch = 1700000000;  // request_time of the first task

using Tree = std::map<std::string, FakeRemote::Node>;

std::string UuidLike(uint64_t n, const char* middle) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08llx-%s-%012llx", static_cast<unsigned long long>(n), middle,
                static_cast<unsigned long long>(n * 2654435761ull % 1000000000000ull));
  return buf;
}

bool IsUnder(const std::string& path, const std::string& dir) {
  if (path == dir || dir == "/") return true;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

std::string Parent(const std::string& norm) {
  auto slash = norm.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : norm.substr(0, slash);
}

bool Running(const api::Task& t) {
  return t.status == api::TaskStatus::kActive || t.status == api::TaskStatus::kInactive;
}

Error NoTask(const std::string& id) {
  Error e = Error::Api(404, "ClientError.NotFound", "No task found with id '" + id + "'");
  e.resource = "/task/" + id;
  return e;
}

// The shared front of SubmitTransfer/SubmitDelete: a known submission answers Duplicate, an
// unknown one is refused. nullopt: go ahead and create the task.
std::optional<Result<api::SubmitResult>> CheckSubmission(
    const std::map<std::string, std::string>& submissions, const std::string& submission_id) {
  auto it = submissions.find(submission_id);
  if (it == submissions.end())
    return Result<api::SubmitResult>(
        Error::Api(400, "ClientError.BadRequest", "Invalid submission id '" + submission_id + "'"));
  if (!it->second.empty())
    return Result<api::SubmitResult>(api::SubmitResult{"Duplicate", it->second, submission_id});
  return std::nullopt;
}

api::Task NewTaskDoc(const std::string& id, api::TaskType type, std::time_t request_time,
                     const std::string& label, size_t items) {
  api::Task t;
  t.task_id = id;
  t.type = type;
  t.status = api::TaskStatus::kActive;
  if (!label.empty()) t.label = label;
  t.request_time = request_time;
  t.deadline = request_time + 24 * 3600;
  t.subtasks_total = t.subtasks_pending = static_cast<int64_t>(items);
  t.is_ok = true;
  t.nice_status = "Queued";
  return t;
}

void Finish(FakeRemote::FakeTask& t, api::TaskStatus status, std::optional<api::FatalError> fatal) {
  t.doc.status = status;
  t.doc.fatal_error = std::move(fatal);
  t.doc.completion_time = t.doc.request_time + 1;
  t.doc.nice_status.reset();
  t.doc.subtasks_pending = 0;
  if (status == api::TaskStatus::kSucceeded)
    t.doc.subtasks_succeeded = t.doc.subtasks_total;
  else
    t.doc.subtasks_failed = t.doc.subtasks_total;
}

void AddEvent(FakeRemote::FakeTask& t, std::string code, std::string description,
              std::string details, bool is_error) {
  api::Event e{std::move(code), std::move(description), std::move(details), is_error,
               t.doc.request_time + static_cast<std::time_t>(t.events.size()) + 1};
  t.events.insert(t.events.begin(), std::move(e));  // newest first, like event_list
}

// Creates the missing ancestors of `path` (not "/" itself: every tree has it).
void MakeParents(Tree& tree, const std::string& path) {
  std::vector<std::string> missing;
  for (std::string p = Parent(path); p != "/" && !tree.count(p); p = Parent(p))
    missing.push_back(p);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    FakeRemote::Node d;
    d.type = api::EntryType::kDir;
    d.permissions = 0755;
    tree[*it] = d;
  }
}
}  // namespace

// ---- submission ----

Result<std::string> FakeRemote::GetSubmissionId() {
  if (auto e = Enter("submission_id")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  std::string id = UuidLike(next_id_++, "5b1d-4000-8000");
  submissions_[id] = "";
  return id;
}

Result<api::SubmitResult> FakeRemote::SubmitTransfer(const api::TransferRequest& r) {
  if (auto e = Enter("submit_transfer")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  if (auto answer = CheckSubmission(submissions_, r.submission_id)) return std::move(*answer);
  for (const std::string* c : {&r.source_endpoint, &r.destination_endpoint})
    if (!collections_.count(*c))
      return Error::Api(404, "EndpointNotFound", "No such endpoint '" + *c + "'");
  if (r.items.empty())
    return Error::Api(400, "ClientError.BadRequest.NoTransferItems",
                      "A transfer requires at least one item");
  for (const auto& [id, t] : tasks_) {
    if (t.doc.type != api::TaskType::kTransfer || !Running(t.doc)) continue;
    if (t.doc.source_endpoint_id != r.source_endpoint ||
        t.doc.destination_endpoint_id != r.destination_endpoint)
      continue;
    for (const auto& mine : r.items)
      for (const auto& theirs : t.items)
        if (Normalize(mine.source_path) == Normalize(theirs.source_path) &&
            Normalize(mine.destination_path) == Normalize(theirs.destination_path))
          return Error::Api(409, "Conflict",
                            "A transfer with identical paths has not yet completed");
  }
  const uint64_t n = next_id_++;
  FakeTask t;
  t.doc = NewTaskDoc(UuidLike(n, "7a5c-4000-a000"), api::TaskType::kTransfer,
                     kEpoch + static_cast<std::time_t>(n), r.label, r.items.size());
  t.doc.source_endpoint_id = r.source_endpoint;
  t.doc.destination_endpoint_id = r.destination_endpoint;
  t.items = r.items;
  t.preserve_timestamp = r.preserve_timestamp;
  t.submission_id = r.submission_id;
  const std::string task_id = t.doc.task_id;
  tasks_[task_id] = std::move(t);
  submissions_[r.submission_id] = task_id;
  return api::SubmitResult{"Accepted", task_id, r.submission_id};
}

Result<api::SubmitResult> FakeRemote::SubmitDelete(const api::DeleteRequest& r) {
  if (auto e = Enter("submit_delete")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  if (auto answer = CheckSubmission(submissions_, r.submission_id)) return std::move(*answer);
  if (!collections_.count(r.endpoint))
    return Error::Api(404, "EndpointNotFound", "No such endpoint '" + r.endpoint + "'");
  if (r.paths.empty())
    return Error::Api(400, "ClientError.BadRequest.NoTransferItems",
                      "A delete requires at least one item");
  for (const auto& [id, t] : tasks_) {
    if (t.doc.type != api::TaskType::kDelete || !Running(t.doc) ||
        t.doc.source_endpoint_id != r.endpoint)
      continue;
    for (const auto& mine : r.paths)
      for (const auto& theirs : t.delete_paths)
        if (Normalize(mine) == Normalize(theirs))
          return Error::Api(409, "Conflict", "A delete with identical paths has not yet completed");
  }
  const uint64_t n = next_id_++;
  FakeTask t;
  t.doc = NewTaskDoc(UuidLike(n, "de1e-4000-a000"), api::TaskType::kDelete,
                     kEpoch + static_cast<std::time_t>(n), r.label, r.paths.size());
  t.doc.source_endpoint_id = r.endpoint;
  t.delete_paths = r.paths;
  t.recursive_delete = r.recursive;
  t.ignore_missing = r.ignore_missing;
  t.interpret_globs = r.interpret_globs;
  t.notify = r.notify_on_succeeded || r.notify_on_failed || r.notify_on_inactive;
  t.submission_id = r.submission_id;
  const std::string task_id = t.doc.task_id;
  tasks_[task_id] = std::move(t);
  submissions_[r.submission_id] = task_id;
  return api::SubmitResult{"Accepted", task_id, r.submission_id};
}

// ---- monitoring ----

Result<api::Task> FakeRemote::GetTask(const std::string& task_id) {
  if (auto e = Enter("get_task")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return NoTask(task_id);
  return it->second.doc;
}

Result<std::vector<api::Task>> FakeRemote::TaskList(const api::TaskListQuery& q) {
  if (auto e = Enter("task_list")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  std::vector<api::Task> all;
  for (const auto& [id, t] : tasks_) {
    if (!q.task_ids.empty() &&
        std::find(q.task_ids.begin(), q.task_ids.end(), id) == q.task_ids.end())
      continue;
    if (!q.statuses.empty() && std::find(q.statuses.begin(), q.statuses.end(),
                                         api::TaskStatusName(t.doc.status)) == q.statuses.end())
      continue;
    if (!q.type.empty() &&
        q.type != (t.doc.type == api::TaskType::kTransfer ? "TRANSFER" : "DELETE"))
      continue;
    all.push_back(t.doc);
  }
  // The service's default order: newest first.
  std::sort(all.begin(), all.end(),
            [](const api::Task& a, const api::Task& b) { return a.request_time > b.request_time; });
  std::vector<api::Task> page;
  for (size_t i = static_cast<size_t>(std::max(q.offset, 0));
       i < all.size() && page.size() < static_cast<size_t>(std::max(q.limit, 0)); ++i)
    page.push_back(all[i]);
  return page;
}

Status FakeRemote::CancelTask(const std::string& task_id) {
  if (auto e = Enter("cancel_task")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return NoTask(task_id);
  FakeTask& t = it->second;
  if (Running(t.doc)) {
    AddEvent(t, "CANCELED", "canceled", "", false);
    Finish(t, api::TaskStatus::kFailed, api::FatalError{"CANCELED", "canceled"});
  }
  return {};
}

Result<std::vector<api::Event>> FakeRemote::EventList(const std::string& task_id, int limit,
                                                      int offset) {
  if (auto e = Enter("event_list")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return NoTask(task_id);
  const auto& ev = it->second.events;
  std::vector<api::Event> page;
  for (size_t i = static_cast<size_t>(std::max(offset, 0));
       i < ev.size() && page.size() < static_cast<size_t>(std::max(limit, 0)); ++i)
    page.push_back(ev[i]);
  return page;
}

Result<api::SuccessfulTransfersPage> FakeRemote::SuccessfulTransfers(const std::string& task_id,
                                                                     const std::string& marker) {
  if (auto e = Enter("successful_transfers")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return NoTask(task_id);
  const auto& all = it->second.successful;
  size_t from = 0;
  if (!marker.empty()) {
    char* end = nullptr;
    from = std::strtoull(marker.c_str(), &end, 10);
    if (*end != '\0' || from > all.size())
      return Error::Api(400, "ClientError.BadRequest", "Invalid marker '" + marker + "'");
  }
  api::SuccessfulTransfersPage page;
  page.marker = std::to_string(from);
  const size_t to = std::min(all.size(), from + successful_page_size_);
  page.transfers.assign(all.begin() + static_cast<std::ptrdiff_t>(from),
                        all.begin() + static_cast<std::ptrdiff_t>(to));
  if (to < all.size()) page.next_marker = std::to_string(to);
  return page;
}

void FakeRemote::SetSuccessfulTransfersPageSize(size_t n) {
  std::lock_guard<std::mutex> l(mu_);
  successful_page_size_ = std::max<size_t>(n, 1);
}

// ---- running ----

void FakeRemote::RunTasks() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<FakeTask*> order;
  for (auto& [id, t] : tasks_)
    if (Running(t.doc)) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const FakeTask* a, const FakeTask* b) {
    return a->doc.request_time < b->doc.request_time;
  });

  int delete_slots = delete_concurrency_;
  for (FakeTask* t : order) {
    if (t->doc.type == api::TaskType::kDelete && delete_slots-- <= 0) {
      t->doc.nice_status = "Queued";  // waits for one of the worked delete tasks to end
      continue;
    }
    if (t->doc.type == api::TaskType::kTransfer) {
      Tree& src = trees_[*t->doc.source_endpoint_id];
      Tree& dst = trees_[*t->doc.destination_endpoint_id];
      // A missing source keeps the task ACTIVE and retrying (nothing is copied).
      std::string missing;
      for (const auto& item : t->items) {
        auto n = src.find(Normalize(item.source_path));
        if (n == src.end() || (n->second.type == api::EntryType::kDir && !item.recursive)) {
          missing = Normalize(item.source_path);
          break;
        }
      }
      if (!missing.empty()) {
        ++t->doc.faults;
        t->doc.is_ok = false;
        t->doc.nice_status = "FILE_NOT_FOUND";
        AddEvent(*t, "FILE_NOT_FOUND", "file not found",
                 "Error (transfer)\nEndpoint: " + *t->doc.source_endpoint_id +
                     "\nFile: " + missing + "\nMessage: No such file or directory",
                 true);
        continue;
      }
      for (const auto& item : t->items) {
        const std::string from = Normalize(item.source_path);
        const std::string to = Normalize(item.destination_path);
        struct Copy {
          std::string from, to;
          Node node;
        };
        std::vector<Copy> copies;  // snapshot: dst may be under src
        for (const auto& [path, node] : src)
          if (IsUnder(path, from) && (item.recursive || path == from))
            copies.push_back(
                {path, Normalize(to + "/" + path.substr(from == "/" ? 0 : from.size())), node});
        for (auto& [source, path, node] : copies) {
          if (!t->preserve_timestamp) node.mtime = t->doc.request_time + 1;
          if (node.type == api::EntryType::kDir) {
            ++t->doc.directories;
          } else {
            ++t->doc.files;
            ++t->doc.files_transferred;
            t->doc.bytes_transferred +=
                static_cast<int64_t>(node.size_override.value_or(node.content.size()));
            t->successful.push_back({source, path, std::nullopt});
          }
          MakeParents(dst, path);
          dst[path] = std::move(node);
        }
      }
      AddEvent(*t, "SUCCEEDED", "succeeded", "", false);
      Finish(*t, api::TaskStatus::kSucceeded, std::nullopt);
      continue;
    }

    // DELETE: all-or-nothing checks first, then remove.
    Tree& tree = trees_[*t->doc.source_endpoint_id];
    std::optional<api::FatalError> fatal = std::exchange(fail_next_delete_, std::nullopt);
    if (fatal && fatal->code == "PERMISSION_DENIED") {
      // Like a transfer, a refused delete is not fatal at the service: the task stays ACTIVE,
      // retrying until it is cancelled or its deadline passes (globus-sim does the same).
      ++t->doc.faults;
      t->doc.is_ok = false;
      t->doc.nice_status = "PERMISSION_DENIED";
      AddEvent(*t, fatal->code, fatal->description, "", true);
      continue;
    }
    std::string where;
    for (const std::string& raw : t->delete_paths) {
      if (fatal) break;
      const std::string p = Normalize(raw);
      auto n = tree.find(p);
      if (n == tree.end()) {
        if (t->ignore_missing) continue;
        fatal = api::FatalError{"FILE_NOT_FOUND", "file not found"};
      } else if (n->second.type == api::EntryType::kDir && !t->recursive_delete) {
        // "If any of the paths are directories, recursive must be set True" (SDK DeleteData),
        // even for an empty one. The code the service then reports is UNVERIFIED; globus-sim
        // answers ENDPOINT_ERROR.
        fatal = api::FatalError{"ENDPOINT_ERROR", "directory without recursive"};
      } else if (p == "/") {
        fatal = api::FatalError{"PERMISSION_DENIED", "cannot delete the collection root"};
      }
      if (fatal) {
        where = p;
        break;
      }
    }
    if (fatal) {
      AddEvent(*t, fatal->code, fatal->description, "File: " + where, true);
      ++t->doc.faults;
      Finish(*t, api::TaskStatus::kFailed, fatal);
      continue;
    }
    for (const std::string& raw : t->delete_paths) {
      const std::string p = Normalize(raw);
      if (!tree.count(p)) continue;
      for (auto it = tree.begin(); it != tree.end();) {
        if (IsUnder(it->first, p)) {
          if (it->second.type != api::EntryType::kDir) ++t->doc.files;
          it = tree.erase(it);
        } else {
          ++it;
        }
      }
    }
    AddEvent(*t, "SUCCEEDED", "succeeded", "", false);
    Finish(*t, api::TaskStatus::kSucceeded, std::nullopt);
  }
}

void FakeRemote::FailTask(const std::string& task_id, const std::string& code,
                          const std::string& description) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  AddEvent(it->second, code, description, "", true);
  ++it->second.doc.faults;
  Finish(it->second, api::TaskStatus::kFailed, api::FatalError{code, description});
}

void FakeRemote::FailNextDeleteTask(const std::string& code, const std::string& description) {
  std::lock_guard<std::mutex> l(mu_);
  fail_next_delete_ = api::FatalError{code, description};
}

void FakeRemote::SetDeleteConcurrency(int n) {
  std::lock_guard<std::mutex> l(mu_);
  delete_concurrency_ = std::max(n, 1);
}

std::vector<FakeRemote::FakeTask> FakeRemote::Tasks() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<FakeTask> out;
  for (const auto& [id, t] : tasks_) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const FakeTask& a, const FakeTask& b) {
    return a.doc.request_time < b.doc.request_time;
  });
  return out;
}

}  // namespace gf::testing
