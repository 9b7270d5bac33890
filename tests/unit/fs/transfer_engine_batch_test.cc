// TransferEngine: batching (idle windows, processes, limits, collection pairs) and durable Enqueue.
#include "tests/unit/fs/engine_world.h"

namespace gf::fs {

TEST_CASE("1000 copies inside the idle window become one task", "[transfer]") {
  World w;
  auto e = w.Engine();
  for (int i = 0; i < 1000; ++i) {
    w.remote.AddFile(kA, "/run/f" + std::to_string(i), "x");
    w.Copy(*e, "/run/f" + std::to_string(i), "/out/f" + std::to_string(i));
    if (i % 100 == 0) {
      w.clock.Advance(10ms);  // ops keep arriving: the window is not idle
      e->RunOnce();
    }
  }
  CHECK(w.remote.Calls("submit_transfer") == 0);
  w.Settle(*e);
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].items.size() == 1000);
  CHECK(w.remote.Calls("submission_id") == 1);
  w.Finish(*e);
  CHECK(w.rec.finished.size() == 1000);
  for (const auto& r : w.rec.finished) CHECK(r.status.ok());
  CHECK(w.remote.Get(kB, "/out/f999").has_value());
}

TEST_CASE("once every process that queued ops exited, batch_idle_exited is idle enough",
          "[transfer]") {
  World w;
  std::set<int32_t> alive = {41, 42};
  w.opts.process_exited = [&](int32_t pid) { return !alive.count(pid); };
  auto e = w.Engine();
  auto copy = [&](int i, int32_t pid) {
    w.remote.AddFile(kA, "/f" + std::to_string(i), "x");
    OpRequest r =
        OpRequest::Copy({kA, "/f" + std::to_string(i)}, {kB, "/g" + std::to_string(i)}, 1);
    r.origin_pid = pid;
    REQUIRE(e->Enqueue(r).ok());
  };
  copy(0, 41);
  copy(1, 41);
  w.clock.Advance(w.opts.batch_idle_exited);
  MonoTime next = e->RunOnce();
  CHECK(w.remote.Calls("submit_transfer") == 0);  // cp is still running: keep gathering
  CHECK(next - w.clock.Now() <= 20ms);            // ... but look again soon
  // A second process (a shell loop's next cp) joins the same group.
  copy(2, 42);
  alive.erase(41);
  w.clock.Advance(w.opts.batch_idle_exited / 2);
  e->RunOnce();
  CHECK(w.remote.Calls("submit_transfer") == 0);  // 42 still runs
  alive.erase(42);
  e->RunOnce();
  CHECK(w.remote.Calls("submit_transfer") == 0);  // both exited, but idle only 50 ms
  w.clock.Advance(w.opts.batch_idle_exited / 2);
  e->RunOnce();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);  // well before batch_idle, one task with all three
  CHECK(tasks[0].items.size() == 3);
  CHECK(w.opts.batch_idle_exited < w.opts.batch_idle);
}

TEST_CASE("ops without a known process wait the whole batch_idle", "[transfer]") {
  World w;
  w.opts.process_exited = [](int32_t) { return true; };
  auto e = w.Engine();
  w.remote.AddFile(kA, "/f", "x");
  OpRequest with_pid = OpRequest::Copy({kA, "/f"}, {kB, "/g"}, 1);
  with_pid.origin_pid = 7;
  REQUIRE(e->Enqueue(with_pid).ok());
  w.Copy(*e, "/f", "/h");  // origin unknown (e.g. replayed from the journal)
  w.clock.Advance(w.opts.batch_idle_exited);
  e->RunOnce();
  CHECK(w.remote.Calls("submit_transfer") == 0);
  w.clock.Advance(w.opts.batch_idle - w.opts.batch_idle_exited);
  e->RunOnce();
  CHECK(w.remote.Calls("submit_transfer") == 1);
}

TEST_CASE("the default process check sees this process alive and a reaped child gone",
          "[transfer]") {
  World w;
  w.opts.process_exited = nullptr;  // the /proc based default
  auto e = w.Engine();
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  w.remote.AddFile(kA, "/f", "x");
  OpRequest mine = OpRequest::Copy({kA, "/f"}, {kB, "/mine"}, 1);
  mine.origin_pid = static_cast<int32_t>(::getpid());
  REQUIRE(e->Enqueue(mine).ok());
  OpRequest gone = OpRequest::Copy({kA, "/f"}, {kC, "/gone"}, 1);
  gone.origin_pid = static_cast<int32_t>(child);
  REQUIRE(e->Enqueue(gone).ok());
  w.clock.Advance(w.opts.batch_idle_exited);
  e->RunOnce();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);  // only the group of the exited child
  CHECK(tasks[0].doc.destination_endpoint_id == kC);
}

TEST_CASE("more than batch_max_items → several tasks; slots limit unfinished tasks", "[transfer]") {
  World w;
  w.opts.batch_max_items = 100;
  w.opts.max_transfer_tasks = 2;
  auto e = w.Engine();
  for (int i = 0; i < 450; ++i) w.Copy(*e, "/f" + std::to_string(i), "/g" + std::to_string(i));
  e->RunOnce();  // full batches go at once, but only 2 slots
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0].items.size() == 100);
  CHECK(tasks[1].items.size() == 100);
  // Sources don't exist: nothing finishes; after the window still only 2.
  w.Settle(*e);
  CHECK(w.remote.Tasks().size() == 2);
  // Free the slots: the rest goes out in full batches, never more than 2 unfinished.
  for (const auto& t : w.remote.Tasks()) w.remote.FailTask(t.doc.task_id, "X", "x");
  size_t max_running = 0;
  for (int round = 0; round < 10; ++round) {
    w.clock.Advance(w.opts.poll_max);
    e->RunOnce();
    size_t running = 0;
    for (const auto& t : w.remote.Tasks()) {
      if (t.doc.status == api::TaskStatus::kActive) ++running;
    }
    max_running = std::max(max_running, running);
    for (const auto& t : w.remote.Tasks())
      if (t.doc.status == api::TaskStatus::kActive) w.remote.FailTask(t.doc.task_id, "X", "x");
  }
  CHECK(max_running == 2);
  auto all = w.remote.Tasks();
  REQUIRE(all.size() == 5);
  CHECK(all[4].items.size() == 50);
  CHECK(w.rec.finished.size() == 450);
}

TEST_CASE("different collection pairs go into different tasks", "[transfer]") {
  World w;
  auto e = w.Engine();
  for (int i = 0; i < 5; ++i) {
    w.Copy(*e, "/ab" + std::to_string(i), "/x" + std::to_string(i), kA, kB);
    w.Copy(*e, "/ac" + std::to_string(i), "/x" + std::to_string(i), kA, kC);
    w.Copy(*e, "/ba" + std::to_string(i), "/x" + std::to_string(i), kB, kA);
  }
  w.Settle(*e);
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 3);
  std::set<std::pair<std::string, std::string>> pairs;
  for (const auto& t : tasks) {
    CHECK(t.items.size() == 5);
    pairs.insert({*t.doc.source_endpoint_id, *t.doc.destination_endpoint_id});
  }
  CHECK(pairs.size() == 3);
}

// ---------------------------------------------------------------------------------------------
// Durability and idempotency
// ---------------------------------------------------------------------------------------------
TEST_CASE("Enqueue returns only after the op is in the journal file", "[transfer]") {
  World w;
  auto e = w.Engine();
  OpId id = w.Copy(*e, "/data/run42.h5", "/dst/run42.h5");
  bool found = false;
  std::istringstream lines(w.JournalText());
  for (std::string line; std::getline(lines, line);) {
    auto r = DecodeRecord(line);
    REQUIRE(r.ok());
    if (auto* op = std::get_if<OpRecord>(&*r); op && op->id == id) {
      found = op->src == Location{kA, "/data/run42.h5"} &&
              op->dst == Location{kB, "/dst/run42.h5"} && op->kind == OpKind::kCopy;
    }
  }
  CHECK(found);
  CHECK(w.remote.Calls("submission_id") == 0);  // nothing remote yet
}

}  // namespace gf::fs
