// Building the Globus Auth authorize URL (native app, PKCE). Pure; see globus-api.md §3 and
// §2.4-C for how GARE `authorization_parameters` become query parameters.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace gf::auth {

struct AuthorizeUrlParams {
  std::string auth_url;  // service root, e.g. https://auth.globus.org
  std::string client_id;
  std::string redirect_uri;
  std::vector<std::string> scopes;  // merged with authorization.required_scopes
  std::string state;
  std::string code_challenge;  // S256
  std::string access_type = "offline";
  AuthorizationParameters authorization;
};

// <auth_url>/v2/oauth2/authorize?client_id=..&redirect_uri=..&scope=<space-joined>&state=..
//   &response_type=code&code_challenge=..&code_challenge_method=S256&access_type=offline
//   [&session_required_single_domain=a,b][&session_required_identities=..]
//   [&session_required_policies=..][&session_required_mfa=true|false][&session_message=..]
//   [&prompt=login]
// required_scopes are merged into `scope` (deduplicated; dependents merged), never sent as
// their own parameter.
std::string BuildAuthorizeUrl(const AuthorizeUrlParams& p);

// The scopes a flow will request: `scopes` merged with `authorization.required_scopes`.
std::vector<std::string> EffectiveScopes(const std::vector<std::string>& scopes,
                                         const AuthorizationParameters& authorization);

}  // namespace gf::auth
