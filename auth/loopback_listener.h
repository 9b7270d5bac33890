// The loopback redirect listener of the native-app flow (RFC 8252 §7.3): a tiny HTTP server on
// 127.0.0.1, on a port chosen by the kernel (bind port 0). Globus Auth redirects the browser to
// http://127.0.0.1:<port>/callback?code=...&state=... (or ?error=...).
//
// The listener checks `state` (constant-time compare): a mismatch answers an error page and
// fails with kAuth/kStateMismatch; the code is discarded. Requests for other paths (favicon,
// probes) get 404 and waiting continues. Never binds anything but 127.0.0.1.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"

namespace gf::auth {

class LoopbackListener {
 public:
  // Binds 127.0.0.1:0 and listens.
  static Result<std::unique_ptr<LoopbackListener>> Start(std::string expected_state,
                                                         std::string path = "/callback");
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  int port() const { return port_; }
  std::string redirect_uri() const;  // http://127.0.0.1:<port><path>

  // Serve requests until the callback arrives, `timeout` passes (kAuth/kFlowTimedOut) or
  // Cancel() is called (kAuth/kFlowFailed "cancelled"). Returns the authorization code.
  Result<std::string> Wait(std::chrono::milliseconds timeout);
  // Thread-safe; wakes Wait().
  void Cancel();

 private:
  LoopbackListener(int listen_fd, int port, std::string state, std::string path);
  // Handles one connection. Returns nullopt-like empty Result value "" to keep waiting.
  Result<std::string> HandleConnection(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  int cancel_pipe_[2] = {-1, -1};
  std::string expected_state_;
  std::string path_;
};

// Parse the query string of a request target ("/callback?a=b&c=d") into (key, value) pairs;
// returns the path in `path`. Exposed for tests.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view target,
                                                            std::string* path);

}  // namespace gf::auth
