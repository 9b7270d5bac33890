// A minimal scripted http::Transport for the auth tests (local to tests/unit/auth).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/http.h"

namespace gf::testing {

class ScriptedTransport : public http::Transport {
 public:
  using Handler = std::function<Result<http::Response>(const http::Request&)>;
  explicit ScriptedTransport(Handler h) : handler_(std::move(h)) {}

  Result<http::Response> Send(const http::Request& r) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(r);
    }
    return handler_(r);
  }
  std::vector<http::Request> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  std::size_t count() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_.size();
  }

 private:
  Handler handler_;
  mutable std::mutex mu_;
  std::vector<http::Request> requests_;
};

inline http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.body = std::move(body);
  return r;
}

// First value of a request header (exact name), "" when absent.
inline std::string RequestHeader(const http::Request& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

// Value of a form field in an x-www-form-urlencoded body ("" when absent).
inline std::string FormField(const std::string& body, const std::string& key) {
  std::size_t start = 0;
  while (start <= body.size()) {
    auto amp = body.find('&', start);
    std::string kv = body.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = kv.find('=');
    if (http::UrlDecode(kv.substr(0, eq)) == key)
      return eq == std::string::npos ? "" : http::UrlDecode(kv.substr(eq + 1));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return "";
}

}  // namespace gf::testing
