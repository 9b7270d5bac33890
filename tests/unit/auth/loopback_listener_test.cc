#include <catch2/catch.hpp>
#include <thread>

#include "auth/loopback_listener.h"
#include "http_client.h"

using namespace gf;
using namespace gf::auth;
using gf::testing::RawGet;

namespace {
constexpr std::chrono::seconds kLong(30);  // only a safety net; never reached when passing
}

TEST_CASE("Loopback listener binds 127.0.0.1 on a kernel-chosen port", "[loopback]") {
  auto l = LoopbackListener::Start("S");
  REQUIRE(l.ok());
  CHECK((*l)->port() > 0);
  CHECK((*l)->redirect_uri() == "http://127.0.0.1:" + std::to_string((*l)->port()) + "/callback");
}

TEST_CASE("Loopback listener accepts the code when state matches", "[loopback]") {
  auto l = LoopbackListener::Start("expected-state");
  REQUIRE(l.ok());
  int port = (*l)->port();
  std::string favicon, resp;
  std::thread browser([&] {
    favicon = RawGet(port, "/favicon.ico");
    resp = RawGet(port, "/callback?code=the%2Bcode&state=expected-state");
  });
  auto code = (*l)->Wait(kLong);
  browser.join();
  REQUIRE(code.ok());
  CHECK(*code == "the+code");
  CHECK(favicon.rfind("HTTP/1.1 404", 0) == 0);
  CHECK(resp.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(resp.find("You can close this window") != std::string::npos);
}

TEST_CASE("Loopback listener rejects a state mismatch and discards the code", "[loopback]") {
  auto l = LoopbackListener::Start("expected-state");
  REQUIRE(l.ok());
  int port = (*l)->port();
  std::string resp;
  std::thread attacker([&] { resp = RawGet(port, "/callback?code=EVIL&state=other-state"); });
  auto code = (*l)->Wait(kLong);
  attacker.join();
  REQUIRE_FALSE(code.ok());
  CHECK(code.error().kind == ErrorKind::kAuth);
  CHECK(code.error().auth == AuthFailure::kStateMismatch);
  CHECK(code.error().message.find("EVIL") == std::string::npos);
  CHECK(resp.rfind("HTTP/1.1 400", 0) == 0);

  // A missing state is a mismatch too.
  auto l2 = LoopbackListener::Start("expected-state");
  REQUIRE(l2.ok());
  int port2 = (*l2)->port();
  std::thread t2([&] { RawGet(port2, "/callback?code=C"); });
  auto c2 = (*l2)->Wait(kLong);
  t2.join();
  REQUIRE_FALSE(c2.ok());
  CHECK(c2.error().auth == AuthFailure::kStateMismatch);
}

TEST_CASE("Loopback listener reports an error sent by Globus Auth", "[loopback]") {
  auto l = LoopbackListener::Start("S");
  REQUIRE(l.ok());
  int port = (*l)->port();
  std::thread t([&] {
    RawGet(port, "/callback?error=access_denied&error_description=User+declined&state=S");
  });
  auto code = (*l)->Wait(kLong);
  t.join();
  REQUIRE_FALSE(code.ok());
  CHECK(code.error().auth == AuthFailure::kFlowFailed);
  CHECK(code.error().message.find("access_denied: User declined") != std::string::npos);
}

TEST_CASE("Loopback listener times out and can be cancelled", "[loopback]") {
  auto l = LoopbackListener::Start("S");
  REQUIRE(l.ok());
  auto r = (*l)->Wait(std::chrono::milliseconds(0));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().auth == AuthFailure::kFlowTimedOut);

  (*l)->Cancel();
  auto c = (*l)->Wait(kLong);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().auth == AuthFailure::kFlowFailed);
  CHECK(c.error().message.find("cancelled") != std::string::npos);
}

TEST_CASE("ParseQuery decodes keys and values", "[loopback]") {
  std::string path;
  auto q = ParseQuery("/cb?a=1&b=x%20y&c&d=e+f#frag", &path);
  CHECK(path == "/cb");
  REQUIRE(q.size() == 4);
  CHECK(q[1] == std::make_pair(std::string("b"), std::string("x y")));
  CHECK(q[2] == std::make_pair(std::string("c"), std::string("")));
  CHECK(q[3] == std::make_pair(std::string("d"), std::string("e f")));
}
