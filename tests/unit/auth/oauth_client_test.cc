#include <catch2/catch.hpp>

#include "auth/oauth_client.h"
#include "tests/support/fake_transport.h"
#include "tests/support/fixtures.h"

using namespace gf;
using namespace gf::auth;
using gf::testing::FakeTransport;
using gf::testing::FormField;
using gf::testing::Json;
using gf::testing::RecordedRequest;

namespace {
std::vector<Millis> g_sleeps;
void NoSleep(OAuthClient& c) {
  g_sleeps.clear();
  c.SetSleeper([](Millis d) { g_sleeps.push_back(d); });
}
}  // namespace

TEST_CASE("Token response parses one token per resource server", "[oauth]") {
  auto r = ParseTokenResponse(gf::testing::Fixture("auth_token_response.json"), 1000);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].resource_server == "auth.globus.org");
  CHECK((*r)[0].access_token == "AUTH_ACCESS_TOKEN");
  CHECK((*r)[0].refresh_token == "AUTH_REFRESH_TOKEN");
  CHECK((*r)[0].expires_at == 1000 + 172800);
  CHECK((*r)[0].scope == "openid profile email");
  CHECK((*r)[1].resource_server == "transfer.api.globus.org");
  CHECK((*r)[2].resource_server == "1405823f-0597-4a16-b296-46d4f0ae4b15");
  CHECK((*r)[2].access_token == "COLLECTION_ACCESS_TOKEN");
  CHECK_FALSE(ParseTokenResponse("{}", 0).ok());
  CHECK_FALSE(ParseTokenResponse("not json", 0).ok());
}

TEST_CASE("ExchangeCode posts the PKCE form and parses tokens", "[oauth]") {
  FakeClock clock;
  FakeTransport t([](const gf::testing::RecordedRequest&) {
    return Result<http::Response>(Json(200, gf::testing::Fixture("auth_token_response.json")));
  });
  OAuthClient c(t, "https://auth.example.org/", "cid", clock);
  auto r = c.ExchangeCode("the-code", "the-verifier", "http://127.0.0.1:1/callback");
  REQUIRE(r.ok());
  CHECK(r->size() == 3);
  CHECK((*r)[0].expires_at == 1700000000 + 172800);
  auto reqs = t.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].url == "https://auth.example.org/v2/oauth2/token");
  CHECK(FormField(reqs[0].body, "grant_type") == "authorization_code");
  CHECK(FormField(reqs[0].body, "code") == "the-code");
  CHECK(FormField(reqs[0].body, "code_verifier") == "the-verifier");
  CHECK(FormField(reqs[0].body, "redirect_uri") == "http://127.0.0.1:1/callback");
  CHECK(FormField(reqs[0].body, "client_id") == "cid");
}

TEST_CASE("invalid_grant at 400 or 401 means log in again", "[oauth]") {
  for (int status : {400, 401}) {
    FakeTransport t([&](const gf::testing::RecordedRequest&) {
      return Result<http::Response>(Json(status, R"({"error": "invalid_grant"})"));
    });
    OAuthClient c(t, "https://auth.example.org", "cid");
    NoSleep(c);
    auto r = c.Refresh("rt");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::kAuth);
    CHECK(r.error().auth == AuthFailure::kLoginAgain);
    CHECK(r.error().message.find("globus-fuse login") != std::string::npos);
    CHECK(t.request_count() == 1);  // never retried
    CHECK(FormField(t.requests()[0].body, "grant_type") == "refresh_token");
    CHECK(FormField(t.requests()[0].body, "refresh_token") == "rt");
  }
}

TEST_CASE("OAuth client retries transport failures and 5xx a bounded number of times", "[oauth]") {
  int calls = 0;
  FakeTransport t([&](const gf::testing::RecordedRequest&) -> Result<http::Response> {
    ++calls;
    if (calls == 1) return Error::Transport(TransportFailure::kConnect, "refused");
    if (calls == 2) return Json(503, "{}");
    return Json(200, gf::testing::Fixture("auth_token_response.json"));
  });
  OAuthClient c(t, "https://auth.example.org", "cid");
  NoSleep(c);
  auto r = c.Refresh("rt");
  REQUIRE(r.ok());
  CHECK(calls == 3);
  CHECK(g_sleeps.size() == 2);

  calls = 0;
  FakeTransport down([&](const gf::testing::RecordedRequest&) -> Result<http::Response> {
    ++calls;
    return Error::Transport(TransportFailure::kTimeout, "slow");
  });
  OAuthClient c2(down, "https://auth.example.org", "cid");
  NoSleep(c2);
  auto r2 = c2.Refresh("rt");
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().kind == ErrorKind::kTransport);
  CHECK(calls == 3);  // 1 + 2 retries

  // A code exchange is not retried after a timeout (the code may have been used).
  calls = 0;
  auto r3 = c2.ExchangeCode("code", "v", "r");
  REQUIRE_FALSE(r3.ok());
  CHECK(calls == 1);
}

TEST_CASE("Errors never carry tokens or form bodies", "[oauth]") {
  FakeTransport t([](const gf::testing::RecordedRequest&) {
    return Result<http::Response>(
        Json(400, R"({"error": "invalid_request", "error_description": "bad"})"));
  });
  OAuthClient c(t, "https://auth.example.org", "cid");
  NoSleep(c);
  auto r = c.Refresh("SECRET_REFRESH");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::kApi);
  CHECK(r.error().code == "invalid_request");
  CHECK(r.error().Describe().find("SECRET_REFRESH") == std::string::npos);
}

TEST_CASE("Revoke and UserInfo", "[oauth]") {
  FakeTransport t([](const gf::testing::RecordedRequest& r) -> Result<http::Response> {
    if (r.url.find("/revoke") != std::string::npos) return Json(200, R"({"active": false})");
    if (r.Header("Authorization") == "Bearer good")
      return Json(200, gf::testing::Fixture("auth_userinfo.json"));
    return Json(401, R"({"errors": [{"status": "401", "code": "UNAUTHORIZED",
        "detail": "Call must be authenticated"}], "error": "unauthorized"})");
  });
  OAuthClient c(t, "https://auth.example.org", "cid");
  NoSleep(c);
  REQUIRE(c.Revoke("tok").ok());
  CHECK(t.requests()[0].url == "https://auth.example.org/v2/oauth2/token/revoke");
  CHECK(FormField(t.requests()[0].body, "token") == "tok");
  CHECK(FormField(t.requests()[0].body, "client_id") == "cid");

  auto u = c.GetUserInfo("good");
  REQUIRE(u.ok());
  CHECK(u->sub == "00000000-0000-0000-0000-000000000001");
  CHECK(u->preferred_username == "test_user1");
  CHECK(u->email == "foo.mcuser@globus.org");
  REQUIRE(u->identity_set.size() == 2);
  CHECK(u->identity_set[0].username == "test_user2");
  CHECK(u->identity_set[0].identity_provider_display_name == "Globus ID");
  CHECK(u->identity_set[1].organization == "McUser Group");
  CHECK_FALSE(u->identity_set[0].last_authentication.has_value());

  auto bad = c.GetUserInfo("bad");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().http_status == 401);
  CHECK(bad.error().code == "unauthorized");
}

TEST_CASE("A refused authorization code is a failed login, not a revoked one", "[oauth]") {
  FakeTransport t([](const gf::testing::RecordedRequest&) {
    return Result<http::Response>(Json(400, R"({"error": "invalid_grant"})"));
  });
  OAuthClient c(t, "https://auth.example.org", "cid");
  NoSleep(c);
  auto r = c.ExchangeCode("pasted-wrong", "v", "https://auth.example.org/v2/web/auth-code");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::kAuth);
  CHECK(r.error().auth == AuthFailure::kFlowFailed);
  CHECK(r.error().message.find("did not accept the authorization code") != std::string::npos);
  CHECK(r.error().message.find("revoked") == std::string::npos);
  CHECK(t.request_count() == 1);
}
