// Delete planning (at most two tasks, files never recursive) and the FakeRemote delete tasks it
// is run against: recursive required for directories, 3 worked at a time, failure injection.
#include <catch2/catch.hpp>

#include "fs/write/delete_plan.h"
#include "tests/support/fake_remote.h"

using namespace gf;
using namespace gf::fs::write;
using gf::testing::FakeRemote;

namespace {
const std::string kColl = "c011ec71-0000-4000-8000-0000000000de";

struct World {
  FakeRemote remote;
  World() {
    api::Endpoint e;
    e.id = kColl;
    e.entity_type = "GCSv5_mapped_collection";
    remote.AddCollection(e);
  }
  std::string Submit(api::DeleteRequest r) {
    auto id = remote.GetSubmissionId();
    REQUIRE(id.ok());
    r.submission_id = *id;
    auto res = remote.SubmitDelete(r);
    REQUIRE(res.ok());
    return res->task_id;
  }
  api::Task Task(const std::string& id) {
    auto t = remote.GetTask(id);
    REQUIRE(t.ok());
    return *t;
  }
};
}  // namespace

TEST_CASE("rm -r of a tree: one recursive task, nothing else", "[delete_plan]") {
  std::vector<DeleteTarget> targets;
  for (int i = 0; i < 1000; ++i)
    targets.push_back({"/t/d" + std::to_string(i % 7) + "/f" + std::to_string(i), false});
  for (int i = 0; i < 7; ++i) targets.push_back({"/t/d" + std::to_string(i), true});
  targets.push_back({"/t/", true});
  auto plan = PlanDeleteTasks(kColl, targets, "rm -r /t");
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].recursive);
  CHECK(plan[0].paths == std::vector<std::string>{"/t"});
  CHECK(plan[0].endpoint == kColl);
  CHECK(plan[0].label == "rm -r /t");
  CHECK(plan[0].ignore_missing);
  CHECK_FALSE(plan[0].interpret_globs);
  CHECK_FALSE(plan[0].notify_on_succeeded);
  CHECK_FALSE(plan[0].notify_on_failed);
  CHECK_FALSE(plan[0].notify_on_inactive);
}

TEST_CASE("files and directories go to separate tasks; files are never recursive",
          "[delete_plan]") {
  auto plan = PlanDeleteTasks(kColl,
                              {{"/a.txt", false},
                               {"/b/c.txt", false},
                               {"/a.txt", false},
                               {"/d", true},
                               {"/d/e", true},
                               {"/d/e/f.txt", false},
                               {"/x[1]*", false}},
                              "rm");
  REQUIRE(plan.size() == 2);
  CHECK_FALSE(plan[0].recursive);
  CHECK(plan[0].paths == std::vector<std::string>{"/a.txt", "/b/c.txt", "/x[1]*"});
  CHECK(plan[1].recursive);
  CHECK(plan[1].paths == std::vector<std::string>{"/d"});
  CHECK(PlanDeleteTasks(kColl, {}, "rm").empty());
  CHECK(ParseDeleteMode("https") == DeleteMode::kHttps);
  CHECK(ParseDeleteMode("task") == DeleteMode::kTask);
  CHECK_FALSE(ParseDeleteMode("HTTP"));
}

TEST_CASE("FakeRemote: a directory needs recursive, even an empty one", "[delete_plan][fake]") {
  World w;
  w.remote.AddDir(kColl, "/empty");
  w.remote.AddFile(kColl, "/f", "x");
  api::DeleteRequest flat;
  flat.endpoint = kColl;
  flat.paths = {"/empty"};
  std::string t1 = w.Submit(flat);
  w.remote.RunTasks();
  CHECK(w.Task(t1).status == api::TaskStatus::kFailed);
  CHECK(w.remote.Exists(kColl, "/empty"));

  auto plan = PlanDeleteTasks(kColl, {{"/empty", true}, {"/f", false}}, "rm");
  REQUIRE(plan.size() == 2);
  std::string a = w.Submit(plan[0]), b = w.Submit(plan[1]);
  w.remote.RunTasks();
  CHECK(w.Task(a).status == api::TaskStatus::kSucceeded);
  CHECK(w.Task(b).status == api::TaskStatus::kSucceeded);
  CHECK_FALSE(w.remote.Exists(kColl, "/empty"));
  CHECK_FALSE(w.remote.Exists(kColl, "/f"));
  auto tasks = w.remote.Tasks();
  CHECK_FALSE(tasks.back().notify);
  CHECK_FALSE(tasks.back().interpret_globs);
}

TEST_CASE("FakeRemote: 3 delete tasks are worked at a time, the rest queue",
          "[delete_plan][fake]") {
  World w;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    w.remote.AddFile(kColl, "/f" + std::to_string(i), "x");
    ids.push_back(w.Submit(PlanDeleteTasks(kColl, {{"/f" + std::to_string(i), false}}, "rm")[0]));
  }
  w.remote.RunTasks();
  for (int i = 0; i < 3; ++i) CHECK(w.Task(ids[i]).status == api::TaskStatus::kSucceeded);
  for (int i = 3; i < 5; ++i) {
    CHECK(w.Task(ids[i]).status == api::TaskStatus::kActive);
    CHECK(w.Task(ids[i]).nice_status == "Queued");
    CHECK(w.remote.Exists(kColl, "/f" + std::to_string(i)));
  }
  w.remote.RunTasks();
  for (int i = 3; i < 5; ++i) CHECK(w.Task(ids[i]).status == api::TaskStatus::kSucceeded);
}

TEST_CASE("FakeRemote: injected delete task failure deletes nothing", "[delete_plan][fake]") {
  World w;
  w.remote.AddFile(kColl, "/keep", "x");
  w.remote.FailNextDeleteTask("QUOTA_EXCEEDED", "quota exceeded");
  std::string id = w.Submit(PlanDeleteTasks(kColl, {{"/keep", false}}, "rm")[0]);
  w.remote.RunTasks();
  auto t = w.Task(id);
  CHECK(t.status == api::TaskStatus::kFailed);
  REQUIRE(t.fatal_error);
  CHECK(t.fatal_error->code == "QUOTA_EXCEEDED");
  CHECK(w.remote.Exists(kColl, "/keep"));
  // A refusal keeps the task ACTIVE and retrying; a second delete of the path is a Conflict.
  w.remote.FailNextDeleteTask("PERMISSION_DENIED", "permission denied");
  auto plan = PlanDeleteTasks(kColl, {{"/keep", false}}, "rm");
  std::string denied = w.Submit(plan[0]);
  w.remote.RunTasks();
  t = w.Task(denied);
  CHECK(t.status == api::TaskStatus::kActive);
  CHECK(t.nice_status == "PERMISSION_DENIED");
  CHECK_FALSE(t.is_ok);
  CHECK(w.remote.Exists(kColl, "/keep"));
  auto sid = w.remote.GetSubmissionId();
  plan[0].submission_id = *sid;
  auto again = w.remote.SubmitDelete(plan[0]);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().http_status == 409);
  REQUIRE(w.remote.CancelTask(denied).ok());
  // ignore_missing: a path already gone is not a failure.
  std::string gone = w.Submit(PlanDeleteTasks(kColl, {{"/never-there", false}}, "rm")[0]);
  w.remote.RunTasks();
  CHECK(w.Task(gone).status == api::TaskStatus::kSucceeded);
}

TEST_CASE("FakeRemote: rename onto an existing file, both modes", "[fake]") {
  World w;
  w.remote.AddFile(kColl, "/a", "new");
  w.remote.AddFile(kColl, "/b", "old");
  w.remote.AddDir(kColl, "/d");
  auto refused = w.remote.Rename(kColl, "/a", "/b");
  REQUIRE_FALSE(refused.ok());
  CHECK(ErrnoFor(refused.error()) == EEXIST);
  CHECK(w.remote.Get(kColl, "/b")->content == "old");
  w.remote.SetRenameOntoExisting(FakeRemote::RenameOntoExisting::kReplace);
  REQUIRE(w.remote.Rename(kColl, "/a", "/b").ok());
  CHECK(w.remote.Get(kColl, "/b")->content == "new");
  CHECK_FALSE(w.remote.Exists(kColl, "/a"));
  CHECK_FALSE(w.remote.Rename(kColl, "/b", "/d").ok());  // never onto a directory
}
