// RequestExecutor: the one place where an API request is authorized, rate limited, sent and
// retried. TransferClient and HttpsClient build requests and parse answers; this class runs the
// attempt loop for both, so the retry rules (retry.h) are applied identically everywhere.
//
// One call = attempts until one succeeds, DecideRetry says stop, or the retry budget
// (RetryPolicy::budget, measured from the first attempt's start) is spent. Each attempt:
//   1. `before_attempt(request)` (lets a ranged read move its Range past delivered bytes);
//   2. RateLimiter::Acquire() when a limiter is configured and the call is rate limited (on the
//      background lane while the calling thread holds a BackgroundCalls scope);
//   3. Authorization: Bearer <TokenSource::AccessToken(resource_server)> (replaced each time:
//      a refresh changes it). A refresh that fails for a retryable reason (network down after
//      a long sleep) is a failed attempt like any other: the call waits within its budget;
//   4. Transport::Send (on a fresh connection after a failure that may stick to the old one);
//      an answer whose status `accept`s (default 2xx) and passes `validate` is returned;
//      anything else becomes an Error (ParseApiError for HTTP answers);
//   5. DecideRetry: stop, refresh-then-retry (401, once), or sleep and retry.
// Cancellation: `cancel`, else the thread's CancelScope::Current() (a FUSE request's Ctrl-C),
// aborts a request in flight and ends a backoff at once: kAborted (EINTR).
// Giving up because the budget is spent logs ONE line at Info, the level of a mount's log
// (what failed, after how long and how many attempts; each retry is a Debug line), and returns
// the last error with sys_errno ETIMEDOUT.
// Every returned Error carries `context` (e.g. "ls <collection>:/path").
//
// Thread-safe: Execute() keeps all per-call state on the stack; the Transport, TokenSource and
// RateLimiter it uses are themselves thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "api/background_calls.h"
#include "api/rate_limiter.h"
#include "api/retry.h"
#include "auth/token_source.h"
#include "common/http.h"

namespace gf::api {

struct CallOptions {
  std::string resource_server;  // whose token goes in Authorization
  std::string context;          // set on every returned Error
  bool idempotent = true;       // false: retry only failures that prove nothing happened
  bool rate_limited = true;     // go through the RateLimiter (if the executor has one)
  const std::atomic<bool>* cancel = nullptr;           // null: CancelScope::Current()
  std::function<bool(int status)> accept;              // default: 200..299
  std::function<void(http::Request&)> before_attempt;  // optional
  // Optional check of an accepted answer; an Error here counts as a failed attempt (so e.g. a
  // body shorter than promised is retried like a reset, and a kMalformedBody is retried on an
  // idempotent call).
  std::function<std::optional<Error>(const http::Response&)> validate;
  // Optional, for a call that is not idempotent: after a failed attempt that may have reached
  // the server (a reset, a timeout, a 5xx), asks whether the attempt certainly had no effect
  // (e.g. a rename's source is still there). True: the failure is retried like one that proves
  // it (CertainlyNotProcessed), within the same budget. It may make calls of its own; it is
  // not asked once the budget is spent (the call ends then, as any other).
  std::function<bool(const Error&)> had_no_effect;
};

// What happened during one Execute(), for callers that need to know (and for tests).
struct CallStats {
  int attempts = 0;
  int retries = 0;
  bool refreshed = false;
  // An attempt failed in a way that may have reached the server (timeout, reset, 5xx,
  // malformed 2xx): a later "already exists" (or a failure) may hide our own effect.
  bool ambiguous = false;
  bool out_of_budget = false;  // gave up because the retry budget was spent
  Millis slept{0};
};

class RequestExecutor {
 public:
  RequestExecutor(http::Transport& transport, auth::TokenSource& tokens, RetryPolicy policy,
                  RateLimiter* limiter = nullptr);

  Result<http::Response> Execute(http::Request request, const CallOptions& options,
                                 CallStats* stats = nullptr);

  const RetryPolicy& policy() const { return policy_; }

 private:
  http::Transport& transport_;
  auth::TokenSource& tokens_;
  RetryPolicy policy_;
  RateLimiter* limiter_;
};

// Sets (replacing any existing, case-insensitively) a request header.
void SetHeader(http::Headers& headers, std::string_view name, std::string value);

}  // namespace gf::api
