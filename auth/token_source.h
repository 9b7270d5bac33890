// Where api/ gets bearer tokens. Implemented by auth::TokenManager (token store + refresh);
// tests use a fixed in-memory source.
#pragma once

#include <string>

#include "common/result.h"

namespace gf::auth {

// Resource servers: "transfer.api.globus.org", "auth.globus.org", and each collection's id
// for its `https` scope.
inline constexpr const char* kTransferResourceServer = "transfer.api.globus.org";
inline constexpr const char* kAuthResourceServer = "auth.globus.org";

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // A valid access token for the resource server, refreshing first when it is close to
  // expiry. kAuth/kNotLoggedIn when there is none; kAuth/kLoginAgain when refresh is refused.
  virtual Result<std::string> AccessToken(const std::string& resource_server) = 0;
  // Called after a 401 that refused `refused_token` (empty: the current token): on success,
  // the current token is another one. Uses a token written meanwhile (by another thread's
  // refresh, or another process such as `globus-fuse login`) if there is one; otherwise
  // refreshes now, even if the refused token looks unexpired.
  virtual Status ForceRefresh(const std::string& resource_server,
                              const std::string& refused_token) = 0;
};

}  // namespace gf::auth
