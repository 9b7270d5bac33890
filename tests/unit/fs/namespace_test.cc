// Root layout, collection resolution, lookups, caches, coalescing, errors, namespace changes.
#include <fcntl.h>
#include <linux/fs.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "fs_world.h"

using namespace gf::fs;
using namespace gf::fs::testing;
using gf::Error;

namespace {
bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
int Errno(const gf::Error& e) { return gf::ErrnoFor(e); }
// A bookmark of the tutorial collection's /home/alice/.
gf::api::Bookmark TutorialMark(const std::string& name) {
  gf::api::Bookmark b;
  b.name = name;
  b.endpoint_id = kTut;
  b.path = "/home/alice/";
  return b;
}

}  // namespace

TEST_CASE("re-resolving the root replaces bookmarks safely", "[fs][root]") {
  // Regression (ASan): the retry after a failed resolution removes the old bookmark entries
  // while iterating the map that holds their names.
  World w;
  w.options.collections = {kTut, kSlash};
  w.options.bookmarks = true;
  for (const char* name : {"tutorial-home", "another-mark", "third"})
    w.remote.AddBookmark(TutorialMark(name));
  // One configured collection cannot be resolved at first: the root is resolved again later.
  w.remote.FailNext("get_endpoint", Error::Transport(gf::TransportFailure::kConnect, "down"));
  w.Make();
  auto first = w.List(kRootIno);
  REQUIRE(first.ok());
  CHECK(Has(*first, "tutorial-home"));
  w.clock.Advance(std::chrono::minutes(5));
  auto again = w.List(kRootIno);
  REQUIRE(again.ok());
  CHECK(Has(*again, "tutorial-home"));
  CHECK(Has(*again, "another-mark"));
  CHECK(Has(*again, "third"));
  CHECK(Has(*again,
            "A\xE2\x88\x95"
            "B Lab"));
}

TEST_CASE("expired bookmarks are refreshed without holding up the root listing", "[fs][root]") {
  // The service is down (the refresh gets no answer): a listing waits for the refresh at
  // most refresh_wait (2 s), then answers with the bookmarks it has. Before, it waited out the
  // retry budget (a minute) at every listing once the bookmarks had expired.
  World w;
  w.options.collections = {kTut};
  w.options.bookmarks = true;
  w.remote.AddBookmark(TutorialMark("first-mark"));
  w.Make();
  auto first = w.List(kRootIno);
  REQUIRE(first.ok());
  REQUIRE(Has(*first, "first-mark"));
  w.remote.AddBookmark(TutorialMark("second-mark"));
  w.clock.Advance(std::chrono::minutes(5));  // past bookmark_ttl (dir_ttl)
  w.remote.CloseGate("bookmark_list");
  // Returns although the refresh is still waiting (30 s: a guard, so the old code fails
  // instead of hanging the suite).
  auto listing = std::async(std::launch::async, [&] { return w.List(kRootIno); });
  const bool answered = listing.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  if (!answered) w.remote.ReleaseGate("bookmark_list");
  REQUIRE(answered);
  auto stale = listing.get();
  REQUIRE(stale.ok());
  CHECK(Has(*stale, "first-mark"));
  CHECK_FALSE(Has(*stale, "second-mark"));
  CHECK(w.remote.Blocked("bookmark_list") == 1);
  // Another listing meanwhile neither waits nor starts a second refresh.
  auto again = w.List(kRootIno);
  REQUIRE(again.ok());
  CHECK(Has(*again, "first-mark"));
  CHECK(w.remote.Blocked("bookmark_list") == 1);
  w.remote.ReleaseGate("bookmark_list");
  CHECK(Eventually([&] {
    auto l = w.List(kRootIno);
    return l.ok() && Has(*l, "second-mark") && Has(*l, "first-mark");
  }));
  CHECK(w.remote.Calls("bookmark_list") == 2);
}

TEST_CASE("configured collections and bookmarks are resolved concurrently", "[fs][root]") {
  World w;
  w.options.collections = {kTut, kGrex, kSlash, "Shared Data"};
  w.options.bookmarks = true;
  auto& fs = w.Make();
  w.remote.ResetCalls();
  w.remote.CloseGate("get_endpoint");
  w.remote.CloseGate("endpoint_search");
  w.remote.CloseGate("bookmark_list");
  std::thread lister([&] { (void)w.List(kRootIno); });
  // All five calls are in flight together; one after the other, only one would ever wait.
  const bool together = Eventually([&] {
    return w.remote.Blocked("get_endpoint") == 3 && w.remote.Blocked("endpoint_search") == 1 &&
           w.remote.Blocked("bookmark_list") == 1;
  });
  w.remote.ReleaseGate("get_endpoint");
  w.remote.ReleaseGate("endpoint_search");
  w.remote.ReleaseGate("bookmark_list");
  lister.join();
  CHECK(together);
  // Results still apply in config order: the names do not depend on who answered first.
  auto names = w.List(kRootIno);
  REQUIRE(names.ok());
  CHECK(Has(*names, "Globus Tutorial Collection 1"));
  CHECK(Has(*names, "UManitoba Grex HPC"));
  CHECK(Has(*names, "Shared Data"));
  CHECK(Has(*names, "Shared Data (" + std::string(kShared2).substr(0, 8) + ")"));
  (void)fs;
}

TEST_CASE("root lists configured collections, bookmarks as symlinks, hides endpoints",
          "[fs][root]") {
  World w;
  w.options.collections = {kTut, "Shared Data", kSlash, kEndpoint, kLaptop};
  w.options.bookmarks = true;
  w.remote.AddBookmark(TutorialMark("tutorial-home"));
  auto& fs = w.Make();

  CollectingReplier rows;
  auto names = w.List(kRootIno, false, &rows);
  REQUIRE(names.ok());
  CHECK(Has(*names, ".by-id"));
  CHECK(Has(*names, "Globus Tutorial Collection 1"));
  CHECK(Has(*names, "Shared Data"));
  CHECK(Has(*names, "Shared Data (dddddddd)"));  // same display name: short id suffix
  CHECK(Has(*names,
            "A\xE2\x88\x95"
            "B Lab"));  // '/' -> U+2215
  CHECK(Has(*names, "My Laptop"));
  CHECK(Has(*names, "tutorial-home"));
  CHECK_FALSE(Has(*names, "Grex Endpoint"));  // GCSv5 endpoint: no data, not listed
  CHECK_FALSE(Has(*names, ".globus-fuse"));   // control dir is hidden
  CHECK(S_ISLNK(rows.Find("tutorial-home")->attr.mode));
  CHECK(S_ISDIR(rows.Find("Shared Data")->attr.mode));

  auto link = fs.Lookup(kRootIno, "tutorial-home");
  REQUIRE(link.ok());
  CHECK(S_ISLNK(link->attr.mode));
  auto target = fs.ReadLink(link->attr.ino);
  REQUIRE(target.ok());
  CHECK(*target == "Globus Tutorial Collection 1/home/alice");

  // .by-id reaches collections, but not GCSv5 endpoints.
  auto byid = fs.Lookup(kRootIno, ".by-id");
  REQUIRE(byid.ok());
  CHECK(fs.Lookup(byid->attr.ino, kShared2).ok());
  auto ep = fs.Lookup(byid->attr.ino, kEndpoint);
  REQUIRE_FALSE(ep.ok());
  CHECK(Errno(ep.error()) == ENOENT);
  auto listed = w.List(byid->attr.ino);
  REQUIRE(listed.ok());
  CHECK(Has(*listed, kTut));
  CHECK(Has(*listed, kShared2));
  CHECK_FALSE(Has(*listed, kEndpoint));

  // Once resolved, listing the root needs no remote call (works with the network down).
  w.remote.ResetCalls();
  w.remote.FailNext("get_endpoint", Error::Transport(gf::TransportFailure::kConnect, "down"), 9);
  w.remote.FailNext("endpoint_search", Error::Transport(gf::TransportFailure::kConnect, "down"), 9);
  auto again = w.List(kRootIno);
  REQUIRE(again.ok());
  CHECK(again->size() == names->size());
  CHECK(w.remote.Calls("get_endpoint") == 0);
  CHECK(w.remote.Calls("endpoint_search") == 0);
}

TEST_CASE("configured ids that cannot be resolved yet are shown under their id", "[fs][root]") {
  World w;
  w.options.collections = {kTut};
  w.remote.FailNext("get_endpoint", Error::Transport(gf::TransportFailure::kConnect, "down"));
  auto& fs = w.Make();
  auto names = w.List(kRootIno);
  REQUIRE(names.ok());
  CHECK(Has(*names, kTut));
  // Looking the id up resolves it now (network back).
  auto e = fs.Lookup(kRootIno, kTut);
  REQUIRE(e.ok());
  CHECK(S_ISDIR(e->attr.mode));
  auto after = w.List(kRootIno);
  REQUIRE(after.ok());
  CHECK(Has(*after, "Globus Tutorial Collection 1"));
  CHECK_FALSE(Has(*after, kTut));
}

TEST_CASE("configured collections that are not shown: status says which and why", "[fs][root]") {
  World w;
  // A typo (one endpoint_search: the id is a get_endpoint), then a good one.
  w.options.collections = {"UManitoba Grex HCP", kTut};
  w.remote.FailNext("endpoint_search", Error::Transport(gf::TransportFailure::kConnect, "down"));
  auto& fs = w.Make();
  auto names = w.List(kRootIno);
  REQUIRE(names.ok());
  CHECK(Has(*names, "Globus Tutorial Collection 1"));
  std::string status = fs.StatusJson();
  // The first search failed on the network: "not resolved yet", and retried later.
  CHECK(status.find("\"not_shown\":[{\"what\":\"collection 'UManitoba Grex HCP'\",\"why\":"
                    "\"not resolved yet") != std::string::npos);
  w.clock.Advance(std::chrono::minutes(2));  // the retry interval
  REQUIRE(w.List(kRootIno).ok());
  status = fs.StatusJson();
  CHECK(status.find("collection 'UManitoba Grex HCP'") != std::string::npos);
  CHECK(status.find("check `collections` in the config") != std::string::npos);
  CHECK(status.find("not resolved yet") == std::string::npos);
  CHECK(status.find(kTut + std::string("'")) == std::string::npos);  // it is shown
}

TEST_CASE("unknown root names fall back to endpoint_search, exact matches only", "[fs][root]") {
  World w;
  auto& fs = w.Make();
  auto grex = fs.Lookup(kRootIno, "UManitoba Grex HPC");
  REQUIRE(grex.ok());
  CHECK(w.remote.Calls("endpoint_search") == 1);
  auto names = w.List(kRootIno);
  REQUIRE(names.ok());
  CHECK(Has(*names, "UManitoba Grex HPC"));  // joined the root

  // Substring matches are not enough; misses are cached negatively.
  auto miss = fs.Lookup(kRootIno, "Grex");
  REQUIRE_FALSE(miss.ok());
  CHECK(Errno(miss.error()) == ENOENT);
  int searches = w.remote.Calls("endpoint_search");
  CHECK_FALSE(fs.Lookup(kRootIno, "Grex").ok());
  CHECK(w.remote.Calls("endpoint_search") == searches);
  w.clock.Advance(std::chrono::seconds(11));  // negative_ttl = 10
  CHECK_FALSE(fs.Lookup(kRootIno, "Grex").ok());
  CHECK(w.remote.Calls("endpoint_search") == searches + 1);

  // Hidden names are never searched; endpoints are never found.
  CHECK_FALSE(fs.Lookup(kRootIno, ".Trash").ok());
  CHECK(w.remote.Calls("endpoint_search") == searches + 1);
  CHECK_FALSE(fs.Lookup(kRootIno, "Grex Endpoint").ok());
}

TEST_CASE("collection root shows ~ and lookups use cached listings", "[fs][lookup]") {
  World w;
  w.remote.AddFile(kTut, "/data/a.txt", "hello");
  w.remote.AddDir(kTut, "/~/work");
  auto& fs = w.Make();
  auto coll = w.Walk("Globus Tutorial Collection 1");
  REQUIRE(coll.ok());
  auto names = w.List(coll->attr.ino);
  REQUIRE(names.ok());
  CHECK(Has(*names, "~"));
  CHECK(Has(*names, "data"));

  auto data = fs.Lookup(coll->attr.ino, "data");
  REQUIRE(data.ok());
  CHECK(w.List(data->attr.ino).ok());
  w.remote.ResetCalls();
  auto a = fs.Lookup(data->attr.ino, "a.txt");
  REQUIRE(a.ok());
  CHECK(a->attr.size == 5);
  auto missing = fs.Lookup(data->attr.ino, "b.txt");
  REQUIRE_FALSE(missing.ok());
  CHECK(Errno(missing.error()) == ENOENT);
  CHECK(w.remote.Calls("stat") == 0);  // answered from the cached listing
  CHECK(w.remote.Calls("ls") == 0);

  auto home = fs.Lookup(coll->attr.ino, "~");
  REQUIRE(home.ok());
  auto work = fs.Lookup(home->attr.ino, "work");
  REQUIRE(work.ok());
  CHECK(S_ISDIR(work->attr.mode));
  auto path = fs.GetXattr(work->attr.ino, "user.globus.path");
  REQUIRE(path.ok());
  CHECK(*path == "/~/work");
}

TEST_CASE("lookup under an uncached parent is one stat, no listing; misses are cached",
          "[fs][lookup]") {
  World w;
  w.remote.AddFile(kTut, "/big/f1", "x");
  auto& fs = w.Make();
  auto big = w.Walk("Globus Tutorial Collection 1/big");
  REQUIRE(big.ok());
  w.remote.ResetCalls();
  auto f = fs.Lookup(big->attr.ino, "f1");
  REQUIRE(f.ok());
  CHECK(w.remote.Calls("stat") == 1);
  CHECK(w.remote.Calls("ls") == 0);

  auto m1 = fs.Lookup(big->attr.ino, "nope");
  REQUIRE_FALSE(m1.ok());
  CHECK(Errno(m1.error()) == ENOENT);
  CHECK(w.remote.Calls("stat") == 2);
  CHECK_FALSE(fs.Lookup(big->attr.ino, "nope").ok());
  CHECK(w.remote.Calls("stat") == 2);  // negative cache
  w.clock.Advance(std::chrono::seconds(11));
  w.remote.AddFile(kTut, "/big/nope", "now here");
  CHECK(fs.Lookup(big->attr.ino, "nope").ok());
  CHECK(w.remote.Calls("stat") == 3);
}

TEST_CASE("listing TTL expiry refetches; attributes follow", "[fs][ttl]") {
  World w;
  w.remote.AddFile(kTut, "/d/f", "12345");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  w.remote.ResetCalls();
  REQUIRE(w.List(d->attr.ino).ok());
  REQUIRE(w.List(d->attr.ino).ok());
  CHECK(w.remote.Calls("ls") == 1);
  auto f = fs.Lookup(d->attr.ino, "f");
  REQUIRE(f.ok());
  CHECK(f->entry_timeout == Approx(60));
  w.remote.AddFile(kTut, "/d/f", "1234567890");
  w.clock.Advance(std::chrono::seconds(61));
  REQUIRE(w.List(d->attr.ino).ok());
  CHECK(w.remote.Calls("ls") == 2);
  auto attr = fs.GetAttr(f->attr.ino);
  REQUIRE(attr.ok());
  CHECK(attr->attr.size == 10);
}

TEST_CASE("concurrent listings of the same directory make exactly one call", "[fs][coalesce]") {
  World w;
  for (int i = 0; i < 10; ++i) w.remote.AddFile(kTut, "/d/f" + std::to_string(i), "x");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  w.remote.ResetCalls();
  w.remote.CloseGate("ls");
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      auto names = w.List(d->attr.ino);
      if (names.ok() && names->size() == 10) ++ok;
    });
  bool all_waiting =
      Eventually([&] { return w.remote.Blocked("ls") + fs.listing_waiters() == kThreads; });
  w.remote.ReleaseGate("ls");
  for (auto& t : threads) t.join();
  CHECK(all_waiting);
  CHECK(w.remote.Calls("ls") == 1);
  CHECK(ok == kThreads);
}

TEST_CASE("concurrent stats of the same path make exactly one call", "[fs][coalesce]") {
  World w;
  w.remote.AddFile(kTut, "/d/f", "x");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  w.remote.ResetCalls();
  w.remote.CloseGate("stat");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&] {
      if (fs.Lookup(d->attr.ino, "f").ok()) ++ok;
    });
  bool all_waiting = Eventually([&] { return w.remote.Blocked("stat") + fs.stat_waiters() == 6; });
  w.remote.ReleaseGate("stat");
  for (auto& t : threads) t.join();
  CHECK(all_waiting);
  CHECK(w.remote.Calls("stat") == 1);
  CHECK(ok == 6);
}

TEST_CASE("service errors map to errno through the core", "[fs][errors]") {
  World w;
  w.remote.AddFile(kTut, "/d/f", "x");
  auto& fs = w.Make();
  auto coll = w.Walk("Globus Tutorial Collection 1");
  REQUIRE(coll.ok());
  w.remote.FailNext("stat", Error::Api(403, "EndpointPermissionDenied", "Denied by endpoint"));
  auto denied = fs.Lookup(coll->attr.ino, "d");
  REQUIRE_FALSE(denied.ok());
  CHECK(Errno(denied.error()) == EACCES);

  auto d = fs.Lookup(coll->attr.ino, "d");
  REQUIRE(d.ok());
  w.remote.FailNext("ls", Error::Api(502, "ExternalError.DirListingFailed.NotDirectory", "file"));
  auto notdir = w.List(d->attr.ino);
  REQUIRE_FALSE(notdir.ok());
  CHECK(Errno(notdir.error()) == ENOTDIR);

  w.remote.FailNext("ls", Error::Transport(gf::TransportFailure::kTimeout, "slow"));
  auto timeout = w.List(d->attr.ino);
  REQUIRE_FALSE(timeout.ok());
  CHECK(Errno(timeout.error()) == ETIMEDOUT);
}

namespace {
struct CountingAuthorizer : Authorizer {
  int calls = 0;
  bool succeed = true;
  std::optional<Error> fail_with;  // else the error it was given
  gf::Status Authorize(const Error& e, const std::string& collection) override {
    ++calls;
    last_collection = collection;
    if (succeed) return gf::Status::Ok();
    return fail_with ? *fail_with : e;
  }
  std::string last_collection;
};
Error ConsentError() {
  Error e = Error::Api(403, "ConsentRequired", "Missing required data_access consent");
  gf::AuthorizationParameters p;
  p.required_scopes = {
      "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/x/"
      "data_access]"};
  e.authorization = p;
  return e;
}
}  // namespace

TEST_CASE("authorization errors are EACCES by default and retried once after the Authorizer",
          "[fs][errors][auth]") {
  World w;
  w.remote.AddFile(kTut, "/d/f", "x");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  w.remote.FailNext("ls", ConsentError());
  auto r = w.List(d->attr.ino);
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r.error()) == EACCES);

  CountingAuthorizer auth;
  w.authorizer.target = &auth;
  w.remote.ResetCalls();
  w.remote.FailNext("ls", ConsentError());
  auto ok = w.List(d->attr.ino);
  REQUIRE(ok.ok());
  CHECK(auth.calls == 1);
  CHECK(auth.last_collection == kTut);
  CHECK(w.remote.Calls("ls") == 2);

  // Ctrl-C while waiting for the login: the call fails with EINTR, not the EACCES of the
  // requirement (the flow is still pending), and is not retried.
  auth.succeed = false;
  auth.fail_with = Error::Local(EINTR, "interrupted while waiting for the login");
  w.remote.ResetCalls();
  REQUIRE(fs.SetXattr(d->attr.ino, kInvalidateXattr, "1").ok());
  w.remote.FailNext("ls", ConsentError());
  auto interrupted = w.List(d->attr.ino);
  REQUIRE_FALSE(interrupted.ok());
  CHECK(Errno(interrupted.error()) == EINTR);
  CHECK(w.remote.Calls("ls") == 1);
}

TEST_CASE("readdirplus fills attributes and counts lookups", "[fs][readdir]") {
  World w;
  w.options.umask = 027;
  w.remote.AddFile(kTut, "/d/f", std::string(1000, 'x'), 1600000123, 0664);
  w.remote.AddDir(kTut, "/d/sub", 0775);
  w.remote.AddFile(kTut, "/d/empty", "");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  CollectingReplier rows;
  REQUIRE(w.List(d->attr.ino, true, &rows).ok());
  const auto* f = rows.Find("f");
  REQUIRE(f);
  CHECK(f->plus);
  CHECK(S_ISREG(f->attr.mode));
  CHECK((f->attr.mode & 07777) == 0640);
  CHECK(f->attr.size == 1000);
  CHECK(f->attr.blocks == 2);  // ceil(1000/512): never looks sparse
  CHECK(f->attr.nlink == 1);
  CHECK(f->attr.uid == 1234);
  CHECK(f->attr.gid == 5678);
  CHECK(f->attr.mtime == 1600000123);
  const auto* sub = rows.Find("sub");
  REQUIRE(sub);
  CHECK(S_ISDIR(sub->attr.mode));
  CHECK((sub->attr.mode & 07777) == 0750);
  CHECK(sub->attr.nlink == 2);
  CHECK(rows.Find("empty")->attr.blocks == 0);
  CHECK(fs.inodes().LookupCount(f->plus_ino) == 1);
  CHECK(fs.inodes().LookupCount(rows.Find(".")->attr.ino) == 1);  // "." not counted again

  // A full buffer: the refused entry's count is undone.
  CollectingReplier small;
  small.capacity = 3;  // ".", "..", first entry
  auto fh = fs.OpenDir(d->attr.ino);
  REQUIRE(fh.ok());
  REQUIRE(fs.ReadDir(d->attr.ino, *fh, 0, true, small).ok());
  fs.ReleaseDir(*fh);
  REQUIRE(small.rows.size() == 3);
  CHECK(fs.inodes().LookupCount(rows.Find("f")->plus_ino) == 1);
  CHECK(fs.inodes().LookupCount(small.rows[2].plus_ino) == 2);
}

TEST_CASE("symlinks and invalid symlinks", "[fs][symlink]") {
  World w;
  w.remote.AddFile(kTut, "/d/real", "x");
  w.remote.AddSymlink(kTut, "/d/rel", "real");
  w.remote.AddSymlink(kTut, "/d/abs", "/d/real");
  gf::testing::FakeRemote::Node dangling;
  dangling.type = gf::api::EntryType::kInvalidSymlink;
  dangling.link_target = "gone";
  w.remote.SetNode(kTut, "/d/dangling", dangling);
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  auto rel = fs.Lookup(d->attr.ino, "rel");
  REQUIRE(rel.ok());
  CHECK(S_ISLNK(rel->attr.mode));
  CHECK(*fs.ReadLink(rel->attr.ino) == "real");
  auto abs = fs.Lookup(d->attr.ino, "abs");
  REQUIRE(abs.ok());
  CHECK(*fs.ReadLink(abs->attr.ino) == "../d/real");  // stays inside the collection
  auto dl = fs.Lookup(d->attr.ino, "dangling");
  REQUIRE(dl.ok());
  CHECK(S_ISLNK(dl->attr.mode));
  CHECK(*fs.ReadLink(dl->attr.ino) == "gone");
  CHECK(Errno(fs.ReadLink(d->attr.ino).error()) == EINVAL);
}

TEST_CASE("a symlink's size is the length of what readlink returns", "[fs][symlink]") {
  // libarchive (bsdtar) and others read a link into a buffer of st_size bytes: an absolute
  // target, shown relative to the link, must not be cut short.
  World w;
  w.remote.AddFile(kTut, "/d/real", "x");
  w.remote.AddSymlink(kTut, "/d/abs", "/d/real");
  w.remote.AddSymlink(kTut, "/d/e/deeper", "/d/real");
  w.remote.AddSymlink(kTut, "/top", "/d/real");
  auto& fs = w.Make();
  for (const char* p : {"d/abs", "d/e/deeper", "top"}) {
    INFO(p);
    auto l = w.Walk(std::string("Globus Tutorial Collection 1/") + p);
    REQUIRE(l.ok());
    auto target = fs.ReadLink(l->attr.ino);
    REQUIRE(target.ok());
    CHECK(l->attr.size == target->size());
    CHECK(fs.GetAttr(l->attr.ino)->attr.size == target->size());
  }
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  for (bool plus : {false, true}) {
    CollectingReplier rows;
    REQUIRE(w.List(d->attr.ino, plus, &rows).ok());
    REQUIRE(rows.Find("abs"));
    CHECK(rows.Find("abs")->attr.size == std::string("../d/real").size());
  }
}

TEST_CASE("a symlink reported with its target's type is still a symlink", "[fs][symlink]") {
  // The real service reports a valid symlink with the TARGET's type and size plus link_target
  // (globus-api.md §1.1); the mount must show the link itself.
  World w;
  w.remote.AddFile(kTut, "/d/real", "0123456789");
  gf::testing::FakeRemote::Node link;
  link.type = gf::api::EntryType::kFile;
  link.link_target = "real";
  link.size_override = 10;
  w.remote.SetNode(kTut, "/d/link", link);
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  auto l = fs.Lookup(d->attr.ino, "link");
  REQUIRE(l.ok());
  CHECK(S_ISLNK(l->attr.mode));
  CHECK(l->attr.size == 4);
  CHECK(*fs.ReadLink(l->attr.ino) == "real");
}

TEST_CASE("extended attributes", "[fs][xattr]") {
  World w;
  w.remote.AddFile(kTut, "/d/my file.txt", "x");
  w.remote.AddSymlink(kTut, "/d/link", "my file.txt");
  auto& fs = w.Make();
  auto f = w.Walk("Globus Tutorial Collection 1/d/my file.txt");
  REQUIRE(f.ok());
  auto names = fs.ListXattr(f->attr.ino);
  REQUIRE(names.ok());
  CHECK(Has(*names, "user.globus.collection_id"));
  CHECK(Has(*names, "user.globus.path"));
  CHECK(Has(*names, "user.globus.https_url"));
  CHECK(*fs.GetXattr(f->attr.ino, "user.globus.collection_id") == kTut);
  CHECK(*fs.GetXattr(f->attr.ino, "user.globus.path") == "/d/my file.txt");
  CHECK(*fs.GetXattr(f->attr.ino, "user.globus.https_url") ==
        "https://tut.example.org/d/my%20file.txt");
  auto none = fs.GetXattr(f->attr.ino, "user.other");
  REQUIRE_FALSE(none.ok());
  CHECK(Errno(none.error()) == ENODATA);
  // Other namespaces do not exist here: ENOTSUP (not ENODATA) lets `ls -l` cache "unsupported"
  // for the whole mount instead of asking twice per file.
  for (const char* other : {"security.selinux", "system.posix_acl_access", "trusted.x"}) {
    auto r = fs.GetXattr(f->attr.ino, other);
    REQUIRE_FALSE(r.ok());
    CHECK(Errno(r.error()) == EOPNOTSUPP);
  }
  auto dir = w.Walk("Globus Tutorial Collection 1/d");
  auto dnames = fs.ListXattr(dir->attr.ino);
  CHECK_FALSE(Has(*dnames, "user.globus.https_url"));
  CHECK(fs.ListXattr(kRootIno)->empty());
  // The kernel answers ENODATA to any user.* getxattr on a symlink without asking us, so
  // names listed there make `getfattr -h -d` and `cp -a`/`rsync -X` fail on each one.
  auto link = w.Walk("Globus Tutorial Collection 1/d/link");
  REQUIRE(link.ok());
  CHECK(fs.ListXattr(link->attr.ino)->empty());
}

TEST_CASE("symlinks, hard links, pipes and device files cannot be made: EPERM", "[fs][namespace]") {
  // ln -s, ln and mkfifo said ENOSYS ("Function not implemented"); symlink(2), link(2) and
  // mknod(2) name EPERM for a filesystem that cannot make them.
  World w;
  w.remote.AddDir(kTut, "/d");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  using K = Filesystem::NodeKind;
  for (K kind : {K::kSymlink, K::kHardLink, K::kSpecial}) {
    INFO(static_cast<int>(kind));
    auto s = fs.CreateUnsupported(kind, d->attr.ino, "x");
    REQUIRE_FALSE(s.ok());
    CHECK(Errno(s.error()) == EPERM);
    CHECK_FALSE(s.error().message.empty());
    CHECK(Errno(fs.CreateUnsupported(kind, kRootIno, "x").error()) == EPERM);
  }
  CHECK(fs.CreateUnsupported(K::kSymlink, d->attr.ino, "x").error().message.find("symbolic link") !=
        std::string::npos);
  CHECK(w.remote.Calls("mkdir") == 0);
  CHECK_FALSE(w.remote.Exists(kTut, "/d/x"));
  CHECK(Errno(fs.Lookup(d->attr.ino, "x").error()) == ENOENT);
}

TEST_CASE("mkdir and rename", "[fs][namespace]") {
  World w;
  w.options.collections = {kTut, kSlash};
  w.remote.AddFile(kTut, "/d/a", "A");
  w.remote.AddFile(kTut, "/d/b", "B");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  REQUIRE(w.List(d->attr.ino).ok());

  auto made = fs.Mkdir(d->attr.ino, "new", 0755);
  REQUIRE(made.ok());
  CHECK(S_ISDIR(made->attr.mode));
  CHECK(w.remote.Exists(kTut, "/d/new"));
  auto listed = w.List(d->attr.ino);
  REQUIRE(listed.ok());
  CHECK(Has(*listed, "new"));  // listing was invalidated
  auto again = fs.Mkdir(d->attr.ino, "new", 0755);
  REQUIRE_FALSE(again.ok());
  CHECK(Errno(again.error()) == EEXIST);
  CHECK(Errno(fs.Mkdir(kRootIno, "x", 0755).error()) == EPERM);

  auto noreplace = fs.Rename(d->attr.ino, "a", d->attr.ino, "b", RENAME_NOREPLACE);
  REQUIRE_FALSE(noreplace.ok());
  CHECK(Errno(noreplace.error()) == EEXIST);
  CHECK(w.remote.Calls("rename") == 0);
  CHECK(Errno(fs.Rename(d->attr.ino, "a", d->attr.ino, "c", RENAME_EXCHANGE).error()) == EINVAL);

  auto a = fs.Lookup(d->attr.ino, "a");
  REQUIRE(a.ok());
  REQUIRE(fs.Rename(d->attr.ino, "a", made->attr.ino, "c", RENAME_NOREPLACE).ok());
  CHECK(w.remote.Exists(kTut, "/d/new/c"));
  CHECK_FALSE(w.remote.Exists(kTut, "/d/a"));
  CHECK(*fs.GetXattr(a->attr.ino, "user.globus.path") == "/d/new/c");  // same inode, new place
  CHECK(Errno(fs.Lookup(d->attr.ino, "a").error()) == ENOENT);

  auto other = w.Walk(
      "A\xE2\x88\x95"
      "B Lab");
  REQUIRE(other.ok());
  CHECK(fs.Unlink(d->attr.ino, "b").ok());  // an HTTPS DELETE (tests/unit/fs/delete_test.cc)
  auto z = fs.Create(d->attr.ino, "z", 0644, O_RDWR | O_CREAT | O_EXCL);  // mkstemp, locks
  REQUIRE(z.ok());
  fs.Release(z->opened.fh);
  CHECK(Errno(fs.CopyFileRange(a->attr.ino, 0, 0, a->attr.ino, 0, 0, 1).error()) == EOPNOTSUPP);
}

TEST_CASE("rename onto a non-empty directory is ENOTEMPTY, not the service's error",
          "[fs][namespace]") {
  // mv -T d1 d2 with d2 holding files: rename(2) says ENOTEMPTY ("Directory not empty"); the
  // service's refusal is a 502 that would read as EIO ("Input/output error").
  World w;
  w.remote.AddFile(kTut, "/d/src/f", "f");
  w.remote.AddFile(kTut, "/d/full/g", "g");
  w.remote.AddDir(kTut, "/d/empty");
  auto& fs = w.Make();
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  auto full = fs.Rename(d->attr.ino, "src", d->attr.ino, "full", 0);
  REQUIRE_FALSE(full.ok());
  CHECK(Errno(full.error()) == ENOTEMPTY);
  CHECK(w.remote.Calls("rename") == 0);
  CHECK(w.remote.Exists(kTut, "/d/full/g"));
  CHECK(w.remote.Exists(kTut, "/d/src/f"));
}

TEST_CASE("drop caches through the invalidate xattr", "[fs][invalidate]") {
  World w;
  w.remote.AddFile(kTut, "/d/sub/f", "x");
  auto& fs = w.Make();
  RecordingNotifier& notes = w.notifier;  // what the core tells the kernel
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  auto sub = fs.Lookup(d->attr.ino, "sub");
  REQUIRE(w.List(d->attr.ino).ok());
  REQUIRE(w.List(sub->attr.ino).ok());
  CHECK_FALSE(fs.Lookup(sub->attr.ino, "missing").ok());
  w.remote.ResetCalls();
  REQUIRE(w.List(d->attr.ino).ok());
  CHECK(w.remote.Calls("ls") == 0);

  REQUIRE(fs.SetXattr(d->attr.ino, kInvalidateXattr, "1").ok());
  CHECK(std::count(notes.inodes.begin(), notes.inodes.end(), d->attr.ino) == 1);
  CHECK(std::count(notes.inodes.begin(), notes.inodes.end(), sub->attr.ino) == 1);
  CHECK(std::find(notes.entries.begin(), notes.entries.end(),
                  std::make_pair(d->attr.ino, std::string("sub"))) != notes.entries.end());
  // And d's own entry: dropping it drops the kernel's negative entries directly in d (a name
  // looked up while missing), which no entry of ours names.
  auto top = w.Walk("Globus Tutorial Collection 1");
  REQUIRE(top.ok());
  CHECK(std::find(notes.entries.begin(), notes.entries.end(),
                  std::make_pair(top->attr.ino, std::string("d"))) != notes.entries.end());
  REQUIRE(w.List(d->attr.ino).ok());
  REQUIRE(w.List(sub->attr.ino).ok());
  CHECK(w.remote.Calls("ls") == 2);  // both levels refetched
  CHECK(Errno(fs.SetXattr(d->attr.ino, "user.other", "1").error()) == EOPNOTSUPP);

  // drop-caches' second step: reading the attribute waits for the kernel to be told.
  CHECK(notes.settles == 0);
  auto settled = fs.GetXattr(kRootIno, kInvalidateXattr);
  REQUIRE(settled.ok());
  CHECK(*settled == "settled");
  CHECK(notes.settles == 1);
  notes.settle_result = false;  // the notification thread is stuck
  auto stuck = fs.GetXattr(kRootIno, kInvalidateXattr);
  REQUIRE_FALSE(stuck.ok());
  CHECK(Errno(stuck.error()) == ETIMEDOUT);
}

TEST_CASE("status file is JSON with collections, caches and api calls", "[fs][status]") {
  World w;
  w.options.mount_point = "/mnt/globus";
  auto& fs = w.Make();
  REQUIRE(w.List(kRootIno).ok());
  auto ctl = fs.Lookup(kRootIno, ".globus-fuse");
  REQUIRE(ctl.ok());
  auto st = fs.Lookup(ctl->attr.ino, "status");
  REQUIRE(st.ok());
  auto o = fs.Open(st->attr.ino, O_RDONLY);
  REQUIRE(o.ok());
  CHECK(o->direct_io);
  auto read = fs.Read(o->fh, 0, 1 << 20);
  fs.Release(o->fh);
  REQUIRE(read.ok());
  auto body = read->ToString();
  CHECK(body.find("\"mount_point\":\"/mnt/globus\"") != std::string::npos);
  CHECK(body.find("Globus Tutorial Collection 1") != std::string::npos);
  CHECK(body.find("\"get_endpoint\":{\"calls\":1") != std::string::npos);
  CHECK(body.find("\"transfers\"") != std::string::npos);
}

TEST_CASE("tree-walk prefetch lists subdirectories with bounded concurrency", "[fs][prefetch]") {
  World w;
  w.options.listing_prefetch_workers = 4;
  for (int i = 0; i < 8; ++i) w.remote.AddFile(kTut, "/t/d" + std::to_string(i) + "/f", "x");
  auto& fs = w.Make(/*start=*/false);
  auto t = w.Walk("Globus Tutorial Collection 1/t");
  REQUIRE(t.ok());
  REQUIRE(w.List(t->attr.ino).ok());  // queues 8 subdirectory listings
  CHECK(fs.listing_prefetch_queue().queued() == 8);
  w.remote.ResetCalls();
  w.remote.CloseGate("ls");
  fs.Start();
  bool four = Eventually([&] { return w.remote.Blocked("ls") == 4; });
  CHECK(four);
  CHECK(fs.listing_prefetch_queue().running() == 4);
  CHECK(fs.listing_prefetch_queue().queued() == 4);  // the rest wait for a worker
  w.remote.ReleaseGate("ls");
  fs.listing_prefetch_queue().WaitIdle();
  CHECK(w.remote.Calls("ls") == 8);
  for (int i = 0; i < 8; ++i) {
    auto sub = fs.Lookup(t->attr.ino, "d" + std::to_string(i));
    REQUIRE(sub.ok());
    CHECK(w.List(sub->attr.ino).ok());
  }
  CHECK(w.remote.Calls("ls") == 8);  // the walk itself made no extra call
}

TEST_CASE("prefetch skips large directories", "[fs][prefetch]") {
  World w;
  w.options.listing_prefetch_workers = 2;
  w.options.listing_prefetch_max_entries = 5;
  for (int i = 0; i < 6; ++i) w.remote.AddDir(kTut, "/t/d" + std::to_string(i));
  auto& fs = w.Make(/*start=*/false);
  auto t = w.Walk("Globus Tutorial Collection 1/t");
  REQUIRE(t.ok());
  REQUIRE(w.List(t->attr.ino).ok());
  CHECK(fs.listing_prefetch_queue().queued() == 0);
}

TEST_CASE("the overlay adds pending entries and hides moving ones", "[fs][overlay]") {
  World w;
  w.remote.AddFile(kTut, "/d/moving", "x");
  w.remote.AddFile(kTut, "/d/stays", "x");
  auto& fs = w.Make();
  Meta incoming;
  incoming.type = gf::api::EntryType::kFile;
  incoming.size = 42;
  incoming.permissions = 0644;
  PendingOverlay& overlay = fs.superblock().overlay();
  overlay.AddCopy(1, Location{kTut, "/d/incoming"}, incoming);
  overlay.AddMove(2, Location{kTut, "/d/moving"}, Location{kShared1, "/moved"}, incoming);
  auto d = w.Walk("Globus Tutorial Collection 1/d");
  REQUIRE(d.ok());
  auto names = w.List(d->attr.ino);
  REQUIRE(names.ok());
  CHECK(Has(*names, "incoming"));
  CHECK(Has(*names, "stays"));
  CHECK_FALSE(Has(*names, "moving"));
  auto inc = fs.Lookup(d->attr.ino, "incoming");
  REQUIRE(inc.ok());
  CHECK(inc->attr.size == 42);
  CHECK(*fs.GetXattr(inc->attr.ino, "user.globus.status") == "queued");
  CHECK(Errno(fs.Lookup(d->attr.ino, "moving").error()) == ENOENT);
}

TEST_CASE("FsOptions::FromConfig carries every fs key from the config", "[fs][config]") {
  gf::Config c;
  REQUIRE(gf::ParseConfigText(c,
                              "read_part_size = 4M\nprefetch_workers = 0\n"
                              "pending_wait_seconds = 90\nread_parallelism = 3\n",
                              "t")
              .ok());
  FsOptions o = FsOptions::FromConfig(c);
  CHECK(o.read_part_size == 4ull << 20);
  CHECK(o.listing_prefetch_workers == 0);
  CHECK(o.pending_wait_seconds == 90);
  CHECK(o.read_parallelism == 3);
}

TEST_CASE("warm_root resolves the root at Start, before any operation", "[fs][root]") {
  World w;
  w.options.collections = {kTut, kGrex};
  SECTION("off (the default): nothing until the first operation") {
    w.Make();
    CHECK(w.remote.Calls("get_endpoint") == 0);
  }
  SECTION("on: both collections are resolved in the background") {
    w.options.warm_root = true;
    auto& fs = w.Make();
    CHECK(Eventually([&] { return w.remote.Calls("get_endpoint") == 2; }));
    w.remote.ResetCalls();
    auto names = w.List(kRootIno);  // already resolved: no call
    REQUIRE(names.ok());
    CHECK(Has(*names, "UManitoba Grex HPC"));
    CHECK(w.remote.Calls("get_endpoint") == 0);
    (void)fs;
  }
}
