#include "auth/oauth_client.h"

#include <rapidjson/document.h>
#include <utility>

#include <thread>

#include "common/log.h"

namespace gf::auth {
namespace {

constexpr const char* kLog = "auth";

std::string Str(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<int64_t> Int(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return std::nullopt;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsDouble()) return static_cast<int64_t>(it->value.GetDouble());
  return std::nullopt;
}

Result<Token> ParseOneToken(const rapidjson::Value& v, int64_t now) {
  Token t;
  t.access_token = Str(v, "access_token");
  t.resource_server = Str(v, "resource_server");
  if (t.access_token.empty() || t.resource_server.empty())
    return Error::Transport(TransportFailure::kMalformedBody,
                            "Globus Auth token response without access_token/resource_server");
  t.refresh_token = Str(v, "refresh_token");
  t.scope = Str(v, "scope");
  t.token_type = Str(v, "token_type");
  if (t.token_type.empty()) t.token_type = "Bearer";
  t.expires_at = now + Int(v, "expires_in").value_or(0);
  return t;
}

bool Retryable(const Error& e, int status, bool idempotent) {
  if (status != 0) {
    if (status == 502 || status == 503 || status == 504) return true;
    return idempotent && status >= 500;
  }
  if (e.kind != ErrorKind::kTransport) return false;
  switch (e.transport) {
    case TransportFailure::kDns:
    case TransportFailure::kConnect:
      return true;
    case TransportFailure::kAborted:
    case TransportFailure::kTls:
      return false;
    default:
      return idempotent;
  }
}

}  // namespace

Result<std::vector<Token>> ParseTokenResponse(std::string_view body, int64_t now_epoch) {
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject())
    return Error::Transport(TransportFailure::kMalformedBody,
                            "Globus Auth token response is not a JSON object");
  std::vector<Token> out;
  auto first = ParseOneToken(d, now_epoch);
  if (!first) return first.error();
  out.push_back(std::move(*first));
  auto it = std::as_const(d).FindMember("other_tokens");
  if (it != std::as_const(d).MemberEnd() && it->value.IsArray()) {
    for (const auto& v : it->value.GetArray()) {
      auto t = ParseOneToken(v, now_epoch);
      if (!t) return t.error();
      out.push_back(std::move(*t));
    }
  }
  return out;
}

Result<UserInfo> ParseUserInfo(std::string_view body) {
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject())
    return Error::Transport(TransportFailure::kMalformedBody, "userinfo is not a JSON object");
  UserInfo u;
  u.sub = Str(d, "sub");
  u.preferred_username = Str(d, "preferred_username");
  u.name = Str(d, "name");
  u.email = Str(d, "email");
  if (u.sub.empty())
    return Error::Transport(TransportFailure::kMalformedBody, "userinfo without 'sub'");
  auto it = std::as_const(d).FindMember("identity_set");
  if (it != std::as_const(d).MemberEnd() && it->value.IsArray()) {
    for (const auto& v : it->value.GetArray()) {
      LinkedIdentity i;
      i.sub = Str(v, "sub");
      i.username = Str(v, "username");
      i.name = Str(v, "name");
      i.email = Str(v, "email");
      i.identity_provider = Str(v, "identity_provider");
      i.identity_provider_display_name = Str(v, "identity_provider_display_name");
      i.organization = Str(v, "organization");
      i.status = Str(v, "status");
      i.last_authentication = Int(v, "last_authentication");
      u.identity_set.push_back(std::move(i));
    }
  }
  return u;
}

Error ParseAuthError(int status, std::string_view body, const char* what) {
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  std::string code, desc;
  if (!d.HasParseError() && d.IsObject()) {
    code = Str(d, "error");
    desc = Str(d, "error_description");
    auto it = std::as_const(d).FindMember("errors");
    if (it != std::as_const(d).MemberEnd() && it->value.IsArray() && !it->value.Empty()) {
      const auto& e0 = it->value[0];
      if (code.empty()) code = Str(e0, "code");
      std::string detail = Str(e0, "detail");
      if (!detail.empty()) desc = detail;
    }
  }
  if (code == "invalid_grant" && (status == 400 || status == 401)) {
    return Error::Auth(AuthFailure::kLoginAgain,
                       std::string(what) +
                           ": Globus Auth refused the grant (expired or revoked): run "
                           "`globus-fuse login`");
  }
  Error e =
      Error::Api(status, code.empty() ? "AuthError" : code,
                 std::string(what) + ": " +
                     (desc.empty() ? "Globus Auth answered HTTP " + std::to_string(status) : desc));
  return e;
}

OAuthClient::OAuthClient(http::Transport& transport, std::string auth_url, std::string client_id,
                         Clock& clock)
    : transport_(transport),
      auth_url_(std::move(auth_url)),
      client_id_(std::move(client_id)),
      clock_(clock),
      sleeper_([](Millis d) { std::this_thread::sleep_for(d); }) {
  while (!auth_url_.empty() && auth_url_.back() == '/') auth_url_.pop_back();
}

Result<http::Response> OAuthClient::Send(const http::Request& req, bool idempotent,
                                         const char* what) {
  for (int attempt = 0;; ++attempt) {
    auto r = transport_.Send(req);
    int status = r ? r->status : 0;
    bool ok = r && status < 500;
    if (ok) return r;
    Error e = r ? ParseAuthError(status, r->body, what) : r.error();
    if (!r && e.context.empty()) e.context = what;
    if (attempt >= max_retries_ || !Retryable(e, status, idempotent)) return e;
    Millis delay(attempt == 0 ? 250 : 1000);
    log::Info(kLog, e.Describe(), "; retrying in ", delay.count(), " ms");
    sleeper_(delay);
  }
}

Result<std::vector<Token>> OAuthClient::TokenRequest(
    const std::vector<std::pair<std::string, std::string>>& form, bool idempotent,
    const char* what) {
  if (client_id_.empty())
    return Error::Config(
        "no client_id configured: register a native app at https://app.globus.org/settings/"
        "developers and set `client_id` in the config file (see README)");
  http::Request req;
  req.method = "POST";
  req.url = auth_url_ + "/v2/oauth2/token";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = http::FormEncode(form);
  auto r = Send(req, idempotent, what);
  if (!r) return r.error();
  if (r->status < 200 || r->status >= 300) return ParseAuthError(r->status, r->body, what);
  int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.WallNow().time_since_epoch()).count();
  auto tokens = ParseTokenResponse(r->body, now);
  if (!tokens) {
    Error e = tokens.error();
    e.context = what;
    return e;
  }
  return tokens;
}

Result<std::vector<Token>> OAuthClient::ExchangeCode(const std::string& code,
                                                     const std::string& verifier,
                                                     const std::string& redirect_uri) {
  auto r = TokenRequest({{"grant_type", "authorization_code"},
                         {"code", code},
                         {"code_verifier", verifier},
                         {"redirect_uri", redirect_uri},
                         {"client_id", client_id_}},
                        /*idempotent=*/false, "exchanging the authorization code");
  // invalid_grant here is about the code (mistyped when pasted, used twice, too old), not a
  // stored login: "refused the grant (expired or revoked)" would mislead.
  if (!r && r.error().kind == ErrorKind::kAuth && r.error().auth == AuthFailure::kLoginAgain)
    return Error::Auth(AuthFailure::kFlowFailed,
                       "Globus Auth did not accept the authorization code (mistyped, already "
                       "used, or expired): run `globus-fuse login` again");
  return r;
}

Result<std::vector<Token>> OAuthClient::Refresh(const std::string& refresh_token) {
  return TokenRequest({{"grant_type", "refresh_token"},
                       {"refresh_token", refresh_token},
                       {"client_id", client_id_}},
                      /*idempotent=*/true, "refreshing a token");
}

Status OAuthClient::Revoke(const std::string& token) {
  http::Request req;
  req.method = "POST";
  req.url = auth_url_ + "/v2/oauth2/token/revoke";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = http::FormEncode({{"token", token}, {"client_id", client_id_}});
  auto r = Send(req, true, "revoking a token");
  if (!r) return r.error();
  if (r->status < 200 || r->status >= 300)
    return ParseAuthError(r->status, r->body, "revoking a token");
  return Status::Ok();
}

Result<UserInfo> OAuthClient::GetUserInfo(const std::string& access_token) {
  http::Request req;
  req.method = "GET";
  req.url = auth_url_ + "/v2/oauth2/userinfo";
  req.headers = {{"Authorization", "Bearer " + access_token}, {"Accept", "application/json"}};
  auto r = Send(req, true, "reading userinfo");
  if (!r) return r.error();
  if (r->status < 200 || r->status >= 300)
    return ParseAuthError(r->status, r->body, "reading userinfo");
  return ParseUserInfo(r->body);
}

}  // namespace gf::auth
