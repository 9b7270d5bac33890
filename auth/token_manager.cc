#include "auth/token_manager.h"

#include "auth/scopes.h"
#include "common/blocking.h"
#include "common/log.h"

namespace gf::auth {
namespace {
constexpr const char* kLog = "tokens";
}  // namespace

TokenManager::TokenManager(TokenStore& store, OAuthClient& oauth, Clock& clock, Options options)
    : store_(store), oauth_(oauth), clock_(clock), options_(options) {}

Error TokenManager::NotLoggedIn(const std::string& resource_server) {
  if (LooksLikeUuid(resource_server)) {
    std::string scope = HttpsScope(resource_server);
    Error e = Error::Auth(AuthFailure::kNotLoggedIn,
                          "no consent to use collection " + resource_server +
                              " over HTTPS: run `globus-fuse login --scope " + scope + "`");
    AuthorizationParameters a;
    a.required_scopes.push_back(scope);
    e.authorization = std::move(a);
    return e;
  }
  return Error::Auth(AuthFailure::kNotLoggedIn, "not logged in: run `globus-fuse login`");
}

int64_t TokenManager::NowEpoch() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.WallNow().time_since_epoch())
      .count();
}

bool TokenManager::NearExpiry(const Token& t) const {
  return t.expires_at - NowEpoch() <= options_.refresh_margin.count();
}

bool TokenManager::Expired(const Token& t) const { return t.expires_at <= NowEpoch(); }

Status TokenManager::ReloadLocked(bool force) {
  if (!force && loaded_ && !store_.ChangedOnDisk()) return Status::Ok();
  auto s = store_.Load();
  if (!s) return s.error();
  if (loaded_) log::Debug(kLog, "token file changed on disk; reloaded");
  tokens_ = std::move(*s);
  loaded_ = true;
  return Status::Ok();
}

Result<std::string> TokenManager::AccessToken(const std::string& rs) {
  std::unique_lock<std::mutex> l(mu_);
  GF_TRY_STATUS(ReloadLocked(false));
  auto it = tokens_.tokens.find(rs);
  if (it == tokens_.tokens.end()) return NotLoggedIn(rs);
  if (!NearExpiry(it->second)) return it->second.access_token;
  const std::string stale = it->second.access_token;
  auto r = RefreshLocked(l, rs, stale);
  if (r) return r;
  auto again = tokens_.tokens.find(rs);
  if (r.error().kind == ErrorKind::kTransport && again != tokens_.tokens.end() &&
      !Expired(again->second)) {
    log::Warn(kLog, "could not refresh the token for ", rs, " (", r.error().Describe(),
              "); using the current one until it expires");
    return again->second.access_token;
  }
  return r;
}

Status TokenManager::ForceRefresh(const std::string& rs, const std::string& refused_token) {
  std::unique_lock<std::mutex> l(mu_);
  // No refused token given: the one in use now (before the reload) is the refused one.
  std::string refused = refused_token;
  if (auto held = tokens_.tokens.find(rs); refused.empty() && held != tokens_.tokens.end())
    refused = held->second.access_token;
  GF_TRY_STATUS(ReloadLocked(true));
  auto it = tokens_.tokens.find(rs);
  if (it == tokens_.tokens.end()) return NotLoggedIn(rs);
  if (refused.empty()) refused = it->second.access_token;
  if (it->second.access_token != refused && !NearExpiry(it->second)) {
    log::Debug(kLog, "a newer token for ", rs, " is there already (another refresh or login)");
    return Status::Ok();
  }
  // Twice at most: a refresh already under way (joined, not started) may have been for an
  // older token and end with the refused one still current; then this call refreshes itself.
  for (int round = 0; round < 2; ++round) {
    auto r = RefreshLocked(l, rs, refused);
    if (!r) return r.error();
    if (*r != refused) return Status::Ok();
  }
  return Error::Auth(AuthFailure::kLoginAgain,
                     "Globus Auth keeps answering with the token it "
                     "refused for " +
                         rs + ": run `globus-fuse login`");
}

int TokenManager::RefreshWaiters(const std::string& rs) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = flights_.find(rs);
  return it == flights_.end() ? 0 : it->second.waiters;
}

Result<std::string> TokenManager::RefreshLocked(std::unique_lock<std::mutex>& l,
                                                const std::string& rs,
                                                const std::string& stale_token) {
  Flight& f = flights_[rs];  // std::map: the reference stays valid
  if (f.running) {
    uint64_t gen = f.generation;
    ++f.waiters;
    MayBlock();  // another thread's refresh is on the network
    cv_.wait(l, [&] { return f.generation != gen; });
    --f.waiters;
    if (f.error) return *f.error;
    auto it = tokens_.tokens.find(rs);
    if (it == tokens_.tokens.end()) return NotLoggedIn(rs);
    return it->second.access_token;
  }
  f.running = true;
  l.unlock();

  log::Debug(kLog, "refreshing the token for ", rs);
  auto written = store_.Update([&](StoredTokens& s) -> Status {
    auto it = s.tokens.find(rs);
    if (it == s.tokens.end()) return NotLoggedIn(rs);
    Token& cur = it->second;
    if (cur.access_token != stale_token && !NearExpiry(cur)) return Status::Ok();  // done already
    if (cur.refresh_token.empty())
      return Error::Auth(AuthFailure::kLoginAgain, "the token for " + rs +
                                                       " expired and cannot be refreshed: run "
                                                       "`globus-fuse login`");
    auto fresh = oauth_.Refresh(cur.refresh_token);
    if (!fresh) return fresh.error();
    bool got = false;
    for (Token& t : *fresh) {
      auto old = s.tokens.find(t.resource_server);
      if (t.refresh_token.empty() && old != s.tokens.end())
        t.refresh_token = old->second.refresh_token;
      if (t.resource_server == rs) got = true;
      s.tokens[t.resource_server] = t;
    }
    if (!got)
      return Error::Transport(TransportFailure::kMalformedBody,
                              "Globus Auth's refresh answer had no token for " + rs);
    return Status::Ok();
  });

  if (written && options_.after_refresh_written) options_.after_refresh_written();

  l.lock();
  f.running = false;
  ++f.generation;
  if (!written) {
    f.error = written.error();
    cv_.notify_all();
    return written.error();
  }
  f.error.reset();
  // The file, not our snapshot of it: another refresh may have written a newer one since (see
  // the header). Only when it cannot be read is the snapshot the best there is.
  if (!ReloadLocked(true).ok()) {
    tokens_ = std::move(*written);
    loaded_ = true;
  }
  cv_.notify_all();
  auto it = tokens_.tokens.find(rs);
  if (it == tokens_.tokens.end()) return NotLoggedIn(rs);
  return it->second.access_token;
}

Result<StoredTokens> TokenManager::Snapshot() {
  std::lock_guard<std::mutex> l(mu_);
  GF_TRY_STATUS(ReloadLocked(false));
  return tokens_;
}

}  // namespace gf::auth
