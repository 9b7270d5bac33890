#include <catch2/catch.hpp>
#include <thread>

#include "auth/login_flow.h"
#include "auth/pkce.h"
#include "http_client.h"
#include "temp_dir.h"
#include "tests/support/fake_transport.h"
#include "tests/support/fixtures.h"

using namespace gf;
using namespace gf::auth;
using gf::testing::FakeTransport;
using gf::testing::FormField;
using gf::testing::Json;
using gf::testing::RecordedRequest;
using gf::testing::TempDir;

namespace {
std::string Param(const std::string& url, const std::string& key) {
  for (const auto& [k, v] : ParseQuery(url, nullptr))
    if (k == key) return v;
  return "";
}

// A fake Globus Auth that issues code "CODE-1" for the challenge it saw in the URL and
// checks the verifier on exchange.
struct FakeAuth {
  std::string challenge;
  std::string redirect_uri;
  FakeTransport transport{[this](const gf::testing::RecordedRequest& r) -> Result<http::Response> {
    if (r.url.find("/v2/oauth2/userinfo") != std::string::npos) {
      return Json(200, R"({"sub": "S1", "preferred_username": "alice@globusid.org",
        "identity_set": [{"sub": "S1", "username": "alice@globusid.org",
                          "last_authentication": 1700000000},
                         {"sub": "S2", "username": "alice@rprox.hpc.umanitoba.ca",
                          "last_authentication": null}]})");
    }
    if (FormField(r.body, "code") != "CODE-1" ||
        PkceChallenge(FormField(r.body, "code_verifier")) != challenge ||
        FormField(r.body, "redirect_uri") != redirect_uri)
      return Json(400, R"({"error": "invalid_grant"})");
    return Json(200, gf::testing::Fixture("auth_token_response.json"));
  }};
};
}  // namespace

TEST_CASE("Loopback login: browser redirect, state check, PKCE exchange, store merge", "[login]") {
  TempDir d;
  FakeAuth auth;
  OAuthClient oauth(auth.transport, "https://auth.example.org", "cid");
  TokenStore store(d / "tokens.json");
  REQUIRE(store.Merge({Token{"unrelated-rs", "KEEP", "", 1, "", "Bearer"}}).ok());

  LoginRequest req;
  req.scopes = {"openid"};
  req.authorization.session_required_single_domain = {"rprox.hpc.umanitoba.ca"};
  req.authorization.prompt_login = true;
  std::thread browser;
  std::string shown_url;
  LoginEnv env;
  env.launch_browser = [&](const std::string& url) {
    auth.challenge = Param(url, "code_challenge");
    auth.redirect_uri = Param(url, "redirect_uri");
    std::string state = Param(url, "state");
    std::string uri = auth.redirect_uri;
    int port = std::stoi(uri.substr(uri.rfind(':') + 1));
    browser = std::thread(
        [port, state] { gf::testing::RawGet(port, "/callback?code=CODE-1&state=" + state); });
    return true;
  };
  env.on_url = [&](const std::string& url, bool opened) {
    shown_url = url;
    CHECK(opened);
  };
  auto flow = LoginFlow::Start(oauth, store, req, env);
  REQUIRE(flow.ok());
  CHECK((*flow)->url() == shown_url);
  CHECK(Param(shown_url, "session_required_single_domain") == "rprox.hpc.umanitoba.ca");
  CHECK(Param(shown_url, "prompt") == "login");
  CHECK((*flow)->redirect_uri().rfind("http://127.0.0.1:", 0) == 0);
  auto r = (*flow)->Wait();
  browser.join();
  REQUIRE(r.ok());
  CHECK(r->tokens.size() == 3);
  auto s = store.Load();
  REQUIRE(s.ok());
  CHECK(s->tokens.size() == 4);
  CHECK(s->tokens.at("unrelated-rs").access_token == "KEEP");
  CHECK(s->tokens.at("transfer.api.globus.org").access_token == "TRANSFER_ACCESS_TOKEN");
  CHECK(s->identity_sub == "S1");
  CHECK(s->identity_username == "alice@globusid.org");
  CHECK(s->session_identities == std::vector<std::string>{"S1"});
}

TEST_CASE("No-browser login uses Globus's code page and the pasted code", "[login]") {
  TempDir d;
  FakeAuth auth;
  OAuthClient oauth(auth.transport, "https://auth.example.org", "cid");
  TokenStore store(d / "tokens.json");
  LoginRequest req;
  req.no_browser = true;
  req.scopes = {"openid"};
  bool launched = false;
  LoginEnv env;
  env.launch_browser = [&](const std::string&) { return launched = true; };
  env.on_url = [&](const std::string& url, bool) {
    auth.challenge = Param(url, "code_challenge");
    auth.redirect_uri = Param(url, "redirect_uri");
  };
  env.read_code = [] { return Result<std::string>(std::string("  CODE-1\n")); };
  auto r = RunLogin(oauth, store, req, env);
  REQUIRE(r.ok());
  CHECK_FALSE(launched);
  CHECK(auth.redirect_uri == "https://auth.example.org/v2/web/auth-code");
  CHECK(store.Load()->tokens.count("auth.globus.org") == 1);
}

TEST_CASE("Login refuses to start without a client id", "[login]") {
  TempDir d;
  FakeAuth auth;
  OAuthClient oauth(auth.transport, "https://auth.example.org", "");
  TokenStore store(d / "tokens.json");
  auto r = LoginFlow::Start(oauth, store, LoginRequest{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::kConfig);
  CHECK(r.error().message.find("client_id") != std::string::npos);
}

TEST_CASE("A cancelled login returns without tokens", "[login]") {
  TempDir d;
  FakeAuth auth;
  OAuthClient oauth(auth.transport, "https://auth.example.org", "cid");
  TokenStore store(d / "tokens.json");
  LoginRequest req;
  req.open_browser = false;
  auto flow = LoginFlow::Start(oauth, store, req);
  REQUIRE(flow.ok());
  (*flow)->Cancel();
  auto r = (*flow)->Wait();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().auth == AuthFailure::kFlowFailed);
  CHECK(auth.transport.request_count() == 0);
}
