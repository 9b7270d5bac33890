// TransferEngine over FakeRemote + FakeClock: batching, durable enqueue, idempotent submission,
// restart, polling, stuck tasks, mv, Wait/Cancel, labels, options. No sleeps: time moves only
// through FakeClock and work happens only in RunOnce().
#include "fs/transfers/engine.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "tests/support/fake_remote.h"

namespace gf::fs {
namespace {

using testing::FakeRemote;
using namespace std::chrono_literals;

const std::string kA = "aaaaaaaa-0000-4000-8000-00000000000a";
const std::string kB = "bbbbbbbb-0000-4000-8000-00000000000b";
const std::string kC = "cccccccc-0000-4000-8000-00000000000c";

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gf-xfer-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Forwards to FakeRemote; can lose the answer of a submission the service DID accept (the
// "crash/timeout after accept" case), and records the documents sent.
class LossyApi : public api::TransferApi {
 public:
  explicit LossyApi(FakeRemote& r) : r_(r) {}
  int lose_submit_answers = 0;
  std::vector<api::TransferRequest> transfers;
  std::vector<api::DeleteRequest> deletes;

  Result<api::Endpoint> GetEndpoint(const std::string& id) override { return r_.GetEndpoint(id); }
  Result<std::vector<api::Endpoint>> EndpointSearch(const api::EndpointSearchQuery& q) override {
    return r_.EndpointSearch(q);
  }
  Result<std::vector<api::Bookmark>> BookmarkList() override { return r_.BookmarkList(); }
  Result<api::FileList> Ls(const std::string& c, const api::LsQuery& q) override {
    return r_.Ls(c, q);
  }
  Result<api::FileEntry> Stat(const std::string& c, const std::string& p) override {
    return r_.Stat(c, p);
  }
  Status Mkdir(const std::string& c, const std::string& p) override { return r_.Mkdir(c, p); }
  Status Rename(const std::string& c, const std::string& a, const std::string& b) override {
    return r_.Rename(c, a, b);
  }
  Result<std::string> GetSubmissionId() override { return r_.GetSubmissionId(); }
  Result<api::SubmitResult> SubmitTransfer(const api::TransferRequest& r) override {
    transfers.push_back(r);
    return Lossy(r_.SubmitTransfer(r));
  }
  Result<api::SubmitResult> SubmitDelete(const api::DeleteRequest& r) override {
    deletes.push_back(r);
    return Lossy(r_.SubmitDelete(r));
  }
  Result<api::Task> GetTask(const std::string& id) override { return r_.GetTask(id); }
  Result<std::vector<api::Task>> TaskList(const api::TaskListQuery& q) override {
    return r_.TaskList(q);
  }
  Status CancelTask(const std::string& id) override { return r_.CancelTask(id); }
  Result<std::vector<api::Event>> EventList(const std::string& id, int limit, int offset) override {
    return r_.EventList(id, limit, offset);
  }
  Result<api::SuccessfulTransfersPage> SuccessfulTransfers(const std::string& id,
                                                           const std::string& marker) override {
    markers.push_back(marker);
    return r_.SuccessfulTransfers(id, marker);
  }
  std::vector<std::string> markers;  // successful_transfers calls, in order

 private:
  Result<api::SubmitResult> Lossy(Result<api::SubmitResult> r) {
    if (r.ok() && lose_submit_answers > 0) {
      --lose_submit_answers;
      return Error::Transport(TransportFailure::kTimeout, "answer lost");
    }
    return r;
  }
  FakeRemote& r_;
};

struct Recorder : OpListener {
  std::vector<OpResult> finished, steps;
  void OnOpFinished(const OpResult& r) override { finished.push_back(r); }
  void OnStepFinished(const OpResult& r) override { steps.push_back(r); }
  const OpResult* Find(OpId id) const {
    for (const auto& r : finished)
      if (r.id == id) return &r;
    return nullptr;
  }
};

struct World {
  TempDir dir;
  FakeRemote remote;
  LossyApi api{remote};
  FakeClock clock;
  Recorder rec;
  TransferEngineOptions opts;

  World() {
    log::SetLevel(log::Level::kWarn);
    for (const auto& id : {kA, kB, kC}) {
      api::Endpoint e;
      e.id = id;
      e.display_name = "coll " + id.substr(0, 1);
      e.entity_type = "GCSv5_mapped_collection";
      remote.AddCollection(e);
    }
    opts.journal_path = JournalPath(dir.path + "/state", "mount1");
  }
  std::unique_ptr<TransferEngine> Engine() {
    auto e = TransferEngine::Open(api, opts, clock);
    REQUIRE(e.ok());
    (*e)->AddListener(&rec);
    return std::move(*e);
  }
  // Lets the batching window pass and runs the scheduler.
  void Settle(TransferEngine& e) {
    clock.Advance(opts.batch_idle);
    e.RunOnce();
  }
  // Runs the service's tasks, then polls until nothing is due (bounded).
  void Finish(TransferEngine& e) {
    remote.RunTasks();
    for (int i = 0; i < 4; ++i) {
      clock.Advance(opts.poll_max);
      e.RunOnce();
    }
  }
  OpId Copy(TransferEngine& e, const std::string& from, const std::string& to,
            const std::string& src = kA, const std::string& dst = kB) {
    auto id = e.Enqueue(OpRequest::Copy({src, from}, {dst, to}, 10));
    REQUIRE(id.ok());
    return *id;
  }
  std::string JournalText() const {
    std::ifstream in(opts.journal_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

std::string Code(const Status& s) { return s.ok() ? "OK" : s.error().code; }

}  // namespace

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
  w.opts = TransferEngineOptions::FromConfig(c, "m");
  CHECK(w.opts.journal_path == c.state_dir + "/journal/m.log");
  CHECK(w.opts.batch_idle == 250ms);
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
