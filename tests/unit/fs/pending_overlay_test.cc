// PendingOverlay, tested directly over a real TransferEngine (journal in a temporary
// directory, FakeRemote, FakeClock): placeholders, pending destinations, hidden move sources,
// settling when an op ends, and what a restart shows again.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/clock.h"
#include "common/log.h"
#include "fs/transfers/engine.h"
#include "fs/transfers/pending_overlay.h"
#include "tests/support/fake_remote.h"

namespace gf::fs::testing {
namespace {

constexpr const char* kA = "aaaaaaaa-0000-4000-8000-000000000001";
constexpr const char* kB = "bbbbbbbb-0000-4000-8000-000000000002";

struct RecordingSink final : SettledSink {
  std::vector<SettledEvent> events;
  void OnSettled(const SettledEvent& e) override { events.push_back(e); }
};

struct OverlayWorld {
  gf::FakeClock clock;
  gf::testing::FakeRemote remote;
  std::string dir;
  TransferEngineOptions options;
  std::unique_ptr<TransferEngine> engine;
  RecordingSink sink;
  std::unique_ptr<PendingOverlay> overlay;

  OverlayWorld() {
    log::SetLevel(log::Level::kError);
    char tmpl[] = "/tmp/gf-overlay-XXXXXX";
    dir = ::mkdtemp(tmpl);
    options.journal_path = JournalPath(dir, "mnt");
    Open();
  }
  ~OverlayWorld() {
    overlay.reset();
    engine.reset();
    std::filesystem::remove_all(dir);
  }
  // (Re)opens the engine over the journal, then the overlay that shows its ops.
  void Open() {
    overlay.reset();
    engine.reset();
    auto e = TransferEngine::Open(remote, options, clock);
    REQUIRE(e.ok());
    engine = std::move(*e);
    overlay = std::make_unique<PendingOverlay>(*engine, sink, clock);
  }
};

Meta FileMeta(uint64_t size) {
  Meta m;
  m.type = api::EntryType::kFile;
  m.size = size;
  m.permissions = 0644;
  return m;
}

}  // namespace

TEST_CASE("overlay: a placeholder belongs to the handle that made it", "[fs][overlay]") {
  OverlayWorld w;
  const Location at{kB, "/d/f"};
  w.overlay->AddPlaceholder(at, FileMeta(0), 5);
  REQUIRE(w.overlay->PendingOp(at));
  CHECK(*w.overlay->PendingOp(at) == 0);  // op 0: a placeholder
  CHECK(w.overlay->Pending(kB, "/d/f")->size == 0);
  CHECK_FALSE(w.overlay->DropPlaceholder(at, 6));  // another handle's
  CHECK(w.overlay->DropPlaceholder(at, 5));
  CHECK_FALSE(w.overlay->PendingOp(at));
  CHECK(w.sink.events.empty());  // nothing remote changed
}

TEST_CASE("overlay: a move hides its source and below; its destination is a pending child",
          "[fs][overlay]") {
  OverlayWorld w;
  w.overlay->AddMove(7, Location{kA, "/a/d"}, Location{kB, "/b/d"}, FileMeta(4096));
  CHECK(w.overlay->Hidden(kA, "/a/d"));
  CHECK(w.overlay->Hidden(kA, "/a/d/x/y"));
  CHECK_FALSE(w.overlay->Hidden(kA, "/a/dx"));
  CHECK_FALSE(w.overlay->Hidden(kB, "/a/d"));
  CHECK(w.overlay->AnyHidden(kA));
  CHECK_FALSE(w.overlay->AnyHidden(kB));
  auto children = w.overlay->PendingChildren(kB, "/b");
  REQUIRE(children.size() == 1);
  CHECK(children[0].first == "d");
  CHECK(w.overlay->PendingChildren(kB, "/").empty());  // only direct children
  CHECK(w.overlay->PendingOp(Location{kB, "/b/d"}) == std::optional<OpId>(7));
}

TEST_CASE("overlay: an op that ends drops its entries, tells the sink, keeps its failure",
          "[fs][overlay]") {
  OverlayWorld w;
  const Location src{kA, "/s"}, dst{kB, "/d"};
  auto op = w.engine->Enqueue(OpRequest::Copy(src, dst, 10));
  REQUIRE(op.ok());
  w.overlay->AddCopy(*op, dst, FileMeta(10));
  auto xattrs = w.overlay->Xattrs(kB, "/d");
  REQUIRE_FALSE(xattrs.empty());
  CHECK(xattrs[0] == std::make_pair(std::string("user.globus.status"), std::string("queued")));
  REQUIRE(w.engine->Cancel(*op).ok());  // a queued op fails at once (CANCELED)
  CHECK_FALSE(w.overlay->PendingOp(dst));
  REQUIRE(w.sink.events.size() == 1);
  const SettledEvent& e = w.sink.events[0];
  CHECK(e.op == *op);
  CHECK_FALSE(e.ok);
  CHECK(e.dst == dst);
  CHECK(e.source == src);
  REQUIRE(w.overlay->FailureOf(*op));
  CHECK(w.overlay->FailureOf(*op)->code == "CANCELED");
  CHECK(w.overlay->Stats().failures.size() == 1);
}

TEST_CASE("overlay: after a restart the journal's ops show again", "[fs][overlay][restart]") {
  OverlayWorld w;
  const Location src{kA, "/tree"}, dst{kB, "/tree"};
  auto op = w.engine->Enqueue(OpRequest::Move(src, dst, 0, true));
  REQUIRE(op.ok());
  w.overlay->AddMove(*op, src, dst, FileMeta(4096));
  w.Open();  // the daemon restarts
  CHECK(w.overlay->Hidden(kA, "/tree/f"));
  CHECK(w.overlay->PendingOp(dst) == std::optional<OpId>(*op));
  CHECK(w.overlay->Pending(kB, "/tree")->type == api::EntryType::kDir);
}

}  // namespace gf::fs::testing
