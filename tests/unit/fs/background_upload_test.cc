// write_mode = background (issue 13, "When data goes remote"): close journals an upload op and
// returns; the transfer engine uploads it later through WriteOps (its UploadRunner). A crash
// is simulated by dropping the filesystem and engine without closing anything (World::Make
// builds them again over the same journal and staging directory). FakeRemote + FakeClock; the
// engine is driven by RunOnce, its upload threads are waited for with Eventually (no sleeps).
#include <fcntl.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/cancel.h"
#include "common/log.h"
#include "tests/unit/fs/fs_world.h"

namespace gf::fs::testing {
namespace {

constexpr const char* kGrexName = "UManitoba Grex HPC";

struct BgWorld : World {
  explicit BgWorld(bool background = true) {
    log::SetLevel(log::Level::kError);
    options.collections = {kGrex};
    options.write_background = background;
    remote.AddDir(kGrex, "/dst");
    remote.AddFile(kGrex, "/dst/old", "OLD CONTENT");
    remote.SetRenameOntoExisting(gf::testing::FakeRemote::RenameOntoExisting::kReplace);
    Make();
  }
  uint64_t CreateNew(const std::string& name) {
    auto dst = Walk(std::string(kGrexName) + "/dst");
    REQUIRE(dst.ok());
    auto h = fs->Create(dst->attr.ino, name, 0644, O_WRONLY | O_CREAT | O_TRUNC);
    REQUIRE(h.ok());
    return h->opened.fh;
  }
  // A new file written and flushed (close(2) of its descriptor), its handle still open.
  uint64_t WrittenFlushed(const std::string& name, const std::string& data) {
    const uint64_t fh = CreateNew(name);
    REQUIRE(fs->Write(fh, 0, data).ok());
    REQUIRE(fs->Flush(fh).ok());
    return fh;
  }
  // The one staged file kept (not uploaded) holds `data`.
  void CheckKept(const std::string& data) const {
    const auto staged = Staged();
    REQUIRE(staged.size() == 1);
    CHECK(ReadFile(staged[0]) == data);
  }
  // A new file written and closed (the close journals its upload).
  void WriteClosed(const std::string& name, const std::string& data) {
    const uint64_t fh = CreateNew(name);
    REQUIRE(fs->Write(fh, 0, data).ok());
    REQUIRE(fs->Flush(fh).ok());
    fs->Release(fh);
  }
  std::string Journal() const { return ReadFile(engine_options.journal_path); }
  std::vector<OpStatus> Uploads() {
    std::vector<OpStatus> out;
    for (const OpStatus& op : engine->Progress().ops)
      if (op.kind == OpKind::kUpload) out.push_back(op);
    return out;
  }
  // The engine runs until no upload is pending (its threads end), then delivers.
  bool Settle() {
    const bool done = Eventually([&] {
      engine->RunOnce();
      return engine->PendingUploads() == 0;
    });
    engine->RunOnce();
    engine->RunOnce();
    return done;
  }
  // The `.data` files in the staging directory.
  std::vector<std::string> Staged() const {
    std::vector<std::string> out;
    if (!std::filesystem::exists(options.staging_dir)) return out;
    for (const auto& e : std::filesystem::directory_iterator(options.staging_dir)) {
      const std::string n = e.path().filename().string();
      if (n.size() > 5 && n.substr(n.size() - 5) == ".data" && n.find("spare") == std::string::npos)
        out.push_back(e.path().string());
    }
    return out;
  }
};

TEST_CASE("background: close journals the upload and returns; the engine uploads it",
          "[fs][upload][background]") {
  BgWorld w;
  w.WriteClosed("new", "NEW BYTES");
  // Journaled (durably: Enqueue appends with fdatasync) before close returned; nothing sent.
  CHECK(w.Journal().find("\"k\":\"upload\"") != std::string::npos);
  CHECK(w.remote.Calls("put") == 0);
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/new"));
  // The name shows with its staged size meanwhile, and status lists the upload.
  auto e = w.Walk(std::string(kGrexName) + "/dst/new");
  REQUIRE(e.ok());
  CHECK(e->attr.size == 9);
  REQUIRE(w.Uploads().size() == 1);
  CHECK(w.Uploads()[0].size == 9);
  CHECK(w.fs->StatusJson().find("\"uploads_pending\":1") != std::string::npos);
  REQUIRE(w.Settle());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "NEW BYTES");
  CHECK(w.remote.Calls("put") == 1);
  CHECK(Count(w.Journal(), "\"t\":\"done\"") == 1);
  CHECK(w.Staged().empty());  // uploaded: the staged file is gone
  CHECK(w.fs->StatusJson().find("\"uploads_pending\":0") != std::string::npos);
}

TEST_CASE("background: a queued upload shows the close's time (the mount's clock) as its mtime",
          "[fs][upload][background]") {
  BgWorld w;
  const uint64_t fh = w.CreateNew("new");
  REQUIRE(w.fs->Write(fh, 0, "NEW BYTES").ok());
  // Later than the placeholder's time (the create's), and far from the machine's real time.
  w.clock.Advance(std::chrono::hours(5));
  const int64_t closed_at = std::chrono::system_clock::to_time_t(w.clock.WallNow());
  REQUIRE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  REQUIRE(w.remote.Calls("put") == 0);  // still queued: the overlay answers
  auto e = w.Walk(std::string(kGrexName) + "/dst/new");
  REQUIRE(e.ok());
  CHECK(e->attr.mtime == closed_at);
  REQUIRE(w.Settle());
}

TEST_CASE("background: a crash before the upload; the next mount uploads it once",
          "[fs][upload][background][crash]") {
  BgWorld w;
  const uint64_t fh = w.CreateNew("new");
  REQUIRE(w.fs->Write(fh, 0, "CLOSED").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  // Written after the close returned, never closed again: not part of the journaled upload.
  REQUIRE(w.fs->Write(fh, 6, " AND MORE").ok());
  w.Make();  // the crash: the handle was never released; the next mount
  REQUIRE(w.Settle());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "CLOSED");
  CHECK(w.remote.Calls("put") == 1);
  w.Make();  // done once: a later mount uploads nothing
  REQUIRE(w.Settle());
  CHECK(w.remote.Calls("put") == 1);
}

TEST_CASE("background: an upload the server refuses fails; the data is kept and status says why",
          "[fs][upload][background]") {
  BgWorld w;
  w.WriteClosed("new", "KEEP ME");
  w.remote.FailNext("put", Error::Api(403, "PermissionDenied", "not allowed"));
  REQUIRE(w.Settle());
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/new"));
  // The listing returns to the truth: the name is gone again.
  auto gone = w.Walk(std::string(kGrexName) + "/dst/new");
  REQUIRE_FALSE(gone.ok());
  CHECK(ErrnoFor(gone.error()) == ENOENT);
  const auto staged = w.Staged();
  REQUIRE(staged.size() == 1);
  CHECK(ReadFile(staged[0]) == "KEEP ME");
  const std::string status = w.fs->StatusJson();
  CHECK(status.find("PermissionDenied") != std::string::npos);
  CHECK(status.find(staged[0]) != std::string::npos);  // where the bytes are
}

TEST_CASE("background: a transient failure is retried", "[fs][upload][background]") {
  BgWorld w;
  w.WriteClosed("new", "AGAIN");
  w.remote.FailNext("put", Error::Transport(gf::TransportFailure::kReset, "connection reset"));
  REQUIRE(Eventually([&] {
    w.engine->RunOnce();
    return w.remote.Calls("put") >= 1 && !w.Uploads().empty() && !w.Uploads()[0].uploading;
  }));
  REQUIRE(w.engine->PendingUploads() == 1);
  w.clock.Advance(std::chrono::seconds(60));  // the backoff passes
  REQUIRE(w.Settle());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "AGAIN");
}

TEST_CASE("background: a file closed again while its upload is queued: the newest data wins",
          "[fs][upload][background]") {
  BgWorld w;
  const uint64_t fh = w.CreateNew("new");
  REQUIRE(w.fs->Write(fh, 0, "FIRST").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  REQUIRE(w.fs->Write(fh, 0, "SECOND").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  CHECK(w.Journal().find("SUPERSEDED") != std::string::npos);
  REQUIRE(w.Settle());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "SECOND");
  CHECK(w.remote.Calls("put") == 1);  // the superseded one was never sent
  CHECK(w.Staged().empty());
  CHECK(w.fs->StatusJson().find("SUPERSEDED") == std::string::npos);  // not a failure to show
}

TEST_CASE("background: a newer close while the upload runs waits for it, then uploads",
          "[fs][upload][background]") {
  BgWorld w;
  const uint64_t fh = w.CreateNew("new");
  REQUIRE(w.fs->Write(fh, 0, "FIRST").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  w.remote.CloseGate("put");
  REQUIRE(Eventually([&] {
    w.engine->RunOnce();
    return w.remote.Blocked("put") == 1;
  }));
  REQUIRE(w.fs->Write(fh, 0, "SECOND").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  w.engine->RunOnce();
  CHECK(w.remote.Blocked("put") == 1);  // one upload per path at a time
  w.remote.ReleaseGate("put");
  REQUIRE(w.Settle());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "SECOND");
  CHECK(w.remote.Calls("put") == 2);
}

TEST_CASE("background: fsync uploads and returns the result", "[fs][upload][background]") {
  BgWorld w;
  const uint64_t fh = w.CreateNew("new");
  REQUIRE(w.fs->Write(fh, 0, "SYNCED").ok());
  // No engine thread runs in this test: fsync itself must upload.
  REQUIRE(w.fs->Fsync(fh).ok());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "SYNCED");
  REQUIRE(w.fs->Flush(fh).ok());  // nothing written since: nothing queued
  w.fs->Release(fh);
  CHECK(w.Uploads().empty());
}

TEST_CASE("background: a replacement goes through a temp name and the rename",
          "[fs][upload][background]") {
  BgWorld w;
  auto a = w.Walk(std::string(kGrexName) + "/dst/old");
  REQUIRE(a.ok());
  auto h = w.fs->Open(a->attr.ino, O_WRONLY | O_TRUNC);
  REQUIRE(h.ok());
  REQUIRE(w.fs->Write(h->fh, 0, "NEW").ok());
  REQUIRE(w.fs->Flush(h->fh).ok());
  w.fs->Release(h->fh);
  CHECK(w.remote.Get(kGrex, "/dst/old")->content == "OLD CONTENT");
  REQUIRE(w.Settle());
  CHECK(w.remote.Get(kGrex, "/dst/old")->content == "NEW");
  CHECK(w.remote.Calls("rename") == 1);
}

TEST_CASE("background: rename of a name whose upload is pending waits for it, then renames",
          "[fs][upload][background]") {
  BgWorld w;
  w.WriteClosed(".tmp.x", "RSYNC DATA");
  const Ino dst = w.Dir(std::string(kGrexName) + "/dst");
  w.remote.CloseGate("put");
  w.engine->Start();  // the engine thread uploads and delivers while the rename waits
  std::atomic<bool> renamed{false};
  Status s = Error::Local(EINVAL, "not run");
  std::thread t([&] {
    s = w.fs->Rename(dst, ".tmp.x", dst, "old", 0, 0);
    renamed = true;
  });
  REQUIRE(Eventually([&] { return w.remote.Blocked("put") == 1; }));
  CHECK_FALSE(renamed);  // (a rename now would be EBUSY: the name is still only local)
  CHECK(w.remote.Calls("rename") == 0);
  w.remote.ReleaseGate("put");
  t.join();
  REQUIRE(s.ok());
  CHECK(w.remote.Get(kGrex, "/dst/old")->content == "RSYNC DATA");
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/.tmp.x"));
}

TEST_CASE("background: Ctrl-C while rm or rename waits for the upload changes nothing",
          "[fs][upload][background]") {
  BgWorld w;
  w.WriteClosed("new", "DATA");
  const Ino dst = w.Dir(std::string(kGrexName) + "/dst");
  std::atomic<bool> interrupted{true};  // the FUSE interrupt of the request, already raised
  {
    CancelScope scope(&interrupted);
    auto rm = w.fs->Unlink(dst, "new", &interrupted);
    REQUIRE_FALSE(rm.ok());
    CHECK(ErrnoFor(rm.error()) == EINTR);
    auto mv = w.fs->Rename(dst, "new", dst, "other", 0, 0);
    REQUIRE_FALSE(mv.ok());
    CHECK(ErrnoFor(mv.error()) == EINTR);
  }
  CHECK(w.Walk(std::string(kGrexName) + "/dst/new").ok());  // still there, nothing queued
  REQUIRE(w.Settle());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "DATA");
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/other"));
  CHECK(w.remote.Calls("delete") == 0);
}

TEST_CASE("background: fsync after a close waits for the queued upload, then uploads the rest",
          "[fs][upload][background]") {
  BgWorld w;
  const uint64_t fh = w.CreateNew("new");
  REQUIRE(w.fs->Write(fh, 0, "FIRST").ok());
  REQUIRE(w.fs->Flush(fh).ok());  // queued; the engine thread runs it
  REQUIRE(w.fs->Write(fh, 5, " SECOND").ok());
  w.engine->Start();
  REQUIRE(w.fs->Fsync(fh).ok());
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "FIRST SECOND");
  CHECK(w.remote.Calls("put") == 2);
  w.fs->Release(fh);
}

TEST_CASE("background: at most max_uploads run; the engine sleeps while the rest wait",
          "[fs][upload][background]") {
  BgWorld w;
  w.remote.CloseGate("put");
  for (const char* name : {"a", "b", "c"}) w.WriteClosed(name, name);
  REQUIRE(Eventually([&] {
    w.engine->RunOnce();
    return w.remote.Blocked("put") == 2;
  }));
  // The third waits for a slot: nothing is due until an upload ends (which wakes the engine).
  CHECK(w.engine->RunOnce() > w.clock.Now());
  CHECK(w.remote.Blocked("put") == 2);
  w.remote.ReleaseGate("put");
  REQUIRE(w.Settle());
  for (const char* name : {"a", "b", "c"})
    CHECK(w.remote.Get(kGrex, std::string("/dst/") + name)->content == name);
}

// A shared mapping's stores reach the mount as WRITEs when the kernel writes its pages back.
// After `mmap; close; stores; munmap` that is after the only FLUSH: RELEASE comes with no FLUSH.
TEST_CASE("release: bytes written after the last FLUSH are uploaded as a journaled op",
          "[fs][upload][background]") {
  for (const bool background : {false, true}) {
    DYNAMIC_SECTION("write_mode = " << (background ? "background" : "close")) {
      BgWorld w(background);
      const uint64_t fh = w.WrittenFlushed("mapped", "BEFORE");  // then close(2)
      REQUIRE(w.fs->Write(fh, 0, "AFTER!").ok());  // the mapping's pages, written back
      w.fs->Release(fh);                           // munmap
      CHECK(w.Journal().find("\"k\":\"upload\"") != std::string::npos);
      REQUIRE(w.Settle());
      CHECK(w.remote.Get(kGrex, "/dst/mapped")->content == "AFTER!");
      CHECK(w.Staged().empty());
    }
  }
}

TEST_CASE("release: late bytes of a file renamed since are kept, not uploaded to the old name",
          "[fs][upload]") {
  BgWorld w(false);
  const uint64_t fh = w.WrittenFlushed("mapped", "BEFORE");
  auto dir = w.Walk(std::string(kGrexName) + "/dst");
  REQUIRE(dir.ok());
  REQUIRE(w.fs->Rename(dir->attr.ino, "mapped", dir->attr.ino, "moved", 0).ok());
  REQUIRE(w.fs->Write(fh, 0, "AFTER!").ok());
  w.fs->Release(fh);
  REQUIRE(w.Settle());
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/mapped"));
  CHECK(w.remote.Get(kGrex, "/dst/moved")->content == "BEFORE");
  w.CheckKept("AFTER!");
}

TEST_CASE("release: the bytes of a close that failed are kept, not uploaded behind the user",
          "[fs][upload]") {
  BgWorld w(false);
  const uint64_t fh = w.CreateNew("refused");
  REQUIRE(w.fs->Write(fh, 0, "KEEP ME").ok());
  w.remote.FailNext("put", Error::Api(403, "PermissionDenied", "not allowed"));
  auto closed = w.fs->Flush(fh);  // close(2) returns the refusal
  REQUIRE_FALSE(closed.ok());
  CHECK(ErrnoFor(closed.error()) == EACCES);
  w.fs->Release(fh);
  REQUIRE(w.Settle());
  CHECK(w.remote.Calls("put") == 1);
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/refused"));
  w.CheckKept("KEEP ME");
}

// chmod/utimens of a file this mount uploaded are accepted (and not applied): `cp -p`, `tar x`.
// A rename within the collection carries that to the new name (git renames config.lock to
// config, then chmods it); the name it replaced is not this mount's any more.
TEST_CASE("setattr: what this mount uploaded stays accepted under the name it is renamed to",
          "[fs][upload]") {
  BgWorld w(false);
  w.remote.AddFile(kGrex, "/dst/foreign", "NOT OURS");
  w.WriteClosed("made", "OURS");
  REQUIRE(w.remote.Get(kGrex, "/dst/made")->content == "OURS");
  auto dir = w.Walk(std::string(kGrexName) + "/dst");
  REQUIRE(dir.ok());
  const Ino d = dir->attr.ino;
  SetAttrRequest chmod;
  chmod.mode = 0600;
  auto setattr = [&](const std::string& name) {
    auto e = w.Walk(std::string(kGrexName) + "/dst/" + name);
    REQUIRE(e.ok());
    return w.fs->SetAttr(e->attr.ino, chmod);
  };
  CHECK(setattr("made").ok());
  auto refused = setattr("foreign");
  REQUIRE_FALSE(refused.ok());
  CHECK(ErrnoFor(refused.error()) == EROFS);
  REQUIRE(w.fs->Rename(d, "made", d, "renamed", 0).ok());
  CHECK(setattr("renamed").ok());
  // A foreign file renamed over it: that name holds what this mount did not make.
  REQUIRE(w.fs->Rename(d, "foreign", d, "renamed", 0).ok());
  refused = setattr("renamed");
  REQUIRE_FALSE(refused.ok());
  CHECK(ErrnoFor(refused.error()) == EROFS);
  // A directory this mount made, renamed with a file it uploaded inside.
  REQUIRE(w.fs->Mkdir(d, "sub", 0755).ok());
  auto sub = w.Walk(std::string(kGrexName) + "/dst/sub");
  REQUIRE(sub.ok());
  const uint64_t fh =
      w.fs->Create(sub->attr.ino, "inner", 0644, O_WRONLY | O_CREAT | O_TRUNC)->opened.fh;
  REQUIRE(w.fs->Write(fh, 0, "IN").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  REQUIRE(w.fs->Rename(d, "sub", d, "moved", 0).ok());
  CHECK(setattr("moved").ok());
  CHECK(setattr("moved/inner").ok());
}

}  // namespace
}  // namespace gf::fs::testing
