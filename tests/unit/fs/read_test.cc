// Reads: sequential prefetch, random reads, Range-ignoring servers, remote change, memory bound.
#include <fcntl.h>

#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "fs_world.h"

using namespace gf::fs;
using namespace gf::fs::testing;

namespace {
int Errno(const gf::Error& e) { return gf::ErrnoFor(e); }

// Adds /name (holding `content`) to the tutorial collection, makes the filesystem without
// workers (parts are fetched inline, in order: deterministic) and opens the file.
uint64_t MakeAndOpen(World& w, const std::string& name, const std::string& content) {
  w.remote.AddFile(kTut, "/" + name, content);
  auto& fs = w.Make(/*start=*/false);
  auto f = w.Walk("Globus Tutorial Collection 1/" + name);
  REQUIRE(f.ok());
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  return o->fh;
}
}  // namespace

TEST_CASE("sequential reads prefetch with a growing window", "[fs][read]") {
  World w;
  w.options.readahead_max = 8 << 20;
  const std::string content = Pattern(16 << 20);
  w.remote.AddFile(kTut, "/big.bin", content);
  w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/big.bin");
  REQUIRE(f.ok());
  CHECK(f->attr.size == content.size());
  w.remote.ResetCalls();
  auto data = w.ReadAll(f->attr.ino, 128 << 10);  // the kernel's usual read size
  REQUIRE(data.ok());
  CHECK(*data == content);
  // 128 reads of 128 KiB became far fewer, larger range requests, and no byte twice.
  int gets = w.remote.Calls("get");
  CHECK(gets >= 4);
  CHECK(gets <= 40);
  CHECK(w.remote.BytesServed() == content.size());
  CHECK(w.fs->memory().used() == 0);  // everything released at close
}

TEST_CASE("the first request is the initial window, later ones are larger", "[fs][read]") {
  World w;
  w.options.readahead_max = 8 << 20;
  w.options.read_parallelism = 1;  // one part per window: request sizes = window sizes
  const std::string content = Pattern(12 << 20);
  w.remote.AddFile(kTut, "/f", content);
  auto& fs = w.Make(/*start=*/false);  // no workers: parts are fetched inline, in order
  auto f = w.Walk("Globus Tutorial Collection 1/f");
  REQUIRE(f.ok());
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  uint64_t before = w.remote.BytesServed();
  auto r = fs.Read(o->fh, 0, 128 << 10);
  REQUIRE(r.ok());
  CHECK(w.remote.BytesServed() - before == ReadOptions::kInitialWindow);
  uint64_t served = w.remote.BytesServed();
  uint64_t off = 128 << 10;
  while (w.remote.BytesServed() == served) {
    auto n = fs.Read(o->fh, off, 128 << 10);
    REQUIRE(n.ok());
    REQUIRE(n->ToString() == content.substr(off, 128 << 10));
    off += 128 << 10;
  }
  CHECK(w.remote.BytesServed() - served == 2 * ReadOptions::kInitialWindow);  // doubled
  fs.Release(o->fh);
}

TEST_CASE("random reads fetch only what they need", "[fs][read]") {
  World w;
  const std::string content = Pattern(32 << 20);
  w.remote.AddFile(kTut, "/r", content);
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/r");
  REQUIRE(f.ok());
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  uint64_t offsets[] = {20u << 20, 3u << 20, 30u << 20, 7u << 20, 11u << 20};
  for (uint64_t off : offsets) {
    auto r = fs.Read(o->fh, off + 100, 4096);
    REQUIRE(r.ok());
    CHECK(r->ToString() == content.substr(off + 100, 4096));
  }
  fs.Release(o->fh);
  CHECK(w.remote.Calls("get") == 5);
  CHECK(w.remote.BytesServed() <= 5 * (64u << 10));  // one aligned 64 KiB block each
}

TEST_CASE("reads past EOF are short or empty", "[fs][read]") {
  World w;
  w.remote.AddFile(kTut, "/small", "0123456789");
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/small");
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  CHECK(fs.Read(o->fh, 5, 100)->ToString() == "56789");
  CHECK(fs.Read(o->fh, 10, 100)->empty());
  CHECK(fs.Read(o->fh, 1000, 100)->empty());
  fs.Release(o->fh);
}

TEST_CASE("a server that ignores Range still reads correctly", "[fs][read]") {
  World w;
  w.options.readahead_max = 2 << 20;
  const std::string content = Pattern(6 << 20, 3);
  w.remote.AddFile(kTut, "/ign", content);
  w.remote.SetIgnoreRange(true);
  w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/ign");
  REQUIRE(f.ok());
  auto data = w.ReadAll(f->attr.ino, 128 << 10);
  REQUIRE(data.ok());
  CHECK(*data == content);
}

TEST_CASE("a file changed remotely during a read fails with ESTALE", "[fs][read]") {
  World w;
  w.options.readahead_max = 256 << 10;
  const std::string content = Pattern(4 << 20);
  w.remote.AddFile(kTut, "/chg", content);
  auto& fs = w.Make();
  RecordingNotifier& notes = w.notifier;  // what the core tells the kernel
  auto f = w.Walk("Globus Tutorial Collection 1/chg");
  REQUIRE(f.ok());
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  auto first = fs.Read(o->fh, 0, 128 << 10);
  REQUIRE(first.ok());
  w.remote.AddFile(kTut, "/chg", Pattern(5 << 20, 9));  // replaced with other bytes
  gf::Result<ReadData> r = ReadData();
  for (uint64_t off = 128 << 10; off < content.size() && r.ok(); off += 128 << 10)
    r = fs.Read(o->fh, off, 128 << 10);
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == ESTALE);
  CHECK(Errno(fs.Read(o->fh, 0, 10).error()) == ESTALE);  // the handle stays stale
  fs.Release(o->fh);
  CHECK(std::count(notes.inodes.begin(), notes.inodes.end(), f->attr.ino) >= 1);
  // A new open sees the new file.
  auto attr = fs.GetAttr(f->attr.ino);
  REQUIRE(attr.ok());
  CHECK(attr->attr.size == (5u << 20));
}

TEST_CASE("read-ahead respects the memory limit", "[fs][read]") {
  World w;
  w.options.readahead_max = 64 << 20;
  w.options.read_memory_limit = 1 << 20;
  const std::string content = Pattern(8 << 20);
  w.remote.AddFile(kTut, "/m", content);
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/m");
  REQUIRE(f.ok());
  auto data = w.ReadAll(f->attr.ino, 128 << 10);
  REQUIRE(data.ok());
  CHECK(*data == content);
  CHECK(fs.memory().peak() <= (1u << 20) + (128u << 10));
  CHECK(fs.memory().refusals() > 0);  // back-pressure happened
  CHECK(fs.memory().used() == 0);
}

TEST_CASE("page cache is kept across opens while size and mtime are unchanged", "[fs][read]") {
  World w;
  w.remote.AddFile(kTut, "/k", "abc");
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/k");
  auto o1 = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o1.ok());
  CHECK_FALSE(o1->keep_cache);
  CHECK_FALSE(o1->direct_io);
  fs.Release(o1->fh);
  auto o2 = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o2.ok());
  CHECK(o2->keep_cache);
  fs.Release(o2->fh);
  w.remote.AddFile(kTut, "/k", "abcd", 1700000000);
  w.clock.Advance(std::chrono::seconds(61));
  auto o3 = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o3.ok());
  CHECK_FALSE(o3->keep_cache);
  fs.Release(o3->fh);
  auto w_only = fs.Open(f->attr.ino, O_WRONLY);  // no O_TRUNC: the write edits the content
  REQUIRE(w_only.ok());
  CHECK(*fs.Write(w_only->fh, 0, "X") == 1);
  REQUIRE(fs.Flush(w_only->fh).ok());
  fs.Release(w_only->fh);
  CHECK(w.remote.Get(kTut, "/k")->content == "Xbcd");
}

TEST_CASE("a collection without HTTPS lists but cannot be read", "[fs][read]") {
  World w;
  w.options.collections = {kLaptop};
  w.remote.AddFile(kLaptop, "/notes.txt", "secret");
  auto& fs = w.Make();
  auto f = w.Walk("My Laptop/notes.txt");
  REQUIRE(f.ok());
  CHECK(f->attr.size == 6);
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE_FALSE(o.ok());
  CHECK(Errno(o.error()) == EOPNOTSUPP);
  CHECK(w.remote.Calls("get") == 0);
}

TEST_CASE("read errors surface as errno and a retry refetches", "[fs][read]") {
  World w;
  w.remote.AddFile(kTut, "/e", "hello world");
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/e");
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  w.remote.FailNext("get", gf::Error::Transport(gf::TransportFailure::kReset, "reset"));
  auto r = fs.Read(o->fh, 0, 5);
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EIO);
  auto again = fs.Read(o->fh, 0, 5);
  REQUIRE(again.ok());
  CHECK(again->ToString() == "hello");
  fs.Release(o->fh);
}

// The kernel's async readahead (FUSE_CAP_ASYNC_READ) sends several reads at once; they reach
// the filesystem out of order. They are one sequential stream, not a series of seeks.
TEST_CASE("out-of-order readahead requests are one sequential stream", "[fs][read]") {
  World w;
  w.options.readahead_max = 8 << 20;
  w.options.read_parallelism = 1;
  const std::string content = Pattern(16 << 20, 5);
  w.remote.AddFile(kTut, "/ooo", content);
  auto& fs = w.Make(/*start=*/false);  // parts fetched inline: deterministic
  auto f = w.Walk("Globus Tutorial Collection 1/ooo");
  REQUIRE(f.ok());
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  w.remote.ResetCalls();
  const uint64_t mib = 1 << 20;
  // Pairs swapped: 1M, 0, 3M, 2M, ... (the higher request of each pair arrives first).
  for (uint64_t pair = 0; pair < 8; ++pair) {
    for (uint64_t off : {(2 * pair + 1) * mib, 2 * pair * mib}) {
      auto r = fs.Read(o->fh, off, mib);
      REQUIRE(r.ok());
      REQUIRE(r->ToString() == content.substr(off, mib));
    }
  }
  fs.Release(o->fh);
  // Each byte fetched once, in growing windows (16 seeks would be 16 GETs of 1 MiB).
  CHECK(w.remote.BytesServed() == content.size());
  CHECK(w.remote.Calls("get") <= 8);
  CHECK(fs.memory().used() == 0);
}

TEST_CASE("a read lagging behind the stream is served alone and keeps the stream", "[fs][read]") {
  World w;
  w.options.readahead_max = 4 << 20;
  w.options.read_parallelism = 1;
  const std::string content = Pattern(12 << 20, 6);
  const uint64_t fh = MakeAndOpen(w, "lag", content);
  auto& fs = *w.fs;
  const uint64_t chunk = 128 << 10;
  uint64_t off = 0;
  for (; off < (6u << 20); off += chunk)
    REQUIRE(fs.Read(fh, off, chunk)->ToString() == content.substr(off, chunk));
  uint64_t served = w.remote.BytesServed();
  int gets = w.remote.Calls("get");
  // A re-read of bytes already delivered (and let go): fetched on its own, 64 KiB-aligned.
  auto back = fs.Read(fh, (2u << 20) + 100, 4096);
  REQUIRE(back.ok());
  CHECK(back->ToString() == content.substr((2u << 20) + 100, 4096));
  CHECK(w.remote.BytesServed() - served == (64u << 10));
  CHECK(w.remote.Calls("get") == gets + 1);
  // The stream continues where it was: no restart from the initial window at `off`.
  uint64_t requested_before = w.remote.BytesServed();
  for (; off < content.size(); off += chunk)
    REQUIRE(fs.Read(fh, off, chunk)->ToString() == content.substr(off, chunk));
  fs.Release(fh);
  CHECK(w.remote.BytesServed() - requested_before <= content.size() - (6u << 20));
}

TEST_CASE("concurrent reads of one handle in scrambled order return the right bytes",
          "[fs][read]") {
  World w;
  w.options.readahead_max = 16 << 20;
  const std::string content = Pattern(24 << 20, 8);
  w.remote.AddFile(kTut, "/conc", content);
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/conc");
  REQUIRE(f.ok());
  auto o = fs.Open(f->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  const uint64_t chunk = 256 << 10;
  const uint64_t n = content.size() / chunk;
  std::atomic<uint64_t> next{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i; (i = next.fetch_add(1)) < n;) {
        uint64_t idx = i ^ 1;  // neighbours swapped, like overtaking readahead requests
        auto r = fs.Read(o->fh, idx * chunk, chunk);
        if (!r.ok() || r->ToString() != content.substr(idx * chunk, chunk)) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  fs.Release(o->fh);
  CHECK(bad == 0);
  CHECK(w.remote.BytesServed() <= 2 * content.size());
  CHECK(fs.memory().used() == 0);
}

TEST_CASE("reads under ~ use the home's absolute path once the service gives it", "[fs][read]") {
  World w;
  const std::string content = Pattern(300 << 10, 5);
  w.remote.AddFile(kTut, "/~/data/run.h5", content);
  // A server that does not expand "~"; ls tells where "~" is.
  w.remote.SetHome(kTut, "/home/alice", false);
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/~/data/run.h5");  // stat lookups: no listing
  REQUIRE(f.ok());
  w.remote.ResetCalls();
  auto url = fs.GetXattr(f->attr.ino, "user.globus.https_url");
  REQUIRE(url.ok());
  CHECK(url->find("/home/alice/data/run.h5") != std::string::npos);
  CHECK(w.remote.Calls("ls") == 1);  // one small ls of /~/ to learn where ~ is
  auto data = w.ReadAll(f->attr.ino);
  REQUIRE(data.ok());
  CHECK(*data == content);
  CHECK(w.remote.Calls("ls") == 1);  // learned once per collection
}

TEST_CASE("a listing under ~ teaches the home path without an extra call", "[fs][read]") {
  World w;
  w.remote.AddFile(kTut, "/~/a/b.txt", "bee");
  w.remote.SetHome(kTut, "/home/alice", false);
  auto& fs = w.Make();
  auto dir = w.Walk("Globus Tutorial Collection 1/~/a");
  REQUIRE(dir.ok());
  REQUIRE(w.List(dir->attr.ino).ok());  // ls /~/a/ -> absolute_path /home/alice/a/
  auto f = fs.Lookup(dir->attr.ino, "b.txt");
  REQUIRE(f.ok());
  w.remote.ResetCalls();
  auto data = w.ReadAll(f->attr.ino);
  REQUIRE(data.ok());
  CHECK(*data == "bee");
  CHECK(w.remote.Calls("ls") == 0);
}

TEST_CASE("when the service does not say where ~ is, /~/ is sent as it is", "[fs][read]") {
  World w;
  w.remote.AddFile(kTut, "/~/c.txt", "sea");  // no SetHome: absolute_path null, ~ served
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/~/c.txt");
  REQUIRE(f.ok());
  auto url = fs.GetXattr(f->attr.ino, "user.globus.https_url");
  REQUIRE(url.ok());
  CHECK(url->find("/~/c.txt") != std::string::npos);
  auto data = w.ReadAll(f->attr.ino);
  REQUIRE(data.ok());
  CHECK(*data == "sea");
  w.remote.ResetCalls();
  REQUIRE(w.ReadAll(f->attr.ino).ok());
  CHECK(w.remote.Calls("ls") == 0);  // "does not say" is remembered too
}

// Reads reply straight from the part buffers (ReadData views them). A view must keep its part
// alive, unrecycled and counted in the memory budget until it is destroyed, however the reader
// let go of the part: fully delivered, dropped by a seek, or the file closed. Without the pin,
// the budget drops to 0 while the buffers are still viewed, and closing the file frees them
// under r1..r3 (wrong bytes; under ASan, a use after free).
TEST_CASE("a read result pins its part until it is destroyed", "[fs][read]") {
  World w;
  w.options.readahead_max = 1 << 20;  // the window stays 1 MiB: every part is 1 MiB
  w.options.read_parallelism = 1;
  const uint64_t mib = 1 << 20;
  const std::string content = Pattern(32 << 20, 11);
  const uint64_t fh = MakeAndOpen(w, "pin", content);
  auto& fs = *w.fs;

  auto r1 = fs.Read(fh, 0, mib);  // all of part [0, 1M): the reader lets go of it at once
  REQUIRE(r1.ok());
  CHECK(r1->pieces().size() == 1);
  CHECK(fs.memory().used() == mib);  // ...but r1 still holds it
  auto r2 = fs.Read(fh, mib, mib);   // part [1M, 2M): r1's buffer is not recycled for it
  REQUIRE(r2.ok());
  CHECK(fs.memory().used() == 2 * mib);
  CHECK(r1->ToString() == content.substr(0, mib));
  CHECK(r2->ToString() == content.substr(mib, mib));

  auto r3 = fs.Read(fh, 2 * mib, 4096);  // part [2M, 3M), mostly unread
  REQUIRE(r3.ok());
  CHECK(fs.memory().used() == 3 * mib);
  // A seek (beyond seek_window) drops part [2M, 3M): r3 keeps it.
  auto r4 = fs.Read(fh, 24 * mib + 100, 100);
  REQUIRE(r4.ok());
  CHECK(r4->ToString() == content.substr(24 * mib + 100, 100));
  CHECK(fs.memory().used() == 3 * mib + (64u << 10));  // + the random read's 64 KiB block

  fs.Release(fh);  // the reader is gone; the results still view their parts
  CHECK(fs.memory().used() == 3 * mib + (64u << 10));
  CHECK(r1->ToString() == content.substr(0, mib));
  CHECK(r3->ToString() == content.substr(2 * mib, 4096));
  *r1 = ReadData();
  CHECK(fs.memory().used() == 2 * mib + (64u << 10));
  ReadData copy = *r2;  // a copy shares the pin
  *r2 = ReadData();
  CHECK(fs.memory().used() == 2 * mib + (64u << 10));
  CHECK(copy.ToString() == content.substr(mib, mib));
  copy = ReadData();
  *r3 = ReadData();
  *r4 = ReadData();
  CHECK(fs.memory().used() == 0);
}

TEST_CASE("a read spanning parts is one piece per part", "[fs][read]") {
  World w;
  w.options.readahead_max = 1 << 20;
  w.options.read_parallelism = 4;  // 256 KiB parts
  const std::string content = Pattern(4 << 20, 12);
  const uint64_t fh = MakeAndOpen(w, "span", content);
  auto& fs = *w.fs;
  auto r = fs.Read(fh, 100, 600u << 10);  // [100, 600K + 100) overlaps 3 parts
  REQUIRE(r.ok());
  CHECK(r->pieces().size() == 3);
  CHECK(r->size() == (600u << 10));
  CHECK(r->ToString() == content.substr(100, 600u << 10));
  fs.Release(fh);
  CHECK(fs.memory().used() > 0);  // the three parts, pinned by r
  r = ReadData();
  CHECK(fs.memory().used() == 0);
}

TEST_CASE("ReadData owns bytes it is given", "[fs][read]") {
  ReadData empty;
  CHECK(empty.empty());
  CHECK(empty.pieces().empty());
  std::string s = "short";  // inside std::string's inline buffer: must not dangle
  ReadData d(s);
  s = "changed";
  ReadData moved = std::move(d);
  CHECK(moved.size() == 5);
  CHECK(moved.ToString() == "short");
  CHECK(ReadData(std::string()).pieces().empty());
}
