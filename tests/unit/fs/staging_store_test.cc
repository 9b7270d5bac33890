// StagingStore: layout and modes, sharing per key, the space and size limits (refused before any
// byte is written), fill from the remote, dirty tracking, and what the next mount finds.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "fs/write/staging_store.h"

using namespace gf;
using namespace gf::fs::write;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gf-staging-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

uint32_t Mode(const std::string& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::unique_ptr<StagingStore> OpenStore(const std::string& dir, uint64_t limit = 0,
                                        uint64_t max_upload = 0, bool xattrs = true) {
  auto s = StagingStore::Open({dir, limit, max_upload, xattrs});
  REQUIRE(s.ok());
  return std::move(*s);
}

// The origin noted on a staged data file ("" when none).
std::string OriginXattr(const std::string& path) {
  char buf[1024];
  const ssize_t n = ::getxattr(path.c_str(), "user.globus-fuse.origin", buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

std::string ReadAll(StagedFile& f) {
  auto size = f.Size();
  REQUIRE(size.ok());
  std::string out(*size, '\0');
  auto n = f.Read(0, out.data(), out.size());
  REQUIRE(n.ok());
  out.resize(*n);
  return out;
}

int Errno(const Status& s) { return s.ok() ? 0 : ErrnoFor(s.error()); }
template <class T>
int Errno(const Result<T>& r) {
  return r.ok() ? 0 : ErrnoFor(r.error());
}

const StageOrigin kOrigin{"coll-1", "/~/notes.txt"};

}  // namespace

TEST_CASE("staging directory is private and files are 0600", "[staging]") {
  TempDir t;
  const std::string dir = StagingDir(t.path + "/cache", "mount-a");
  auto store = OpenStore(dir);
  CHECK(Mode(dir) == 0700);
  auto f = store->Acquire(7, "op1", kOrigin);
  REQUIRE(f.ok());
  CHECK(Mode((*f)->data_path()) == 0600);
  // Where it belongs: on the data file itself (no second file to create, rename or lose).
  CHECK(OriginXattr((*f)->data_path()) == "coll-1\t/~/notes.txt\n");
  CHECK_FALSE(std::filesystem::exists(dir + "/op1.meta"));
  // Where the file system has no user xattrs: a .meta file beside it, 0600 too.
  auto plain = OpenStore(t.path + "/plain", 0, 0, /*xattrs=*/false);
  auto g = plain->Acquire(8, "op2", kOrigin);
  REQUIRE(g.ok());
  CHECK(Mode(t.path + "/plain/op2.meta") == 0600);
  CHECK(OriginXattr((*g)->data_path()).empty());
  g->reset();

  // A directory that exists with looser modes is tightened.
  const std::string loose = t.path + "/loose";
  REQUIRE(::mkdir(loose.c_str(), 0755) == 0);
  OpenStore(loose);
  CHECK(Mode(loose) == 0700);
}

TEST_CASE("one staged file per key, shared by every handle", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s");
  auto a = store->Acquire(7, "op1", kOrigin);
  auto b = store->Acquire(7, "op2", kOrigin);  // the same inode: the existing file
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->get() == b->get());
  REQUIRE((*a)->Write(0, "hello").ok());
  REQUIRE((*b)->Write(5, " world").ok());
  CHECK(ReadAll(**a) == "hello world");
  CHECK(store->Find(7) == *a);
  CHECK(store->Find(8) == nullptr);
  CHECK(Errno(store->Acquire(9, "../escape", kOrigin)) == EINVAL);
}

TEST_CASE("write_cache_limit: ENOSPC before any byte is written", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s", /*limit=*/10);
  auto a = *store->Acquire(1, "a", kOrigin);
  auto b = *store->Acquire(2, "b", kOrigin);
  REQUIRE(a->Write(0, "123456").ok());
  CHECK(store->used() == 6);
  // 6 + 5 > 10: refused whole, nothing of it kept, nothing counted.
  CHECK(Errno(b->Write(0, "abcde")) == ENOSPC);
  CHECK(*b->Size() == 0);
  CHECK(store->used() == 6);
  REQUIRE(b->Write(0, "abcd").ok());
  CHECK(store->used() == 10);
  // Overwriting inside the file needs no new space; growing does.
  REQUIRE(a->Write(0, "XX").ok());
  CHECK(Errno(a->Write(6, "!")) == ENOSPC);
  CHECK(Errno(a->Truncate(20)) == ENOSPC);
  // Shrinking and discarding give space back.
  REQUIRE(a->Truncate(1).ok());
  CHECK(store->used() == 5);
  store->Discard(2);
  b.reset();
  CHECK(store->used() == 1);
  CHECK_FALSE(std::filesystem::exists(t.path + "/s/b.data"));
}

TEST_CASE("a discarded file stays usable by its holders and counts until released", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s", 100);
  auto f = *store->Acquire(1, "a", kOrigin);
  REQUIRE(f->Write(0, "data").ok());
  store->Discard(1);
  CHECK(store->Find(1) == nullptr);
  CHECK(ReadAll(*f) == "data");
  CHECK(store->used() == 4);
  f.reset();
  CHECK(store->used() == 0);
}

TEST_CASE("max_upload_size: the write that passes it fails at once with EFBIG", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s", 0, /*max_upload=*/8);
  auto f = *store->Acquire(1, "a", kOrigin);
  REQUIRE(f->Write(0, "12345678").ok());  // exactly the limit is fine
  CHECK(Errno(f->Write(8, "9")) == EFBIG);
  CHECK(Errno(f->Write(100, "x")) == EFBIG);
  CHECK(Errno(f->Truncate(9)) == EFBIG);
  CHECK(*f->Size() == 8);
  CHECK(store->used() == 8);
}

TEST_CASE("fill from the remote before the first change, once", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s", 100);
  int fills = 0;
  FillFn fill = [&](const FillSink& put) -> Result<uint64_t> {
    ++fills;
    GF_TRY_STATUS(put(5, "world"));  // any order
    GF_TRY_STATUS(put(0, "hello"));
    return uint64_t{10};
  };
  auto f = *store->Acquire(1, "a", kOrigin, fill);
  CHECK_FALSE(f->filled());
  CHECK(fills == 0);                // lazily: an open that never writes downloads nothing
  REQUIRE(f->Write(10, "!").ok());  // O_APPEND-like
  CHECK(fills == 1);
  CHECK(ReadAll(*f) == "helloworld!");
  REQUIRE(f->Write(0, "J").ok());
  CHECK(fills == 1);
  CHECK(ReadAll(*f) == "Jelloworld!");
  CHECK(store->used() == 11);
}

TEST_CASE("fill: failures leave nothing that looks like the remote content", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s", 100, 50);
  int calls = 0;
  FillFn flaky = [&](const FillSink& put) -> Result<uint64_t> {
    ++calls;
    GF_TRY_STATUS(put(0, "abc"));
    if (calls == 1) return Error::Transport(TransportFailure::kReset, "reset");
    if (calls == 2) return uint64_t{6};  // claims 6 bytes, delivered 3
    return uint64_t{3};
  };
  auto f = *store->Acquire(1, "a", kOrigin, flaky);
  CHECK(Errno(f->Write(0, "x")) == EIO);
  CHECK(store->used() == 0);
  CHECK(Errno(f->Write(0, "x")) == EIO);  // incomplete content is refused too
  CHECK(store->used() == 0);
  REQUIRE(f->Write(0, "x").ok());
  CHECK(ReadAll(*f) == "xbc");

  // A remote file over max_upload_size is refused before it is downloaded whole.
  FillFn huge = [](const FillSink& put) -> Result<uint64_t> {
    GF_TRY_STATUS(put(0, std::string(60, 'z')));
    return uint64_t{60};
  };
  auto g = *store->Acquire(2, "b", kOrigin, huge);
  CHECK(Errno(g->Write(0, "x")) == EFBIG);
  // Truncating to 0 (O_TRUNC) needs no fill at all.
  REQUIRE(g->Truncate(0).ok());
  REQUIRE(g->Write(0, "y").ok());
  CHECK(ReadAll(*g) == "y");
}

TEST_CASE("dirty tracking: a write during an upload keeps the file dirty", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s");
  auto f = *store->Acquire(1, "a", kOrigin);
  CHECK_FALSE(f->state().dirty);
  REQUIRE(f->Write(0, "v1").ok());
  auto snap = f->state();
  CHECK(snap.dirty);
  REQUIRE(f->Write(0, "v2").ok());  // while "uploading" v1
  CHECK_FALSE(f->MarkClean(snap.generation));
  CHECK(f->state().dirty);
  CHECK(f->MarkClean(f->state().generation));
  CHECK_FALSE(f->state().dirty);
  REQUIRE(f->MarkDirty().ok());  // a new empty file still needs its upload
  CHECK(f->state().dirty);
}

TEST_CASE("leftovers: the next mount finds them and where they belonged", "[staging]") {
  TempDir t;
  const std::string dir = t.path + "/s";
  bool xattrs = true;
  SECTION("origin in an xattr") {}
  SECTION("origin in a .meta file") { xattrs = false; }
  {
    auto store = OpenStore(dir, 0, 0, xattrs);
    auto f = *store->Acquire(1, "op7", kOrigin);
    REQUIRE(f->Write(0, "unsaved").ok());
    REQUIRE(f->SetOrigin({"coll-1", "/~/renamed.txt"}).ok());
    // The daemon dies here: nothing is discarded (closing a store never deletes data).
    f.reset();
  }
  auto store = OpenStore(dir, /*limit=*/5, 0, xattrs);
  auto left = store->Leftovers();
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == "op7");
  CHECK(left[0].size == 7);
  CHECK(left[0].origin.collection == "coll-1");
  CHECK(left[0].origin.path == "/~/renamed.txt");
  CHECK(store->used() == 0);
  // Adopting counts its bytes: it must fit.
  CHECK(Errno(store->Adopt(3, "op7")) == ENOSPC);
  REQUIRE(store->RemoveLeftover("op7").ok());
  CHECK(store->Leftovers().empty());
  CHECK_FALSE(std::filesystem::exists(dir + "/op7.data"));
  CHECK_FALSE(std::filesystem::exists(dir + "/op7.meta"));
}

TEST_CASE("adopted leftovers are dirty and readable", "[staging]") {
  TempDir t;
  const std::string dir = t.path + "/s";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  std::ofstream(dir + "/op9.data") << "journaled upload";
  std::ofstream(dir + "/junk.txt") << "not ours";
  auto store = OpenStore(dir, 100);
  REQUIRE(store->Leftovers().size() == 1);
  auto f = store->Adopt(4, "op9");
  REQUIRE(f.ok());
  CHECK((*f)->state().dirty);
  CHECK(ReadAll(**f) == "journaled upload");
  CHECK(store->used() == 16);
  CHECK(store->Leftovers().empty());
}

TEST_CASE("concurrent writers never pass the limit", "[staging]") {
  TempDir t;
  auto store = OpenStore(t.path + "/s", /*limit=*/1000);
  std::vector<std::shared_ptr<StagedFile>> files;
  for (uint64_t k = 0; k < 4; ++k)
    files.push_back(*store->Acquire(k, "f" + std::to_string(k), kOrigin));
  std::atomic<uint64_t> accepted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (uint64_t off = 0; off < 400; off += 10)
        if (files[i]->Write(off, std::string(10, 'a')).ok()) accepted += 10;
    });
  for (auto& th : threads) th.join();
  CHECK(accepted.load() == 1000);
  CHECK(store->used() == 1000);
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> SpareNames(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(".spare-") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

TEST_CASE(
    "spares: a discarded file nobody holds is reused under the next id, none of its old "
    "bytes seen",
    "[staging]") {
  TempDir t;
  const std::string dir = t.path + "/s";
  auto ino = [](const std::string& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_ino;
  };
  bool xattrs = true;
  SECTION("origin in an xattr") {}
  SECTION("origin in a .meta file") { xattrs = false; }
  auto store = OpenStore(dir, 0, 0, xattrs);
  {
    auto a = *store->Acquire(1, "a", kOrigin);
    REQUIRE(a->Write(0, "old bytes").ok());
  }
  const auto data_ino = ino(dir + "/a.data");
  store->Discard(1);
  CHECK_FALSE(std::filesystem::exists(dir + "/a.data"));
  CHECK_FALSE(std::filesystem::exists(dir + "/a.meta"));
  CHECK(store->spares() == 1);
  // A small spare keeps its bytes (and blocks) under the spare's name.
  REQUIRE(SpareNames(dir).size() == 1);
  CHECK(FileBytes(SpareNames(dir)[0]) == "old bytes");
  auto b = *store->Acquire(2, "b", StageOrigin{"other", "/x/y"});
  CHECK(store->spares() == 0);
  // Unclaimed until its content changes: no name of b's yet, and nothing of a's to read.
  CHECK_FALSE(std::filesystem::exists(dir + "/b.data"));
  CHECK(*b->Size() == 0);
  CHECK(ReadAll(*b).empty());
  // A first write that replaces every old byte: written, then named (the same inode: no file
  // created, docs/PERFORMANCE.md).
  REQUIRE(b->Write(0, "new bytes!").ok());
  CHECK(ino(dir + "/b.data") == data_ino);
  CHECK(ReadAll(*b) == "new bytes!");
  CHECK(FileBytes(dir + "/b.data") == "new bytes!");
  CHECK(Mode(dir + "/b.data") == 0600);
  CHECK(SpareNames(dir).empty());
  if (xattrs) {
    CHECK(OriginXattr(dir + "/b.data") == "other\t/x/y\n");
    CHECK_FALSE(std::filesystem::exists(dir + "/b.meta"));
  } else {
    std::ifstream meta(dir + "/b.meta");
    std::string line;
    REQUIRE(std::getline(meta, line));
    CHECK(line == "other\t/x/y");
  }

  // A discarded file still held (an open handle reads it) is never reused.
  store->Discard(2);  // b is held here
  CHECK(store->spares() == 0);
  CHECK(ReadAll(*b) == "new bytes!");
  auto c = *store->Acquire(3, "c", kOrigin);
  REQUIRE(c->Write(0, "c").ok());
  CHECK(ino(dir + "/c.data") != data_ino);
  CHECK(ReadAll(*b) == "new bytes!");

  // The pool is bounded; spares are not leftovers, and the next mount removes them.
  for (uint64_t k = 10; k < 10 + StagingStore::kMaxSpares + 3; ++k) {
    auto f = store->Acquire(k, "k" + std::to_string(k), kOrigin);
    REQUIRE(f.ok());
    REQUIRE((*f)->Write(0, "spare bytes").ok());
  }
  for (uint64_t k = 10; k < 10 + StagingStore::kMaxSpares + 3; ++k) store->Discard(k);
  CHECK(store->spares() == StagingStore::kMaxSpares);
  b.reset();  // staged files go before their store (as in WriteOps: they call into it)
  c.reset();
  store.reset();
  auto again = OpenStore(dir, 0, 0, xattrs);
  REQUIRE(again->Leftovers().size() == 1);  // c: never discarded
  CHECK(again->Leftovers()[0].id == "c");
  CHECK(again->Leftovers()[0].origin.path == kOrigin.path);
  CHECK(SpareNames(dir).empty());
}

TEST_CASE("spares: every first change that does not overwrite the old bytes truncates them",
          "[staging]") {
  TempDir t;
  const std::string dir = t.path + "/s";
  auto store = OpenStore(dir);
  auto recycle = [&](uint64_t key) {
    auto f = *store->Acquire(key, "old" + std::to_string(key), kOrigin);
    REQUIRE(f->Write(0, "0123456789").ok());
    f.reset();
    store->Discard(key);
    REQUIRE(store->spares() == 1);
  };
  recycle(1);
  SECTION("a shorter write at 0") {
    auto f = *store->Acquire(2, "n", kOrigin);
    REQUIRE(f->Write(0, "ab").ok());
    CHECK(ReadAll(*f) == "ab");
    CHECK(FileBytes(dir + "/n.data") == "ab");
  }
  SECTION("a write further in") {
    auto f = *store->Acquire(2, "n", kOrigin);
    REQUIRE(f->Write(4, "xyz").ok());
    CHECK(ReadAll(*f) == std::string(4, '\0') + "xyz");
    CHECK(FileBytes(dir + "/n.data") == std::string(4, '\0') + "xyz");
  }
  SECTION("a truncate, up or down") {
    auto f = *store->Acquire(2, "n", kOrigin);
    REQUIRE(f->Truncate(3).ok());
    CHECK(ReadAll(*f) == std::string(3, '\0'));
    CHECK(FileBytes(dir + "/n.data") == std::string(3, '\0'));
  }
  SECTION("a new empty file to upload") {
    auto f = *store->Acquire(2, "n", kOrigin);
    REQUIRE(f->MarkDirty().ok());
    CHECK(std::filesystem::exists(dir + "/n.data"));
    CHECK(FileBytes(dir + "/n.data").empty());
  }
  SECTION("a claim for a journal record (an empty file's upload op), before any change") {
    auto f = *store->Acquire(2, "n", kOrigin);
    REQUIRE(f->Claim().ok());
    CHECK(FileBytes(dir + "/n.data").empty());
    CHECK(OriginXattr(dir + "/n.data") == "coll-1\t/~/notes.txt\n");
    f.reset();
    store.reset();  // the process died: the file the record names is there for the next mount
    auto again = OpenStore(dir);
    REQUIRE(again->Leftovers().size() == 1);
    CHECK(again->Leftovers()[0].id == "n");
    CHECK(again->Leftovers()[0].size == 0);
  }
  SECTION("discarded again before any change: back to the pool, or gone") {
    auto f = *store->Acquire(2, "n", kOrigin);
    auto g = *store->Acquire(3, "g", kOrigin);  // no spare left: a new file
    g.reset();
    f.reset();
    store->Discard(3);  // g's file becomes the spare
    store->Discard(2);  // the pool has room: the unclaimed spare goes back as it was
    CHECK(store->spares() == 2);
    CHECK(SpareNames(dir).size() == 2);
    CHECK_FALSE(std::filesystem::exists(dir + "/n.data"));
  }
  SECTION("a fill from the remote file") {
    auto f = *store->Acquire(2, "n", kOrigin, [](const FillSink& put) -> Result<uint64_t> {
      GF_TRY_STATUS(put(0, "remote"));
      return uint64_t{6};
    });
    CHECK(ReadAll(*f) == "remote");
    CHECK(FileBytes(dir + "/n.data") == "remote");
  }
  SECTION("a crash before any change: nothing is kept, the old bytes go") {
    auto f = *store->Acquire(2, "n", kOrigin);
    f.reset();
    store.reset();  // no Discard: the process died
    auto again = OpenStore(dir);
    CHECK(again->Leftovers().empty());
    CHECK(SpareNames(dir).empty());
    CHECK_FALSE(std::filesystem::exists(dir + "/n.data"));
  }
  if (store) CHECK(SpareNames(dir).size() == store->spares());  // none taken and kept aside
}

TEST_CASE("spares: a large discarded file is truncated before it waits as a spare", "[staging]") {
  TempDir t;
  const std::string dir = t.path + "/s";
  auto store = OpenStore(dir);
  {
    auto f = *store->Acquire(1, "big", kOrigin);
    REQUIRE(f->Write(0, std::string(StagingStore::kKeepSpareBytes + 1, 'x')).ok());
  }
  store->Discard(1);
  REQUIRE(store->spares() == 1);
  REQUIRE(SpareNames(dir).size() == 1);
  CHECK(std::filesystem::file_size(SpareNames(dir)[0]) == 0);
}

TEST_CASE("Detach frees the key at once; Recycle makes the file system calls afterwards",
          "[staging]") {
  TempDir t;
  const std::string dir = t.path + "/s";
  auto store = OpenStore(dir);
  {
    auto a = *store->Acquire(1, "a", kOrigin);
    REQUIRE(a->Write(0, "bytes").ok());
  }
  auto detached = store->Detach(1);
  REQUIRE(detached);
  CHECK(store->Find(1) == nullptr);                 // the key is free: a new open stages a new file
  CHECK(std::filesystem::exists(dir + "/a.data"));  // nothing on disk changed yet
  auto next = *store->Acquire(1, "n", kOrigin);
  CHECK(next->id() == "n");
  store->Recycle(std::move(detached));
  CHECK_FALSE(std::filesystem::exists(dir + "/a.data"));
  CHECK_FALSE(std::filesystem::exists(dir + "/a.meta"));
  CHECK(store->spares() == 1);
  CHECK(store->Find(1) == next);  // the new file of the key is untouched
  REQUIRE(next->Write(0, "new").ok());
  CHECK(ReadAll(*next) == "new");
  store->Recycle(nullptr);  // nothing detached: nothing happens
  CHECK(store->Detach(99) == nullptr);
  next.reset();
}
