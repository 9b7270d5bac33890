// TransferEngine: polling, stuck tasks and the progress report.
#include "tests/unit/fs/engine_world.h"

namespace gf::fs {

TEST_CASE("one task_list call per poll for many tasks; backoff while nothing changes",
          "[transfer]") {
  World w;
  w.opts.poll_min = std::chrono::seconds(1);  // the schedule below is in whole seconds
  auto e = w.Engine();
  w.Copy(*e, "/1", "/1", kA, kB);
  w.Copy(*e, "/2", "/2", kA, kC);
  w.Copy(*e, "/3", "/3", kB, kC);
  w.Settle(*e);
  REQUIRE(w.remote.Tasks().size() == 3);
  w.remote.ResetCalls();
  // Polls at +1 s (first look), then +1, +2, +4, +8 ... while nothing changes.
  std::vector<int> polled_at;
  for (int s = 1; s <= 16; ++s) {
    w.clock.Advance(1s);
    const int before = w.remote.Calls("task_list");
    MonoTime next = e->RunOnce();
    if (w.remote.Calls("task_list") > before) polled_at.push_back(s);
    CHECK(next - w.clock.Now() <= w.opts.poll_max);
  }
  CHECK(polled_at == std::vector<int>{1, 2, 4, 8, 16});
  CHECK(w.remote.Calls("get_task") == 0);
  CHECK(w.remote.Calls("event_list") == 0);  // no faults, no event lists
  for (int i = 0; i < 10; ++i) {
    w.clock.Advance(w.opts.poll_max);
    CHECK(e->RunOnce() - w.clock.Now() <= w.opts.poll_max);
  }
}

TEST_CASE("while someone waits on a task, polls are at most poll_waiting apart", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "x");
  auto e = w.Engine();
  OpId id = w.Copy(*e, "/f", "/g");
  w.Settle(*e);
  REQUIRE(w.remote.Tasks().size() == 1);
  // Nobody waits: the interval grows well past poll_waiting.
  for (int i = 0; i < 12; ++i) {
    w.clock.Advance(w.opts.poll_max);
    e->RunOnce();
  }
  w.clock.Advance(1ms);
  CHECK(e->RunOnce() - w.clock.Now() > w.opts.poll_waiting);
  std::atomic<bool> done{false};
  Status result = Error::Local(EIO, "not set");
  std::thread waiter([&] {
    result = e->Wait(id);
    done = true;
  });
  // The waiter pulls the next poll in (wait for the thread to get there: no timing assumed).
  const auto give_up = std::chrono::steady_clock::now() + 30s;  // a bound, not a timing check
  bool pulled_in = false;
  while (!pulled_in && std::chrono::steady_clock::now() < give_up) {
    pulled_in = e->RunOnce() - w.clock.Now() <= w.opts.poll_waiting;
    std::this_thread::yield();
  }
  REQUIRE(pulled_in);
  w.remote.ResetCalls();
  for (int i = 0; i < 20; ++i) {
    w.clock.Advance(w.opts.poll_waiting);
    CHECK(e->RunOnce() - w.clock.Now() <= w.opts.poll_waiting);
  }
  CHECK(w.remote.Calls("task_list") == 20);  // every poll_waiting, not doubling
  w.remote.RunTasks();
  w.clock.Advance(w.opts.poll_waiting);
  e->RunOnce();
  waiter.join();
  CHECK(done);
  CHECK(result.ok());
}

TEST_CASE("a transfer stuck on a missing source is cancelled and fails with the event",
          "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/ok", "fine");
  auto e = w.Engine();
  OpId bad = w.Copy(*e, "/missing.h5", "/x.h5");
  OpId good = w.Copy(*e, "/ok", "/ok", kA, kC);  // another task, healthy but unfinished
  w.Settle(*e);
  REQUIRE(w.remote.Tasks().size() == 2);
  // Run only the bad one: the healthy one stays ACTIVE and unfaulted.
  const std::string bad_task = w.remote.Tasks()[0].items[0].source_path == "/missing.h5"
                                   ? w.remote.Tasks()[0].doc.task_id
                                   : w.remote.Tasks()[1].doc.task_id;
  w.remote.RunTasks();  // bad: faults 1, ACTIVE; good: SUCCEEDED
  w.clock.Advance(w.opts.poll_min);
  e->RunOnce();
  CHECK(w.remote.Calls("event_list") == 1);  // only the faulted task
  CHECK(w.remote.Calls("cancel_task") == 1);
  CHECK(w.remote.GetTask(bad_task)->status == api::TaskStatus::kFailed);
  w.clock.Advance(w.opts.poll_min);
  e->RunOnce();
  Status s = e->Wait(bad, w.clock.Now());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "FILE_NOT_FOUND");
  CHECK(s.error().message.find("/missing.h5") != std::string::npos);
  CHECK(e->Wait(good).ok());
  const OpResult* r = w.rec.Find(bad);
  REQUIRE(r != nullptr);
  CHECK(r->task_id == bad_task);
  CHECK(r->status.error().code == "FILE_NOT_FOUND");
}

TEST_CASE("status snapshot shows ops, tasks and progress", "[transfer]") {
  World w;
  auto e = w.Engine();
  w.Copy(*e, "/missing", "/m");
  auto snap = e->Progress();
  REQUIRE(snap.ops.size() == 1);
  CHECK(snap.ops[0].state == OpState::kQueued);
  w.Settle(*e);
  w.remote.RunTasks();
  w.clock.Advance(w.opts.poll_min);
  snap = e->Progress();
  REQUIRE(snap.tasks.size() == 1);
  CHECK(snap.tasks[0].items == 1);
  CHECK(snap.tasks[0].label == "globus-fuse cp missing");
  CHECK(snap.tasks[0].status == "ACTIVE");
  CHECK(snap.ops[0].state == OpState::kSubmitted);
  CHECK(snap.ops[0].batch == snap.tasks[0].batch);
}

// ---------------------------------------------------------------------------------------------
// mv
// ---------------------------------------------------------------------------------------------

}  // namespace gf::fs
