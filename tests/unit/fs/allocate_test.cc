// fallocate(2) on files written through the mount (WriteOps::Allocate): without flags a file
// grows to the range's end (zeros, uploaded at close like a write); FALLOC_FL_KEEP_SIZE only
// checks the limits (`rsync --preallocate`); other flags are refused with nothing changed.
// FakeRemote + FakeClock, no sleeps.
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <string>

#include "common/log.h"
#include "tests/unit/fs/fs_world.h"

namespace gf::fs::testing {
namespace {

constexpr const char* kGrexName = "UManitoba Grex HPC";

struct AllocWorld : World {
  explicit AllocWorld(uint64_t max_upload = 1ull << 30, uint64_t cache_limit = 10ull << 30) {
    log::SetLevel(log::Level::kError);
    options.collections = {kGrex};
    options.max_upload_size = max_upload;
    options.write_cache_limit = cache_limit;
    remote.AddDir(kGrex, "/dst");
    remote.AddFile(kGrex, "/dst/old", "OLD");
    Make();
  }
  Ino DstDir() { return Dir(std::string(kGrexName) + "/dst"); }
  uint64_t CreateNew(const std::string& name) {
    auto h = fs->Create(DstDir(), name, 0644, O_WRONLY | O_CREAT | O_EXCL);
    REQUIRE(h.ok());
    return h->opened.fh;
  }
  uint64_t OpenExisting(const std::string& name) {
    auto e = fs->Lookup(DstDir(), name);
    REQUIRE(e.ok());
    auto h = fs->Open(e->attr.ino, O_WRONLY);
    REQUIRE(h.ok());
    return h->fh;
  }
  void Close(uint64_t fh) {
    REQUIRE(fs->Flush(fh).ok());
    fs->Release(fh);
  }
  std::string Remote(const std::string& name) {
    auto f = remote.Get(kGrex, "/dst/" + name);
    REQUIRE(f);
    return f->content;
  }
};

TEST_CASE("fallocate: a new file grows to the range's end, zeros, uploaded at close",
          "[fs][upload][fallocate]") {
  AllocWorld w;
  const uint64_t fh = w.CreateNew("big");
  REQUIRE(w.fs->Allocate(fh, 0, 0, 4096).ok());
  REQUIRE(w.fs->Write(fh, 10, "mid").ok());
  w.Close(fh);
  CHECK(w.remote.Calls("put") == 1);
  std::string expect(4096, '\0');
  expect.replace(10, 3, "mid");
  CHECK(w.Remote("big") == expect);
}

TEST_CASE("fallocate: an existing file keeps its bytes and gains zeros; inside it, nothing",
          "[fs][upload][fallocate]") {
  AllocWorld w;
  SECTION("past the end: grows") {
    const uint64_t fh = w.OpenExisting("old");
    REQUIRE(w.fs->Allocate(fh, 0, 2, 4).ok());
    w.Close(fh);
    CHECK(w.Remote("old") == std::string("OLD\0\0\0", 6));
  }
  SECTION("within the file: no change, no upload") {
    const uint64_t fh = w.OpenExisting("old");
    w.remote.ResetCalls();
    REQUIRE(w.fs->Allocate(fh, 0, 0, 2).ok());
    w.Close(fh);
    CHECK(w.remote.Calls("put") == 0);
    CHECK(w.Remote("old") == "OLD");
  }
}

TEST_CASE("fallocate: FALLOC_FL_KEEP_SIZE checks the limits and changes nothing",
          "[fs][upload][fallocate]") {
  AllocWorld w(/*max_upload=*/1000, /*cache_limit=*/500);
  SECTION("then written (rsync --preallocate): the written bytes, not the range") {
    const uint64_t fh = w.CreateNew("pre");
    REQUIRE(w.fs->Allocate(fh, FALLOC_FL_KEEP_SIZE, 0, 400).ok());
    REQUIRE(w.fs->Write(fh, 0, "abc").ok());
    w.Close(fh);
    CHECK(w.Remote("pre") == "abc");
  }
  SECTION("closed unwritten: still made, empty") {
    const uint64_t fh = w.CreateNew("empty");
    REQUIRE(w.fs->Allocate(fh, FALLOC_FL_KEEP_SIZE, 0, 400).ok());
    w.Close(fh);
    CHECK(w.Remote("empty").empty());
  }
  SECTION("past max_upload_size: EFBIG; past write_cache_limit: ENOSPC") {
    const uint64_t fh = w.CreateNew("limits");
    auto big = w.fs->Allocate(fh, FALLOC_FL_KEEP_SIZE, 0, 1001);
    REQUIRE_FALSE(big.ok());
    CHECK(ErrnoFor(big.error()) == EFBIG);
    auto full = w.fs->Allocate(fh, FALLOC_FL_KEEP_SIZE, 0, 600);
    REQUIRE_FALSE(full.ok());
    CHECK(ErrnoFor(full.error()) == ENOSPC);
    w.Close(fh);
  }
}

TEST_CASE("fallocate: the limits and the other flags refuse with nothing changed",
          "[fs][upload][fallocate]") {
  AllocWorld w(/*max_upload=*/1000, /*cache_limit=*/500);
  const uint64_t fh = w.CreateNew("f");
  REQUIRE(w.fs->Write(fh, 0, "keep").ok());
  auto big = w.fs->Allocate(fh, 0, 0, 1001);
  REQUIRE_FALSE(big.ok());
  CHECK(ErrnoFor(big.error()) == EFBIG);
  auto full = w.fs->Allocate(fh, 0, 0, 600);
  REQUIRE_FALSE(full.ok());
  CHECK(ErrnoFor(full.error()) == ENOSPC);
  for (int mode : {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE,
                   FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE}) {
    auto r = w.fs->Allocate(fh, mode, 0, 2);
    REQUIRE_FALSE(r.ok());
    CHECK(ErrnoFor(r.error()) == EOPNOTSUPP);
  }
  auto past = w.fs->Allocate(fh, 0, UINT64_MAX - 1, 2);
  REQUIRE_FALSE(past.ok());
  CHECK(ErrnoFor(past.error()) == EFBIG);
  w.Close(fh);
  CHECK(w.Remote("f") == "keep");
}

TEST_CASE("fallocate: a file opened for reading is refused (EOPNOTSUPP)", "[fs][fallocate]") {
  AllocWorld w;
  auto e = w.fs->Lookup(w.DstDir(), "old");
  REQUIRE(e.ok());
  auto h = w.fs->Open(e->attr.ino, O_RDONLY);
  REQUIRE(h.ok());
  auto r = w.fs->Allocate(h->fh, 0, 0, 10);
  REQUIRE_FALSE(r.ok());
  CHECK(ErrnoFor(r.error()) == EOPNOTSUPP);
  w.fs->Release(h->fh);
}

}  // namespace
}  // namespace gf::fs::testing
