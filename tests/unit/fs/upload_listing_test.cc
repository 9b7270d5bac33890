// After an upload the parent's cached listing is edited in place (Superblock::AfterUpload),
// not dropped: `cp -r` of small files into a directory it made costs no Transfer stat or ls
// per file (issue 13, docs/PERFORMANCE.md), and the listing shows what was uploaded.
// FakeRemote + FakeClock; Transfer calls are counted by the FakeRemote.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>

#include "common/log.h"
#include "tests/unit/fs/fs_world.h"

namespace gf::fs::testing {
namespace {

constexpr const char* kGrexName = "UManitoba Grex HPC";
constexpr int kCreateFlags = O_WRONLY | O_CREAT | O_TRUNC;

struct UploadWorld : World {
  UploadWorld() {
    log::SetLevel(log::Level::kError);
    options.collections = {kGrex};
    remote.AddDir(kGrex, "/dst");
    Make();
  }
  Ino DstDir() { return Dir(std::string(kGrexName) + "/dst"); }
  // mkdir of a new directory under /dst (its listing, empty, is cached from then on).
  Ino MadeDir(const std::string& name) {
    auto made = fs->Mkdir(DstDir(), name, 0755);
    REQUIRE(made.ok());
    return made->attr.ino;
  }
  // cp of one new file: the lookup cp makes, create, write, close.
  void Cp(Ino dir, const std::string& name, const std::string& content) {
    auto miss = fs->Lookup(dir, name);
    REQUIRE_FALSE(miss.ok());
    CHECK(ErrnoFor(miss.error()) == ENOENT);
    auto c = fs->Create(dir, name, 0755, kCreateFlags);
    REQUIRE(c.ok());
    if (!content.empty()) REQUIRE(fs->Write(c->opened.fh, 0, content).ok());
    REQUIRE(fs->Flush(c->opened.fh).ok());
    fs->Release(c->opened.fh);
  }
  int TransferMetadataCalls() const { return remote.Calls("stat") + remote.Calls("ls"); }
  std::time_t WallSeconds() const { return std::chrono::system_clock::to_time_t(clock.WallNow()); }
};

TEST_CASE("cp -r of new files into a directory it made: no Transfer stat or ls after the mkdir",
          "[fs][upload][listing]") {
  UploadWorld w;
  const Ino dir = w.MadeDir("new");
  w.remote.ResetCalls();
  constexpr int kFiles = 25;
  for (int i = 0; i < kFiles; ++i) w.Cp(dir, "f" + std::to_string(i), Pattern(100 + i, i));
  CHECK(w.remote.Calls("put") == kFiles);
  CHECK(w.TransferMetadataCalls() == 0);
  // Each file's staging file was reused by the next (no create and unlink of a file per file,
  // and its origin in an xattr, not a second file: docs/PERFORMANCE.md): one spare is all that
  // is left.
  std::vector<std::string> staging;
  for (const auto& e : std::filesystem::directory_iterator(w.options.staging_dir))
    staging.push_back(e.path().filename().string());
  std::sort(staging.begin(), staging.end());
  CHECK(staging.size() == 1);
  for (const auto& name : staging) CHECK(name.find(".spare-") != std::string::npos);

  CollectingReplier rows;
  auto names = w.List(dir, false, &rows);
  REQUIRE(names.ok());
  CHECK(names->size() == kFiles);
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "f" + std::to_string(i);
    const auto* row = rows.Find(name);
    REQUIRE(row);
    CHECK(row->attr.size == static_cast<uint64_t>(100 + i));  // the uploaded size
    // No stat saw it: our time at the end of the PUT, whole seconds as Transfer lists them.
    CHECK(row->attr.mtime == w.WallSeconds());
    // A PUT cannot set a mode (create asked 0755): what the server gives a new file.
    CHECK(row->attr.mode == (S_IFREG | 0644));
    auto e = w.fs->Lookup(dir, name);
    REQUIRE(e.ok());
    CHECK(e->attr.size == static_cast<uint64_t>(100 + i));
  }
  CHECK(w.TransferMetadataCalls() == 0);
  // And it is what the server holds.
  CHECK(w.remote.Get(kGrex, "/dst/new/f3")->content == Pattern(103, 3));
}

TEST_CASE("background cp -r: an upload's end keeps the edited listing; no Transfer stat per file",
          "[fs][upload][listing][background]") {
  UploadWorld w;
  w.options.write_background = true;
  w.Make();
  auto made = w.fs->Mkdir(w.DstDir(), "new", 0755);
  REQUIRE(made.ok());
  const Ino dir = made->attr.ino;
  w.remote.ResetCalls();
  constexpr int kFiles = 6;
  for (int i = 0; i < kFiles; ++i) {
    w.Cp(dir, "f" + std::to_string(i), Pattern(50 + i, i));
    // The upload runs and its op ends (settles) before cp makes the next name.
    REQUIRE(Eventually([&] {
      w.engine->RunOnce();
      return w.engine->PendingUploads() == 0;
    }));
    w.engine->RunOnce();
  }
  CHECK(w.remote.Calls("put") == kFiles);
  CHECK(w.TransferMetadataCalls() == 0);
  CollectingReplier rows;
  REQUIRE(w.List(dir, false, &rows).ok());
  CHECK(w.TransferMetadataCalls() == 0);
  for (int i = 0; i < kFiles; ++i) {
    const auto* row = rows.Find("f" + std::to_string(i));
    REQUIRE(row);
    CHECK(row->attr.size == static_cast<uint64_t>(50 + i));
  }
  CHECK(w.remote.Get(kGrex, "/dst/new/f5")->content == Pattern(55, 5));
}

TEST_CASE("an empty file made at close (touch) is in the cached listing with size 0",
          "[fs][upload][listing]") {
  UploadWorld w;
  auto made = w.fs->Mkdir(w.DstDir(), "d", 0755);
  REQUIRE(made.ok());
  w.remote.ResetCalls();
  w.Cp(made->attr.ino, "empty", "");
  w.Cp(made->attr.ino, "next", "x");
  CHECK(w.remote.Calls("put") == 2);
  CHECK(w.TransferMetadataCalls() == 0);
  CollectingReplier rows;
  REQUIRE(w.List(made->attr.ino, false, &rows).ok());
  REQUIRE(rows.Find("empty"));
  CHECK(rows.Find("empty")->attr.size == 0);
  CHECK(rows.Find("next")->attr.size == 1);
  CHECK(w.TransferMetadataCalls() == 0);
}

TEST_CASE("a replaced file: the cached listing shows its new size, the server's mtime, its mode",
          "[fs][upload][listing]") {
  UploadWorld w;
  w.remote.SetRenameOntoExisting(gf::testing::FakeRemote::RenameOntoExisting::kReplace);
  w.remote.AddFile(kGrex, "/dst/a", "OLD CONTENT", 1500000000, 0600);
  w.remote.AddFile(kGrex, "/dst/b", "untouched", 1500000000, 0644);
  const Ino dir = w.DstDir();
  REQUIRE(w.List(dir).ok());  // the listing is cached
  auto a = w.fs->Lookup(dir, "a");
  REQUIRE(a.ok());
  CHECK(a->attr.size == 11);
  auto h = w.fs->Open(a->attr.ino, O_WRONLY | O_TRUNC);
  REQUIRE(h.ok());
  REQUIRE(w.fs->Write(h->fh, 0, "NEW").ok());
  w.remote.ResetCalls();
  REQUIRE(w.fs->Flush(h->fh).ok());
  w.fs->Release(h->fh);
  CHECK(w.remote.Calls("stat") == 1);  // of the temp name, by the uploader
  CHECK(w.remote.Calls("rename") == 1);
  CHECK(w.remote.Get(kGrex, "/dst/a")->content == "NEW");
  w.remote.ResetCalls();

  CollectingReplier rows;
  REQUIRE(w.List(dir, false, &rows).ok());
  CHECK(w.remote.Calls("ls") == 0);  // edited, not dropped
  REQUIRE(rows.Find("a"));
  CHECK(rows.Find("a")->attr.size == 3);
  // The stat of the temp name gave the server's mtime.
  CHECK(rows.Find("a")->attr.mtime == w.remote.Get(kGrex, "/dst/a")->mtime);
  CHECK(rows.Find("a")->attr.mode == (S_IFREG | 0600));  // the listed mode stays
  CHECK(rows.Find("b")->attr.size == 9);
  auto attr = w.fs->GetAttr(a->attr.ino);
  REQUIRE(attr.ok());
  CHECK(attr->attr.size == 3);
  CHECK(w.TransferMetadataCalls() == 0);
  // The kernel was told the file changed: its attributes. Its dentry stays: it names this very
  // inode, whose content (not identity) the upload changed.
  CHECK(std::count(w.notifier.inodes.begin(), w.notifier.inodes.end(), a->attr.ino) >= 1);
  CHECK(std::count(w.notifier.entries.begin(), w.notifier.entries.end(),
                   std::make_pair(dir, std::string("a"))) == 0);
}

TEST_CASE("after an upload the kernel keeps the writer's dentry, and drops the other names'",
          "[fs][upload][listing]") {
  UploadWorld w;
  w.remote.AddFile(kGrex, "/dst/a", "OLD", 1500000000, 0644);
  const Ino dir = w.DstDir();
  const Ino by_id = w.Dir(std::string(".by-id/") + kGrex + "/dst");
  REQUIRE(by_id != dir);
  auto a = w.fs->Lookup(dir, "a");
  auto other = w.fs->Lookup(by_id, "a");  // the same file under .by-id: another inode
  REQUIRE(a.ok());
  REQUIRE(other.ok());
  REQUIRE(other->attr.ino != a->attr.ino);
  auto h = w.fs->Open(a->attr.ino, O_WRONLY | O_TRUNC);
  REQUIRE(h.ok());
  REQUIRE(w.fs->Write(h->fh, 0, "NEW CONTENT").ok());
  w.notifier.inodes.clear();
  w.notifier.entries.clear();
  REQUIRE(w.fs->Flush(h->fh).ok());
  w.fs->Release(h->fh);
  auto count = [&](Ino parent) {
    return std::count(w.notifier.entries.begin(), w.notifier.entries.end(),
                      std::make_pair(parent, std::string("a")));
  };
  CHECK(count(dir) == 0);    // names the inode that was written
  CHECK(count(by_id) >= 1);  // names another inode: looked up again
  for (Ino ino : {a->attr.ino, other->attr.ino})
    CHECK(std::count(w.notifier.inodes.begin(), w.notifier.inodes.end(), ino) >= 1);
  auto seen = w.fs->GetAttr(other->attr.ino);
  REQUIRE(seen.ok());
  CHECK(seen->attr.size == 11);
}

TEST_CASE("no listing is made up: an uncached or expired listing is fetched after an upload",
          "[fs][upload][listing]") {
  UploadWorld w;
  const Ino dir = w.DstDir();
  SECTION("never listed") {}
  SECTION("listed, then expired before the upload") {
    REQUIRE(w.List(dir).ok());
    w.clock.Advance(std::chrono::seconds(61));  // dir_ttl 60
  }
  w.remote.AddFile(kGrex, "/dst/other", "made elsewhere");
  w.Cp(dir, "mine", "abc");
  w.remote.ResetCalls();
  CollectingReplier rows;
  auto names = w.List(dir, false, &rows);
  REQUIRE(names.ok());
  CHECK(w.remote.Calls("ls") == 1);
  CHECK(rows.Find("other"));  // the server's listing, not one made from our upload
  REQUIRE(rows.Find("mine"));
  CHECK(rows.Find("mine")->attr.size == 3);
}

TEST_CASE("a name that never became real leaves its directory's listing cached, without it",
          "[fs][upload][listing]") {
  UploadWorld w;
  const Ino dir = w.MadeDir("new");
  w.Cp(dir, "before", "abc");
  REQUIRE_FALSE(w.fs->Lookup(dir, "never").ok());
  SECTION("its upload failed") {
    // One file of a `cp -r` is refused: its close fails, and the name never became real.
    auto c = w.fs->Create(dir, "never", 0644, kCreateFlags);
    REQUIRE(c.ok());
    REQUIRE(w.fs->Write(c->opened.fh, 0, "no").ok());
    w.remote.FailNext("put", Error::Api(403, "EndpointPermissionDenied", "denied"));
    auto flushed = w.fs->Flush(c->opened.fh);
    REQUIRE_FALSE(flushed.ok());
    CHECK(ErrnoFor(flushed.error()) == EACCES);
    w.fs->Release(c->opened.fh);
  }
  SECTION("it was removed before any upload") {
    // mkstemp, then unlink while open (an editor's probe, a tool's temp): no remote call.
    auto c = w.fs->Create(dir, "never", 0600, O_RDWR | O_CREAT | O_EXCL);
    REQUIRE(c.ok());
    REQUIRE(w.fs->Write(c->opened.fh, 0, "scratch").ok());
    w.remote.ResetCalls();
    REQUIRE(w.fs->Unlink(dir, "never").ok());
    w.fs->Release(c->opened.fh);
    CHECK(w.remote.Calls("put") == 0);
    CHECK(w.remote.Calls("delete") == 0);
  }
  // The rest of the copy: each new name is answered from the cached listing, as before (a
  // dropped listing cost each of them a Transfer stat, at 20 requests/s).
  w.remote.ResetCalls();
  for (int i = 0; i < 5; ++i) w.Cp(dir, "after" + std::to_string(i), "xyz");
  CHECK(w.TransferMetadataCalls() == 0);
  auto gone = w.fs->Lookup(dir, "never");
  REQUIRE_FALSE(gone.ok());
  CHECK(ErrnoFor(gone.error()) == ENOENT);
  CollectingReplier rows;
  REQUIRE(w.List(dir, false, &rows).ok());
  CHECK(w.TransferMetadataCalls() == 0);  // still the cached listing
  CHECK(rows.Find("before"));
  CHECK_FALSE(rows.Find("never"));
  for (int i = 0; i < 5; ++i) CHECK(rows.Find("after" + std::to_string(i)));
}

}  // namespace
}  // namespace gf::fs::testing
