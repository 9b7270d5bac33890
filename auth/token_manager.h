// TokenManager: the TokenSource used by api/ (and the CLI), over TokenStore + OAuthClient.
//
//  - AccessToken(rs): reloads the store when the file changed on disk (so `globus-fuse login`
//    in another terminal is picked up by a running mount), refreshes when the token expires
//    within `refresh_margin` (default 5 min), persists refreshed tokens (read-modify-write under
//    the store's exclusive lock, so unrelated tokens are kept and two processes never refresh
//    the same token at once). Concurrent callers for one resource server share one refresh
//    (single flight: the others wait on a condition variable and get its result).
//    If a refresh fails for a transport reason while the token is still valid, the current
//    token is returned (and a warning logged).
//  - ForceRefresh(rs, refused) (after a 401 refused `refused`): reloads first; if the file
//    holds another token (someone else refreshed or logged in), that one is used; else
//    refresh. Never ends "ok" with the refused token still current.
//  - No token: kAuth/kNotLoggedIn "not logged in: run `globus-fuse login`"; for a collection
//    (resource server = collection id) the message names the consent to request, and
//    Error::authorization carries that https scope in required_scopes.
//
//  - Memory follows the file: after a refresh, the file is read again rather than the refresh's
//    own snapshot taken in. Refreshes of other resource servers (and `globus-fuse login`) may
//    have written since; the snapshot would put their old tokens back in memory, and the store
//    would not see the file as changed. A request would then be sent with a token just
//    refreshed away, refused, and taken for a missing consent (the chaos soak of 2026-12-04).
//
// Lock order: TokenManager::mu_ -> store flock -> TokenStore::mu_. The refreshing thread
// releases mu_ before taking the flock for its read-modify-write, and reacquires mu_ only after
// the flock is released; nothing takes mu_ while holding the flock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "auth/oauth_client.h"
#include "auth/token_source.h"
#include "auth/token_store.h"
#include "common/clock.h"

namespace gf::auth {

struct TokenManagerOptions {
  std::chrono::seconds refresh_margin{300};  // refresh when the token expires within this
  // Tests only (empty in production): runs after a refresh was written to the store and before
  // this manager takes the file into memory, with no lock held. Another refresh may write a
  // newer file in that window (the race RefreshLocked's reload closes).
  std::function<void()> after_refresh_written;
};

class TokenManager : public TokenSource {
 public:
  using Options = TokenManagerOptions;

  TokenManager(TokenStore& store, OAuthClient& oauth, Clock& clock = SystemClock::Instance(),
               Options options = Options());

  Result<std::string> AccessToken(const std::string& resource_server) override;
  Status ForceRefresh(const std::string& resource_server,
                      const std::string& refused_token) override;

  // The current contents (reloaded if the file changed).
  Result<StoredTokens> Snapshot();

  // Callers waiting for a refresh of `rs` that another caller is making (introspection, tests).
  int RefreshWaiters(const std::string& resource_server);

  // The error for "no token for this resource server".
  static Error NotLoggedIn(const std::string& resource_server);

 private:
  struct Flight {
    bool running = false;
    uint64_t generation = 0;
    int waiters = 0;             // callers in cv_.wait for this flight
    std::optional<Error> error;  // result of the last completed refresh
  };

  Status ReloadLocked(bool force);
  // Refresh `rs` unless the stored token already differs from `stale_token` and is fresh.
  // Called and returns with `l` held; releases it around the network call.
  Result<std::string> RefreshLocked(std::unique_lock<std::mutex>& l, const std::string& rs,
                                    const std::string& stale_token);
  int64_t NowEpoch() const;
  bool NearExpiry(const Token& t) const;
  bool Expired(const Token& t) const;

  TokenStore& store_;
  OAuthClient& oauth_;
  Clock& clock_;
  Options options_;

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool loaded_ = false;
  StoredTokens tokens_;
  std::map<std::string, Flight> flights_;
};

}  // namespace gf::auth
