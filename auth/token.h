// One OAuth2 token as globus-fuse keeps it: one per resource server.
#pragma once

#include <cstdint>
#include <string>

namespace gf::auth {

struct Token {
  std::string resource_server;  // "transfer.api.globus.org", "auth.globus.org", a collection id
  std::string access_token;
  std::string refresh_token;  // empty when the grant was online-only
  int64_t expires_at = 0;     // seconds since the epoch (UTC)
  std::string scope;          // space-separated, as granted
  std::string token_type = "Bearer";
  bool operator==(const Token&) const = default;
};

}  // namespace gf::auth
