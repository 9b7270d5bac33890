// rm / rmdir through the filesystem core as Globus delete tasks: the remove op is journaled
// before unlink returns, the name is hidden at once, rm -r becomes at most two tasks, failures
// bring the name back, pending copies are protected, and a restart finishes queued deletes
// exactly once. FakeRemote + FakeClock; the engine is driven by RunOnce(), tasks by RunTasks().
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "common/log.h"
#include "fs/transfers/engine.h"
#include "tests/unit/fs/fs_world.h"

namespace gf::fs::testing {
namespace {

int Errno(const gf::Error& e) { return gf::ErrnoFor(e); }

constexpr const char* kTutName = "Globus Tutorial Collection 1";
constexpr const char* kGrexName = "UManitoba Grex HPC";

struct DeleteWorld : World {
  explicit DeleteWorld(bool wait_mode = false) {
    log::SetLevel(log::Level::kError);
    options.collections = {kTut, kGrex};
    options.copy_wait = wait_mode;
    remote.AddDir(kTut, "/d");
    remote.AddFile(kTut, "/d/a", "AAAA");
    remote.AddFile(kTut, "/d/b", "BB");
    remote.AddDir(kTut, "/d/empty");
    remote.AddDir(kGrex, "/dst");
    Make();
  }
  Ino D() { return Dir(std::string(kTutName) + "/d"); }
  size_t LiveRemoves() {
    size_t n = 0;
    for (const OpStatus& op : engine->Progress().ops)
      if (op.kind == OpKind::kRemove && op.state != OpState::kSucceeded &&
          op.state != OpState::kFailed)
        ++n;
    return n;
  }
};

TEST_CASE("rm of a remote file: journaled, hidden at once, deleted by one task", "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  REQUIRE(w.fs->Lookup(d, "a").ok());
  REQUIRE(w.fs->Unlink(d, "a").ok());
  CHECK(w.LiveRemoves() == 1);  // in the journal before unlink returned
  CHECK(w.remote.Calls("submit_delete") == 0);
  CHECK(w.remote.Exists(kTut, "/d/a"));
  CHECK(Errno(w.fs->Lookup(d, "a").error()) == ENOENT);
  auto names = w.List(d);
  REQUIRE(names.ok());
  CHECK(std::find(names->begin(), names->end(), "a") == names->end());
  CHECK(std::find(names->begin(), names->end(), "b") != names->end());
  CHECK(Errno(w.fs->Unlink(d, "a").error()) == ENOENT);  // a second rm: already gone

  w.Drive();
  REQUIRE(w.remote.Calls("submit_delete") == 1);
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].delete_paths == std::vector<std::string>{"/d/a"});
  CHECK_FALSE(tasks[0].recursive_delete);
  CHECK(tasks[0].ignore_missing);
  CHECK_FALSE(tasks[0].interpret_globs);
  CHECK_FALSE(tasks[0].notify);
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kTut, "/d/a"));
  CHECK(w.remote.Exists(kTut, "/d/b"));
  CHECK(w.LiveRemoves() == 0);
  CHECK(Errno(w.fs->Lookup(d, "a").error()) == ENOENT);
}

TEST_CASE("rmdir: ENOTEMPTY before anything is queued; kinds and virtual entries refused",
          "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  Ino top = w.Dir(kTutName);
  CHECK(Errno(w.fs->Rmdir(top, "d").error()) == ENOTEMPTY);
  CHECK(Errno(w.fs->Rmdir(d, "a").error()) == ENOTDIR);
  CHECK(Errno(w.fs->Unlink(d, "empty").error()) == EISDIR);
  CHECK(Errno(w.fs->Rmdir(kRootIno, kTutName).error()) == EPERM);
  CHECK(Errno(w.fs->Unlink(d, "never").error()) == ENOENT);
  CHECK(w.LiveRemoves() == 0);
  // Someone else added a file since we listed: the listing rmdir trusts is a fresh one.
  REQUIRE(w.List(w.Dir(std::string(kTutName) + "/d/empty")).ok());
  w.remote.AddFile(kTut, "/d/empty/late", "x");
  CHECK(Errno(w.fs->Rmdir(d, "empty").error()) == ENOTEMPTY);
  w.remote.Remove(kTut, "/d/empty/late");
  REQUIRE(w.fs->Rmdir(d, "empty").ok());
  CHECK(Errno(w.fs->Lookup(d, "empty").error()) == ENOENT);
  w.Drive();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].recursive_delete);  // the service wants it even for an empty directory
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kTut, "/d/empty"));
}

TEST_CASE("rm -r of a 1000-file tree becomes two delete tasks", "[fs][delete]") {
  DeleteWorld w;
  w.remote.AddDir(kTut, "/t");
  for (int s = 0; s < 10; ++s) {
    w.remote.AddDir(kTut, "/t/s" + std::to_string(s));
    for (int i = 0; i < 100; ++i)
      w.remote.AddFile(kTut, "/t/s" + std::to_string(s) + "/f" + std::to_string(i), "x");
  }
  Ino top = w.Dir(kTutName);
  Ino t = w.Dir(std::string(kTutName) + "/t");
  // rm -r: depth first, files first, each directory once it is empty.
  for (int s = 0; s < 10; ++s) {
    const std::string sub = "s" + std::to_string(s);
    Ino si = w.Dir(std::string(kTutName) + "/t/" + sub);
    REQUIRE(w.List(si).ok());
    for (int i = 0; i < 100; ++i) REQUIRE(w.fs->Unlink(si, "f" + std::to_string(i)).ok());
    auto left = w.List(si);
    REQUIRE(left.ok());
    CHECK(left->empty());
    REQUIRE(w.fs->Rmdir(t, sub).ok());
    // Each directory takes rm a while: the directories' group alone would look idle.
    w.clock.Advance(std::chrono::milliseconds(300));
    w.engine->RunOnce();
  }
  REQUIRE(w.fs->Rmdir(top, "t").ok());
  CHECK(w.remote.Calls("submit_delete") == 0);
  w.Drive();
  CHECK(w.remote.Calls("submit_delete") == 2);
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kTut, "/t"));
  CHECK(w.remote.Exists(kTut, "/d/a"));  // nothing else
  CHECK(w.LiveRemoves() == 0);
}

TEST_CASE("a refused delete brings the name back and says why", "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  w.remote.FailNextDeleteTask("QUOTA_EXCEEDED", "over quota");
  REQUIRE(w.fs->Unlink(d, "a").ok());
  CHECK(Errno(w.fs->Lookup(d, "a").error()) == ENOENT);
  w.Drive();
  w.Finish();
  CHECK(w.LiveRemoves() == 0);
  CHECK(w.remote.Exists(kTut, "/d/a"));
  CHECK(w.fs->Lookup(d, "a").ok());  // back
  auto names = w.List(d);
  REQUIRE(names.ok());
  CHECK(std::find(names->begin(), names->end(), "a") != names->end());
  const std::string status = w.fs->StatusJson();
  CHECK(status.find("QUOTA_EXCEEDED") != std::string::npos);
}

TEST_CASE("wait mode: rm returns the delete task's error", "[fs][delete]") {
  DeleteWorld w(/*wait_mode=*/true);
  Ino d = w.D();
  w.remote.FailNextDeleteTask("QUOTA_EXCEEDED", "over quota");
  Status result = Error::Local(EINPROGRESS, "not yet");
  std::atomic<bool> done{false};
  std::thread rm([&] {
    result = w.fs->Unlink(d, "a");
    done = true;
  });
  while (!done) {
    w.Drive(1);
    w.remote.RunTasks();
    std::this_thread::yield();
  }
  rm.join();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "QUOTA_EXCEEDED");
  CHECK(w.fs->Lookup(d, "a").ok());
}

TEST_CASE("what a pending copy reads or writes is not removed", "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  Ino dst = w.Dir(std::string(kGrexName) + "/dst");
  auto src = w.fs->Lookup(d, "a");
  REQUIRE(src.ok());
  auto so = w.fs->Open(src->attr.ino, O_RDONLY);
  REQUIRE(so.ok());
  auto c = w.fs->Create(dst, "a", 0644, O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(c.ok());
  REQUIRE(
      w.fs->CopyFileRange(src->attr.ino, so->fh, 0, c->entry.attr.ino, c->opened.fh, 0, 4).ok());
  CHECK(Errno(w.fs->Unlink(d, "a").error()) == EBUSY);    // the copy's source
  CHECK(Errno(w.fs->Unlink(dst, "a").error()) == EBUSY);  // its pending destination
  CHECK(w.LiveRemoves() == 0);
  w.fs->Release(c->opened.fh);
  w.fs->Release(so->fh);
  w.Drive();
  w.Finish();
  REQUIRE(w.remote.Exists(kGrex, "/dst/a"));
  REQUIRE(w.fs->Unlink(d, "a").ok());  // the copy ended: the source may go
}

TEST_CASE("a name being deleted cannot be made again until the delete ended", "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  REQUIRE(w.fs->Rmdir(d, "empty").ok());
  CHECK(Errno(w.fs->Mkdir(d, "empty", 0755).error()) == EBUSY);
  CHECK(w.remote.Calls("mkdir") == 0);
  REQUIRE(w.fs->Unlink(d, "b").ok());
  CHECK(Errno(w.fs->Create(d, "b", 0644, O_WRONLY | O_CREAT | O_TRUNC).error()) == EBUSY);
  w.Drive();
  w.Finish();
  REQUIRE(w.fs->Mkdir(d, "empty", 0755).ok());
  CHECK(w.remote.Exists(kTut, "/d/empty"));
}

TEST_CASE("a restart finishes queued deletes exactly once and deletes nothing else",
          "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  REQUIRE(w.fs->Unlink(d, "a").ok());
  w.Make();  // kill -9 before any submission: the journal holds the op
  Ino d2 = w.D();
  CHECK(Errno(w.fs->Lookup(d2, "a").error()) == ENOENT);  // still hidden after the restart
  CHECK(w.LiveRemoves() == 1);
  w.Drive();
  CHECK(w.remote.Calls("submit_delete") == 1);
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kTut, "/d/a"));
  CHECK(w.remote.Exists(kTut, "/d/b"));
  w.Make();
  w.Drive();
  CHECK(w.remote.Calls("submit_delete") == 1);  // nothing submitted again
  CHECK(w.LiveRemoves() == 0);
}

}  // namespace
}  // namespace gf::fs::testing
