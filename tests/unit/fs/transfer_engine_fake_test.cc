// TransferEngine: the task half of FakeRemote (the service semantics the engine relies on).
#include "tests/unit/fs/engine_world.h"

namespace gf::fs {

// ---------------------------------------------------------------------------------------------
// FakeRemote task half: the service semantics the engine relies on.
// ---------------------------------------------------------------------------------------------
TEST_CASE("fake tasks: submission ids, Duplicate, validation, Conflict", "[transfer][fake]") {
  World w;
  w.remote.AddFile(kA, "/f", "data");
  auto sub = w.remote.GetSubmissionId();
  REQUIRE(sub.ok());
  auto sub2 = w.remote.GetSubmissionId();
  REQUIRE(sub2.ok());
  CHECK(*sub != *sub2);

  api::TransferRequest r;
  r.submission_id = *sub;
  r.source_endpoint = kA;
  r.destination_endpoint = kB;
  auto empty = w.remote.SubmitTransfer(r);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == "ClientError.BadRequest.NoTransferItems");
  CHECK(empty.error().http_status == 400);

  r.items = {{"/f", "/g", false}};
  auto first = w.remote.SubmitTransfer(r);
  REQUIRE(first.ok());
  CHECK(first->code == "Accepted");
  auto again = w.remote.SubmitTransfer(r);
  REQUIRE(again.ok());
  CHECK(again->code == "Duplicate");
  CHECK(again->task_id == first->task_id);
  CHECK(w.remote.Calls("submit_transfer") == 3);

  r.submission_id = *sub2;  // same paths, new submission, first still ACTIVE
  auto conflict = w.remote.SubmitTransfer(r);
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.error().http_status == 409);
  CHECK(conflict.error().code == "Conflict");
  CHECK(w.remote.Tasks().size() == 1);

  w.remote.RunTasks();
  REQUIRE(w.remote.Get(kB, "/g").has_value());
  CHECK(w.remote.Get(kB, "/g")->content == "data");
  CHECK(w.remote.SubmitTransfer(r).ok());  // no longer conflicting
}

TEST_CASE("fake tasks: recursive copy, deletes, missing source, cancel", "[transfer][fake]") {
  World w;
  w.remote.AddFile(kA, "/d/x", "X", 1500000000);
  w.remote.AddFile(kA, "/d/sub/y", "YY", 1500000001);
  auto submit = [&](std::vector<api::TransferItem> items, bool preserve = true) {
    api::TransferRequest r;
    r.submission_id = *w.remote.GetSubmissionId();
    r.source_endpoint = kA;
    r.destination_endpoint = kB;
    r.items = std::move(items);
    r.preserve_timestamp = preserve;
    auto res = w.remote.SubmitTransfer(r);
    REQUIRE(res.ok());
    return res->task_id;
  };
  auto del = [&](std::string path, bool recursive, bool ignore_missing) {
    api::DeleteRequest r;
    r.submission_id = *w.remote.GetSubmissionId();
    r.endpoint = kA;
    r.paths = {std::move(path)};
    r.recursive = recursive;
    r.ignore_missing = ignore_missing;
    auto res = w.remote.SubmitDelete(r);
    REQUIRE(res.ok());
    return res->task_id;
  };
  const std::string tree = submit({{"/d", "/copy/d", true}});
  const std::string missing = submit({{"/nope", "/n", false}});
  w.remote.RunTasks();
  CHECK(w.remote.Get(kB, "/copy/d/sub/y")->content == "YY");
  CHECK(w.remote.Get(kB, "/copy/d/sub/y")->mtime == 1500000001);
  CHECK(w.remote.GetTask(tree)->status == api::TaskStatus::kSucceeded);
  auto stuck = w.remote.GetTask(missing);
  CHECK(stuck->status == api::TaskStatus::kActive);
  CHECK(stuck->faults == 1);
  auto events = w.remote.EventList(missing, 10, 0);
  REQUIRE(events.ok());
  REQUIRE_FALSE(events->empty());
  CHECK(events->front().code == "FILE_NOT_FOUND");
  CHECK(events->front().is_error);
  REQUIRE(w.remote.CancelTask(missing).ok());
  CHECK(w.remote.GetTask(missing)->fatal_error->code == "CANCELED");
  CHECK(w.remote.GetTask(missing)->status == api::TaskStatus::kFailed);

  const std::string no_preserve = submit({{"/d/x", "/x2", false}}, false);
  const std::string gone = del("/nothing", false, false);
  const std::string gone_ok = del("/nothing-either", false, true);  // same path: 409 Conflict
  const std::string not_empty = del("/d", false, false);
  w.remote.RunTasks();
  CHECK(w.remote.GetTask(no_preserve)->status == api::TaskStatus::kSucceeded);
  CHECK(w.remote.Get(kB, "/x2")->mtime != 1500000000);
  CHECK(w.remote.GetTask(gone)->fatal_error->code == "FILE_NOT_FOUND");
  CHECK(w.remote.GetTask(gone_ok)->status == api::TaskStatus::kSucceeded);
  CHECK(w.remote.GetTask(not_empty)->status == api::TaskStatus::kFailed);
  CHECK(w.remote.Exists(kA, "/d/x"));
  const std::string rec = del("/d", true, false);
  w.remote.RunTasks();
  CHECK(w.remote.GetTask(rec)->status == api::TaskStatus::kSucceeded);
  CHECK_FALSE(w.remote.Exists(kA, "/d/sub/y"));
  CHECK_FALSE(w.remote.Exists(kA, "/d"));

  api::TaskListQuery q;
  q.task_ids = {tree, rec};
  CHECK(w.remote.TaskList(q)->size() == 2);
  q.task_ids.clear();
  q.statuses = {"FAILED"};
  CHECK(w.remote.TaskList(q)->size() == 3);  // missing (cancelled), gone, not_empty
  CHECK(w.remote.GetTask("no-such-task").error().http_status == 404);
  w.remote.FailTask(tree, "PERMISSION_DENIED", "denied");
  CHECK(w.remote.GetTask(tree)->fatal_error->code == "PERMISSION_DENIED");
}

// ---------------------------------------------------------------------------------------------
// Batching
// ---------------------------------------------------------------------------------------------

}  // namespace gf::fs
