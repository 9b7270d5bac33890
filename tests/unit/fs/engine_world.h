// Shared setup of the TransferEngine tests (transfer_engine_*_test.cc, one file per pipeline
// stage): FakeRemote + FakeClock, a journal in a temporary directory, a listener that records
// outcomes. No sleeps: time moves only through FakeClock and work happens only in RunOnce().
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "fs/transfers/engine.h"
#include "tests/support/fake_remote.h"

namespace gf::fs {
namespace engine_testing {

using testing::FakeRemote;
using namespace std::chrono_literals;

inline const std::string kA = "aaaaaaaa-0000-4000-8000-00000000000a";
inline const std::string kB = "bbbbbbbb-0000-4000-8000-00000000000b";
inline const std::string kC = "cccccccc-0000-4000-8000-00000000000c";

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

inline std::string Code(const Status& s) { return s.ok() ? "OK" : s.error().code; }

}  // namespace engine_testing
using namespace engine_testing;  // NOLINT: the tests' vocabulary
}  // namespace gf::fs
