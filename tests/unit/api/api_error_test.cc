// ParseApiError over every error fixture and the Auth / GCS / non-JSON shapes.
#include <catch2/catch.hpp>

#include <cerrno>

#include "api/documents.h"
#include "tests/support/fixtures.h"

using namespace gf;
using namespace gf::api;
using gf::testing::Fixture;

TEST_CASE("ConsentRequired, current GARE-compatible shape", "[api_error][fixtures]") {
  Error e = ParseApiError(403, Fixture("error_consent_required_ls_403.json"));
  CHECK(e.kind == ErrorKind::kApi);
  CHECK(e.http_status == 403);
  CHECK(e.code == "ConsentRequired");
  CHECK(e.message == "Missing required data_access consent");
  CHECK(e.request_id == "m8RfX3cES");
  CHECK(e.resource == "/operation/endpoint/00000000-0000-0000-0000-000000000001/ls");
  REQUIRE(e.authorization);
  // Present both inside authorization_parameters and at the top level: kept once.
  REQUIRE(e.authorization->required_scopes.size() == 1);
  CHECK(e.authorization->required_scopes[0] ==
        "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/"
        "00000000-0000-0000-0000-000000000001/data_access]");
  CHECK(e.authorization->session_message == "Missing required data_access consent");
  CHECK(e.NeedsAuthorization());
}

TEST_CASE("ConsentRequired, legacy shape (top-level required_scopes only)",
          "[api_error][fixtures]") {
  Error e = ParseApiError(403, Fixture("error_consent_required_legacy_403.json"));
  CHECK(e.code == "ConsentRequired");
  CHECK(e.request_id == "HARVa82zp");
  REQUIRE(e.authorization);
  REQUIRE(e.authorization->required_scopes.size() == 1);
  CHECK(e.authorization->required_scopes[0].find(
            "6c54cade-bde5-45c1-bdea-f4bd71dba2cc/data_access") != std::string::npos);
  CHECK(e.authorization->session_message.empty());
  CHECK(e.NeedsAuthorization());
}

TEST_CASE("502 LoginFailed with a single_domain list", "[api_error][fixtures]") {
  Error e = ParseApiError(502, Fixture("error_session_domain_required_ls_502.json"));
  CHECK(e.http_status == 502);
  CHECK(e.code == "ExternalError.DirListingFailed.LoginFailed");
  CHECK(e.CodeIs("ExternalError.DirListingFailed"));
  CHECK(e.request_id == "rvWu7tCfa");
  CHECK(e.message.rfind("Command Failed: Error (login)", 0) == 0);
  REQUIRE(e.authorization);
  CHECK(e.authorization->session_required_single_domain == std::vector<std::string>{"globus.org"});
  CHECK(e.authorization->session_required_identities.empty());
  CHECK(e.authorization->session_required_mfa == false);
  CHECK(e.authorization->session_message == "Session reauthentication required (Globus Transfer)");
  CHECK_FALSE(e.authorization->prompt_login);
  CHECK(e.NeedsAuthorization());
}

TEST_CASE("403 AuthPolicyFailed with a comma-string of policies", "[api_error][fixtures]") {
  Error e = ParseApiError(403, Fixture("error_auth_policy_failed_403.json"));
  CHECK(e.code == "AuthPolicyFailed");
  REQUIRE(e.authorization);
  CHECK(e.authorization->session_required_policies ==
        std::vector<std::string>{"11111111-2222-3333-4444-555555555555"});
  CHECK(e.NeedsAuthorization());
  Error two = ParseApiError(403, R"({"code": "AuthPolicyFailed", "authorization_parameters":
      {"session_required_policies": "p1, p2,,p3", "session_required_single_domain": "a.org,b.org",
       "session_required_mfa": true, "prompt": "login"}})");
  REQUIRE(two.authorization);
  CHECK(two.authorization->session_required_policies == std::vector<std::string>{"p1", "p2", "p3"});
  CHECK(two.authorization->session_required_single_domain ==
        std::vector<std::string>{"a.org", "b.org"});
  CHECK(two.authorization->session_required_mfa == true);
  CHECK(two.authorization->prompt_login);
}

TEST_CASE("404 NotFound (stat) vs ClientError.NotFound (ls/task)", "[api_error][fixtures]") {
  Error stat = ParseApiError(404, Fixture("error_stat_not_found_404.json"));
  CHECK(stat.code == "NotFound");
  CHECK_FALSE(stat.CodeIs("ClientError.NotFound"));
  CHECK(stat.resource == "/v0.10/operation/endpoint/<ENDPOINT_ID>/stat");
  CHECK_FALSE(stat.authorization);
  CHECK(ErrnoFor(stat) == ENOENT);
  Error task = ParseApiError(404, Fixture("error_task_not_found_404.json"));
  CHECK(task.code == "ClientError.NotFound");
  CHECK(task.message == "No task found with id '00000000-0000-0000-0000-000000000001'");
  CHECK(task.resource == "/task/00000000-0000-0000-0000-000000000001");
  CHECK(ErrnoFor(task) == ENOENT);
}

TEST_CASE("403 EndpointPermissionDenied and 401 AuthenticationFailed", "[api_error][fixtures]") {
  Error d = ParseApiError(403, Fixture("error_endpoint_permission_denied_403.json"));
  CHECK(d.code == "EndpointPermissionDenied");
  CHECK(d.request_id == "aaabbbccc");
  CHECK_FALSE(d.NeedsAuthorization());
  CHECK(ErrnoFor(d) == EACCES);
  Error a = ParseApiError(401, Fixture("error_authentication_failed_401.json"));
  CHECK(a.http_status == 401);
  CHECK(a.code == "ClientError.AuthenticationFailed");
  CHECK(a.message == "foo bar");
  CHECK(a.request_id == "abc123");
}

TEST_CASE("Globus Auth error shapes", "[api_error]") {
  Error grant = ParseApiError(400, R"({"error": "invalid_grant"})");
  CHECK(grant.code == "invalid_grant");
  CHECK(grant.message == "HTTP 400");
  Error unauth = ParseApiError(401, R"({"errors": [{"status": "401", "id": "e-1",
      "code": "UNAUTHORIZED", "detail": "Call must be authenticated", "title": "Unauthorized"}],
      "error_description": "Unauthorized", "error": "unauthorized"})");
  CHECK(unauth.code == "unauthorized");
  CHECK(unauth.message == "Unauthorized");
  CHECK(unauth.request_id == "e-1");
  Error only_errors = ParseApiError(403, R"({"errors": [{"code": "FORBIDDEN", "detail": "no"}]})");
  CHECK(only_errors.code == "FORBIDDEN");
  CHECK(only_errors.message == "no");
  Error dep = ParseApiError(403, R"({"error": "dependent_consent_required", "errors": [
      {"code": "DEPENDENT_CONSENT_REQUIRED", "unapproved_scopes": ["scope:a", "scope:b"]}]})");
  CHECK(dep.code == "dependent_consent_required");
  REQUIRE(dep.authorization);
  CHECK(dep.authorization->required_scopes == std::vector<std::string>{"scope:a", "scope:b"});
  CHECK(dep.NeedsAuthorization());
}

TEST_CASE("GCS HTTPS result shape", "[api_error]") {
  Error e = ParseApiError(403, R"({"DATA_TYPE": "result#1.0.0", "code": "permission_denied",
      "http_response_code": 403, "detail": null, "message": "You do not have access",
      "data": [], "has_next_page": false})");
  CHECK(e.code == "permission_denied");
  CHECK(e.message == "You do not have access");
  CHECK_FALSE(e.NeedsAuthorization());
  Error gare = ParseApiError(401, R"({"DATA_TYPE": "result#1.1.0", "code": "login_required",
      "authorization_parameters": {"required_scopes": ["https://auth.globus.org/scopes/c/https"]}})");
  REQUIRE(gare.authorization);
  CHECK(gare.authorization->required_scopes ==
        std::vector<std::string>{"https://auth.globus.org/scopes/c/https"});
}

TEST_CASE("non-JSON and odd bodies keep the status and never crash", "[api_error][malformed]") {
  Error html = ParseApiError(502, "<html>\n<body>Bad Gateway</body></html>");
  CHECK(html.kind == ErrorKind::kApi);
  CHECK(html.http_status == 502);
  CHECK(html.code.empty());
  CHECK(html.message == "<html> <body>Bad Gateway</body></html>");
  Error empty = ParseApiError(503, "");
  CHECK(empty.http_status == 503);
  CHECK(empty.message == "HTTP 503");
  CHECK(ErrnoFor(empty) == EAGAIN);
  Error wrong_types = ParseApiError(404, R"({"code": 5, "message": [], "authorization_parameters":
      "nope", "required_scopes": {"a": 1}, "errors": "x"})");
  CHECK(wrong_types.code.empty());
  CHECK_FALSE(wrong_types.authorization);
  CHECK(ErrnoFor(wrong_types) == ENOENT);
  std::string big(5000, 'x');
  CHECK(ParseApiError(500, big).message.size() <= 210);
  std::string full = Fixture("error_session_domain_required_ls_502.json");
  for (std::size_t n = 0; n < full.size(); n += 17) {
    Error t = ParseApiError(502, std::string_view(full).substr(0, n));
    CHECK(t.http_status == 502);
  }
}
