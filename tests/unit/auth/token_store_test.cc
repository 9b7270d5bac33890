#include <sys/stat.h>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "auth/token_store.h"
#include "temp_dir.h"

using namespace gf;
using namespace gf::auth;
using gf::testing::TempDir;

namespace {
Token Tok(const std::string& rs, const std::string& access, const std::string& refresh = "r",
          int64_t exp = 2000000000) {
  Token t;
  t.resource_server = rs;
  t.access_token = access;
  t.refresh_token = refresh;
  t.expires_at = exp;
  t.scope = "scope-of-" + rs;
  return t;
}
mode_t ModeOf(const std::string& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}
ino_t InodeOf(const std::string& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_ino;
}
struct Umask {
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
  mode_t old;
};
}  // namespace

TEST_CASE("Token store round-trips every field", "[token_store]") {
  StoredTokens s;
  s.tokens["transfer.api.globus.org"] = Tok("transfer.api.globus.org", "A", "R", 123);
  s.identity_sub = "sub-1";
  s.identity_username = "alice@globusid.org";
  s.session_identities = {"sub-1", "sub-2"};
  s.updated_at = 77;
  auto back = ParseStoredTokens(SerializeStoredTokens(s), "f");
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK_FALSE(ParseStoredTokens("{nope", "f").ok());
}

TEST_CASE("Token file is 0600 (dir 0700) even with a permissive umask", "[token_store]") {
  TempDir d;
  Umask um(0);
  std::string path = d / "sub/dir/tokens.json";
  TokenStore store(path);
  REQUIRE(store.Merge({Tok("auth.globus.org", "A")}).ok());
  CHECK(ModeOf(path) == 0600);
  CHECK(ModeOf(d / "sub/dir") == 0700);
  CHECK(ModeOf(path + ".lock") == 0600);
  // And with a umask that would remove the owner's write bit.
  Umask strict(0277);
  REQUIRE(store.Merge({Tok("auth.globus.org", "B")}).ok());
  CHECK(ModeOf(path) == 0600);
}

TEST_CASE("Token store replaces the file atomically and leaves no temp files", "[token_store]") {
  TempDir d;
  std::string path = d / "tokens.json";
  TokenStore store(path);
  REQUIRE(store.Merge({Tok("auth.globus.org", "A")}).ok());
  ino_t first = InodeOf(path);
  REQUIRE(store.Merge({Tok("auth.globus.org", "B")}).ok());
  CHECK(InodeOf(path) != first);  // a new file renamed over the old one
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(d.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 2);  // tokens.json + tokens.json.lock
  auto s = store.Load();
  REQUIRE(s.ok());
  CHECK(s->tokens.at("auth.globus.org").access_token == "B");
}

TEST_CASE("Merge keeps tokens of other resource servers, including another writer's",
          "[token_store]") {
  TempDir d;
  std::string path = d / "tokens.json";
  TokenStore a(path), b(path);
  REQUIRE(a.Merge({Tok("auth.globus.org", "A1"), Tok("transfer.api.globus.org", "T1")}).ok());
  REQUIRE(b.Merge({Tok("c0ffee00-0000-4000-8000-000000000001", "C1")}).ok());
  // `a` has not reloaded since b wrote; its Merge must not clobber C1.
  REQUIRE(a.Merge({Tok("transfer.api.globus.org", "T2", "")}).ok());
  auto s = b.Load();
  REQUIRE(s.ok());
  REQUIRE(s->tokens.size() == 3);
  CHECK(s->tokens.at("auth.globus.org").access_token == "A1");
  CHECK(s->tokens.at("c0ffee00-0000-4000-8000-000000000001").access_token == "C1");
  CHECK(s->tokens.at("transfer.api.globus.org").access_token == "T2");
  // A new token without a refresh token keeps the old refresh token.
  CHECK(s->tokens.at("transfer.api.globus.org").refresh_token == "r");
}

TEST_CASE("Concurrent merges from two stores never lose a resource server", "[token_store]") {
  TempDir d;
  std::string path = d / "tokens.json";
  TokenStore a(path), b(path);
  std::thread ta([&] {
    for (int i = 0; i < 20; ++i) REQUIRE(a.Merge({Tok("rs-a-" + std::to_string(i), "x")}).ok());
  });
  std::thread tb([&] {
    for (int i = 0; i < 20; ++i) REQUIRE(b.Merge({Tok("rs-b-" + std::to_string(i), "y")}).ok());
  });
  ta.join();
  tb.join();
  auto s = a.Load();
  REQUIRE(s.ok());
  CHECK(s->tokens.size() == 40);
}

TEST_CASE("A read does not wait for another process's update in progress (a refresh)",
          "[token_store]") {
  // Another process refreshing holds the file lock across its network call. A mount (or the
  // CLI) that only reads must not stall behind it: it reads the file as it is.
  TempDir d;
  std::string path = d / "tokens.json";
  TokenStore refresher(path), reader(path);  // flock is per open file: like two processes
  REQUIRE(refresher.Merge({Tok("transfer.api.globus.org", "old")}).ok());
  std::mutex mu;
  std::condition_variable cv;
  bool inside = false, read_done = false;
  bool reader_was_waited_for = false;
  std::thread t([&] {
    auto r = refresher.Update([&](StoredTokens& s) -> Status {
      std::unique_lock<std::mutex> l(mu);
      inside = true;
      cv.notify_all();
      // The "network call": it lasts until the reader is done. The bound only keeps a broken
      // build from hanging the suite: with a reader that waits for the lock, it runs out.
      reader_was_waited_for = cv.wait_for(l, std::chrono::seconds(20), [&] { return read_done; });
      s.tokens["transfer.api.globus.org"] = Tok("transfer.api.globus.org", "new");
      return Status::Ok();
    });
    REQUIRE(r.ok());
  });
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return inside; });
  }
  auto s = reader.Load();
  {
    std::lock_guard<std::mutex> l(mu);
    read_done = true;
    cv.notify_all();
  }
  t.join();
  CHECK(reader_was_waited_for);  // the read ended while the update was still in progress
  REQUIRE(s.ok());
  CHECK(s->tokens.at("transfer.api.globus.org").access_token == "old");
  // and the new file is seen as a change, then read
  CHECK(reader.ChangedOnDisk());
  CHECK(reader.Load()->tokens.at("transfer.api.globus.org").access_token == "new");
}

TEST_CASE("Change detection sees another store's write", "[token_store]") {
  TempDir d;
  std::string path = d / "tokens.json";
  TokenStore a(path), b(path);
  CHECK(a.ChangedOnDisk());  // nothing read yet
  REQUIRE(a.Load().ok());    // missing file: empty
  CHECK_FALSE(a.ChangedOnDisk());
  REQUIRE(b.Merge({Tok("auth.globus.org", "A")}).ok());
  CHECK(a.ChangedOnDisk());
  auto s = a.Load();
  REQUIRE(s.ok());
  CHECK(s->tokens.at("auth.globus.org").access_token == "A");
  CHECK_FALSE(a.ChangedOnDisk());
  REQUIRE(b.Merge({Tok("auth.globus.org", "B")}).ok());
  CHECK(a.ChangedOnDisk());
  REQUIRE(b.Remove().ok());
  REQUIRE(a.Load().ok());
  CHECK(a.Load()->tokens.empty());
}

TEST_CASE("A group/world-readable token file is fixed to 0600; a symlink is refused",
          "[token_store]") {
  TempDir d;
  std::string path = d / "tokens.json";
  TokenStore store(path);
  REQUIRE(store.Merge({Tok("auth.globus.org", "A")}).ok());
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto s = store.Load();
  REQUIRE(s.ok());
  CHECK(s->tokens.size() == 1);
  CHECK(ModeOf(path) == 0600);

  std::string link = d / "link.json";
  REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
  TokenStore via_link(link);
  auto r = via_link.Load();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().sys_errno == EPERM);
}

TEST_CASE("Update writes nothing when nothing changed, and nothing on error", "[token_store]") {
  TempDir d;
  std::string path = d / "tokens.json";
  TokenStore store(path);
  REQUIRE(store.Merge({Tok("auth.globus.org", "A")}).ok());
  ino_t ino = InodeOf(path);
  REQUIRE(store.Update([](StoredTokens&) { return Status::Ok(); }).ok());
  CHECK(InodeOf(path) == ino);
  auto r = store.Update([](StoredTokens& s) -> Status {
    s.tokens.clear();
    return Error::Config("no");
  });
  CHECK_FALSE(r.ok());
  CHECK(InodeOf(path) == ino);
  CHECK(store.Load()->tokens.size() == 1);
}

TEST_CASE("A damaged token file is recognised and moved aside, keeping its bytes and mode",
          "[token_store]") {
  TempDir d;
  std::string path = d / "tokens.json";
  {
    std::ofstream f(path);
    f << "{garbage";
  }
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  TokenStore store(path);
  store.SetNow([] { return int64_t{1700000000}; });
  auto r = store.Load();
  REQUIRE_FALSE(r.ok());
  CHECK(IsDamagedTokenFile(r.error()));
  auto aside = store.MoveAside();
  REQUIRE(aside.ok());
  CHECK(*aside == path + ".damaged-1700000000");
  std::ifstream kept(*aside);
  std::string bytes((std::istreambuf_iterator<char>(kept)), std::istreambuf_iterator<char>());
  CHECK(bytes == "{garbage");
  CHECK(ModeOf(*aside) == 0600);
  auto now = store.Load();
  REQUIRE(now.ok());
  CHECK(now->tokens.empty());
  REQUIRE(store.Merge({Tok("auth.globus.org", "A")}).ok());  // a fresh login can write again
  auto missing = TokenStore(d / "none.json").MoveAside();
  REQUIRE(missing.ok());
  CHECK(missing->empty());

  TokenStore other(d / "link.json");
  REQUIRE(::symlink(path.c_str(), (d / "link.json").c_str()) == 0);
  auto refused = other.Load();
  REQUIRE_FALSE(refused.ok());
  CHECK_FALSE(IsDamagedTokenFile(refused.error()));  // never moved aside: not ours to touch
}
