// Shared setup for fs/ unit tests: a FakeRemote world, a FakeClock, the parts a Filesystem
// stands on (built as the mount builds them, with a transfer engine journaling into a temporary
// directory; tests drive the engine with RunOnce) and helpers.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "fs/filesystem.h"
#include "fs/transfers/engine.h"
#include "tests/support/fake_remote.h"

namespace gf::fs::testing {

inline constexpr const char* kTut = "aaaaaaaa-0000-4000-8000-000000000001";
inline constexpr const char* kLaptop = "bbbbbbbb-0000-4000-8000-000000000002";
inline constexpr const char* kShared1 = "cccccccc-0000-4000-8000-000000000003";
inline constexpr const char* kShared2 = "dddddddd-0000-4000-8000-000000000004";
inline constexpr const char* kSlash = "eeeeeeee-0000-4000-8000-000000000005";
inline constexpr const char* kEndpoint = "ffffffff-0000-4000-8000-000000000006";
inline constexpr const char* kGrex = "12345678-0000-4000-8000-000000000007";

inline api::Endpoint MakeEndpoint(const std::string& id, const std::string& name,
                                  std::optional<std::string> https = std::nullopt,
                                  std::string type = "GCSv5_guest_collection",
                                  bool non_functional = false) {
  api::Endpoint e;
  e.id = id;
  e.display_name = name;
  e.entity_type = std::move(type);
  e.https_server = std::move(https);
  e.non_functional = non_functional;
  return e;
}

struct CollectingReplier : DirReplier {
  struct Row {
    std::string name;
    Attr attr;
    bool plus = false;
    Ino plus_ino = 0;
  };
  std::vector<Row> rows;
  std::size_t capacity = 1u << 30;
  bool Add(std::string_view name, const Attr& attr, uint64_t, const Entry* plus) override {
    if (rows.size() >= capacity) return false;
    rows.push_back(Row{std::string(name), attr, plus != nullptr, plus ? plus->attr.ino : 0});
    return true;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& r : rows)
      if (r.name != "." && r.name != "..") out.push_back(r.name);
    return out;
  }
  const Row* Find(const std::string& n) const {
    for (const auto& r : rows)
      if (r.name == n) return &r;
    return nullptr;
  }
};

struct RecordingNotifier : KernelNotifier {
  std::vector<Ino> inodes;
  std::vector<std::pair<Ino, std::string>> entries;
  void InvalidateInode(Ino ino) override { inodes.push_back(ino); }
  void InvalidateEntry(Ino parent, const std::string& name) override {
    entries.emplace_back(parent, name);
  }
  int settles = 0;
  bool settle_result = true;
  bool Settle(std::chrono::milliseconds) override {
    ++settles;
    return settle_result;
  }
};

// The Authorizer of the test mount: fails like FailingAuthorizer until a test points it at
// another one.
struct SwitchableAuthorizer final : Authorizer {
  Authorizer* target = &FailingAuthorizer::Instance();
  Status Authorize(const Error& e, const std::string& c) override {
    return target->Authorize(e, c);
  }
};

struct World {
  FakeClock clock;
  gf::testing::FakeRemote remote;
  FsOptions options;
  TransferEngineOptions engine_options;
  std::string state_dir;  // the journal's directory
  SwitchableAuthorizer authorizer;
  RecordingNotifier notifier;
  std::unique_ptr<CollectionCatalog> catalog;
  std::unique_ptr<Remote> engine_api;
  std::unique_ptr<TransferEngine> engine;
  std::unique_ptr<Filesystem> fs;

  World() {
    char tmpl[] = "/tmp/gf-fs-XXXXXX";
    state_dir = ::mkdtemp(tmpl);
    engine_options.journal_path = JournalPath(state_dir, "mnt");
    remote.AddCollection(
        MakeEndpoint(kTut, "Globus Tutorial Collection 1", "https://tut.example.org"));
    remote.AddCollection(MakeEndpoint(kLaptop, "My Laptop", std::nullopt, "GCP_mapped_collection"));
    remote.AddCollection(MakeEndpoint(kShared1, "Shared Data", "https://s1.example.org"));
    remote.AddCollection(MakeEndpoint(kShared2, "Shared Data", "https://s2.example.org"));
    remote.AddCollection(MakeEndpoint(kSlash, "A/B Lab", "https://ab.example.org"));
    remote.AddCollection(
        MakeEndpoint(kEndpoint, "Grex Endpoint", std::nullopt, "GCSv5_endpoint", true));
    remote.AddCollection(MakeEndpoint(kGrex, "UManitoba Grex HPC", "https://grex.example.org",
                                      "GCSv5_mapped_collection"));
    options.collections = {kTut};
    options.bookmarks = false;
    options.uid = 1234;
    options.gid = 5678;
    options.umask = 022;
    options.listing_prefetch_workers = 0;
    options.abort_on_lookup_underflow = false;
    options.staging_dir = state_dir + "/staging";
  }

  ~World() {
    Stop();
    std::filesystem::remove_all(state_dir);
  }

  // Builds the mount's parts in order (again: a restart, over the same journal).
  Filesystem& Make(bool start = true) {
    Stop();
    catalog = std::make_unique<CollectionCatalog>();
    engine_api = std::make_unique<Remote>(remote, remote, FailingAuthorizer::Instance());
    auto e = TransferEngine::Open(*engine_api, engine_options, clock);
    REQUIRE(e.ok());
    engine = std::move(*e);
    fs = std::make_unique<Filesystem>(
        FsParts{remote, remote, authorizer, notifier, *catalog, *engine, *engine_api}, options,
        clock);
    if (start) fs->Start();
    return *fs;
  }
  // The daemon stops: the Filesystem goes before the engine it listens to.
  void Stop() {
    fs.reset();
    engine.reset();
  }

  // Looks up each component of a mount-relative path ("Coll/dir/file"), kernel style.
  Result<Entry> Walk(const std::string& path) {
    Ino cur = kRootIno;
    Result<Entry> last = Error::Local(EINVAL, "empty path");
    std::size_t i = 0;
    while (i < path.size()) {
      std::size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      last = fs->Lookup(cur, path.substr(i, j - i));
      if (!last.ok()) return last;
      cur = last->attr.ino;
      i = j + 1;
    }
    return last;
  }

  // cp/mv/rm tests: the batching window passes; the engine forms, submits and polls.
  void Drive(int rounds = 2) {
    for (int i = 0; i < rounds; ++i) {
      clock.Advance(std::chrono::seconds(31));
      engine->RunOnce();
    }
  }
  // The service runs its tasks; the engine sees the outcome.
  void Finish() {
    remote.RunTasks();
    Drive(3);
  }
  Ino Dir(const std::string& path) {
    auto e = Walk(path);
    REQUIRE(e.ok());
    return e->attr.ino;
  }

  Result<std::vector<std::string>> List(Ino ino, bool plus = false,
                                        CollectingReplier* out = nullptr) {
    auto fh = fs->OpenDir(ino);
    if (!fh.ok()) return fh.error();
    CollectingReplier local;
    CollectingReplier& r = out ? *out : local;
    Status s = fs->ReadDir(ino, *fh, 0, plus, r);
    fs->ReleaseDir(*fh);
    if (!s.ok()) return s.error();
    return r.Names();
  }

  Result<std::string> ReadAll(Ino ino, uint64_t chunk = 128 << 10) {
    auto o = fs->Open(ino, O_RDONLY);
    if (!o.ok()) return o.error();
    std::string out;
    while (true) {
      auto r = fs->Read(o->fh, out.size(), chunk);
      if (!r.ok()) {
        fs->Release(o->fh);
        return r.error();
      }
      if (r->empty()) break;
      out += r->ToString();
    }
    fs->Release(o->fh);
    return out;
  }
};

// Waits (bounded, yielding) for a condition another thread will make true; never asserts on
// time and never sleeps.
template <class F>
bool Eventually(F f) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!f()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// A local file's whole content ("" when it cannot be read).
inline std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// How often `what` occurs in `text` (records of a kind in a journal file).
inline size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

inline std::string Pattern(std::size_t n, unsigned seed = 7) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 16);
  }
  return s;
}

}  // namespace gf::fs::testing
