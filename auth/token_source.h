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
  // Called after a 401: refresh now (once), even if the token looks unexpired. Also reloads
  // the store first, so tokens written by another process (e.g. `globus-fuse login`) count.
  virtual Status ForceRefresh(const std::string& resource_server) = 0;
};

}  // namespace gf::auth
