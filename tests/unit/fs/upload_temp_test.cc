// Upload temp names and crashes (issue 13): a replacement is PUT to a hidden
// `.globus-fuse.<hex>.tmp` name, noted in the transfer journal before the PUT and closed once
// the name is gone. A note left open (a crash, or a temp name that could not be removed) makes
// the next mount remove that temp path, and never the file it was to replace.
// A crash is simulated by dropping the engine and filesystem without closing the note
// (World::Make builds them again over the same journal). FakeRemote + FakeClock.
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "fs/hooks.h"
#include "fs/paths.h"
#include "fs/write/uploader.h"
#include "tests/unit/fs/fs_world.h"

namespace gf::fs::testing {
namespace {

constexpr const char* kGrexName = "UManitoba Grex HPC";

struct TempWorld : World {
  TempWorld() {
    log::SetLevel(log::Level::kError);
    options.collections = {kGrex};
    remote.AddDir(kGrex, "/dst");
    remote.AddFile(kGrex, "/dst/a", "OLD CONTENT");
    remote.SetRenameOntoExisting(gf::testing::FakeRemote::RenameOntoExisting::kReplace);
    Make();
  }
  // /dst/a opened O_WRONLY|O_TRUNC and written: its close replaces it through a temp name.
  uint64_t Rewrite(const std::string& content) {
    auto a = Walk(std::string(kGrexName) + "/dst/a");
    REQUIRE(a.ok());
    auto h = fs->Open(a->attr.ino, O_WRONLY | O_TRUNC);
    REQUIRE(h.ok());
    REQUIRE(fs->Write(h->fh, 0, content).ok());
    return h->fh;
  }
  // The upload temp names at /dst on the server.
  std::vector<std::string> TempNames() {
    std::vector<std::string> out;
    api::LsQuery q;
    q.path = "/dst/";
    auto l = remote.Ls(kGrex, q);
    REQUIRE(l.ok());
    for (const auto& e : l->entries)
      if (write::IsUploadTempName(e.name)) out.push_back("/dst/" + e.name);
    return out;
  }
  std::string Journal() const { return ReadFile(engine_options.journal_path); }
};

TEST_CASE("a replacement's temp name is journaled before its PUT and closed after its rename",
          "[fs][upload][crash]") {
  TempWorld w;
  const uint64_t fh = w.Rewrite("NEW");
  w.remote.CloseGate("put");
  Status flushed = Error::Local(EINVAL, "not run");
  std::thread t([&] { flushed = w.fs->Flush(fh); });
  REQUIRE(Eventually([&] { return w.remote.Blocked("put") == 1; }));
  const std::string during = w.Journal();
  CHECK(during.find("\"t\":\"tmp\"") != std::string::npos);
  CHECK(during.find("\"p\":\"/dst/.globus-fuse.") != std::string::npos);
  CHECK(during.find("tmpgone") == std::string::npos);
  w.remote.ReleaseGate("put");
  t.join();
  REQUIRE(flushed.ok());
  CHECK(w.Journal().find("\"t\":\"tmpgone\"") != std::string::npos);
  w.fs->Release(fh);
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == "NEW");
  // The next mount has nothing to clean up.
  w.Make();
  w.Drive();
  w.Finish();
  CHECK(w.remote.Tasks().empty());
}

TEST_CASE("a crash mid-upload: the next mount removes the temp name, the file is untouched",
          "[fs][upload][crash]") {
  TempWorld w;
  // The daemon dies while its PUT to the temp name runs: the note is in the journal and the
  // server holds part of the upload at the temp name.
  const std::string temp = "/dst/.globus-fuse.0123456789abcdef.tmp";
  SECTION("part of the body arrived") {
    REQUIRE(w.engine->TempBegin(Location{kGrex, temp}).ok());
    w.remote.AddFile(kGrex, temp, "NE");
    REQUIRE(w.TempNames().size() == 1);
  }
  SECTION("no byte arrived: the delete finds nothing, and that is fine") {
    REQUIRE(w.engine->TempBegin(Location{kGrex, temp}).ok());
  }
  w.Make();  // the crash: nothing was closed; the next mount
  w.Drive();
  w.Finish();
  const auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].delete_paths == std::vector<std::string>{temp});
  CHECK(tasks[0].ignore_missing);
  CHECK(tasks[0].doc.status == api::TaskStatus::kSucceeded);
  CHECK(w.TempNames().empty());
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == "OLD CONTENT");
  // Done once: a later mount submits nothing more.
  w.Make();
  w.Drive();
  w.Finish();
  CHECK(w.remote.Tasks().size() == 1);
}

TEST_CASE("a temp name that could not be removed after a failed upload goes at the next mount",
          "[fs][upload][crash]") {
  TempWorld w;
  const uint64_t fh = w.Rewrite("NEW");
  // The stat after the PUT is refused, and so is the removal of the temp name.
  w.remote.FailNext("stat", Error::Api(403, "PermissionDenied", "no"));
  w.remote.FailNext("delete", Error::Api(500, "ServerError", "no"));
  CHECK_FALSE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  const auto left = w.TempNames();
  REQUIRE(left.size() == 1);
  CHECK(w.Journal().find("tmpgone") == std::string::npos);
  w.Make();
  w.Drive();
  w.Finish();
  CHECK(w.TempNames().empty());
  REQUIRE(w.remote.Tasks().size() == 1);
  CHECK(w.remote.Tasks()[0].delete_paths == left);
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == "OLD CONTENT");
}

TEST_CASE("a temp name that holds the only copy of the new content is never cleaned up",
          "[fs][upload][crash]") {
  // delete-then-rename: the old file was deleted, then the rename failed. The new bytes are
  // only at the temp name (the error says so): the next mount must not delete them.
  TempWorld w;
  w.options.upload_replace = "delete-then-rename";
  w.Make();
  const uint64_t fh = w.Rewrite("NEW");
  w.remote.FailNext("rename", Error::Api(403, "PermissionDenied", "no"));
  CHECK_FALSE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/a"));  // deleted before the rename
  const auto kept = w.TempNames();
  REQUIRE(kept.size() == 1);
  CHECK(w.remote.Get(kGrex, kept[0])->content == "NEW");
  w.Make();
  w.Drive();
  w.Finish();
  CHECK(w.remote.Tasks().empty());
  CHECK(w.TempNames() == kept);
}

// ---- a brand-new file's PUT goes straight to its name (journal.h, "DIRECT PUTS") ----

// /dst/new created and written: its close PUTs it straight to its name.
uint64_t WriteNew(TempWorld& w, const std::string& content) {
  auto dst = w.Walk(std::string(kGrexName) + "/dst");
  REQUIRE(dst.ok());
  auto h = w.fs->Create(dst->attr.ino, "new", 0644, O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(h.ok());
  REQUIRE(w.fs->Write(h->opened.fh, 0, content).ok());
  return h->opened.fh;
}

TEST_CASE("a new file's PUT is noted with its size before its first byte and closed after it",
          "[fs][upload][crash]") {
  TempWorld w;
  const uint64_t fh = WriteNew(w, "NEW BYTES");
  w.remote.CloseGate("put");
  Status flushed = Error::Local(EINVAL, "not run");
  std::thread t([&] { flushed = w.fs->Flush(fh); });
  REQUIRE(Eventually([&] { return w.remote.Blocked("put") == 1; }));
  const std::string during = w.Journal();
  CHECK(during.find("\"t\":\"put\"") != std::string::npos);
  CHECK(during.find("\"p\":\"/dst/new\"") != std::string::npos);
  CHECK(during.find("\"sz\":9") != std::string::npos);
  CHECK(during.find("tmpgone") == std::string::npos);
  w.remote.ReleaseGate("put");
  t.join();
  REQUIRE(flushed.ok());
  CHECK(Count(w.Journal(), "\"t\":\"tmpgone\"") == 1);
  w.fs->Release(fh);
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "NEW BYTES");
  // The next mount has nothing to check and nothing to remove.
  const int stats = w.remote.Calls("stat");
  w.Make();
  w.Drive();
  w.Finish();
  CHECK(w.remote.Tasks().empty());
  CHECK(w.remote.Calls("stat") == stats);
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "NEW BYTES");
}

TEST_CASE("on a mount worker, a new file's note is closed after the close is answered",
          "[fs][upload][crash]") {
  TempWorld w;
  const uint64_t fh = WriteNew(w, "NEW BYTES");
  AfterReply::Begin();  // what the mount's loop does around each request
  REQUIRE(w.fs->Flush(fh).ok());
  // The close is answered (the PUT ended), and its note is not closed yet: `cp -r` does not
  // wait for that write.
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "NEW BYTES");
  CHECK(Count(w.Journal(), "\"t\":\"tmpgone\"") == 0);
  AfterReply::End();  // after the reply, before the worker reads the next request
  CHECK(Count(w.Journal(), "\"t\":\"tmpgone\"") == 1);
  w.fs->Release(fh);
  const int stats = w.remote.Calls("stat");
  w.Make();
  w.Drive();
  w.Finish();
  CHECK(w.remote.Calls("stat") == stats);  // nothing left to check
}

TEST_CASE("a replacement's temp note is closed before its close is answered",
          "[fs][upload][crash]") {
  // Unlike a direct PUT's, a lost temp note makes the next mount remove the temp name, which
  // may hold the only copy of the new content (a failed delete-then-rename): never deferred.
  TempWorld w;
  const uint64_t fh = w.Rewrite("NEW");
  AfterReply::Begin();
  REQUIRE(w.fs->Flush(fh).ok());
  CHECK(Count(w.Journal(), "\"t\":\"tmpgone\"") == 1);
  AfterReply::End();
  CHECK(Count(w.Journal(), "\"t\":\"tmpgone\"") == 1);
  w.fs->Release(fh);
}

TEST_CASE("a crash mid-PUT of a new file: the next mount removes a partial, never a whole file",
          "[fs][upload][crash]") {
  TempWorld w;
  // The daemon dies while it PUTs 9 bytes to /dst/new: the note is in the journal.
  REQUIRE(w.engine->PutBegin(Location{kGrex, "/dst/new"}, 9).ok());
  bool removed = false;
  SECTION("part of the body arrived: a partial that looks like a file") {
    w.remote.AddFile(kGrex, "/dst/new", "NEW");
    removed = true;
  }
  SECTION("the whole body arrived (only the answer was lost): the file stays") {
    w.remote.AddFile(kGrex, "/dst/new", "NEW BYTES");
  }
  SECTION("no byte arrived: nothing to remove") {}
  SECTION("a bigger file is there (another client wrote the name since): it stays") {
    w.remote.AddFile(kGrex, "/dst/new", "NEW BYTES, AND MORE");
  }
  SECTION("the stat fails at first: retried, then the partial goes") {
    w.remote.AddFile(kGrex, "/dst/new", "NEW");
    w.remote.FailNext("stat", Error::Api(503, "ServiceUnavailable", "busy"));
    removed = true;
  }
  w.Make();  // the crash: the note was never closed; the next mount
  w.Drive(4);
  w.Finish();
  const auto tasks = w.remote.Tasks();
  if (removed) {
    REQUIRE(tasks.size() == 1);
    CHECK(tasks[0].delete_paths == std::vector<std::string>{"/dst/new"});
    CHECK(tasks[0].ignore_missing);
    CHECK_FALSE(w.remote.Exists(kGrex, "/dst/new"));
  } else {
    CHECK(tasks.empty());
  }
  if (w.remote.Exists(kGrex, "/dst/new"))
    CHECK(w.remote.Get(kGrex, "/dst/new")->content.rfind("NEW BYTES", 0) == 0);
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == "OLD CONTENT");
  // Done once: a later mount checks and submits nothing more.
  const int stats = w.remote.Calls("stat");
  w.Make();
  w.Drive();
  w.Finish();
  CHECK(w.remote.Tasks().size() == tasks.size());
  CHECK(w.remote.Calls("stat") == stats);
}

TEST_CASE("a cut PUT of a new file whose partial could not be removed goes at the next mount",
          "[fs][upload][crash]") {
  TempWorld w;
  const uint64_t fh = WriteNew(w, "NEW BYTES");
  w.remote.CutNextPut(3);  // 3 bytes stored, then a connection reset
  w.remote.FailNext("delete", Error::Api(500, "ServerError", "no"));
  CHECK_FALSE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  REQUIRE(w.remote.Exists(kGrex, "/dst/new"));
  CHECK(w.Journal().find("tmpgone") == std::string::npos);
  w.Make();
  w.Drive();
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/new"));
  REQUIRE(w.remote.Tasks().size() == 1);
  CHECK(w.remote.Tasks()[0].delete_paths == std::vector<std::string>{"/dst/new"});
}

}  // namespace
}  // namespace gf::fs::testing
