// TransferEngine: mv: the delete step after a verified copy, and a directory mv's delete plan.
#include "tests/unit/fs/engine_world.h"

namespace gf::fs {

TEST_CASE("mv deletes the source only after the verified copy succeeded", "[transfer]") {
  World w;
  w.opts.verify_checksum = false;  // config off: moves still verify
  w.remote.AddFile(kA, "/dir/a", "A", 1500000000);
  w.remote.AddFile(kA, "/dir/b", "BB", 1500000000);
  auto e = w.Engine();
  auto id = e->Enqueue(OpRequest::Move({kA, "/dir"}, {kB, "/moved"}, 3, /*recursive=*/true));
  REQUIRE(id.ok());
  w.Settle(*e);
  REQUIRE(w.api.transfers.size() == 1);
  CHECK(w.api.transfers[0].verify_checksum);
  CHECK(w.api.transfers[0].items[0].recursive);
  CHECK(w.api.transfers[0].label == "globus-fuse mv dir");
  // Before the copy finished: no delete, whatever time passes.
  for (int i = 0; i < 5; ++i) {
    w.clock.Advance(w.opts.poll_max);
    e->RunOnce();
  }
  CHECK(w.remote.Calls("submit_delete") == 0);
  CHECK(w.rec.steps.empty());
  w.remote.RunTasks();
  w.clock.Advance(w.opts.poll_max);
  e->RunOnce();  // copy SUCCEEDED → delete step queued
  CHECK(w.rec.steps.size() == 1);
  CHECK(w.remote.Exists(kA, "/dir/a"));
  w.Settle(*e);
  REQUIRE(w.api.deletes.size() == 1);
  CHECK(w.api.deletes[0].recursive);
  CHECK(w.api.deletes[0].paths == std::vector<std::string>{"/dir"});
  CHECK(w.api.deletes[0].endpoint == kA);
  CHECK(w.remote.Exists(kA, "/dir/a"));  // not yet run
  w.Finish(*e);
  CHECK(e->Wait(*id).ok());
  CHECK_FALSE(w.remote.Exists(kA, "/dir"));
  CHECK(w.remote.Get(kB, "/moved/b")->content == "BB");
  CHECK(w.remote.Get(kB, "/moved/b")->mtime == 1500000000);
}

TEST_CASE("mv whose copy fails keeps the source and reports the failure", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "keep me");
  auto e = w.Engine();
  auto id = e->Enqueue(OpRequest::Move({kA, "/f"}, {kB, "/g"}, 7));
  REQUIRE(id.ok());
  w.Settle(*e);
  REQUIRE(w.remote.Tasks().size() == 1);
  w.remote.FailTask(w.remote.Tasks()[0].doc.task_id, "PERMISSION_DENIED", "permission denied");
  for (int i = 0; i < 5; ++i) w.Settle(*e);
  Status s = e->Wait(*id, w.clock.Now());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "PERMISSION_DENIED");
  CHECK(w.remote.Calls("submit_delete") == 0);
  CHECK(w.remote.Get(kA, "/f")->content == "keep me");
  CHECK(w.rec.steps.empty());
}

TEST_CASE("mv restarted between copy and delete resumes at the delete step", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "x");
  OpId id;
  {
    auto e = w.Engine();
    id = *e->Enqueue(OpRequest::Move({kA, "/f"}, {kB, "/g"}, 1));
    w.Settle(*e);
    w.remote.RunTasks();
    w.clock.Advance(w.opts.poll_max);
    e->RunOnce();  // copy done, delete queued
    REQUIRE(w.remote.Calls("submit_delete") == 0);
  }
  auto e = w.Engine();
  w.Settle(*e);
  CHECK(w.remote.Calls("submit_transfer") == 1);  // the copy is not redone
  CHECK(w.remote.Calls("submit_delete") == 1);
  w.Finish(*e);
  CHECK(e->Wait(id).ok());
  CHECK_FALSE(w.remote.Exists(kA, "/f"));
}

// ---------------------------------------------------------------------------------------------
// mv of a directory: the delete plan (successful transfers vs. the source tree)
// ---------------------------------------------------------------------------------------------
namespace {
// Enqueues a directory mv kA:/dir -> kB:/moved, lets the copy task run and polls once: the
// copy has SUCCEEDED in the service, the engine saw it (it may have planned already).
OpId MoveDirAndCopy(World& w, TransferEngine& e) {
  auto id = e.Enqueue(OpRequest::Move({kA, "/dir"}, {kB, "/moved"}, 0, /*recursive=*/true));
  REQUIRE(id.ok());
  w.Settle(e);
  REQUIRE(w.remote.Tasks().size() == 1);
  w.remote.RunTasks();
  return *id;
}
std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

TEST_CASE("mv of a directory: every file copied → one recursive delete", "[transfer][mvdir]") {
  World w;
  w.opts.sync_level = 1;  // configured for copies; a move must not skip anything
  w.remote.AddFile(kA, "/dir/a", "A");
  w.remote.AddFile(kA, "/dir/sub/b", "B");
  w.remote.AddDir(kA, "/dir/empty");
  auto e = w.Engine();
  OpId id = MoveDirAndCopy(w, *e);
  REQUIRE(w.api.transfers.size() == 1);
  CHECK_FALSE(w.api.transfers[0].sync_level);
  CHECK(w.api.transfers[0].verify_checksum);
  w.clock.Advance(w.opts.poll_max);
  e->RunOnce();  // the poll sees the copy SUCCEEDED
  e->RunOnce();  // plan (successful transfers, then the listing) → delete submitted at once
  CHECK(w.remote.Calls("successful_transfers") == 1);
  CHECK(w.remote.Calls("ls") >= 3);    // /dir, /dir/sub, /dir/empty
  REQUIRE(w.api.deletes.size() == 1);  // no batching delay: the listing is fresh
  CHECK(w.api.deletes[0].recursive);
  CHECK(w.api.deletes[0].paths == std::vector<std::string>{"/dir"});
  w.Finish(*e);
  CHECK(e->Wait(id).ok());
  CHECK_FALSE(w.remote.Exists(kA, "/dir"));
  CHECK(w.remote.Get(kB, "/moved/sub/b")->content == "B");
  const OpResult* r = w.rec.Find(id);
  REQUIRE(r);
  CHECK(r->warning.empty());
  CHECK(w.remote.Tasks().size() == 2);
}

TEST_CASE("mv of a directory: a file added after the copy is kept, only copied files deleted",
          "[transfer][mvdir]") {
  World w;
  w.remote.AddFile(kA, "/dir/a", "A");
  w.remote.AddFile(kA, "/dir/sub/b", "B");
  auto e = w.Engine();
  OpId id = MoveDirAndCopy(w, *e);
  // Someone writes into the source after the copy enumerated it.
  w.remote.AddFile(kA, "/dir/sub/late", "written during the move");
  w.clock.Advance(w.opts.poll_max);
  e->RunOnce();
  e->RunOnce();
  w.Settle(*e);
  REQUIRE(w.api.deletes.size() == 1);
  CHECK_FALSE(w.api.deletes[0].recursive);
  CHECK(w.api.deletes[0].ignore_missing);
  CHECK(Sorted(w.api.deletes[0].paths) == std::vector<std::string>{"/dir/a", "/dir/sub/b"});
  w.Finish(*e);
  CHECK(e->Wait(id).ok());
  auto late = w.remote.Get(kA, "/dir/sub/late");
  REQUIRE(late);
  CHECK(late->content == "written during the move");
  CHECK(w.remote.Exists(kA, "/dir/sub"));  // directories stay
  CHECK_FALSE(w.remote.Exists(kA, "/dir/a"));
  CHECK_FALSE(w.remote.Exists(kA, "/dir/sub/b"));
  CHECK_FALSE(w.remote.Exists(kB, "/moved/sub/late"));
  CHECK(w.remote.Get(kB, "/moved/a")->content == "A");
  const OpResult* r = w.rec.Find(id);
  REQUIRE(r);
  CHECK(r->status.ok());
  CHECK(r->warning == "mv of " + kA +
                          ":/dir: 1 file(s) not copied by the transfer (added to the "
                          "source during the move) were left in place at " +
                          kA + ":/dir; only the 2 copied file(s) were deleted from the source");
  bool shown = false;
  for (const OpStatus& s : e->Progress().ops)
    if (s.id == id) shown = s.warning == r->warning && s.state == OpState::kSucceeded;
  CHECK(shown);
  CHECK(w.remote.Tasks().size() == 2);
}

TEST_CASE("mv of a directory: successful_transfers pages through every marker",
          "[transfer][mvdir]") {
  World w;
  for (int i = 0; i < 5; ++i) w.remote.AddFile(kA, "/dir/f" + std::to_string(i), "x");
  w.remote.SetSuccessfulTransfersPageSize(2);
  auto e = w.Engine();
  OpId id = MoveDirAndCopy(w, *e);
  w.clock.Advance(w.opts.poll_max);
  e->RunOnce();
  e->RunOnce();
  // 5 files, 2 per page: "", "2", "4". Had a page been missed, files would look uncopied.
  CHECK(w.api.markers == std::vector<std::string>{"", "2", "4"});
  REQUIRE(w.api.deletes.size() == 1);
  CHECK(w.api.deletes[0].recursive);
  w.Finish(*e);
  CHECK(e->Wait(id).ok());
  CHECK(w.rec.Find(id)->warning.empty());
  CHECK_FALSE(w.remote.Exists(kA, "/dir"));
}

TEST_CASE("mv of directories sharing one copy task: its transfers are fetched once",
          "[transfer][mvdir]") {
  World w;
  for (int i = 0; i < 3; ++i) {
    w.remote.AddFile(kA, "/one/f" + std::to_string(i), "1");
    w.remote.AddFile(kA, "/two/f" + std::to_string(i), "2");
  }
  w.remote.AddFile(kA, "/two/late", "added after the copy");
  w.remote.SetSuccessfulTransfersPageSize(2);
  auto e = w.Engine();
  auto one = e->Enqueue(OpRequest::Move({kA, "/one"}, {kB, "/m1"}, 0, /*recursive=*/true));
  auto two = e->Enqueue(OpRequest::Move({kA, "/two"}, {kB, "/m2"}, 0, /*recursive=*/true));
  REQUIRE(one.ok());
  REQUIRE(two.ok());
  w.Settle(*e);
  REQUIRE(w.remote.Tasks().size() == 1);  // both copies in one task
  w.remote.RunTasks();
  w.remote.AddFile(kA, "/two/later", "not copied");
  w.clock.Advance(w.opts.poll_max);
  e->RunOnce();
  e->RunOnce();
  w.Settle(*e);
  // 7 files copied, 2 per page: 4 pages, fetched once for both plans (not 8 calls).
  CHECK(w.remote.Calls("successful_transfers") == 4);
  w.Finish(*e);
  CHECK(e->Wait(*one).ok());
  CHECK(e->Wait(*two).ok());
  CHECK(w.rec.Find(*one)->warning.empty());
  CHECK_FALSE(w.remote.Exists(kA, "/one"));
  // Each plan saw only its own part of the shared list: /two keeps the file added later.
  CHECK(w.rec.Find(*two)->warning.find("1 file(s)") != std::string::npos);
  CHECK(w.remote.Exists(kA, "/two/later"));
  CHECK_FALSE(w.remote.Exists(kA, "/two/late"));
  CHECK(w.remote.Get(kB, "/m2/late")->content == "added after the copy");
}

TEST_CASE("mv of a directory: restart while planning resumes without duplicate tasks",
          "[transfer][mvdir]") {
  World w;
  for (int i = 0; i < 4; ++i) w.remote.AddFile(kA, "/dir/d" + std::to_string(i) + "/f", "x");
  w.remote.SetSuccessfulTransfersPageSize(1);
  w.opts.verify_calls_per_pass = 1;  // one remote call per pass: planning spans many passes
  OpId id;
  SECTION("killed in the middle of fetching and listing") {
    {
      auto e = w.Engine();
      id = MoveDirAndCopy(w, *e);
      w.clock.Advance(w.opts.poll_max);
      for (int i = 0; i < 4; ++i) e->RunOnce();  // the copy ended; then one call per pass
      REQUIRE(w.remote.Calls("successful_transfers") == 3);
      REQUIRE(w.remote.Calls("submit_delete") == 0);
    }  // "kill -9": nothing more is written
    w.remote.AddFile(kA, "/dir/d1/late", "kept");
    auto e = w.Engine();
    for (int i = 0; i < 20 && w.remote.Calls("submit_delete") == 0; ++i) e->RunOnce();
    w.Finish(*e);
    CHECK(e->Wait(id).ok());
    CHECK(w.remote.Calls("submit_transfer") == 1);  // the copy is not redone
    REQUIRE(w.api.deletes.size() == 1);
    CHECK(w.api.deletes[0].paths.size() == 4);  // planned again from scratch, on the new state
    CHECK_FALSE(w.api.deletes[0].recursive);
    CHECK(w.remote.Exists(kA, "/dir/d1/late"));
    CHECK(w.rec.Find(id)->warning.find("1 file(s)") != std::string::npos);
  }
  SECTION("killed after the plan was journaled, before the delete was submitted") {
    {
      auto e = w.Engine();
      id = MoveDirAndCopy(w, *e);
      w.remote.AddFile(kA, "/dir/late", "kept");
      // The delete batch cannot get its submission_id (then no retry: the clock stands still).
      w.remote.FailNext("submission_id", Error::Transport(TransportFailure::kTimeout, "t/o"));
      w.clock.Advance(w.opts.poll_max);
      for (int i = 0; i < 20; ++i) e->RunOnce();
      REQUIRE(w.remote.Calls("submit_delete") == 0);
      REQUIRE(w.JournalText().find("\"t\":\"plan\"") != std::string::npos);
    }
    w.remote.ResetCalls();
    auto e = w.Engine();
    w.Settle(*e);
    CHECK(w.remote.Calls("successful_transfers") == 0);  // the journaled plan is used
    CHECK(w.remote.Calls("ls") == 0);
    REQUIRE(w.api.deletes.size() == 1);
    CHECK(w.api.deletes[0].paths.size() == 4);
    w.Finish(*e);
    CHECK(e->Wait(id).ok());
    CHECK(w.remote.Exists(kA, "/dir/late"));
    CHECK(w.remote.Calls("submit_transfer") == 0);
    CHECK(w.remote.Tasks().size() == 2);
  }
}

TEST_CASE("mv of a directory: copied files that cannot be listed → nothing deleted",
          "[transfer][mvdir]") {
  World w;
  w.remote.AddFile(kA, "/dir/a", "A");
  auto e = w.Engine();
  OpId id = MoveDirAndCopy(w, *e);
  w.remote.FailNext("successful_transfers",
                    Error::Api(404, "ClientError.NotFound", "No task found"));
  w.clock.Advance(w.opts.poll_max);
  e->RunOnce();
  e->RunOnce();
  Status s = e->Wait(id, w.clock.Now());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "NotVerified");
  CHECK(w.remote.Calls("submit_delete") == 0);
  CHECK(w.remote.Exists(kA, "/dir/a"));
}

TEST_CASE("mv of a directory: transient errors while planning are retried", "[transfer][mvdir]") {
  World w;
  w.remote.AddFile(kA, "/dir/a", "A");
  auto e = w.Engine();
  OpId id = MoveDirAndCopy(w, *e);
  w.remote.FailNext("successful_transfers", Error::Api(503, "ServiceUnavailable", "busy"));
  w.remote.FailNext("ls", Error::Transport(TransportFailure::kTimeout, "t/o"));
  for (int i = 0; i < 6; ++i) {
    w.clock.Advance(w.opts.poll_max);
    e->RunOnce();
  }
  CHECK(w.remote.Calls("successful_transfers") == 2);  // the 503, then the answer
  REQUIRE(w.api.deletes.size() == 1);
  CHECK(w.api.deletes[0].recursive);
  w.Finish(*e);
  CHECK(e->Wait(id).ok());
  CHECK_FALSE(w.remote.Exists(kA, "/dir"));
}

}  // namespace gf::fs
