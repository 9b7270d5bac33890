// TransferEngine: rm, Wait, Cancel, labels, task options, validation, the thread.
#include "tests/unit/fs/engine_world.h"

namespace gf::fs {

TEST_CASE("rm becomes a delete task", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/old/1", "1");
  w.remote.AddFile(kA, "/old/2", "2");
  auto e = w.Engine();
  auto a = e->Enqueue(OpRequest::Remove({kA, "/old/1"}));
  auto b = e->Enqueue(OpRequest::Remove({kA, "/old/2"}));
  REQUIRE((a.ok() && b.ok()));
  w.Settle(*e);
  REQUIRE(w.api.deletes.size() == 1);
  CHECK(w.api.deletes[0].paths.size() == 2);
  CHECK(w.api.deletes[0].label == "globus-fuse rm 1 (+1 more)");
  w.Finish(*e);
  CHECK(e->Wait(*a).ok());
  CHECK_FALSE(w.remote.Exists(kA, "/old/2"));
}

// ---------------------------------------------------------------------------------------------
// Wait / Cancel
// ---------------------------------------------------------------------------------------------
TEST_CASE("Wait blocks until the op finished and its listeners ran", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "x");
  auto e = w.Engine();
  OpId id = w.Copy(*e, "/f", "/g");
  Status result = Error::Local(EIO, "not set");
  size_t listened_before_return = 0;
  std::thread waiter([&] {
    result = e->Wait(id);
    listened_before_return = w.rec.finished.size();
  });
  w.Settle(*e);
  w.Finish(*e);
  waiter.join();
  CHECK(result.ok());
  CHECK(listened_before_return == 1);
}

TEST_CASE("Wait: deadline, interruption, unknown op", "[transfer]") {
  World w;
  auto e = w.Engine();
  OpId id = w.Copy(*e, "/f", "/g");
  Status t = e->Wait(id, w.clock.Now());
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().sys_errno == ETIMEDOUT);
  std::atomic<bool> cancel{true};
  Status i = e->Wait(id, std::nullopt, &cancel);
  REQUIRE_FALSE(i.ok());
  CHECK(i.error().sys_errno == EINTR);
  Status u = e->Wait(12345);
  REQUIRE_FALSE(u.ok());
  CHECK(u.error().sys_errno == ENOENT);
  // Unmount: Stop() releases a waiter that has no deadline, and cancels nothing.
  std::atomic<bool> returned{false};
  Status stopped;
  std::thread waiter([&] {
    stopped = e->Wait(id);
    returned = true;
  });
  e->Stop();
  waiter.join();
  CHECK(returned);
  REQUIRE_FALSE(stopped.ok());
  CHECK(stopped.error().sys_errno == ESHUTDOWN);
  CHECK(w.remote.Calls("cancel_task") == 0);
}

TEST_CASE("Cancel: queued ops fail at once; submitted ones cancel the Globus task", "[transfer]") {
  World w;
  w.remote.AddFile(kA, "/f", "x");
  auto e = w.Engine();
  SECTION("queued") {
    OpId id = w.Copy(*e, "/f", "/g");
    REQUIRE(e->Cancel(id).ok());
    Status s = e->Wait(id, w.clock.Now());
    CHECK(Code(s) == "CANCELED");
    w.Settle(*e);
    CHECK(w.remote.Calls("submission_id") == 0);
    CHECK(w.remote.Tasks().empty());
  }
  SECTION("submitted") {
    OpId id = w.Copy(*e, "/f", "/g");
    w.Settle(*e);
    REQUIRE(w.remote.Tasks().size() == 1);
    REQUIRE(e->Cancel(id).ok());
    CHECK(w.remote.Calls("cancel_task") == 1);
    CHECK(w.remote.Tasks()[0].doc.fatal_error->code == "CANCELED");
    e->RunOnce();
    CHECK(Code(e->Wait(id, w.clock.Now())) == "CANCELED");
    CHECK(Code(w.rec.Find(id)->status) == "CANCELED");
  }
  SECTION("blocked on authorization, never accepted: cancelled without a task") {
    Error consent = Error::Api(403, "ConsentRequired", "Missing required data_access consent");
    w.remote.FailNext("submit_transfer", consent, 100);
    OpId id = w.Copy(*e, "/f", "/g");
    w.Settle(*e);
    CHECK(e->Progress().tasks.at(0).waiting_reason.find("ConsentRequired") != std::string::npos);
    CHECK(e->Progress().ops.at(0).state == OpState::kBatched);  // blocked, not failed
    REQUIRE(e->Cancel(id).ok());
    e->RunOnce();
    CHECK(Code(e->Wait(id, w.clock.Now())) == "CANCELED");
    CHECK(w.remote.Tasks().empty());
  }
  SECTION("batched, submission pending: cancelled once the task exists") {
    OpId id = w.Copy(*e, "/f", "/g");
    w.api.lose_submit_answers = 1;
    w.Settle(*e);
    REQUIRE(e->Cancel(id).ok());
    e->RunOnce();  // resubmits (Duplicate) → task id known
    w.clock.Advance(w.opts.poll_min);
    e->RunOnce();  // cancels it
    w.clock.Advance(w.opts.poll_min);
    e->RunOnce();  // sees FAILED
    CHECK(w.remote.Tasks().size() == 1);
    CHECK(w.remote.Tasks()[0].doc.status == api::TaskStatus::kFailed);
    CHECK(Code(e->Wait(id, w.clock.Now())) == "CANCELED");
  }
}

// ---------------------------------------------------------------------------------------------
// Labels and options
// ---------------------------------------------------------------------------------------------
TEST_CASE("task labels are short, ASCII-safe and name the first path", "[transfer]") {
  CHECK(TaskLabel("cp", "/data/run42.h5", 42) == "globus-fuse cp run42.h5 (+41 more)");
  CHECK(TaskLabel("cp", "/data/run42.h5", 1) == "globus-fuse cp run42.h5");
  CHECK(TaskLabel("mv", "/a/dir/", 1) == "globus-fuse mv dir");
  // Byte-wise: the two UTF-8 bytes of "é" and each of :*?"<>| become '_'.
  CHECK(TaskLabel("cp", "/x/é:*?\"<>|", 1) == "globus-fuse cp _________");
  std::string long_name(500, 'n');
  std::string l = TaskLabel("cp", "/" + long_name, 100000);
  CHECK(l.size() <= kMaxLabel);
  CHECK(l.find("(+99999 more)") != std::string::npos);
  CHECK(l.find("...") != std::string::npos);
}

TEST_CASE("configured task options reach the submitted document", "[transfer]") {
  World w;
  Config c;
  c.state_dir = w.dir.path + "/cfgstate";
  c.verify_checksum = false;
  c.preserve_timestamp = false;
  c.encrypt_data = true;
  c.sync_level = 2;
  c.batch_idle_seconds = 0.25;
  c.batch_max_items = 7;
  c.upload_parallelism = 5;
  CHECK(TransferEngineOptions::FromConfig(Config{}, "m").max_uploads == 2);
  w.opts = TransferEngineOptions::FromConfig(c, "m");
  CHECK(w.opts.journal_path == c.state_dir + "/journal/m.log");
  CHECK(w.opts.batch_idle == 250ms);
  CHECK(w.opts.max_uploads == 5);  // "background: at most max_uploads run" holds it to that
  w.remote.AddFile(kA, "/f", "x", 1500000000);
  auto e = w.Engine();
  w.Copy(*e, "/f", "/g");
  w.Settle(*e);
  REQUIRE(w.api.transfers.size() == 1);
  const api::TransferRequest& r = w.api.transfers[0];
  CHECK_FALSE(r.verify_checksum);
  CHECK_FALSE(r.preserve_timestamp);
  CHECK(r.encrypt_data);
  CHECK(r.sync_level == 2);
  CHECK(r.label == "globus-fuse cp f");
  w.Finish(*e);
  CHECK(w.remote.Get(kB, "/g")->mtime != 1500000000);  // not preserved, as asked

  World d;  // defaults: verify and preserve on
  d.remote.AddFile(kA, "/f", "x", 1500000000);
  auto e2 = d.Engine();
  d.Copy(*e2, "/f", "/g");
  d.Settle(*e2);
  REQUIRE(d.api.transfers.size() == 1);
  CHECK(d.api.transfers[0].verify_checksum);
  CHECK(d.api.transfers[0].preserve_timestamp);
  CHECK_FALSE(d.api.transfers[0].encrypt_data);
  d.Finish(*e2);
  CHECK(d.remote.Get(kB, "/g")->mtime == 1500000000);
}

TEST_CASE("Enqueue validates requests and bounds the number of live ops", "[transfer]") {
  World w;
  w.opts.max_live_ops = 2;
  auto e = w.Engine();
  CHECK(e->Enqueue(OpRequest::Copy({kA, "relative"}, {kB, "/x"}, 0)).error().sys_errno == EINVAL);
  CHECK(e->Enqueue(OpRequest::Copy({kA, "/x"}, {kA, "/x"}, 0)).error().sys_errno == EINVAL);
  CHECK(e->Enqueue(OpRequest::Copy({"", "/x"}, {kB, "/x"}, 0)).error().sys_errno == EINVAL);
  w.Copy(*e, "/1", "/1");
  w.Copy(*e, "/2", "/2");
  CHECK(e->Enqueue(OpRequest::Copy({kA, "/3"}, {kB, "/3"}, 0)).error().sys_errno == EAGAIN);
}

TEST_CASE("the background thread drives the same scheduler", "[transfer]") {
  // Real clock, tiny windows; completion is awaited with Wait (no timing assertions).
  World w;
  w.opts.batch_idle = 1ms;
  w.opts.poll_min = 1ms;
  w.opts.poll_max = 5ms;
  w.opts.retry_min = 1ms;
  w.remote.AddFile(kA, "/f", "x");
  auto e = TransferEngine::Open(w.api, w.opts);  // SystemClock
  REQUIRE(e.ok());
  (*e)->Start();
  auto id = (*e)->Enqueue(OpRequest::Copy({kA, "/f"}, {kB, "/g"}, 1));
  REQUIRE(id.ok());
  std::thread runner([&] {
    // The fake service runs tasks only when told: keep telling it until the op is done.
    while (w.remote.Tasks().empty()) std::this_thread::yield();
    w.remote.RunTasks();
  });
  Status s = (*e)->Wait(*id);
  runner.join();
  CHECK(s.ok());
  (*e)->Stop();
}

}  // namespace gf::fs
