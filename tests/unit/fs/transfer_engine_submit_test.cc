// TransferEngine: submission (Duplicate, retries, Conflict) and restarts.
#include "tests/unit/fs/engine_world.h"

namespace gf::fs {

TEST_CASE("an accepted submission whose answer was lost is resubmitted as a Duplicate",
          "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "data");
  auto e = w.Engine();
  OpId id = w.Copy(*e, "/f", "/g");
  w.api.lose_submit_answers = 1;
  w.Settle(*e);
  REQUIRE(w.remote.Tasks().size() == 1);  // the service took it
  CHECK(e->Progress().tasks.at(0).task_id.empty());
  CHECK_FALSE(e->Progress().tasks.at(0).waiting_reason.empty());
  w.clock.Advance(w.opts.retry_min);
  e->RunOnce();
  REQUIRE(w.api.transfers.size() == 2);
  CHECK(w.api.transfers[0].submission_id == w.api.transfers[1].submission_id);
  CHECK(w.remote.Tasks().size() == 1);
  CHECK(e->Progress().tasks.at(0).task_id == w.remote.Tasks()[0].doc.task_id);
  w.Finish(*e);
  CHECK(e->Wait(id).ok());
  CHECK(w.remote.Calls("submission_id") == 1);
}

TEST_CASE("transient submit errors retry with the same submission_id; 4xx fails the ops",
          "[transfer]") {
  World w;
  auto e = w.Engine();
  SECTION("503 then success") {
    w.remote.FailNext("submit_transfer", Error::Api(503, "ServiceUnavailable", "busy"), 2);
    OpId id = w.Copy(*e, "/f", "/g");
    w.Settle(*e);
    w.clock.Advance(w.opts.retry_min);
    e->RunOnce();
    CHECK(w.remote.Tasks().empty());
    w.clock.Advance(w.opts.retry_min * 2);  // backoff doubled
    e->RunOnce();
    REQUIRE(w.remote.Tasks().size() == 1);
    CHECK(w.api.transfers.size() == 3);
    CHECK(w.api.transfers[0].submission_id == w.api.transfers[2].submission_id);
    CHECK(e->Progress().ops.at(0).state == OpState::kSubmitted);
    (void)id;
  }
  SECTION("400 fails at once with the service's code") {
    w.remote.FailNext("submit_transfer",
                      Error::Api(400, "ClientError.BadRequest", "Invalid path '/g'"));
    OpId id = w.Copy(*e, "/f", "/g");
    w.Settle(*e);
    Status s = e->Wait(id);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "ClientError.BadRequest");
    CHECK(s.error().message.find("Invalid path") != std::string::npos);
    CHECK(w.remote.Tasks().empty());
  }
}

TEST_CASE("409 Conflict waits for the identical task, then gives up with EBUSY", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "v1");
  // Someone else's (or an earlier) identical transfer is still running.
  api::TransferRequest other;
  other.submission_id = *w.remote.GetSubmissionId();
  other.source_endpoint = kA;
  other.destination_endpoint = kB;
  other.items = {{"/f", "/g", false}};
  REQUIRE(w.remote.SubmitTransfer(other).ok());
  auto e = w.Engine();
  SECTION("the other task finishes: ours goes through") {
    OpId id = w.Copy(*e, "/f", "/g");
    w.Settle(*e);
    CHECK(w.remote.Tasks().size() == 1);
    w.remote.RunTasks();
    w.clock.Advance(w.opts.retry_max);
    e->RunOnce();
    CHECK(w.remote.Tasks().size() == 2);
    w.Finish(*e);
    CHECK(e->Wait(id).ok());
  }
  SECTION("it never finishes: fail with Conflict after conflict_give_up") {
    OpId id = w.Copy(*e, "/f", "/g");
    w.Settle(*e);
    for (int i = 0; i < 40; ++i) {
      w.clock.Advance(w.opts.retry_max);
      e->RunOnce();
    }
    Status s = e->Wait(id, w.clock.Now());
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "Conflict");
    CHECK(ErrnoFor(s.error()) == EBUSY);
  }
}

// ---------------------------------------------------------------------------------------------
// Restart
// ---------------------------------------------------------------------------------------------
TEST_CASE("restart mid-task: the new engine tracks the task, submits nothing", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "data");
  OpId id;
  {
    auto e = w.Engine();
    id = w.Copy(*e, "/f", "/g");
    w.Settle(*e);
    REQUIRE(w.remote.Tasks().size() == 1);
  }
  w.remote.ResetCalls();
  auto e = w.Engine();
  e->RunOnce();
  CHECK(w.remote.Calls("submission_id") == 0);
  CHECK(w.remote.Calls("submit_transfer") == 0);
  CHECK(w.remote.Calls("task_list") == 1);
  w.Finish(*e);
  CHECK(w.remote.Tasks().size() == 1);
  REQUIRE(w.rec.Find(id) != nullptr);
  CHECK(w.rec.Find(id)->status.ok());
  CHECK(w.rec.Find(id)->task_id == w.remote.Tasks()[0].doc.task_id);
  CHECK(w.remote.Get(kB, "/g")->content == "data");
}

TEST_CASE("restart with unsubmitted work submits it exactly once", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "data");
  SECTION("queued, never batched") {
    {
      auto e = w.Engine();
      w.Copy(*e, "/f", "/g");
    }
    auto e = w.Engine();
    w.Settle(*e);
    w.Settle(*e);
    CHECK(w.remote.Tasks().size() == 1);
    CHECK(w.remote.Calls("submit_transfer") == 1);
  }
  SECTION("batched, submission failed before reaching the service") {
    std::string sub;
    {
      auto e = w.Engine();
      w.Copy(*e, "/f", "/g");
      w.remote.FailNext("submit_transfer", Error::Transport(TransportFailure::kConnect, "down"));
      w.Settle(*e);
      REQUIRE(w.remote.Tasks().empty());
      sub = e->Progress().tasks.at(0).submission_id;
    }
    auto e = w.Engine();
    e->RunOnce();
    REQUIRE(w.remote.Tasks().size() == 1);
    CHECK(w.remote.Tasks()[0].submission_id == sub);
    CHECK(w.remote.Calls("submission_id") == 1);  // the persisted one was reused
  }
  SECTION("accepted, crashed before the task_id was journaled") {
    {
      auto e = w.Engine();
      w.Copy(*e, "/f", "/g");
      w.api.lose_submit_answers = 1;
      w.Settle(*e);
      REQUIRE(w.remote.Tasks().size() == 1);
    }
    auto e = w.Engine();
    e->RunOnce();
    CHECK(w.remote.Tasks().size() == 1);  // Duplicate, not a second task
    CHECK(w.remote.Calls("submit_transfer") == 2);
    w.Finish(*e);
    REQUIRE(w.rec.finished.size() == 1);
    CHECK(w.rec.finished[0].status.ok());
  }
}

// ---------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------

}  // namespace gf::fs
