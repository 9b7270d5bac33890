// FixedTokenSource: an in-memory auth::TokenSource for unit tests.
//
// Tokens are "<prefix>-<resource_server>-<generation>" so tests can see which resource server
// a request was authorized for and whether it carried a refreshed token. ForceRefresh bumps the
// generation (or fails with `refresh_error` when set). Resource servers listed in `missing`
// answer kAuth/kNotLoggedIn. Counters record the calls. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/token_source.h"

namespace gf::testing {

class FixedTokenSource : public auth::TokenSource {
 public:
  explicit FixedTokenSource(std::string prefix = "tok") : prefix_(std::move(prefix)) {}

  Result<std::string> AccessToken(const std::string& rs) override {
    std::lock_guard<std::mutex> l(mu_);
    ++access_calls_;
    if (missing_.count(rs)) return Error::Auth(AuthFailure::kNotLoggedIn, "no token for " + rs);
    return prefix_ + "-" + rs + "-" + std::to_string(generation_[rs]);
  }

  Status ForceRefresh(const std::string& rs, const std::string& refused_token) override {
    std::lock_guard<std::mutex> l(mu_);
    ++refresh_calls_;
    refused_.push_back(refused_token);
    if (refresh_error_) return *refresh_error_;
    ++generation_[rs];
    return Status::Ok();
  }

  void SetMissing(const std::string& rs) {
    std::lock_guard<std::mutex> l(mu_);
    missing_.insert(rs);
  }
  void SetRefreshError(Error e) {
    std::lock_guard<std::mutex> l(mu_);
    refresh_error_ = std::move(e);
  }
  int access_calls() const {
    std::lock_guard<std::mutex> l(mu_);
    return access_calls_;
  }
  int refresh_calls() const {
    std::lock_guard<std::mutex> l(mu_);
    return refresh_calls_;
  }
  // The refused token each ForceRefresh was given, in order.
  std::vector<std::string> refused() const {
    std::lock_guard<std::mutex> l(mu_);
    return refused_;
  }
  // The token AccessToken(rs) currently returns.
  std::string Current(const std::string& rs) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = generation_.find(rs);
    return prefix_ + "-" + rs + "-" + std::to_string(it == generation_.end() ? 0 : it->second);
  }

 private:
  mutable std::mutex mu_;  // guards everything below
  std::string prefix_;
  std::map<std::string, int> generation_;
  std::set<std::string> missing_;
  std::optional<Error> refresh_error_;
  int access_calls_ = 0;
  int refresh_calls_ = 0;
  std::vector<std::string> refused_;
};

}  // namespace gf::testing
