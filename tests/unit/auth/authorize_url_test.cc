#include <catch2/catch.hpp>

#include "auth/authorize_url.h"
#include "auth/loopback_listener.h"
#include "auth/scopes.h"

using namespace gf::auth;

namespace {
std::string Param(const std::string& url, const std::string& key, int* count = nullptr) {
  auto q = ParseQuery(url, nullptr);
  std::string v;
  int n = 0;
  for (const auto& [k, val] : q)
    if (k == key) {
      v = val;
      ++n;
    }
  if (count) *count = n;
  return v;
}
AuthorizeUrlParams Base() {
  AuthorizeUrlParams p;
  p.auth_url = "https://auth.example.org/";
  p.client_id = "client-1";
  p.redirect_uri = "http://127.0.0.1:5555/callback";
  p.scopes = {"openid", "urn:globus:auth:scope:transfer.api.globus.org:all"};
  p.state = "st4te";
  p.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  return p;
}
}  // namespace

TEST_CASE("Authorize URL carries the PKCE native-app parameters", "[authorize]") {
  std::string url = BuildAuthorizeUrl(Base());
  CHECK(url.rfind("https://auth.example.org/v2/oauth2/authorize?", 0) == 0);
  CHECK(Param(url, "client_id") == "client-1");
  CHECK(Param(url, "redirect_uri") == "http://127.0.0.1:5555/callback");
  CHECK(Param(url, "scope") == "openid urn:globus:auth:scope:transfer.api.globus.org:all");
  CHECK(Param(url, "state") == "st4te");
  CHECK(Param(url, "response_type") == "code");
  CHECK(Param(url, "code_challenge") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  CHECK(Param(url, "code_challenge_method") == "S256");
  CHECK(Param(url, "access_type") == "offline");
  int n = 0;
  Param(url, "prompt", &n);
  CHECK(n == 0);
  Param(url, "session_required_mfa", &n);
  CHECK(n == 0);
  Param(url, "session_required_single_domain", &n);
  CHECK(n == 0);
  // Spaces in the scope are encoded (%20), never a raw space.
  CHECK(url.find(' ') == std::string::npos);
}

TEST_CASE("Authorize URL maps every authorization parameter", "[authorize]") {
  auto p = Base();
  const std::string c = "1405823f-0597-4a16-b296-46d4f0ae4b15";
  p.authorization.session_required_single_domain = {"rprox.hpc.umanitoba.ca", "globus.org"};
  p.authorization.session_required_identities = {"id-1", "alice@globusid.org"};
  p.authorization.session_required_policies = {"pol-a", "pol-b"};
  p.authorization.session_required_mfa = true;
  p.authorization.session_message = "Session reauthentication required (Globus Transfer)";
  p.authorization.prompt_login = true;
  p.authorization.required_scopes = {TransferScopeWith({c}), "openid"};
  std::string url = BuildAuthorizeUrl(p);
  CHECK(Param(url, "session_required_single_domain") == "rprox.hpc.umanitoba.ca,globus.org");
  CHECK(Param(url, "session_required_identities") == "id-1,alice@globusid.org");
  CHECK(Param(url, "session_required_policies") == "pol-a,pol-b");
  CHECK(Param(url, "session_required_mfa") == "true");
  CHECK(Param(url, "session_message") == "Session reauthentication required (Globus Transfer)");
  CHECK(Param(url, "prompt") == "login");
  // required_scopes are merged into scope, not sent on their own.
  int n = 0;
  Param(url, "required_scopes", &n);
  CHECK(n == 0);
  CHECK(Param(url, "scope") == "openid " + TransferScopeWith({c}));

  p.authorization = {};
  p.authorization.session_required_mfa = false;
  CHECK(Param(BuildAuthorizeUrl(p), "session_required_mfa") == "false");
}
