// rm / rmdir through the filesystem core.
// As Globus delete tasks (delete_mode=task, directories, symlinks, collections without HTTPS):
// the remove op is journaled before unlink returns, the name is hidden at once, rm -r becomes
// at most two tasks, failures bring the name back, pending copies are protected, and a restart
// finishes queued deletes exactly once.
// As HTTPS DELETEs (delete_mode=https, the default, files on collections with HTTPS): unlink
// returns the DELETE's result, nothing is journaled, and the name can be made again at once.
// FakeRemote + FakeClock; the engine is driven by RunOnce(), tasks by RunTasks().
#include <fcntl.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
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
  // The task tests say delete_mode=task; the HTTPS tests use the default.
  explicit DeleteWorld(bool wait_mode = false, const char* delete_mode = "task", size_t burst = 8) {
    log::SetLevel(log::Level::kError);
    options.collections = {kTut, kGrex, kLaptop};
    options.copy_wait = wait_mode;
    options.delete_mode = delete_mode;
    options.delete_burst = burst;
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
  // /t with `dirs` subdirectories s0.. of `files` files f0.. each.
  void AddTree(int dirs, int files) {
    remote.AddDir(kTut, "/t");
    for (int s = 0; s < dirs; ++s) {
      remote.AddDir(kTut, "/t/s" + std::to_string(s));
      for (int i = 0; i < files; ++i)
        remote.AddFile(kTut, "/t/s" + std::to_string(s) + "/f" + std::to_string(i), "x");
    }
  }
  // What `rm -r t` sends: depth first, files first, each directory once it is empty (checked
  // empty through a listing); `after_dir` runs after each subdirectory's rmdir.
  void RemoveTree(int dirs, int files, const std::function<void()>& after_dir = {}) {
    Ino top = Dir(kTutName);
    Ino t = Dir(std::string(kTutName) + "/t");
    for (int s = 0; s < dirs; ++s) {
      const std::string sub = "s" + std::to_string(s);
      Ino si = Dir(std::string(kTutName) + "/t/" + sub);
      REQUIRE(List(si).ok());
      for (int i = 0; i < files; ++i) REQUIRE(fs->Unlink(si, "f" + std::to_string(i)).ok());
      auto left = List(si);
      REQUIRE(left.ok());
      CHECK(left->empty());
      REQUIRE(fs->Rmdir(t, sub).ok());
      if (after_dir) after_dir();
    }
    REQUIRE(fs->Rmdir(top, "t").ok());
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
  w.AddTree(10, 100);
  w.RemoveTree(10, 100, [&] {
    // Each directory takes rm a while: the directories' group alone would look idle.
    w.clock.Advance(std::chrono::milliseconds(300));
    w.engine->RunOnce();
  });
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

// cp d/a -> Grex:/dst/a, queued (not submitted yet). Returns the copy's op id.
OpId QueueCopyOfA(DeleteWorld& w, Ino d, Ino dst) {
  auto src = w.fs->Lookup(d, "a");
  REQUIRE(src.ok());
  auto so = w.fs->Open(src->attr.ino, O_RDONLY);
  REQUIRE(so.ok());
  auto c = w.fs->Create(dst, "a", 0644, O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(c.ok());
  REQUIRE(
      w.fs->CopyFileRange(src->attr.ino, so->fh, 0, c->entry.attr.ino, c->opened.fh, 0, 4).ok());
  w.fs->Release(c->opened.fh);
  w.fs->Release(so->fh);
  for (const OpStatus& op : w.engine->Progress().ops)
    if (op.kind == OpKind::kCopy) return op.id;
  FAIL("no copy op");
  return 0;
}

OpState StateOf(DeleteWorld& w, OpId id) {
  for (const OpStatus& s : w.engine->Progress().ops)
    if (s.id == id) return s.state;
  FAIL("op " << id << " unknown");
  return OpState::kQueued;
}

// The remove ops that wait for `op` (ORDERING in engine.h).
size_t RemovesWaitingFor(DeleteWorld& w, OpId op) {
  size_t n = 0;
  for (const OpStatus& s : w.engine->Progress().ops)
    if (s.kind == OpKind::kRemove && s.waits_for == op) ++n;
  return n;
}

TEST_CASE("rm of a pending copy's source or destination runs after the copy", "[fs][delete]") {
  // In both modes: an HTTPS DELETE would run at once, before the copy read or wrote the name.
  const char* mode = GENERATE("task", "https");
  DeleteWorld w(false, mode);
  Ino d = w.D();
  Ino dst = w.Dir(std::string(kGrexName) + "/dst");
  const OpId copy = QueueCopyOfA(w, d, dst);
  REQUIRE(w.fs->Unlink(dst, "a").ok());  // its pending destination
  REQUIRE(w.fs->Unlink(d, "a").ok());    // what it reads
  // Both names are gone from the mount at once; nothing was deleted remotely.
  CHECK(Errno(w.fs->Lookup(dst, "a").error()) == ENOENT);
  CHECK(Errno(w.fs->Lookup(d, "a").error()) == ENOENT);
  auto listed = w.List(dst);
  REQUIRE(listed.ok());
  CHECK(std::find(listed->begin(), listed->end(), "a") == listed->end());
  CHECK(w.remote.Calls("delete") == 0);
  CHECK(RemovesWaitingFor(w, copy) == 2);
  // The copy goes out; the removes stay back while it runs.
  w.Drive();
  CHECK(w.remote.Calls("submit_transfer") == 1);
  CHECK(w.remote.Calls("submit_delete") == 0);
  w.Drive();
  CHECK(w.remote.Calls("submit_delete") == 0);
  // The copy ended (it read a: a delete before it would have failed it), then the deletes ran.
  w.Finish();
  CHECK(StateOf(w, copy) == OpState::kSucceeded);
  CHECK(w.remote.Calls("submit_delete") == 2);  // one per collection
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kTut, "/d/a"));
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/a"));
  CHECK(w.LiveRemoves() == 0);
  CHECK(Errno(w.fs->Lookup(dst, "a").error()) == ENOENT);
}

TEST_CASE("a remove held behind a copy survives a restart and still waits", "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  Ino dst = w.Dir(std::string(kGrexName) + "/dst");
  QueueCopyOfA(w, d, dst);
  REQUIRE(w.fs->Unlink(d, "a").ok());
  w.Make();  // kill -9: the journal holds the copy and the remove
  CHECK(Errno(w.fs->Lookup(w.D(), "a").error()) == ENOENT);
  w.Drive();
  CHECK(w.remote.Calls("submit_transfer") == 1);
  CHECK(w.remote.Calls("submit_delete") == 0);
  w.Finish();
  w.Finish();
  CHECK(w.remote.Calls("submit_delete") == 1);
  CHECK(w.remote.Exists(kGrex, "/dst/a"));  // the copy had its source
  CHECK_FALSE(w.remote.Exists(kTut, "/d/a"));
}

TEST_CASE("a cancelled or failed copy lets the remove held behind it run", "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  Ino dst = w.Dir(std::string(kGrexName) + "/dst");
  const OpId copy = QueueCopyOfA(w, d, dst);
  REQUIRE(w.fs->Unlink(dst, "a").ok());
  REQUIRE(w.engine->Cancel(copy).ok());  // queued: fails at once
  w.Finish();
  w.Finish();
  CHECK(w.remote.Calls("submit_transfer") == 0);
  CHECK(w.remote.Calls("submit_delete") == 1);  // harmless: ignore_missing
  CHECK(w.LiveRemoves() == 0);
  CHECK(w.remote.Exists(kTut, "/d/a"));  // the copy's source was not asked to go
}

TEST_CASE("rm -r of a directory a pending copy reads waits for the copy", "[fs][delete]") {
  DeleteWorld w;
  Ino d = w.D();
  Ino dst = w.Dir(std::string(kGrexName) + "/dst");
  const OpId copy = QueueCopyOfA(w, d, dst);
  for (const char* f : {"a", "b"}) REQUIRE(w.fs->Unlink(d, f).ok());
  REQUIRE(w.fs->Rmdir(d, "empty").ok());
  REQUIRE(w.fs->Rmdir(w.Dir(kTutName), "d").ok());
  CHECK(RemovesWaitingFor(w, copy) == 2);  // a, and the recursive remove of /d (b is not used)
  w.Drive();
  w.Drive();
  CHECK(w.remote.Exists(kTut, "/d/a"));
  w.Finish();
  w.Finish();
  w.Finish();
  CHECK(w.remote.Exists(kGrex, "/dst/a"));
  CHECK_FALSE(w.remote.Exists(kTut, "/d"));
  CHECK(w.LiveRemoves() == 0);
}

TEST_CASE("rmdir of a directory a pending copy makes is ENOTEMPTY", "[fs][delete]") {
  DeleteWorld w;
  Ino top = w.Dir(kTutName);
  Ino grex = w.Dir(kGrexName);
  // mv of the directory /d across collections: the destination is pending.
  REQUIRE(w.fs->Rename(top, "d", grex, "moved", 0).ok());
  CHECK(Errno(w.fs->Rmdir(grex, "moved").error()) == ENOTEMPTY);
  CHECK(w.LiveRemoves() == 0);
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

// ---- delete_mode=https ----

struct HttpsDeleteWorld : DeleteWorld {
  explicit HttpsDeleteWorld(size_t burst = 8) : DeleteWorld(false, "https", burst) {}
  size_t Ops() { return engine->Progress().ops.size(); }
};

struct CountingAuthorizer : Authorizer {
  int calls = 0;
  gf::Status Authorize(const Error&, const std::string&) override {
    ++calls;
    return gf::Status::Ok();
  }
};

TEST_CASE(
    "rmdir's emptiness check lists the directory itself, never joining a listing "
    "already under way",
    "[fs][delete]") {
  // A listing that started before the files were deleted would still show them (an HTTPS
  // DELETE leaves nothing in the overlay to hide them): rmdir would say ENOTEMPTY.
  DeleteWorld w;
  const Ino d = w.D();
  const Ino empty = w.Dir(std::string(kTutName) + "/d/empty");
  w.remote.CloseGate("ls");
  std::thread walker([&] { (void)w.List(empty); });  // a listing of it, held at the server
  REQUIRE(Eventually([&] { return w.remote.Blocked("ls") == 1; }));
  const int before = w.remote.Calls("ls");
  Status rmdir = Error::Local(EIO, "not run");
  std::thread remover([&] { rmdir = w.fs->Rmdir(d, "empty", nullptr, 42); });
  REQUIRE(Eventually([&] { return w.remote.Blocked("ls") == 2; }));  // its own listing
  CHECK(w.remote.Calls("ls") == before + 1);
  w.remote.ReleaseGate("ls");
  walker.join();
  remover.join();
  CHECK(rmdir.ok());
}

TEST_CASE("rmdir lists again when a remove below it ended while its listing was in flight",
          "[fs][delete]") {
  // The 30-min soak: rm -r queued the delete of t/sub, then rmdir t listed t; that listing was
  // stalled, the delete task of sub ended meanwhile (sub no longer hidden), and the listing,
  // made before, still held sub: ENOTEMPTY.
  DeleteWorld w;
  const Ino d = w.D();
  w.remote.AddDir(kTut, "/d/empty/sub");
  const Ino empty = w.Dir(std::string(kTutName) + "/d/empty");
  REQUIRE(w.List(w.Dir(std::string(kTutName) + "/d/empty/sub")).ok());
  REQUIRE(w.fs->Rmdir(empty, "sub").ok());  // queued as a delete task; sub hidden
  w.remote.CloseGate("ls");
  Status rmdir = Error::Local(EIO, "not run");
  std::atomic<bool> done{false};
  std::thread remover([&] {
    rmdir = w.fs->Rmdir(d, "empty", nullptr, 42);
    done = true;
  });
  REQUIRE(Eventually([&] { return w.remote.Blocked("ls") == 1; }));
  w.Drive();
  w.remote.RunTasks();  // the delete of sub ends...
  w.Drive(3);
  REQUIRE(w.LiveRemoves() == 0);
  w.remote.AddDir(kTut, "/d/empty/sub");  // ...after the held listing was made: it shows sub
  const int listed = w.remote.Calls("ls");
  w.remote.PassGate("ls");
  // Listed again (the next listing waits at the gate), or answered at once.
  REQUIRE(Eventually([&] {
    return (w.remote.Calls("ls") == listed + 1 && w.remote.Blocked("ls") == 1) || done.load();
  }));
  w.remote.Remove(kTut, "/d/empty/sub");  // the truth the next listing shows
  w.remote.ReleaseGate("ls");
  remover.join();
  CHECK(rmdir.ok());
}

TEST_CASE("https: rm of a file is one DELETE; gone when unlink returns; nothing journaled",
          "[fs][delete][https]") {
  HttpsDeleteWorld w;
  FsOptions defaults;
  CHECK(defaults.delete_mode == "https");  // the default mode is the one tested here
  Ino d = w.D();
  REQUIRE(w.List(d).ok());
  const int listings = w.remote.Calls("ls");
  REQUIRE(w.fs->Unlink(d, "a").ok());
  CHECK(w.remote.Calls("delete") == 1);
  CHECK_FALSE(w.remote.Exists(kTut, "/d/a"));
  CHECK(w.remote.Exists(kTut, "/d/b"));
  CHECK(w.Ops() == 0);  // the journal is untouched
  CHECK(Errno(w.fs->Lookup(d, "a").error()) == ENOENT);
  auto names = w.List(d);
  REQUIRE(names.ok());
  CHECK(std::find(names->begin(), names->end(), "a") == names->end());
  CHECK(std::find(names->begin(), names->end(), "b") != names->end());
  CHECK(w.remote.Calls("ls") == listings);  // the cached listing was edited, not dropped
  // The vim swap-file pattern: the name can be made again at once (a task would be EBUSY).
  auto again = w.fs->Create(d, "a", 0644, O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(again.ok());
  REQUIRE(w.fs->Write(again->opened.fh, 0, "new").ok());
  REQUIRE(w.fs->Flush(again->opened.fh).ok());
  w.fs->Release(again->opened.fh);
  CHECK(w.remote.Get(kTut, "/d/a")->content == "new");
  w.Drive();
  CHECK(w.remote.Calls("submit_delete") == 0);
  CHECK(w.remote.Tasks().empty());
}

TEST_CASE("https: a file already gone remotely counts as deleted", "[fs][delete][https]") {
  HttpsDeleteWorld w;
  Ino d = w.D();
  REQUIRE(w.List(d).ok());        // the cached listing still shows it
  w.remote.Remove(kTut, "/d/a");  // deleted elsewhere
  REQUIRE(w.fs->Unlink(d, "a").ok());
  CHECK(w.remote.Calls("delete") == 1);
  CHECK(Errno(w.fs->Lookup(d, "a").error()) == ENOENT);
  CHECK(w.Ops() == 0);
}

TEST_CASE("https: a refused DELETE is its errno and the name stays", "[fs][delete][https]") {
  HttpsDeleteWorld w;
  Ino d = w.D();
  REQUIRE(w.List(d).ok());
  w.remote.FailNext("delete", Error::Api(403, "permission_denied", "Permission denied: /d/a"));
  auto r = w.fs->Unlink(d, "a");
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EACCES);
  CHECK(w.remote.Exists(kTut, "/d/a"));
  CHECK(w.fs->Lookup(d, "a").ok());
  auto names = w.List(d);
  REQUIRE(names.ok());
  CHECK(std::find(names->begin(), names->end(), "a") != names->end());
  CHECK(w.Ops() == 0);  // no task as a fallback
  // A server fault is EIO, and what was cached about the name is asked again.
  w.remote.FailNext("delete", Error::Api(500, "", "Internal Server Error"));
  auto failed = w.fs->Unlink(d, "a");
  REQUIRE_FALSE(failed.ok());
  CHECK(Errno(failed.error()) == EIO);
  CHECK(w.fs->Lookup(d, "a").ok());
}

TEST_CASE("https: a consent error is authorized and the DELETE retried once",
          "[fs][delete][https][auth]") {
  HttpsDeleteWorld w;
  Ino d = w.D();
  Error consent = Error::Api(403, "ConsentRequired", "Missing required data_access consent");
  gf::AuthorizationParameters p;
  p.required_scopes = {"https://auth.globus.org/scopes/" + std::string(kTut) + "/https"};
  consent.authorization = p;
  w.remote.FailNext("delete", consent);
  auto refused = w.fs->Unlink(d, "a");  // the test mount's authorizer fails: EACCES
  REQUIRE_FALSE(refused.ok());
  CHECK(Errno(refused.error()) == EACCES);
  CHECK(w.remote.Exists(kTut, "/d/a"));

  CountingAuthorizer auth;
  w.authorizer.target = &auth;
  w.remote.ResetCalls();
  w.remote.FailNext("delete", consent);
  REQUIRE(w.fs->Unlink(d, "a").ok());
  CHECK(auth.calls == 1);
  CHECK(w.remote.Calls("delete") == 2);
  CHECK_FALSE(w.remote.Exists(kTut, "/d/a"));
}

TEST_CASE("https: Ctrl-C aborts the DELETE", "[fs][delete][https]") {
  HttpsDeleteWorld w;
  Ino d = w.D();
  std::atomic<bool> cancel{true};  // FakeRemote's DELETE honours the published flag
  auto r = w.fs->Unlink(d, "a", &cancel);
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EINTR);
  CHECK(w.remote.Exists(kTut, "/d/a"));
  CHECK(w.fs->Lookup(d, "a").ok());
  CHECK(w.Ops() == 0);
}

TEST_CASE("https: directories, symlinks and collections without HTTPS still use tasks",
          "[fs][delete][https]") {
  HttpsDeleteWorld w;
  w.remote.AddSymlink(kTut, "/d/link", "/d/a");
  w.remote.AddDir(kLaptop, "/home");
  w.remote.AddFile(kLaptop, "/home/f", "f");
  Ino d = w.D();
  REQUIRE(w.fs->Rmdir(d, "empty").ok());
  REQUIRE(w.fs->Unlink(d, "link").ok());
  REQUIRE(w.fs->Unlink(w.Dir("My Laptop/home"), "f").ok());
  CHECK(w.remote.Calls("delete") == 0);
  CHECK(w.LiveRemoves() == 3);
  w.Drive();
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kTut, "/d/empty"));
  CHECK_FALSE(w.remote.Exists(kTut, "/d/link"));
  CHECK(w.remote.Exists(kTut, "/d/a"));  // the link's target stays
  CHECK_FALSE(w.remote.Exists(kLaptop, "/home/f"));
  CHECK(w.remote.Tasks().size() == 3);  // one per collection and recursive flag
}

TEST_CASE("https: rm -r of a tree: the first files by DELETE, then a burst of tasks",
          "[fs][delete][https]") {
  HttpsDeleteWorld w;
  w.AddTree(3, 10);
  REQUIRE(w.List(w.Dir(std::string(kTutName) + "/t")).ok());
  w.RemoveTree(3, 10);
  // One process, no pause: after delete_burst DELETEs its files are remove ops (the burst rule).
  CHECK(w.remote.Calls("delete") == 8);
  w.Drive();
  w.Finish();
  CHECK(w.remote.Calls("submit_delete") == 2);  // its files, and its directories
  CHECK_FALSE(w.remote.Exists(kTut, "/t"));
  CHECK(w.remote.Exists(kTut, "/d/a"));
}

TEST_CASE("https: the burst rule counts different names per process and ends with a pause",
          "[fs][delete][https]") {
  HttpsDeleteWorld w;
  for (int i = 0; i < 20; ++i) w.remote.AddFile(kTut, "/d/f" + std::to_string(i), "x");
  Ino d = w.D();
  REQUIRE(w.List(d).ok());
  const size_t burst = w.options.delete_burst;
  REQUIRE(burst == 8);  // the default
  for (size_t i = 0; i < burst; ++i)
    REQUIRE(w.fs->Unlink(d, "f" + std::to_string(i), nullptr, 42).ok());
  CHECK(w.remote.Calls("delete") == static_cast<int>(burst));
  CHECK(w.LiveRemoves() == 0);
  REQUIRE(w.fs->Unlink(d, "f" + std::to_string(burst), nullptr, 42).ok());  // one too many
  CHECK(w.remote.Calls("delete") == static_cast<int>(burst));
  CHECK(w.LiveRemoves() == 1);
  REQUIRE(w.fs->Unlink(d, "f" + std::to_string(burst + 1), nullptr, 7).ok());  // another process
  CHECK(w.remote.Calls("delete") == static_cast<int>(burst) + 1);
  w.clock.Advance(DeleteOps::kBurstGap + std::chrono::milliseconds(1));  // 42 paused
  REQUIRE(w.fs->Unlink(d, "f" + std::to_string(burst + 2), nullptr, 42).ok());
  CHECK(w.remote.Calls("delete") == static_cast<int>(burst) + 2);
  CHECK(w.LiveRemoves() == 1);

  // The same name made and removed again and again (a sqlite journal) is never a burst.
  for (int i = 0; i < 20; ++i) {
    auto j = w.fs->Create(d, "db-journal", 0644, O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(j.ok());
    REQUIRE(w.fs->Write(j->opened.fh, 0, "journal").ok());
    REQUIRE(w.fs->Fsync(j->opened.fh).ok());
    w.fs->Release(j->opened.fh);
    REQUIRE(w.fs->Unlink(d, "db-journal", nullptr, 99).ok());
    CHECK_FALSE(w.remote.Exists(kTut, "/d/db-journal"));
  }
  CHECK(w.LiveRemoves() == 1);
}

TEST_CASE("https: delete_burst sets the burst rule's number of files; 0 turns it off",
          "[fs][delete][https]") {
  for (size_t burst : {size_t{3}, size_t{0}}) {
    CAPTURE(burst);
    HttpsDeleteWorld w(burst);
    for (int i = 0; i < 12; ++i) w.remote.AddFile(kTut, "/d/f" + std::to_string(i), "x");
    Ino d = w.D();
    REQUIRE(w.List(d).ok());
    for (int i = 0; i < 12; ++i)
      REQUIRE(w.fs->Unlink(d, "f" + std::to_string(i), nullptr, 42).ok());
    CHECK(w.remote.Calls("delete") == (burst == 0 ? 12 : static_cast<int>(burst)));
    CHECK(w.LiveRemoves() == (burst == 0 ? 0u : 12 - burst));
    w.Drive();
    w.Finish();
    for (int i = 0; i < 12; ++i) CHECK_FALSE(w.remote.Exists(kTut, "/d/f" + std::to_string(i)));
  }
}

TEST_CASE("https: rm waits for an upload of the name in flight, then deletes what it made",
          "[fs][delete][https]") {
  HttpsDeleteWorld w;
  Ino d = w.D();
  auto f = w.fs->Create(d, "x.swp", 0600, O_RDWR | O_CREAT | O_EXCL);
  REQUIRE(f.ok());
  REQUIRE(w.fs->Write(f->opened.fh, 0, "swap").ok());
  w.remote.CloseGate("put");
  Status flushed = Error::Local(EINPROGRESS, "not yet");
  std::thread closer([&] { flushed = w.fs->Flush(f->opened.fh); });
  REQUIRE(Eventually([&] { return w.remote.Blocked("put") == 1; }));
  Status removed = Error::Local(EINPROGRESS, "not yet");
  std::thread rm([&] { removed = w.fs->Unlink(d, "x.swp"); });
  w.remote.ReleaseGate("put");
  closer.join();
  rm.join();
  REQUIRE(flushed.ok());
  REQUIRE(removed.ok());
  w.fs->Release(f->opened.fh);
  CHECK_FALSE(w.remote.Exists(kTut, "/d/x.swp"));  // not left behind by the upload
  CHECK(w.remote.Calls("delete") == 1);
  CHECK(w.Ops() == 0);
}

TEST_CASE("https: a 404 under ~ from a server that does not expand it is not taken as done",
          "[fs][delete][https]") {
  HttpsDeleteWorld w;
  w.remote.SetHome(kTut, "/home/alice", /*tilde_over_https=*/false);
  w.remote.AddDir(kTut, "/~");
  w.remote.AddFile(kTut, "/~/f", "x");
  Ino home = w.Dir(std::string(kTutName) + "/~");
  // Where ~ is cannot be learnt now: the DELETE goes to "/~/f", which this server answers 404.
  w.remote.FailNext("ls", Error::Api(502, "ExternalError.DirListingFailed", "try later"));
  REQUIRE(w.fs->Unlink(home, "f").ok());
  CHECK(w.remote.Calls("delete") == 1);
  CHECK(w.LiveRemoves() == 1);  // Transfer still finds it: a delete task instead
  w.Drive();
  w.Finish();
  CHECK_FALSE(w.remote.Exists(kTut, "/~/f"));
}

TEST_CASE("https: a placeholder nothing was written into goes without a remote call",
          "[fs][delete][https]") {
  HttpsDeleteWorld w;
  Ino d = w.D();
  auto f = w.fs->Create(d, "tmp", 0600, O_RDWR | O_CREAT | O_EXCL);
  REQUIRE(f.ok());
  REQUIRE(w.fs->Unlink(d, "tmp").ok());
  w.fs->Release(f->opened.fh);
  CHECK(w.remote.Calls("delete") == 0);
  CHECK(w.remote.Calls("put") == 0);
  CHECK_FALSE(w.remote.Exists(kTut, "/d/tmp"));
  CHECK(w.Ops() == 0);
}

}  // namespace
}  // namespace gf::fs::testing
