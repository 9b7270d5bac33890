#include "auth/authorize_url.h"

#include <utility>

#include "auth/scopes.h"
#include "common/http.h"

namespace gf::auth {
namespace {
std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}
std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}
}  // namespace

std::vector<std::string> EffectiveScopes(const std::vector<std::string>& scopes,
                                         const AuthorizationParameters& authorization) {
  return MergeScopeStrings(scopes, authorization.required_scopes);
}

std::string BuildAuthorizeUrl(const AuthorizeUrlParams& p) {
  const AuthorizationParameters& a = p.authorization;
  std::vector<std::pair<std::string, std::string>> q = {
      {"client_id", p.client_id},
      {"redirect_uri", p.redirect_uri},
      {"scope", Join(EffectiveScopes(p.scopes, a), " ")},
      {"state", p.state},
      {"response_type", "code"},
      {"code_challenge", p.code_challenge},
      {"code_challenge_method", "S256"},
      {"access_type", p.access_type},
  };
  if (!a.session_required_single_domain.empty())
    q.emplace_back("session_required_single_domain", Join(a.session_required_single_domain, ","));
  if (!a.session_required_identities.empty())
    q.emplace_back("session_required_identities", Join(a.session_required_identities, ","));
  if (!a.session_required_policies.empty())
    q.emplace_back("session_required_policies", Join(a.session_required_policies, ","));
  if (a.session_required_mfa.has_value())
    q.emplace_back("session_required_mfa", *a.session_required_mfa ? "true" : "false");
  if (!a.session_message.empty()) q.emplace_back("session_message", a.session_message);
  if (a.prompt_login) q.emplace_back("prompt", "login");
  return TrimSlash(p.auth_url) + "/v2/oauth2/authorize?" + http::FormEncode(q);
}

}  // namespace gf::auth
