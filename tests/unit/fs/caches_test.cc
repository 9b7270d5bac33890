// The superblock's caches and coordination parts, tested directly: NegativeCache,
// Listing / MetadataCache, SingleFlight, WorkQueue, CollectionRegistry (over FakeRemote).
// Threads are synchronised by gates and bounded spins, never by sleeping.
#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <future>
#include <thread>

#include "common/clock.h"
#include "fs/remote.h"
#include "fs/superblock/collections.h"
#include "fs/superblock/metadata_cache.h"
#include "fs/superblock/negative_cache.h"
#include "fs/superblock/single_flight.h"
#include "fs/work_queue.h"
#include "tests/support/fake_remote.h"
#include "tests/unit/fs/fs_world.h"

namespace gf::fs::testing {

TEST_CASE("negative cache: TTL and bound", "[fs][cache]") {
  gf::FakeClock clock;
  NegativeCache n(clock, std::chrono::seconds(10), 3);
  n.Insert("a");
  n.Insert("b");
  n.Insert("c");
  n.Insert("d");  // evicts the oldest
  CHECK_FALSE(n.Contains("a"));
  CHECK(n.Contains("d"));
  CHECK(n.size() == 3);
  clock.Advance(std::chrono::seconds(11));
  CHECK_FALSE(n.Contains("d"));
  n.Insert("c1/x");
  n.Insert("c1/x/y");
  n.Insert("c1/xz");
  n.ErasePrefix("c1/x");
  CHECK_FALSE(n.Contains("c1/x/y"));
  CHECK(n.Contains("c1/xz"));
}

TEST_CASE("listing: packed names, sorted, first of repeated names kept, Find", "[fs][cache]") {
  Listing l;
  Meta a, b, c;
  a.size = 1;
  b.size = 2;
  c.size = 3;
  CHECK(l.Add("zeta", a));
  CHECK(l.Add("alpha", b));
  CHECK(l.Add("zeta", c));  // a repeated name (a broken server): the first one wins
  CHECK(l.Add("", c));      // the caller filters names; the listing just stores them
  l.Seal();
  REQUIRE(l.size() == 3);
  CHECK(l.Name(l.items[0]).empty());
  CHECK(l.Name(l.items[1]) == "alpha");
  CHECK(l.Name(l.items[2]) == "zeta");
  CHECK(l.names.size() == std::string("zetaalphazeta").size());  // one block, no terminators
  REQUIRE(l.Find("zeta"));
  CHECK(l.Find("zeta")->meta.size == 1);
  CHECK(l.Find("alpha")->meta.size == 2);
  CHECK_FALSE(l.Find("alph"));
  CHECK_FALSE(l.Find("zetaa"));
}

TEST_CASE("metadata cache: TTL, LRU bound on entries, prefix erase", "[fs][cache]") {
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 10);
  auto make = [](int n) {
    auto l = std::make_shared<Listing>();
    for (int i = 0; i < n; ++i) l->Add("n" + std::to_string(i), Meta{});
    l->Seal();
    return std::shared_ptr<const Listing>(l);
  };
  m.Put("c/a", make(4));
  m.Put("c/b", make(4));
  CHECK(m.Get("c/a"));    // a is now most recently used
  m.Put("c/c", make(4));  // 12 > 10: evicts b (LRU)
  CHECK(m.Get("c/a"));
  CHECK_FALSE(m.Get("c/b"));
  CHECK(m.entries() <= 10);
  m.Put("huge", make(11));  // larger than the bound: not cached
  CHECK_FALSE(m.Get("huge"));
  m.Put("c/a/x", make(1));
  CHECK(m.ErasePrefix("c/a") == 2);
  CHECK(m.Get("c/c"));
  clock.Advance(std::chrono::seconds(61));
  CHECK_FALSE(m.Get("c/c"));
}

TEST_CASE("metadata cache: EraseName edits a listing in place of dropping it", "[fs][cache]") {
  // An HTTPS delete (Superblock::AfterRemoved): the directory's listing loses one name.
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 100);
  auto l = std::make_shared<Listing>();
  for (const char* n : {"a", "b", "c"}) l->Add(n, Meta{});
  l->Seal();
  m.Put("c/d", l);
  auto held = m.Get("c/d");
  clock.Advance(std::chrono::seconds(30));
  m.EraseName("c/d", "b");
  auto now = m.Get("c/d");
  REQUIRE(now);
  CHECK(now->size() == 2);
  CHECK(now->Find("a"));
  CHECK_FALSE(now->Find("b"));
  CHECK(now->Find("c"));
  CHECK(held->Find("b"));  // a holder's snapshot is unchanged
  CHECK(m.entries() == 2);
  m.EraseName("c/d", "zz");  // not there: nothing changes
  m.EraseName("c/none", "a");
  CHECK(m.entries() == 2);
  clock.Advance(std::chrono::seconds(31));  // the edit kept the listing's expiry
  CHECK_FALSE(m.Get("c/d"));
  CHECK(m.entries() == 0);
}

TEST_CASE("metadata cache: a fetch is not cached when its key changed while it ran",
          "[fs][cache]") {
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 100);
  auto listing = [](std::initializer_list<const char*> names) {
    auto l = std::make_shared<Listing>();
    for (const char* n : names) l->Add(n, Meta{});
    l->Seal();
    return std::shared_ptr<const Listing>(l);
  };
  // Nothing changed: cached.
  uint64_t t = m.BeginFetch("c/d");
  CHECK(m.PutFetched("c/d", listing({"a", "b"}), t));
  REQUIRE(m.Get("c/d"));
  CHECK(m.Get("c/d")->size() == 2);

  // Each change of the key while a fetch runs keeps the fetch's (older) listing out.
  using Change = std::function<void()>;
  for (const auto& [what, change] : std::vector<std::pair<const char*, Change>>{
           {"Erase", [&] { m.Erase("c/d"); }},
           {"EraseName (not cached)", [&] { m.EraseName("c/d", "a"); }},
           {"ErasePrefix of a parent", [&] { m.ErasePrefix("c"); }},
           {"Put", [&] { m.Put("c/d", listing({"b"})); }},
           {"Clear", [&] { m.Clear(); }}}) {
    INFO(what);
    m.Erase("c/d");
    uint64_t ticket = m.BeginFetch("c/d");
    change();
    CHECK_FALSE(m.PutFetched("c/d", listing({"a", "b"}), ticket));
    auto now = m.Get("c/d");
    CHECK((!now || now->size() == 1));  // nothing, or what the change put there
  }
  // An edit (an upload's entry) while a second fetch of the key runs.
  m.Put("c/d", listing({"a"}));
  uint64_t ticket = m.BeginFetch("c/d");
  REQUIRE(m.SetEntry("c/d", "new", Meta{}, false));
  CHECK_FALSE(m.PutFetched("c/d", listing({"a"}), ticket));
  REQUIRE(m.Get("c/d"));
  CHECK(m.Get("c/d")->Find("new"));  // the edit stays

  // Changes elsewhere leave a fetch alone: a sibling, a longer name with the same prefix.
  ticket = m.BeginFetch("c/d");
  m.Erase("c/e");
  m.ErasePrefix("c/dd");
  m.EraseName("c/x", "a");
  CHECK(m.PutFetched("c/d", listing({"z"}), ticket));
  CHECK(m.Get("c/d")->Find("z"));

  // A failed fetch ends without caching; its ticket is gone (a late PutFetched caches nothing).
  ticket = m.BeginFetch("c/f");
  m.EndFetch(ticket);
  CHECK_FALSE(m.PutFetched("c/f", listing({"a"}), ticket));
  CHECK_FALSE(m.Get("c/f"));
}

TEST_CASE("negative cache: expiry per entry, Erase, prefix erase keeps siblings", "[fs][cache]") {
  gf::FakeClock clock;
  NegativeCache n(clock, std::chrono::seconds(10), 100);
  n.Insert("c/a");
  clock.Advance(std::chrono::seconds(6));
  n.Insert("c/b");
  clock.Advance(std::chrono::seconds(5));  // a is 11 s old, b 5 s
  CHECK_FALSE(n.Contains("c/a"));
  CHECK(n.Contains("c/b"));
  n.Erase("c/b");
  CHECK_FALSE(n.Contains("c/b"));
  n.Insert("c/d");
  n.Insert("c/d/e");
  n.Insert("c/dx");
  n.ErasePrefix("c/d");
  CHECK_FALSE(n.Contains("c/d"));
  CHECK_FALSE(n.Contains("c/d/e"));
  CHECK(n.Contains("c/dx"));  // a sibling whose name starts alike is not below c/d
}

TEST_CASE("metadata cache: a replaced listing stays valid for its holders", "[fs][cache]") {
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 100);
  auto one = std::make_shared<Listing>();
  one->Add("old", Meta{});
  one->Seal();
  m.Put("c/d", one);
  auto held = m.Get("c/d");
  auto two = std::make_shared<Listing>();
  two->Add("new", Meta{});
  two->Seal();
  m.Put("c/d", two);
  REQUIRE(held);
  CHECK(held->Find("old"));  // the holder's snapshot is unchanged
  CHECK(m.Get("c/d")->Find("new"));
  CHECK(m.listings() == 1);
  CHECK(m.entries() == 1);
  m.Erase("c/d");
  CHECK_FALSE(m.Get("c/d"));
  CHECK(m.entries() == 0);
}

namespace {
std::vector<std::string> Names(const Listing& x) {
  std::vector<std::string> out;
  for (const auto& i : x.items) out.emplace_back(x.Name(i));
  return out;
}
std::shared_ptr<const Listing> Make(std::initializer_list<const char*> ns) {
  auto l = std::make_shared<Listing>();
  for (const char* n : ns) l->Add(n, Meta{});
  l->fetched = MonoTime(std::chrono::seconds(5));
  l->Seal();
  return l;
}
}  // namespace

TEST_CASE("metadata cache: SetEntry adds or replaces one entry, sorted; holders keep theirs",
          "[fs][cache]") {
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 100);
  m.Put("c/d", Make({"b", "d"}));
  auto held = m.Get("c/d");
  Meta big;
  big.size = 42;
  for (const char* n : {"a", "c", "e", "d"}) REQUIRE(m.SetEntry("c/d", n, big, false));
  // Find answers from the edits and the listing alike, without a merge.
  CHECK(m.Find("c/d", "a") == std::optional<std::optional<Meta>>(big));
  CHECK(m.Find("c/d", "b")->has_value());
  CHECK((*m.Find("c/d", "d"))->size == 42);        // replaced
  CHECK_FALSE(m.Find("c/d", "zz")->has_value());   // listed as absent
  CHECK_FALSE(m.Find("c/none", "a").has_value());  // nothing cached
  CHECK(m.entries() == 6);                         // 2 listed + 4 edits (a bound until merged)
  auto now = m.Get("c/d");                         // merged once
  REQUIRE(now);
  CHECK(Names(*now) == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(now->Find("d")->meta.size == 42);
  CHECK(now->Find("b")->meta.size == 0);
  CHECK(now->fetched == held->fetched);
  CHECK(m.entries() == 5);
  CHECK(m.Get("c/d") == now);                                 // cached merged: not merged again
  CHECK(Names(*held) == std::vector<std::string>{"b", "d"});  // a holder's snapshot
  CHECK(held->Find("d")->meta.size == 0);
}

TEST_CASE(
    "metadata cache: many edits (a cp -r, an rm -r) merge as they grow; every name "
    "keeps its own entry",
    "[fs][cache]") {
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 100000);
  m.Put("c/d", Make({"b", "d"}));
  std::vector<std::string> want = {"d"};
  m.EraseName("c/d", "b");
  CHECK_FALSE(m.Find("c/d", "b")->has_value());
  for (int i = 2999; i >= 0; --i) {  // past the merge threshold many times over
    Meta mi;
    mi.size = static_cast<uint64_t>(i);
    std::string n = "f" + std::to_string(i);
    REQUIRE(m.SetEntry("c/d", n, mi, false));
    want.push_back(n);
    if (i % 3 == 0) {  // and some removed again, as rm -r would
      m.EraseName("c/d", n);
      want.pop_back();
    }
  }
  Meta big;
  big.size = 42;
  REQUIRE(m.SetEntry("c/d", "b", big, false));
  want.push_back("b");
  std::sort(want.begin(), want.end());
  for (int i = 0; i < 3000; ++i) {
    auto f = m.Find("c/d", "f" + std::to_string(i));
    REQUIRE(f);
    if (i % 3 == 0) {
      CHECK_FALSE(f->has_value());
    } else {
      REQUIRE(f->has_value());
      CHECK((*f)->size == static_cast<uint64_t>(i));
    }
  }
  CHECK(m.entries() >= want.size());
  auto all = m.Get("c/d");
  REQUIRE(all);
  CHECK(Names(*all) == want);
  CHECK(all->Find("b")->meta.size == 42);
  CHECK(m.entries() == want.size());
}

TEST_CASE("metadata cache: an edit keeps a replaced file's mode when asked", "[fs][cache]") {
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 100);
  auto l = std::make_shared<Listing>();
  Meta file;
  file.type = api::EntryType::kFile;
  file.permissions = 0600;
  Meta dir;
  dir.type = api::EntryType::kDir;
  dir.permissions = 0755;
  l->Add("f", file);
  l->Add("d", dir);
  l->Seal();
  m.Put("c/x", l);
  Meta up;
  up.type = api::EntryType::kFile;
  up.permissions = 0644;
  up.size = 7;
  REQUIRE(m.SetEntry("c/x", "f", up, true));
  CHECK((*m.Find("c/x", "f"))->permissions == 0600);
  CHECK((*m.Find("c/x", "f"))->size == 7);
  REQUIRE(m.SetEntry("c/x", "f", up, true));  // an edit over an edit: still the listed mode
  CHECK((*m.Find("c/x", "f"))->permissions == 0600);
  REQUIRE(m.SetEntry("c/x", "d", up, true));  // a directory's mode is not a file's
  CHECK((*m.Find("c/x", "d"))->permissions == 0644);
  REQUIRE(m.SetEntry("c/x", "new", up, true));
  CHECK((*m.Find("c/x", "new"))->permissions == 0644);
  REQUIRE(m.SetEntry("c/x", "f", up, false));
  CHECK((*m.Find("c/x", "f"))->permissions == 0644);
}

TEST_CASE("metadata cache: edits touch only a fresh listing, keep its expiry, and the bound",
          "[fs][cache]") {
  gf::FakeClock clock;
  MetadataCache m(clock, std::chrono::seconds(60), 5);
  CHECK_FALSE(m.SetEntry("c/d", "x", Meta{}, false));  // nothing cached: nothing made
  CHECK_FALSE(m.Get("c/d"));
  m.EraseName("c/d", "x");
  CHECK(m.entries() == 0);
  m.Put("c/d", Make({"a"}));
  clock.Advance(std::chrono::seconds(40));
  REQUIRE(m.SetEntry("c/d", "b", Meta{}, false));
  CHECK(m.Get("c/d")->Find("b"));
  CHECK(m.entries() == 2);
  // The edit did not make the listing fresh again: it still expires 60 s after its Put.
  clock.Advance(std::chrono::seconds(21));
  CHECK_FALSE(m.Find("c/d", "a"));
  CHECK_FALSE(m.SetEntry("c/d", "q", Meta{}, false));
  CHECK(m.entries() == 0);
  // Growing past the bound evicts other listings, never the edited one.
  m.Put("c/other", Make({"1", "2"}));
  m.Put("c/e", Make({"a", "b", "c"}));
  REQUIRE(m.SetEntry("c/e", "d", Meta{}, false));
  CHECK(m.Get("c/e"));
  CHECK_FALSE(m.Get("c/other"));
  CHECK(m.entries() == 4);
  // An erased name that was only an edit is gone from Find and Get alike.
  REQUIRE(m.SetEntry("c/e", "z", Meta{}, false));
  m.EraseName("c/e", "z");
  CHECK_FALSE(m.Find("c/e", "z")->has_value());
  CHECK(Names(*m.Get("c/e")) == std::vector<std::string>{"a", "b", "c", "d"});
  // A Put (a fetch) replaces the listing and drops its edits.
  REQUIRE(m.SetEntry("c/e", "y", Meta{}, false));
  m.Put("c/e", Make({"k"}));
  CHECK(Names(*m.Get("c/e")) == std::vector<std::string>{"k"});
  CHECK(m.entries() == 1);
}

TEST_CASE("single flight: concurrent callers share one call; later callers call again",
          "[fs][coalesce]") {
  SingleFlight<std::string, int> flight;
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::atomic<int> calls{0};
  auto slow = [&]() -> Result<int> {
    ++calls;
    open.wait();
    return 42;
  };
  auto leader = std::async(std::launch::async, [&] { return flight.Do("k", slow); });
  REQUIRE(Eventually([&] { return flight.InFlight("k"); }));
  auto follower = std::async(std::launch::async, [&] { return flight.Do("k", slow); });
  REQUIRE(Eventually([&] { return flight.waiting() == 1; }));
  gate.set_value();
  auto a = leader.get();
  auto b = follower.get();
  REQUIRE((a.ok() && b.ok()));
  CHECK(*a == 42);
  CHECK(*b == 42);
  CHECK(calls == 1);
  CHECK_FALSE(flight.InFlight("k"));
  auto again = flight.Do("k", [&]() -> Result<int> {
    ++calls;
    return 7;
  });
  CHECK(*again == 7);  // nothing is cached here: the caller's cache is its own
  CHECK(calls == 2);
}

TEST_CASE("single flight: an error is shared like a value", "[fs][coalesce]") {
  SingleFlight<std::string, int> flight;
  auto r = flight.Do("k", []() -> Result<int> { return Error::Local(ENOENT, "gone"); });
  REQUIRE_FALSE(r.ok());
  CHECK(ErrnoFor(r.error()) == ENOENT);
  CHECK_FALSE(flight.InFlight("k"));
}

TEST_CASE("work queue: refuses before start unless asked to queue, bounded, Stop drops",
          "[fs][workqueue]") {
  SECTION("not started: refused") {
    WorkQueue q("t", 1, 4);
    CHECK_FALSE(q.Submit([] {}));
  }
  SECTION("accept_before_start: queued, run once started") {
    WorkQueue q("t", 1, 4, /*accept_before_start=*/true);
    std::atomic<int> ran{0};
    REQUIRE(q.Submit([&] { ++ran; }));
    CHECK(q.queued() == 1);
    CHECK(ran == 0);
    q.Start();
    q.WaitIdle();
    CHECK(ran == 1);
    q.Stop();
  }
  SECTION("full: refused; Stop drops what is queued") {
    WorkQueue q("t", 1, 2);
    q.Start();
    std::promise<void> gate;
    std::shared_future<void> open = gate.get_future().share();
    std::atomic<int> ran{0};
    REQUIRE(q.Submit([&] {
      open.wait();
      ++ran;
    }));
    REQUIRE(Eventually([&] { return q.running() == 1; }));
    CHECK(q.Submit([&] { ++ran; }));
    CHECK(q.Submit([&] { ++ran; }));
    CHECK_FALSE(q.Submit([&] { ++ran; }));  // two queued: full
    CHECK(q.queued() == 2);
    std::thread stopper([&] { q.Stop(); });  // waits for the running item
    REQUIRE(Eventually([&] { return q.queued() == 0; }));
    gate.set_value();
    stopper.join();
    CHECK(ran == 1);  // the queued items were dropped
    CHECK_FALSE(q.Submit([] {}));
  }
  SECTION("no threads: refused") {
    WorkQueue q("t", 0, 4);
    q.Start();
    CHECK_FALSE(q.Submit([] {}));
  }
}

namespace {
struct RegistryWorld {
  gf::FakeClock clock;
  gf::testing::FakeRemote remote;
  Remote door{remote, remote, FailingAuthorizer::Instance()};
  CollectionCatalog catalog;
  NegativeCache negative{clock, std::chrono::seconds(10), 100};
  std::unique_ptr<CollectionRegistry> registry;
  RegistryWorld() {
    remote.AddCollection(MakeEndpoint(kTut, "Globus Tutorial Collection 1", "https://t"));
    remote.AddCollection(MakeEndpoint(kShared1, "Shared Data", "https://s1"));
    remote.AddCollection(MakeEndpoint(kShared2, "Shared Data", "https://s2"));
    remote.AddCollection(MakeEndpoint(kSlash, "A/B Lab", "https://ab"));
    remote.AddCollection(
        MakeEndpoint(kEndpoint, "Grex Endpoint", std::nullopt, "GCSv5_endpoint", true));
  }
  CollectionRegistry& Make(std::vector<std::string> specs) {
    registry = std::make_unique<CollectionRegistry>(
        door, catalog, clock, negative,
        CollectionRegistry::Options{std::move(specs), false, std::chrono::seconds(60),
                                    std::chrono::seconds(60)});
    return *registry;
  }
};
std::vector<std::string> Names(const std::vector<RootEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name);
  return out;
}
}  // namespace

TEST_CASE("collection registry: configured ids and names, clashes, slashes, endpoints",
          "[fs][root]") {
  RegistryWorld w;
  auto& r = w.Make({kTut, "A/B Lab", "Shared Data"});
  auto names = Names(r.List());
  std::sort(names.begin(), names.end());  // resolved concurrently: any order
  CHECK(names == std::vector<std::string>{"A\xE2\x88\x95"
                                          "B Lab",
                                          "Globus Tutorial Collection 1", "Shared Data",
                                          "Shared Data (dddddddd)"});
  // Interned once, in the catalog: the names other parts show come from there.
  CHECK(w.catalog.NameOf(kTut) == "Globus Tutorial Collection 1");
  CHECK(r.Known().size() == 4);
  // A GCSv5 endpoint holds no data: not a collection.
  auto ep = r.ById(kEndpoint);
  REQUIRE_FALSE(ep.ok());
  CHECK(ErrnoFor(ep.error()) == ENOENT);
  CHECK(w.catalog.NameOf(kEndpoint).empty());
}

TEST_CASE("collection registry: lookups by exact name join the root; misses are cached",
          "[fs][root]") {
  RegistryWorld w;
  auto& r = w.Make({});
  CHECK(r.List().empty());
  auto hit = r.Lookup("Globus Tutorial Collection 1");
  REQUIRE(hit.ok());
  CHECK(hit->collection->id == kTut);
  CHECK(Names(r.List()) == std::vector<std::string>{"Globus Tutorial Collection 1"});
  w.remote.ResetCalls();
  CHECK_FALSE(r.Lookup("Globus Tutorial").ok());  // exact matches only
  CHECK_FALSE(r.Lookup("Globus Tutorial").ok());  // the miss is cached
  CHECK(w.remote.Calls("endpoint_search") == 1);
  CHECK_FALSE(r.Lookup(".Trash").ok());  // hidden names are never searched
  CHECK(w.remote.Calls("endpoint_search") == 1);
}

}  // namespace gf::fs::testing
