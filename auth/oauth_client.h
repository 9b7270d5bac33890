// Globus Auth's OAuth2 endpoints for a native app (no client secret): code exchange, refresh,
// revocation and userinfo (globus-api.md §3, §2.5).
//
// Transport failures and 5xx answers are retried a little (default 2 retries, 250 ms then
// 1 s, through an injectable sleeper); the api/ layer's retry executor is not used because
// auth/ cannot depend on api/. Tokens, codes and form bodies are never logged.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "auth/token.h"
#include "common/clock.h"
#include "common/http.h"
#include "common/result.h"

namespace gf::auth {

struct LinkedIdentity {
  std::string sub;
  std::string username;
  std::string name;
  std::string email;
  std::string identity_provider;
  std::string identity_provider_display_name;
  std::string organization;
  std::string status;
  std::optional<int64_t> last_authentication;  // epoch seconds; set when in the session
};

struct UserInfo {
  std::string sub;
  std::string preferred_username;
  std::string name;
  std::string email;
  std::vector<LinkedIdentity> identity_set;
};

// Parse a token endpoint answer into one Token per resource server (the primary token plus
// `other_tokens`). expires_at = now + expires_in.
Result<std::vector<Token>> ParseTokenResponse(std::string_view body, int64_t now_epoch);
Result<UserInfo> ParseUserInfo(std::string_view body);

class OAuthClient {
 public:
  using Sleeper = std::function<void(Millis)>;

  OAuthClient(http::Transport& transport, std::string auth_url, std::string client_id,
              Clock& clock = SystemClock::Instance());

  const std::string& auth_url() const { return auth_url_; }
  const std::string& client_id() const { return client_id_; }

  // grant_type=authorization_code (PKCE).
  Result<std::vector<Token>> ExchangeCode(const std::string& code, const std::string& verifier,
                                          const std::string& redirect_uri);
  // grant_type=refresh_token. invalid_grant (400 or 401) => kAuth/kLoginAgain.
  Result<std::vector<Token>> Refresh(const std::string& refresh_token);
  // POST /v2/oauth2/token/revoke.
  Status Revoke(const std::string& token);
  // GET /v2/oauth2/userinfo with an auth.globus.org access token.
  Result<UserInfo> GetUserInfo(const std::string& access_token);

  // Testing hooks.
  void SetSleeper(Sleeper s) { sleeper_ = std::move(s); }
  void SetMaxRetries(int n) { max_retries_ = n; }

 private:
  // Sends with bounded retries. `idempotent` false retries only failures where the request
  // surely never reached the service (DNS/connect) or 502/503/504.
  Result<http::Response> Send(const http::Request& req, bool idempotent, const char* what);
  Result<std::vector<Token>> TokenRequest(
      const std::vector<std::pair<std::string, std::string>>& form, bool idempotent,
      const char* what);

  http::Transport& transport_;
  std::string auth_url_;
  std::string client_id_;
  Clock& clock_;
  Sleeper sleeper_;
  int max_retries_ = 2;
};

// The Error for a non-2xx Auth answer: invalid_grant => kAuth/kLoginAgain; otherwise kApi with
// the `error` (or errors[0].code) as code and error_description/detail as message.
Error ParseAuthError(int status, std::string_view body, const char* what);

}  // namespace gf::auth
