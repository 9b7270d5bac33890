#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <thread>

#include "auth/token_manager.h"
#include "temp_dir.h"
#include "tests/support/fake_transport.h"

using namespace gf;
using namespace gf::auth;
using gf::testing::FakeTransport;
using gf::testing::FormField;
using gf::testing::Json;
using gf::testing::RecordedRequest;
using gf::testing::TempDir;

namespace {
constexpr int64_t kNow = 1700000000;  // FakeClock's initial wall time
const std::string kTransfer = "transfer.api.globus.org";

Token Tok(const std::string& rs, const std::string& access, int64_t exp,
          const std::string& refresh = "RT") {
  Token t;
  t.resource_server = rs;
  t.access_token = access;
  t.refresh_token = refresh;
  t.expires_at = exp;
  return t;
}

std::string RefreshBody(const std::string& access, int expires_in = 172800) {
  return R"({"access_token": ")" + access + R"(", "expires_in": )" + std::to_string(expires_in) +
         R"(, "token_type": "Bearer", "resource_server": "transfer.api.globus.org",
            "scope": "urn:globus:auth:scope:transfer.api.globus.org:all",
            "refresh_token": "RT2", "other_tokens": []})";
}

struct World {
  TempDir dir;
  FakeClock clock;
  std::atomic<int> refreshes{0};
  std::function<Result<http::Response>(const gf::testing::RecordedRequest&)> on_refresh =
      [](const gf::testing::RecordedRequest&) {
        return Result<http::Response>(Json(200, RefreshBody("FRESH")));
      };
  FakeTransport transport{[this](const gf::testing::RecordedRequest& r) {
    ++refreshes;
    return on_refresh(r);
  }};
  TokenStore store{dir / "tokens.json"};
  OAuthClient oauth{transport, "https://auth.example.org", "cid", clock};
  TokenManager manager{store, oauth, clock};
  World() {
    oauth.SetSleeper([](Millis) {});
  }
};
}  // namespace

TEST_CASE("No token: not logged in, with the command that fixes it", "[token_manager]") {
  World w;
  auto r = w.manager.AccessToken(kTransfer);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().auth == AuthFailure::kNotLoggedIn);
  CHECK(r.error().message == "not logged in: run `globus-fuse login`");

  const std::string c = "1405823f-0597-4a16-b296-46d4f0ae4b15";
  auto rc = w.manager.AccessToken(c);
  REQUIRE_FALSE(rc.ok());
  CHECK(rc.error().auth == AuthFailure::kNotLoggedIn);
  CHECK(rc.error().message.find("globus-fuse login --scope https://auth.globus.org/scopes/" + c +
                                "/https") != std::string::npos);
  REQUIRE(rc.error().authorization.has_value());
  CHECK(rc.error().authorization->required_scopes ==
        std::vector<std::string>{"https://auth.globus.org/scopes/" + c + "/https"});
  CHECK(w.refreshes == 0);
}

TEST_CASE("Tokens are refreshed only within the margin before expiry", "[token_manager]") {
  World w;
  REQUIRE(w.store.Merge({Tok(kTransfer, "OLD", kNow + 3600)}).ok());
  auto r = w.manager.AccessToken(kTransfer);
  REQUIRE(r.ok());
  CHECK(*r == "OLD");
  CHECK(w.refreshes == 0);

  w.clock.Advance(std::chrono::seconds(3600 - 301));
  CHECK(*w.manager.AccessToken(kTransfer) == "OLD");
  CHECK(w.refreshes == 0);

  w.clock.Advance(std::chrono::seconds(2));  // now 299 s before expiry
  auto fresh = w.manager.AccessToken(kTransfer);
  REQUIRE(fresh.ok());
  CHECK(*fresh == "FRESH");
  CHECK(w.refreshes == 1);
  CHECK(FormField(w.transport.requests()[0].body, "refresh_token") == "RT");

  // Persisted, with the rotated refresh token, for other processes.
  TokenStore other(w.store.path());
  auto s = other.Load();
  REQUIRE(s.ok());
  CHECK(s->tokens.at(kTransfer).access_token == "FRESH");
  CHECK(s->tokens.at(kTransfer).refresh_token == "RT2");
  CHECK(s->tokens.at(kTransfer).expires_at == kNow + 3600 - 299 + 172800);

  CHECK(*w.manager.AccessToken(kTransfer) == "FRESH");
  CHECK(w.refreshes == 1);
}

TEST_CASE("Concurrent callers share one refresh", "[token_manager]") {
  World w;
  REQUIRE(w.store.Merge({Tok(kTransfer, "OLD", kNow + 10)}).ok());
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> entered{0};
  w.on_refresh = [&](const gf::testing::RecordedRequest&) {
    ++entered;
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return release; });
    return Result<http::Response>(Json(200, RefreshBody("SHARED")));
  };
  constexpr int kThreads = 8;
  std::atomic<int> started{0};
  std::vector<std::string> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++started;
      auto r = w.manager.AccessToken(kTransfer);
      got[i] = r.ok() ? *r : "error: " + r.error().Describe();
    });
  }
  // Every other caller waits for the one refresh in flight. (A spin, no sleeping; its bound
  // only keeps a broken build from hanging.)
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (w.manager.RefreshWaiters(kTransfer) < kThreads - 1 &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::yield();
  CHECK(w.manager.RefreshWaiters(kTransfer) == kThreads - 1);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  CHECK(w.refreshes == 1);
  for (const auto& g : got) CHECK(g == "SHARED");
}

TEST_CASE("A refused refresh means log in again, for every waiter", "[token_manager]") {
  World w;
  REQUIRE(w.store.Merge({Tok(kTransfer, "OLD", kNow + 10)}).ok());
  w.on_refresh = [](const gf::testing::RecordedRequest&) {
    return Result<http::Response>(Json(401, R"({"error": "invalid_grant"})"));
  };
  auto r = w.manager.AccessToken(kTransfer);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::kAuth);
  CHECK(r.error().auth == AuthFailure::kLoginAgain);
  CHECK(r.error().message.find("globus-fuse login") != std::string::npos);
  // The stored token is left alone.
  CHECK(TokenStore(w.store.path()).Load()->tokens.at(kTransfer).access_token == "OLD");
}

TEST_CASE("An expired token without a refresh token means log in again", "[token_manager]") {
  World w;
  REQUIRE(w.store.Merge({Tok(kTransfer, "OLD", kNow - 10, "")}).ok());
  auto r = w.manager.AccessToken(kTransfer);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().auth == AuthFailure::kLoginAgain);
  CHECK(w.refreshes == 0);
}

TEST_CASE("A network failure while refreshing a still-valid token keeps the token",
          "[token_manager]") {
  World w;
  REQUIRE(w.store.Merge({Tok(kTransfer, "OLD", kNow + 60)}).ok());
  w.on_refresh = [](const gf::testing::RecordedRequest&) {
    return Result<http::Response>(Error::Transport(TransportFailure::kConnect, "down"));
  };
  auto r = w.manager.AccessToken(kTransfer);
  REQUIRE(r.ok());
  CHECK(*r == "OLD");
  CHECK(w.refreshes == 3);  // 1 + 2 retries
  w.clock.Advance(std::chrono::seconds(61));
  auto expired = w.manager.AccessToken(kTransfer);
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().kind == ErrorKind::kTransport);
}

TEST_CASE("A login in another process is picked up without remounting", "[token_manager]") {
  World w;
  CHECK_FALSE(w.manager.AccessToken(kTransfer).ok());
  TokenStore cli(w.store.path());  // e.g. `globus-fuse login` in another terminal
  REQUIRE(cli.Merge({Tok(kTransfer, "FROM_CLI", kNow + 3600)}).ok());
  auto r = w.manager.AccessToken(kTransfer);
  REQUIRE(r.ok());
  CHECK(*r == "FROM_CLI");
  CHECK(w.refreshes == 0);
}

TEST_CASE("ForceRefresh uses a token written by another store instead of refreshing",
          "[token_manager]") {
  World w;
  REQUIRE(w.store.Merge({Tok(kTransfer, "T1", kNow + 3600)}).ok());
  CHECK(*w.manager.AccessToken(kTransfer) == "T1");
  TokenStore other(w.store.path());
  REQUIRE(other.Merge({Tok(kTransfer, "T2", kNow + 7200)}).ok());
  REQUIRE(w.manager.ForceRefresh(kTransfer, "T1").ok());
  CHECK(w.refreshes == 0);
  CHECK(*w.manager.AccessToken(kTransfer) == "T2");

  // Nothing new on disk: a 401 forces a real refresh even though T2 looks valid.
  REQUIRE(w.manager.ForceRefresh(kTransfer, "T2").ok());
  CHECK(w.refreshes == 1);
  CHECK(*w.manager.AccessToken(kTransfer) == "FRESH");
}

TEST_CASE("ForceRefresh never settles for the token that was refused", "[token_manager]") {
  World w;
  REQUIRE(w.store.Merge({Tok(kTransfer, "T1", kNow + 3600)}).ok());
  CHECK(*w.manager.AccessToken(kTransfer) == "T1");
  // Another refresh wrote T2, and a request with T2 was refused (T2 was revoked as it was
  // issued): T2 being newer than what this manager held does not make it usable.
  REQUIRE(TokenStore(w.store.path()).Merge({Tok(kTransfer, "T2", kNow + 7200)}).ok());
  REQUIRE(w.manager.ForceRefresh(kTransfer, "T2").ok());
  CHECK(w.refreshes == 1);
  CHECK(*w.manager.AccessToken(kTransfer) == "FRESH");
  // An empty refused token means the current one (a CLI command's 401).
  REQUIRE(TokenStore(w.store.path()).Merge({Tok(kTransfer, "T3", kNow + 7200)}).ok());
  CHECK(*w.manager.AccessToken(kTransfer) == "T3");
  REQUIRE(w.manager.ForceRefresh(kTransfer, "").ok());
  CHECK(w.refreshes == 2);
  CHECK(*w.manager.AccessToken(kTransfer) == "FRESH");
  // Globus Auth answering with the very token it refused: an error, not a silent "ok".
  auto s = w.manager.ForceRefresh(kTransfer, "FRESH");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().kind == ErrorKind::kAuth);
  CHECK(s.error().message.find("globus-fuse login") != std::string::npos);
}

TEST_CASE("Refreshing one resource server keeps the others", "[token_manager]") {
  World w;
  const std::string c = "1405823f-0597-4a16-b296-46d4f0ae4b15";
  REQUIRE(w.store.Merge({Tok(kTransfer, "OLD", kNow + 10), Tok(c, "COLL", kNow + 9999)}).ok());
  CHECK(*w.manager.AccessToken(kTransfer) == "FRESH");
  auto s = TokenStore(w.store.path()).Load();
  REQUIRE(s.ok());
  CHECK(s->tokens.at(c).access_token == "COLL");
  CHECK(*w.manager.AccessToken(c) == "COLL");
}

TEST_CASE("A refresh does not put back tokens that another refresh replaced meanwhile",
          "[token_manager]") {
  // Two refreshes of different resource servers: the collection's is written to the file while
  // the transfer refresh is between its own write and taking the file into memory. The transfer
  // refresh's snapshot holds the collection's old token; memory must not go back to it (a
  // request with it would be refused, and a 401 after a refresh reads as a missing consent).
  TempDir dir;
  FakeClock clock;
  const std::string c = "1405823f-0597-4a16-b296-46d4f0ae4b15";
  FakeTransport transport{[&](const RecordedRequest& r) {
    const bool coll = FormField(r.body, "refresh_token") == "RT_C";
    std::string body = RefreshBody(coll ? "C_FRESH" : "T_FRESH");
    if (coll) body.replace(body.find(kTransfer), kTransfer.size(), c);
    return Result<http::Response>(Json(200, body));
  }};
  TokenStore store{dir / "tokens.json"};
  OAuthClient oauth{transport, "https://auth.example.org", "cid", clock};
  TokenManager* self = nullptr;
  bool once = false;
  Status inner = Status::Ok();
  TokenManager::Options o;
  o.after_refresh_written = [&] {
    if (once) return;
    once = true;
    inner = self->ForceRefresh(c, "C_OLD");  // the collection's refresh lands in the window
  };
  TokenManager manager{store, oauth, clock, o};
  self = &manager;
  REQUIRE(store
              .Merge({Tok(kTransfer, "T_OLD", kNow + 3600, "RT_T"),
                      Tok(c, "C_OLD", kNow + 3600, "RT_C")})
              .ok());
  CHECK(*manager.AccessToken(c) == "C_OLD");

  REQUIRE(manager.ForceRefresh(kTransfer, "T_OLD").ok());
  REQUIRE(inner.ok());
  CHECK(*manager.AccessToken(kTransfer) == "T_FRESH");
  CHECK(*manager.AccessToken(c) == "C_FRESH");  // was C_OLD: the transfer refresh's snapshot
  auto disk = TokenStore(store.path()).Load();
  REQUIRE(disk.ok());
  CHECK(disk->tokens.at(c).access_token == "C_FRESH");
  CHECK(disk->tokens.at(kTransfer).access_token == "T_FRESH");
}
