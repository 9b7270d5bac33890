// cp/mv through the filesystem core as Globus transfer tasks (issue 6): Create / Open(O_TRUNC)
// placeholders, copy_file_range -> TransferEngine copy ops, the PendingOverlay view (pending
// entries, xattrs, hidden mv sources), fsync/open waits, wait mode and interrupts, restart.
// FakeRemote + FakeClock; the engine is driven by RunOnce(), tasks by RunTasks()/FailTask().
// The two wait-mode tests run the blocking call in a thread and drive the engine meanwhile.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "common/log.h"
#include "fs/transfers/engine.h"
#include "tests/unit/fs/fs_world.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace gf::fs::testing {
namespace {

int Errno(const gf::Error& e) { return gf::ErrnoFor(e); }

constexpr const char* kTutName = "Globus Tutorial Collection 1";
constexpr const char* kGrexName = "UManitoba Grex HPC";
constexpr int kCreateFlags = O_WRONLY | O_CREAT | O_TRUNC;
constexpr uint64_t kChunk = 4294963200ull;  // the kernel's clamp of one copy_file_range

struct CopyWorld : World {
  explicit CopyWorld(bool wait_mode = false) {
    log::SetLevel(log::Level::kError);
    options.collections = {kTut, kGrex};
    options.copy_wait = wait_mode;
    remote.AddDir(kTut, "/src");
    remote.AddDir(kGrex, "/dst");
    Make();
  }
  // cp SRC DST: create, open the source, copy_file_range (kernel-clamped) until EOF.
  struct Cp {
    Result<uint64_t> first = uint64_t{0};
    uint64_t dst_fh = 0, src_fh = 0;
    Ino dst_ino = 0, src_ino = 0;
    int calls = 0;
  };
  // The two directories every test copies between: Tut:/src and Grex:/dst.
  Ino SrcDir() { return Dir(std::string(kTutName) + "/src"); }
  Ino DstDir() { return Dir(std::string(kGrexName) + "/dst"); }
  // create(2) of `name` in `dir` (O_WRONLY|O_CREAT|O_TRUNC): the new handle.
  uint64_t CreateFile(Ino dir, const std::string& name) {
    auto c = fs->Create(dir, name, 0644, kCreateFlags);
    REQUIRE(c.ok());
    return c->opened.fh;
  }
  // An existing destination Grex:/dst/a ("OLD CONTENT") opened O_WRONLY|O_TRUNC.
  struct Truncated {
    Ino dir = 0, ino = 0;
    uint64_t fh = 0;
  };
  Truncated OpenOldTruncated() {
    remote.AddFile(kGrex, "/dst/a", "OLD CONTENT");
    Truncated t;
    t.dir = DstDir();
    auto e = fs->Lookup(t.dir, "a");
    REQUIRE(e.ok());
    t.ino = e->attr.ino;
    auto h = fs->Open(t.ino, O_WRONLY | O_TRUNC);
    REQUIRE(h.ok());
    t.fh = h->fh;
    return t;
  }
  // What cp does before copying: open the source, create the destination.
  Cp OpenCp(const std::string& src, Ino dst_dir, const std::string& name) {
    Cp cp;
    auto s = Walk(src);
    REQUIRE(s.ok());
    cp.src_ino = s->attr.ino;
    auto o = fs->Open(cp.src_ino, O_RDONLY);
    REQUIRE(o.ok());
    cp.src_fh = o->fh;
    auto c = fs->Create(dst_dir, name, 0644, kCreateFlags);
    REQUIRE(c.ok());
    cp.dst_fh = c->opened.fh;
    cp.dst_ino = c->entry.attr.ino;
    return cp;
  }
  // The first copy_file_range call of an opened cp (wait mode blocks in it).
  Result<uint64_t> FirstCopy(const Cp& cp, const std::atomic<bool>* cancel = nullptr) {
    return fs->CopyFileRange(cp.src_ino, cp.src_fh, 0, cp.dst_ino, cp.dst_fh, 0, kChunk, cancel);
  }
  // A call that waits for a task (an open O_TRUNC of a pending entry), made on
  // another thread while this one drives the engine; the service runs its tasks unless
  // `run_tasks` is false. `cancel` is published as the request's interrupt flag, as the FUSE
  // adapter does, and raised (Ctrl-C) once a task exists.
  template <class F>
  auto WhileDriving(F call, bool run_tasks = true, std::atomic<bool>* cancel = nullptr) {
    std::atomic<bool> done{false};
    decltype(call()) r = Error::Local(EINVAL, "not called");
    std::thread t([&] {
      RequestCancel published(cancel);
      r = call();
      done = true;
    });
    for (int i = 0; i < 20000 && !done; ++i) {
      Drive(1);
      if (run_tasks) remote.RunTasks();
      if (cancel && !remote.Tasks().empty()) *cancel = true;
      std::this_thread::yield();
    }
    t.join();
    return r;
  }
  Cp StartCp(const std::string& src, Ino dst_dir, const std::string& name, bool release = true) {
    Cp cp = OpenCp(src, dst_dir, name);
    uint64_t off = 0;
    for (;;) {
      auto r = fs->CopyFileRange(cp.src_ino, cp.src_fh, off, cp.dst_ino, cp.dst_fh, off, kChunk);
      ++cp.calls;
      if (cp.calls == 1) cp.first = r;
      if (!r.ok() || *r == 0) break;
      off += *r;
    }
    fs->Release(cp.src_fh);
    if (release) fs->Release(cp.dst_fh);
    return cp;
  }
};

TEST_CASE("cp between collections: one transfer, pending entry, then the real entry",
          "[fs][copy]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a.bin", Pattern(1000), 1600000123);
  Ino dst = w.DstDir();
  REQUIRE(w.List(dst)->empty());  // the listing is cached from now on

  auto cp = w.StartCp(std::string(kTutName) + "/src/a.bin", dst, "a.bin");
  REQUIRE(cp.first.ok());
  CHECK(*cp.first == 1000);
  CHECK(cp.calls == 2);                           // the second call, at EOF, returns 0
  CHECK(w.remote.Calls("submit_transfer") == 0);  // queued durably, not yet submitted
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/a.bin"));

  // Visible at once, with the source's size (st_blocks consistent) and mtime, marked pending.
  auto e = w.fs->Lookup(dst, "a.bin");
  REQUIRE(e.ok());
  CHECK(e->attr.size == 1000);
  CHECK(e->attr.blocks == 2);
  CHECK(e->attr.mtime == 1600000123);
  CHECK(*w.List(dst) == std::vector<std::string>{"a.bin"});
  CHECK(*w.fs->GetXattr(e->attr.ino, "user.globus.status") == "queued");
  auto names = w.fs->ListXattr(e->attr.ino);
  REQUIRE(names.ok());
  CHECK(std::count(names->begin(), names->end(), "user.globus.status") == 1);

  w.Drive();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].items.size() == 1);
  CHECK(tasks[0].items[0].source_path == "/src/a.bin");
  CHECK(tasks[0].items[0].destination_path == "/dst/a.bin");
  CHECK(*w.fs->GetXattr(e->attr.ino, "user.globus.status") == "active");
  CHECK(*w.fs->GetXattr(e->attr.ino, "user.globus.task_id") == tasks[0].doc.task_id);
  CHECK(w.remote.BytesServed() == 0);
  CHECK(w.remote.BytesReceived() == 0);

  w.Finish();
  CHECK(w.remote.Get(kGrex, "/dst/a.bin")->content == Pattern(1000));
  CHECK(Errno(w.fs->GetXattr(e->attr.ino, "user.globus.status").error()) == ENODATA);
  auto settled = w.fs->Lookup(dst, "a.bin");
  REQUIRE(settled.ok());
  CHECK(settled->attr.ino == e->attr.ino);
  CHECK(w.remote.Tasks().size() == 1);  // no second task
  // The kernel was told to drop the entry and its attributes.
  CHECK(std::count(w.notifier.entries.begin(), w.notifier.entries.end(),
                   std::make_pair(dst, std::string("a.bin"))) >= 1);
  CHECK(std::count(w.notifier.inodes.begin(), w.notifier.inodes.end(), e->attr.ino) >= 1);
  auto content = w.ReadAll(e->attr.ino);
  REQUIRE(content.ok());
  CHECK(*content == Pattern(1000));
}

TEST_CASE("cp of a 5 GiB file: several copy_file_range calls, one transfer item", "[fs][copy]") {
  CopyWorld w;
  const uint64_t size = 5ull << 30;
  gf::testing::FakeRemote::Node big;
  big.size_override = size;
  w.remote.SetNode(kTut, "/src/big", big);
  Ino dst = w.DstDir();
  auto cp = w.StartCp(std::string(kTutName) + "/src/big", dst, "big");
  REQUIRE(cp.first.ok());
  CHECK(*cp.first == kChunk);
  CHECK(cp.calls == 3);  // 4294963200 + the rest + 0 at EOF
  auto e = w.fs->Lookup(dst, "big");
  REQUIRE(e.ok());
  CHECK(e->attr.size == size);
  CHECK(e->attr.blocks * 512 == size);  // not sparse-looking: cp would skip copy_file_range
  w.Drive();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].items.size() == 1);
}

TEST_CASE("copy_file_range that is not a whole-file copy is EOPNOTSUPP", "[fs][copy]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", Pattern(100));
  w.remote.AddFile(kGrex, "/dst/old", "OLD");
  Ino dst = w.DstDir();
  auto s = w.Walk(std::string(kTutName) + "/src/a");
  REQUIRE(s.ok());
  auto in = w.fs->Open(s->attr.ino, O_RDONLY);
  REQUIRE(in.ok());
  auto c = w.fs->Create(dst, "b", 0644, kCreateFlags);
  REQUIRE(c.ok());
  Ino out = c->entry.attr.ino;
  // A first call at an offset, or for part of the file.
  CHECK(Errno(w.fs->CopyFileRange(s->attr.ino, in->fh, 10, out, c->opened.fh, 10, 90).error()) ==
        EOPNOTSUPP);
  CHECK(Errno(w.fs->CopyFileRange(s->attr.ino, in->fh, 0, out, c->opened.fh, 0, 50).error()) ==
        EOPNOTSUPP);
  // A destination opened without O_TRUNC holds remote data we cannot append to.
  auto old = w.fs->Lookup(dst, "old");
  REQUIRE(old.ok());
  auto wr = w.fs->Open(old->attr.ino, O_WRONLY);
  REQUIRE(wr.ok());
  CHECK(Errno(w.fs->CopyFileRange(s->attr.ino, in->fh, 0, old->attr.ino, wr->fh, 0, 100).error()) ==
        EOPNOTSUPP);
  // Once a copy is queued, only the continuing call is accepted.
  auto ok = w.fs->CopyFileRange(s->attr.ino, in->fh, 0, out, c->opened.fh, 0, 100);
  REQUIRE(ok.ok());
  CHECK(Errno(w.fs->CopyFileRange(s->attr.ino, in->fh, 50, out, c->opened.fh, 50, 50).error()) ==
        EOPNOTSUPP);
  w.fs->Release(wr->fh);
  w.fs->Release(in->fh);
  w.fs->Release(c->opened.fh);
  w.Drive();
  REQUIRE(w.remote.Tasks().size() == 1);  // only the accepted copy
  CHECK(w.remote.Get(kGrex, "/dst/old")->content == "OLD");
}

TEST_CASE("O_TRUNC of an existing destination leaves it intact until the copy succeeds",
          "[fs][copy]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", Pattern(500));
  auto t = w.OpenOldTruncated();
  const Ino dst = t.dir;
  CHECK(w.fs->GetAttr(t.ino)->attr.size == 0);  // locally truncated
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == "OLD CONTENT");
  auto s = w.Walk(std::string(kTutName) + "/src/a");
  REQUIRE(s.ok());
  auto in = w.fs->Open(s->attr.ino, O_RDONLY);
  REQUIRE(in.ok());
  REQUIRE(w.fs->CopyFileRange(s->attr.ino, in->fh, 0, t.ino, t.fh, 0, kChunk).ok());
  CHECK(w.fs->GetAttr(t.ino)->attr.size == 500);
  CHECK(w.fs->Lookup(dst, "a")->attr.size == 500);
  w.Drive();
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == "OLD CONTENT");  // submitted, not run

  SECTION("success replaces it") {
    w.Finish();
    CHECK(w.remote.Get(kGrex, "/dst/a")->content == Pattern(500));
    CHECK(w.fs->Fsync(t.fh).ok());
    CHECK(w.fs->GetAttr(t.ino)->attr.size == 500);
  }
  SECTION("failure keeps the old content, fsync says EIO, status shows the error") {
    w.remote.FailTask(w.remote.Tasks()[0].doc.task_id, "PERMISSION_DENIED", "permission denied");
    w.Drive(3);
    CHECK(w.remote.Get(kGrex, "/dst/a")->content == "OLD CONTENT");
    auto f = w.fs->Fsync(t.fh);
    REQUIRE_FALSE(f.ok());
    CHECK(Errno(f.error()) == EIO);
    CHECK(w.fs->GetAttr(t.ino)->attr.size == 11);  // the remote file again
    std::string status = w.fs->StatusJson();
    CHECK(status.find("\"failures\":[{") != std::string::npos);
    CHECK(status.find("PERMISSION_DENIED") != std::string::npos);
  }
  w.fs->Release(in->fh);
  w.fs->Release(t.fh);
}

TEST_CASE("cp onto a destination whose copy is still pending waits for it, then replaces it",
          "[fs][copy]") {
  // cp -r interrupted, then run again: its files still pending are not "busy", they are
  // replaced once their first copy ended.
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", "first");
  w.remote.AddFile(kTut, "/src/b", "second");
  Ino dst = w.DstDir();
  REQUIRE(w.StartCp(std::string(kTutName) + "/src/a", dst, "x").first.ok());
  auto x = w.fs->Lookup(dst, "x");  // cp stats an existing destination, then opens it
  REQUIRE(x.ok());
  auto again = w.WhileDriving([&] { return w.fs->Open(x->attr.ino, O_WRONLY | O_TRUNC); });
  REQUIRE(again.ok());
  CHECK(w.remote.Get(kGrex, "/dst/x")->content == "first");  // the first copy ended first
  auto s = w.Walk(std::string(kTutName) + "/src/b");
  REQUIRE(s.ok());
  auto in = w.fs->Open(s->attr.ino, O_RDONLY);
  REQUIRE(in.ok());
  REQUIRE(w.fs->CopyFileRange(s->attr.ino, in->fh, 0, x->attr.ino, again->fh, 0, kChunk).ok());
  w.fs->Release(in->fh);
  w.fs->Release(again->fh);
  w.Drive();
  w.Finish();
  CHECK(w.remote.Get(kGrex, "/dst/x")->content == "second");
  CHECK(w.remote.Tasks().size() == 2);
}

TEST_CASE("mv or create of a name whose copy is pending is EBUSY, without a wait",
          "[fs][copy][mv]") {
  // The kernel holds the directories locked during rename and create: a wait there would
  // freeze every ls of them until the transfer ended.
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", "content");
  Ino src_dir = w.SrcDir();
  Ino dst = w.DstDir();
  REQUIRE(w.StartCp(std::string(kTutName) + "/src/a", dst, "x").first.ok());
  CHECK(Errno(w.fs->Rename(dst, "x", dst, "y", 0).error()) == EBUSY);
  CHECK(Errno(w.fs->Rename(dst, "x", src_dir, "y", 0).error()) == EBUSY);
  CHECK(Errno(w.fs->Create(dst, "x", 0644, kCreateFlags).error()) == EBUSY);
  w.Drive();
  w.Finish();
  REQUIRE(w.fs->Rename(dst, "x", dst, "y", 0).ok());
  CHECK(w.remote.Get(kGrex, "/dst/y")->content == "content");
}

TEST_CASE("Ctrl-C while waiting for a pending copy to be replaced: EINTR, the copy goes on",
          "[fs][copy]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", "content");
  Ino dst = w.DstDir();
  REQUIRE(w.StartCp(std::string(kTutName) + "/src/a", dst, "x").first.ok());
  auto x = w.fs->Lookup(dst, "x");
  REQUIRE(x.ok());
  std::atomic<bool> cancel{false};
  auto r = w.WhileDriving([&] { return w.fs->Open(x->attr.ino, O_WRONLY | O_TRUNC); },
                          /*run_tasks=*/false, &cancel);
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EINTR);
  CHECK(w.remote.Calls("cancel_task") == 0);
  w.Finish();
  CHECK(w.remote.Get(kGrex, "/dst/x")->content == "content");
}

TEST_CASE("a failed copy to a new file: the pending entry vanishes, fsync is EIO", "[fs][copy]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", Pattern(10));
  Ino dst = w.DstDir();
  auto cp = w.StartCp(std::string(kTutName) + "/src/a", dst, "a", /*release=*/false);
  REQUIRE(cp.first.ok());
  w.Drive();
  // The source disappears after queueing: the service keeps the task ACTIVE with a
  // FILE_NOT_FOUND event; the engine cancels it and fails the op.
  w.remote.Remove(kTut, "/src/a");
  w.Finish();
  CHECK(Errno(w.fs->Lookup(dst, "a").error()) == ENOENT);
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/a"));
  auto f = w.fs->Fsync(cp.dst_fh);
  REQUIRE_FALSE(f.ok());
  CHECK(Errno(f.error()) == EIO);
  CHECK(w.fs->StatusJson().find("FILE_NOT_FOUND") != std::string::npos);
  w.fs->Release(cp.dst_fh);
}

TEST_CASE("a created file that is written is uploaded at close, not copied", "[fs][copy]") {
  CopyWorld w;
  Ino dst = w.DstDir();
  auto c = w.fs->Create(dst, "local.txt", 0644, kCreateFlags);
  REQUIRE(c.ok());
  CHECK(w.fs->Lookup(dst, "local.txt").ok());  // cp stats it between create and write
  auto wr = w.fs->Write(c->opened.fh, 0, "hello");
  REQUIRE(wr.ok());
  CHECK(*wr == 5);
  CHECK(w.remote.Calls("put") == 0);  // staged until close
  CHECK(w.fs->Flush(c->opened.fh).ok());
  CHECK(w.remote.Calls("put") == 1);
  w.fs->Release(c->opened.fh);
  CHECK(w.remote.Calls("put") == 1);  // no empty-file PUT after it
  CHECK(w.fs->Lookup(dst, "local.txt")->attr.size == 5);
  w.Drive();
  CHECK(w.remote.Tasks().empty());
  CHECK(w.remote.Get(kGrex, "/dst/local.txt")->content == "hello");
}

TEST_CASE("an empty file: create and close with no copy and no data makes it remotely",
          "[fs][copy][empty]") {
  // cp of an empty file never reaches us as copy_file_range (the kernel answers it: nothing
  // to copy), and `touch` / `: > f` are the same calls.
  CopyWorld w;
  Ino dst = w.DstDir();
  const uint64_t fh = w.CreateFile(dst, "empty");
  // A FLUSH is every close(2), also of a dup (a shell redirect closes one before its command
  // writes): it decides nothing.
  REQUIRE(w.fs->Flush(fh).ok());
  CHECK(w.remote.Calls("put") == 0);
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/empty"));
  w.fs->Release(fh);  // the last close
  CHECK(w.remote.Calls("put") == 1);
  auto f = w.remote.Get(kGrex, "/dst/empty");
  REQUIRE(f);
  CHECK(f->content.empty());
  auto e = w.fs->Lookup(dst, "empty");  // the real remote entry, not a placeholder
  REQUIRE(e.ok());
  CHECK(e->attr.size == 0);
  w.Drive();
  CHECK(w.remote.Tasks().empty());  // no transfer task for it
}

TEST_CASE("a shell redirect: the dup's FLUSH uploads nothing, the one after the write does",
          "[fs][copy][empty]") {
  CopyWorld w;
  Ino dst = w.DstDir();
  const uint64_t fh = w.CreateFile(dst, "out");
  REQUIRE(w.fs->Flush(fh).ok());  // the shell closes its dup
  CHECK(w.remote.Calls("put") == 0);
  REQUIRE(w.fs->Write(fh, 0, "x\n").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  CHECK(w.remote.Calls("put") == 1);
  REQUIRE(w.fs->Flush(fh).ok());  // a later close with no new writes does nothing
  w.fs->Release(fh);
  CHECK(w.remote.Calls("put") == 1);
  CHECK(w.remote.Get(kGrex, "/dst/out")->content == "x\n");
}

TEST_CASE("an empty file: O_TRUNC of an existing file and close with no copy truncates it",
          "[fs][copy][empty]") {
  CopyWorld w;
  auto t = w.OpenOldTruncated();
  SECTION("closed without writing: cp of an empty file onto it") {
    REQUIRE(w.fs->Flush(t.fh).ok());
    w.fs->Release(t.fh);
    CHECK(w.remote.Get(kGrex, "/dst/a")->content.empty());
    CHECK(w.fs->GetAttr(t.ino)->attr.size == 0);
  }
  SECTION("written: the new bytes replace the old content (temp name + rename)") {
    REQUIRE(w.fs->Write(t.fh, 0, "NEW").ok());
    CHECK(w.fs->GetAttr(t.ino)->attr.size == 3);  // the staged size
    REQUIRE(w.fs->Flush(t.fh).ok());
    w.fs->Release(t.fh);
    CHECK(w.remote.Get(kGrex, "/dst/a")->content == "NEW");
    CHECK(w.remote.Calls("put") == 1);
  }
}

TEST_CASE("an empty file: a queued copy is not replaced by an empty file at close",
          "[fs][copy][empty]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", Pattern(10));
  Ino dst = w.DstDir();
  auto cp = w.StartCp(std::string(kTutName) + "/src/a", dst, "a", /*release=*/false);
  REQUIRE(cp.first.ok());
  REQUIRE(w.fs->Flush(cp.dst_fh).ok());
  w.fs->Release(cp.dst_fh);
  CHECK(w.remote.Calls("put") == 0);
  w.Drive();
  w.Finish();
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == Pattern(10));
}

TEST_CASE("an empty file that cannot be made: the error is reported, nothing is left behind",
          "[fs][copy][empty]") {
  CopyWorld w;
  SECTION("a collection without an HTTPS server: close(2) fails") {
    w.remote.AddDir(kLaptop, "/in");
    auto d = w.Walk(std::string(".by-id/") + kLaptop + "/in");
    REQUIRE(d.ok());
    auto c = w.fs->Create(d->attr.ino, "empty", 0644, kCreateFlags);
    REQUIRE(c.ok());
    auto f = w.fs->Flush(c->opened.fh);
    REQUIRE_FALSE(f.ok());
    CHECK(Errno(f.error()) == EOPNOTSUPP);
    w.fs->Release(c->opened.fh);
    CHECK(Errno(w.fs->Lookup(d->attr.ino, "empty").error()) == ENOENT);
    CHECK(w.remote.Calls("put") == 0);
  }
  SECTION("the PUT is refused at the last close: logged, shown by status") {
    Ino dst = w.DstDir();
    w.remote.FailNext("put", Error::Api(403, "EndpointPermissionDenied", "denied"));
    auto c = w.fs->Create(dst, "empty", 0644, kCreateFlags);
    REQUIRE(c.ok());
    REQUIRE(w.fs->Flush(c->opened.fh).ok());
    w.fs->Release(c->opened.fh);
    CHECK(w.remote.Calls("put") == 1);
    CHECK(Errno(w.fs->Lookup(dst, "empty").error()) == ENOENT);
    CHECK(w.fs->StatusJson().find("EndpointPermissionDenied") != std::string::npos);
  }
}

TEST_CASE("an empty file's PUT is journaled: retried by the engine, and made after a crash",
          "[fs][copy][empty][crash]") {
  // The 30-min soak: cp -r returned, the last close's 0-byte PUT met a transient fault, and the
  // daemon was killed (kill -9) while it waited to retry: nothing recorded it, the file never
  // appeared. close(2) had long returned, so only the mount can make it good.
  CopyWorld w;
  Ino dst = w.DstDir();
  w.remote.FailNext("put", Error::Transport(gf::TransportFailure::kReset, "connection reset"));
  const uint64_t fh = w.CreateFile(dst, "empty");
  REQUIRE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);  // the last close: the PUT fails (its retries used up: a reset each time)
  CHECK(w.remote.Calls("put") == 1);
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/empty"));
  SECTION("the same mount tries again") {
    auto e = w.fs->Lookup(dst, "empty");  // shown as a pending upload meanwhile
    REQUIRE(e.ok());
    CHECK(e->attr.size == 0);
    REQUIRE(Eventually([&] {
      w.clock.Advance(std::chrono::seconds(5));
      w.engine->RunOnce();
      return w.remote.Exists(kGrex, "/dst/empty");
    }));
    CHECK(w.remote.Get(kGrex, "/dst/empty")->content.empty());
  }
  SECTION("a crash first: the next mount makes it") {
    w.Make();  // kill -9: the handle and the engine gone; the journal and staging stay
    REQUIRE(Eventually([&] {
      w.clock.Advance(std::chrono::seconds(5));
      w.engine->RunOnce();
      return w.remote.Exists(kGrex, "/dst/empty");
    }));
    CHECK(w.remote.Get(kGrex, "/dst/empty")->content.empty());
    REQUIRE(Eventually([&] {
      w.engine->RunOnce();
      return w.engine->PendingUploads() == 0;
    }));
    const int puts = w.remote.Calls("put");
    w.Make();  // made once: a later mount uploads nothing
    w.Drive();
    CHECK(w.remote.Calls("put") == puts);
  }
}

TEST_CASE("a file opened O_RDWR reads its content; a write edits it in place", "[fs][copy]") {
  // sqlite, HDF5 "r+" and Python "r+b" open read-write and read first: they must see the
  // bytes, not an empty file, and the remote file must stay as it is.
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", Pattern(5000));
  auto f = w.Walk(std::string(kTutName) + "/src/a");
  REQUIRE(f.ok());
  auto h = w.fs->Open(f->attr.ino, O_RDWR);
  REQUIRE(h.ok());
  auto r = w.fs->Read(h->fh, 100, 4096);
  REQUIRE(r.ok());
  CHECK(r->size() == 4096);
  CHECK((r->ToString() == Pattern(5000).substr(100, 4096)));
  CHECK(w.remote.Calls("put") == 0);
  REQUIRE(w.fs->Write(h->fh, 100, "XYZ").ok());
  auto again = w.fs->Read(h->fh, 98, 6);  // the staged bytes
  REQUIRE(again.ok());
  CHECK(again->ToString() == Pattern(5000).substr(98, 2) + "XYZ" + Pattern(5000).substr(103, 1));
  REQUIRE(w.fs->Flush(h->fh).ok());
  w.fs->Release(h->fh);
  std::string want = Pattern(5000);
  want.replace(100, 3, "XYZ");
  CHECK(w.remote.Get(kTut, "/src/a")->content == want);
  CHECK(w.remote.Calls("put") == 1);
}

TEST_CASE("write-only handles bypass the page cache (direct_io); read-write ones keep it",
          "[fs][copy]") {
  // The staging file keeps every written byte: a write-only handle's writes are not copied into
  // the kernel's page cache first (docs/PERFORMANCE.md "Writes"). O_RDWR may be mmapped shared,
  // which needs the page cache.
  CopyWorld w;
  w.remote.AddFile(kGrex, "/dst/old", "OLD");
  Ino dst = w.DstDir();
  auto cp = w.fs->Create(dst, "new", 0644, O_WRONLY | O_CREAT | O_TRUNC);
  REQUIRE(cp.ok());
  CHECK(cp->opened.direct_io);
  auto rw = w.fs->Create(dst, "rw", 0644, O_RDWR | O_CREAT | O_TRUNC);
  REQUIRE(rw.ok());
  CHECK_FALSE(rw->opened.direct_io);
  auto old = w.fs->Lookup(dst, "old");
  REQUIRE(old.ok());
  auto onto = w.fs->Open(old->attr.ino, O_WRONLY | O_TRUNC);  // cp onto an existing file
  REQUIRE(onto.ok());
  CHECK(onto->direct_io);
  for (uint64_t fh : {cp->opened.fh, rw->opened.fh, onto->fh}) w.fs->Release(fh);
}

TEST_CASE("lock files are created and written; unlink of a name already gone is ENOENT",
          "[fs][copy]") {
  // git takes .git/index.lock (O_RDWR|O_CREAT|O_EXCL), writes it and closes it.
  CopyWorld w;
  w.remote.AddFile(kGrex, "/dst/old", "OLD");
  Ino dst = w.DstDir();
  auto lock = w.fs->Create(dst, "index.lock", 0666, O_RDWR | O_CREAT | O_EXCL);
  REQUIRE(lock.ok());
  CHECK(w.fs->Lookup(dst, "index.lock").ok());
  REQUIRE(w.fs->Write(lock->opened.fh, 0, "lock").ok());
  REQUIRE(w.fs->Flush(lock->opened.fh).ok());
  w.fs->Release(lock->opened.fh);
  CHECK(w.remote.Get(kGrex, "/dst/index.lock")->content == "lock");
  CHECK(Errno(w.fs->Create(dst, "old", 0666, O_RDWR | O_CREAT | O_EXCL).error()) == EEXIST);
  auto go = w.fs->Create(dst, "go", 0644, O_RDWR | O_CREAT | O_TRUNC);  // Go's os.Create
  REQUIRE(go.ok());
  w.fs->Release(go->opened.fh);  // closed with nothing written: an empty file
  REQUIRE(w.remote.Exists(kGrex, "/dst/go"));
  CHECK(w.remote.Get(kGrex, "/dst/go")->content.empty());
  CHECK(Errno(w.fs->Unlink(dst, "never").error()) == ENOENT);
  CHECK(w.fs->Unlink(dst, "old").ok());  // an HTTPS DELETE (delete_test.cc): gone at once
  CHECK_FALSE(w.remote.Exists(kGrex, "/dst/old"));
}

TEST_CASE("cp -r: many files queued close together become one task", "[fs][copy]") {
  CopyWorld w;
  for (int i = 0; i < 100; ++i) w.remote.AddFile(kTut, "/src/f" + std::to_string(i), "x");
  Ino dst = w.DstDir();
  auto made = w.fs->Mkdir(dst, "tree", 0755);
  REQUIRE(made.ok());
  CHECK(w.fs->Lookup(dst, "tree").ok());  // visible at once
  for (int i = 0; i < 100; ++i) {
    auto cp = w.StartCp(std::string(kTutName) + "/src/f" + std::to_string(i), made->attr.ino,
                        "f" + std::to_string(i));
    REQUIRE(cp.first.ok());
  }
  CHECK(w.List(made->attr.ino)->size() == 100);
  w.Drive();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].items.size() == 100);
  w.Finish();
  CHECK(w.remote.Exists(kGrex, "/dst/tree/f99"));
  CHECK(w.List(made->attr.ino)->size() == 100);
}

TEST_CASE("cp of a file onto itself under another name (~) queues nothing", "[fs][copy]") {
  // COLL/~/f and COLL/home/alice/f are one file: a transfer onto itself would truncate it.
  CopyWorld w;
  w.remote.AddFile(kGrex, "/~/f", "precious", 1600000000);
  w.remote.AddDir(kGrex, "/home/alice");
  SECTION("the service says where ~ is") { w.remote.SetHome(kGrex, "/home/alice", true); }
  SECTION("it does not: the destination has the source's size and mtime") {
    w.remote.AddFile(kGrex, "/home/alice/f", "precious", 1600000000);  // the fake's alias
  }
  Ino home = w.Dir(std::string(kGrexName) + "/home/alice");
  auto cp = w.OpenCp(std::string(kGrexName) + "/~/f", home, "f");
  auto r = w.FirstCopy(cp);
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EINVAL);  // copy_file_range(2) on one file; cp falls back, fails
  w.fs->Release(cp.src_fh);
  w.fs->Release(cp.dst_fh);
  w.Drive();
  CHECK(w.remote.Tasks().empty());
  CHECK(w.remote.Calls("put") == 0);
  CHECK(w.remote.Get(kGrex, "/~/f")->content == "precious");
}

TEST_CASE("a copy into ~ that completes is visible at once under the home's real path too",
          "[fs][copy]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", "a");
  w.remote.AddDir(kGrex, "/~");
  w.remote.AddDir(kGrex, "/home/alice");
  w.remote.SetHome(kGrex, "/home/alice", true);
  Ino tilde = w.Dir(std::string(kGrexName) + "/~");
  REQUIRE(w.List(tilde).ok());  // ls /~/ tells where ~ is
  Ino real = w.Dir(std::string(kGrexName) + "/home/alice");
  REQUIRE(w.List(real).ok());  // cached
  REQUIRE(w.StartCp(std::string(kTutName) + "/src/a", tilde, "a").first.ok());
  w.Drive();
  w.Finish();
  CHECK(std::count(w.notifier.entries.begin(), w.notifier.entries.end(),
                   std::make_pair(real, std::string("a"))) >= 1);
  w.remote.ResetCalls();
  REQUIRE(w.List(real).ok());
  CHECK(w.remote.Calls("ls") == 1);  // listed again, not served from the stale cache
}

TEST_CASE("copies within one collection are transfer tasks too", "[fs][copy]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", "same collection");
  Ino src_dir = w.SrcDir();
  auto cp = w.StartCp(std::string(kTutName) + "/src/a", src_dir, "b");
  REQUIRE(cp.first.ok());
  w.Drive();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(*tasks[0].doc.source_endpoint_id == kTut);
  CHECK(*tasks[0].doc.destination_endpoint_id == kTut);
  w.Finish();
  CHECK(w.remote.Get(kTut, "/src/b")->content == "same collection");
}

TEST_CASE("mv across collections: source hidden, deleted only after the verified copy",
          "[fs][copy][mv]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/m", "move me");
  Ino src_dir = w.SrcDir();
  Ino dst = w.DstDir();
  REQUIRE(w.fs->Lookup(src_dir, "m").ok());
  REQUIRE(w.fs->Rename(src_dir, "m", dst, "m", RENAME_NOREPLACE).ok());
  CHECK(Errno(w.fs->Lookup(src_dir, "m").error()) == ENOENT);  // hidden
  CHECK(w.List(src_dir)->empty());
  auto d = w.fs->Lookup(dst, "m");
  REQUIRE(d.ok());
  CHECK(d->attr.size == 7);
  CHECK(w.remote.Exists(kTut, "/src/m"));

  w.Drive();
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].doc.type == api::TaskType::kTransfer);

  SECTION("success: copy, then a delete task of the source") {
    w.Finish();  // the copy ran; the delete step is queued/submitted, not run
    CHECK(w.remote.Exists(kGrex, "/dst/m"));
    CHECK(w.remote.Exists(kTut, "/src/m"));
    tasks = w.remote.Tasks();
    REQUIRE(tasks.size() == 2);
    CHECK(tasks[1].doc.type == api::TaskType::kDelete);
    CHECK(Errno(w.fs->Lookup(src_dir, "m").error()) == ENOENT);  // still hidden
    CHECK(w.fs->StatusJson().find("\"state\":\"deleting-source\"") != std::string::npos);
    w.Finish();
    CHECK_FALSE(w.remote.Exists(kTut, "/src/m"));
    CHECK(Errno(w.fs->Lookup(src_dir, "m").error()) == ENOENT);
    CHECK(w.fs->Lookup(dst, "m").ok());
    const std::string status = w.fs->StatusJson();  // finished: no longer "deleting-source"
    CHECK(status.find("\"state\":\"succeeded\"") != std::string::npos);
    CHECK(status.find("deleting-source") == std::string::npos);
    // The engine's calls are in api_calls too (its door to the service is counted).
    CHECK(status.find("\"submit_transfer\":{\"calls\":1,") != std::string::npos);
    CHECK(status.find("\"submit_delete\":{\"calls\":1,") != std::string::npos);
    CHECK(status.find("\"task_list\":{\"calls\":") != std::string::npos);
  }
  SECTION("failure: the source reappears untouched, nothing deleted") {
    w.remote.FailTask(tasks[0].doc.task_id, "PERMISSION_DENIED", "permission denied");
    w.Drive(3);
    CHECK(w.remote.Tasks().size() == 1);  // no delete task
    CHECK(w.remote.Get(kTut, "/src/m")->content == "move me");
    CHECK(w.fs->Lookup(src_dir, "m").ok());
    CHECK(Errno(w.fs->Lookup(dst, "m").error()) == ENOENT);
  }
}

TEST_CASE("mv across collections: the source's inode at the new name is stale (ESTALE)",
          "[fs][copy][mv]") {
  // After a successful rename the kernel moves the source's dentry, with the SOURCE inode, to
  // the destination name; the mount's invalidation of that dentry arrives from the notifier's
  // thread, after rename(2) has returned (and later still when a stalled request holds the
  // directory's lock). Until then a path walk to the new name reaches the source inode, whose
  // path is the SOURCE. Acting on it acted on the source: the chaos soak (seed 15) appended to
  // a file just moved, the bytes landed in the source, and the move's delete step removed
  // them. Every operation by name on it is ESTALE, which makes the kernel look the path up
  // again and retry with the destination's inode.
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/t/f", "in a tree");
  w.remote.AddFile(kTut, "/src/t/sub/g", "below");
  w.remote.AddFile(kTut, "/src/m", "");
  Ino src_dir = w.SrcDir();
  Ino dst = w.DstDir();
  auto moved = w.fs->Lookup(src_dir, "t");
  REQUIRE(moved.ok());
  auto below = w.fs->Lookup(moved->attr.ino, "f");  // a dentry under it the kernel holds
  REQUIRE(below.ok());
  auto file = w.fs->Lookup(src_dir, "m");
  REQUIRE(file.ok());
  REQUIRE(w.fs->Rename(src_dir, "t", dst, "t", RENAME_NOREPLACE).ok());
  REQUIRE(w.fs->Rename(src_dir, "m", dst, "m", RENAME_NOREPLACE).ok());
  const Ino stale = moved->attr.ino;  // what the kernel's dentry at dst/t still leads to
  const Ino stale_file = file->attr.ino;
  auto is_estale = [](const auto& r) { return !r.ok() && Errno(r.error()) == ESTALE; };
  CHECK(is_estale(w.fs->GetXattr(stale, "user.globus.status")));
  CHECK(is_estale(w.fs->ListXattr(stale)));
  CHECK(is_estale(w.fs->OpenDir(stale)));
  CHECK(is_estale(w.fs->Lookup(stale, "f")));
  CHECK(is_estale(w.fs->Create(stale, "new", 0644, kCreateFlags)));
  CHECK(is_estale(w.fs->Mkdir(stale, "new", 0755)));
  CHECK(is_estale(w.fs->Unlink(stale, "f")));
  CHECK(is_estale(w.fs->Open(below->attr.ino, O_RDONLY)));  // below it: stale too
  CHECK(is_estale(w.fs->Open(stale_file, O_WRONLY | O_APPEND)));
  CHECK(is_estale(w.fs->Open(stale_file, O_RDONLY)));
  SetAttrRequest truncate;
  truncate.size = 0;
  CHECK(is_estale(w.fs->SetAttr(stale_file, truncate)));
  // Looked up again (what the kernel's retry does): the pending destination, a new inode.
  auto fresh = w.fs->Lookup(dst, "t");
  REQUIRE(fresh.ok());
  CHECK(fresh->attr.ino != stale);
  CHECK(*w.fs->GetXattr(fresh->attr.ino, "user.globus.status") == "queued");
  CHECK(*w.fs->GetXattr(fresh->attr.ino, "user.globus.path") == "/dst/t");
  w.Drive();
  CHECK(*w.fs->GetXattr(fresh->attr.ino, "user.globus.status") == "active");
  w.Finish();  // the copy verified: the destination is real
  CHECK(Errno(w.fs->GetXattr(fresh->attr.ino, "user.globus.status").error()) == ENODATA);
  CHECK(is_estale(w.fs->GetXattr(stale, "user.globus.status")));  // stays stale
  // The file's new name, opened for append through its fresh inode, edits the destination.
  auto m = w.fs->Lookup(dst, "m");
  REQUIRE(m.ok());
  CHECK(m->attr.ino != stale_file);
  w.Finish();
  auto h = w.fs->Open(m->attr.ino, O_WRONLY | O_APPEND);
  REQUIRE(h.ok());
  REQUIRE(w.fs->Write(h->fh, 0, "appended").ok());
  REQUIRE(w.fs->Flush(h->fh).ok());
  w.fs->Release(h->fh);
  w.Finish();
  REQUIRE(w.remote.Get(kGrex, "/dst/m"));
  CHECK(w.remote.Get(kGrex, "/dst/m")->content == "appended");
  CHECK_FALSE(w.remote.Exists(kTut, "/src/m"));
}

TEST_CASE("a rename within a collection keeps the inode: it is not stale", "[fs][copy][mv]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", "content");
  Ino src_dir = w.SrcDir();
  auto a = w.fs->Lookup(src_dir, "a");
  REQUIRE(a.ok());
  REQUIRE(w.fs->Rename(src_dir, "a", src_dir, "b", 0).ok());
  auto h = w.fs->Open(a->attr.ino, O_RDONLY);  // the kernel's dentry at b: the same inode
  REQUIRE(h.ok());
  w.fs->Release(h->fh);
  CHECK(*w.fs->GetXattr(a->attr.ino, "user.globus.path") == "/src/b");
}

TEST_CASE("mv across collections respects RENAME_NOREPLACE", "[fs][copy][mv]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/m", "a");
  w.remote.AddFile(kGrex, "/dst/m", "b");
  Ino src_dir = w.SrcDir();
  Ino dst = w.DstDir();
  CHECK(Errno(w.fs->Rename(src_dir, "m", dst, "m", RENAME_NOREPLACE).error()) == EEXIST);
  w.Drive();
  CHECK(w.remote.Tasks().empty());
  CHECK(w.fs->Lookup(src_dir, "m").ok());
}

TEST_CASE("wait mode: copy_file_range returns the task's error", "[fs][copy][wait]") {
  CopyWorld w(/*wait_mode=*/true);
  w.remote.AddFile(kTut, "/src/a", "x");
  Ino dst = w.DstDir();
  auto cp = w.OpenCp(std::string(kTutName) + "/src/a", dst, "a");
  std::atomic<bool> done{false};
  Result<uint64_t> r = uint64_t{0};
  std::thread t([&] {
    r = w.FirstCopy(cp);
    done = true;
  });
  bool failed = false;
  for (int i = 0; i < 20000 && !done; ++i) {
    w.Drive(1);
    auto tasks = w.remote.Tasks();
    if (!failed && !tasks.empty()) {
      CHECK_FALSE(done);  // still waiting for the task
      w.remote.FailTask(tasks[0].doc.task_id, "PERMISSION_DENIED", "permission denied");
      failed = true;
    }
    std::this_thread::yield();
  }
  t.join();
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EACCES);
  w.fs->Release(cp.src_fh);
  w.fs->Release(cp.dst_fh);
}

TEST_CASE("wait mode: an interrupt cancels the Globus task", "[fs][copy][wait]") {
  CopyWorld w(/*wait_mode=*/true);
  w.remote.AddFile(kTut, "/src/a", "x");
  Ino dst = w.DstDir();
  auto cp = w.OpenCp(std::string(kTutName) + "/src/a", dst, "a");
  std::atomic<bool> cancel{false}, done{false};
  Result<uint64_t> r = uint64_t{0};
  std::thread t([&] {
    r = w.FirstCopy(cp, &cancel);
    done = true;
  });
  for (int i = 0; i < 20000 && !done; ++i) {
    w.Drive(1);
    if (!w.remote.Tasks().empty()) cancel = true;  // Ctrl-C once the task exists
    std::this_thread::yield();
  }
  t.join();
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EINTR);
  auto tasks = w.remote.Tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(w.remote.Calls("cancel_task") >= 1);
  CHECK(tasks[0].doc.status == api::TaskStatus::kFailed);
  REQUIRE(tasks[0].doc.fatal_error);
  CHECK(tasks[0].doc.fatal_error->code == "CANCELED");
  w.fs->Release(cp.src_fh);
  w.fs->Release(cp.dst_fh);
}

TEST_CASE("restart: pending entries come back and the task is tracked, not resubmitted",
          "[fs][copy][restart]") {
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/a", Pattern(64));
  w.remote.AddFile(kTut, "/src/b", Pattern(32));
  Ino dst = w.DstDir();
  REQUIRE(w.StartCp(std::string(kTutName) + "/src/a", dst, "a").first.ok());
  w.Drive();                                                                  // a is submitted
  REQUIRE(w.StartCp(std::string(kTutName) + "/src/b", dst, "b").first.ok());  // b only queued
  REQUIRE(w.remote.Tasks().size() == 1);

  w.Make();  // the daemon dies; a new one opens the same journal
  dst = w.DstDir();
  auto a = w.fs->Lookup(dst, "a");
  auto b = w.fs->Lookup(dst, "b");
  REQUIRE((a.ok() && b.ok()));
  CHECK(a->attr.size == 64);
  CHECK(b->attr.size == 32);
  w.Drive();
  CHECK(w.remote.Calls("submit_transfer") == 2);  // a's task tracked, b's submitted once
  w.Finish();
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == Pattern(64));
  CHECK(w.remote.Get(kGrex, "/dst/b")->content == Pattern(32));
  CHECK(w.remote.Tasks().size() == 2);
  CHECK(Errno(w.fs->GetXattr(a->attr.ino, "user.globus.status").error()) == ENODATA);
}

TEST_CASE("mv of a file open for writing is EBUSY until its close; then it moves",
          "[fs][copy][mv]") {
  // The mount uploads by name: the bytes of a file open for writing go to the name it was
  // opened under at its close. A rename meanwhile would leave them behind (within a
  // collection: the old name comes back with them, the new one lacks them) or, across
  // collections, put them into the source the move deletes.
  CopyWorld w;
  w.remote.AddFile(kTut, "/src/m", "old");
  w.remote.AddFile(kTut, "/src/d/f", "old");
  Ino src_dir = w.SrcDir();
  Ino dst = w.DstDir();
  auto file = w.fs->Lookup(src_dir, "m");
  REQUIRE(file.ok());
  auto h = w.fs->Open(file->attr.ino, O_WRONLY | O_APPEND);
  REQUIRE(h.ok());
  auto busy = [&](Ino from, const char* name, Ino to, const char* new_name) {
    auto r = w.fs->Rename(from, name, to, new_name, 0);
    return !r.ok() && Errno(r.error()) == EBUSY;
  };
  SECTION("open, nothing written yet: both kinds of mv, and a rename onto it") {
    CHECK(busy(src_dir, "m", dst, "m"));
    CHECK(busy(src_dir, "m", src_dir, "n"));
    w.remote.AddFile(kTut, "/src/other", "x");
    CHECK(busy(src_dir, "other", src_dir, "m"));
  }
  SECTION("written: EBUSY; closed (FLUSH, before RELEASE arrives): it moves with its bytes") {
    REQUIRE(w.fs->Write(h->fh, 0, "new").ok());
    CHECK(busy(src_dir, "m", dst, "m"));
    CHECK(busy(src_dir, "m", src_dir, "n"));
    REQUIRE(w.fs->Flush(h->fh).ok());  // close(2) returned; the kernel's RELEASE may lag
    REQUIRE(w.fs->Rename(src_dir, "m", src_dir, "n", 0).ok());
    w.fs->Release(h->fh);
    w.Finish();
    CHECK_FALSE(w.remote.Exists(kTut, "/src/m"));
    REQUIRE(w.remote.Exists(kTut, "/src/n"));
    CHECK(w.remote.Get(kTut, "/src/n")->content == "oldnew");
  }
  SECTION("a directory with a file open for writing below it") {
    w.fs->Release(h->fh);
    auto d = w.fs->Lookup(src_dir, "d");
    REQUIRE(d.ok());
    auto f = w.fs->Lookup(d->attr.ino, "f");
    REQUIRE(f.ok());
    auto fh = w.fs->Open(f->attr.ino, O_RDWR);
    REQUIRE(fh.ok());
    CHECK(busy(src_dir, "d", src_dir, "e"));
    CHECK(busy(src_dir, "d", dst, "d"));
    REQUIRE(w.fs->Flush(fh->fh).ok());
    w.fs->Release(fh->fh);
    CHECK(w.fs->Rename(src_dir, "d", src_dir, "e", 0).ok());
  }
  SECTION("a read-only open does not hold a rename") {
    w.fs->Release(h->fh);
    auto r = w.fs->Open(file->attr.ino, O_RDONLY);
    REQUIRE(r.ok());
    CHECK(w.fs->Rename(src_dir, "m", src_dir, "n", 0).ok());
    w.fs->Release(r->fh);
  }
}

}  // namespace
}  // namespace gf::fs::testing
