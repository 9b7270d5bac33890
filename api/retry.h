// Retry policy of the official Globus SDK (globus-api.md §2.1), as pure decision functions.
//
// What is retried:
//   - HTTP 429, 500, 502, 503, 504, except when the Globus `code` contains "ExternalError" or
//     "EndpointError" (those describe the collection, e.g. "not a directory", and repeat);
//   - transport failures kConnect, kReset, kTimeout, kTruncated, and kDns (a resolver hiccup is
//     usually transient, and a permanent one costs only a few bounded retries). Never kTls
//     (a certificate problem does not fix itself), kAborted (the caller asked to stop),
//     kMalformedBody or kOther;
//   - 401: exactly once, after TokenSource::ForceRefresh() (does not count as a retry).
// Requests that are not idempotent (rename) are retried only when the failure proves the
// server never acted on them: see CertainlyNotProcessed().
// Delay: the server's integer `Retry-After` on 429/503 (capped by max_retry_after), otherwise
// (0.25 + 0.5*rand) * 2^attempt seconds, i.e. base*(1 + 2*rand)*2^attempt, capped at
// max_backoff. At most max_retries retries.
//
// The loop that applies these decisions is RequestExecutor (request_executor.h). Randomness and
// sleeping are injected through RetryPolicy so unit tests are deterministic and instant.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"

namespace gf::api {

struct RetryPolicy {
  int max_retries = 5;
  Millis max_backoff{10000};
  Millis base{250};
  Millis max_retry_after{60000};  // a hostile/buggy Retry-After cannot stall a call longer

  // Injection points; empty = real implementations (DefaultRandom01, DefaultSleep).
  std::function<double()> random01;                                    // uniform in [0, 1)
  std::function<void(Millis, const std::atomic<bool>* cancel)> sleep;  // may return early
};

enum class RetryAction { kStop, kRetry, kRefreshThenRetry };

struct RetryDecision {
  RetryAction action = RetryAction::kStop;
  Millis delay{0};
};

// What has happened so far in one call.
struct RetryState {
  int retries = 0;         // retries already made (not counting the 401 refresh retry)
  bool refreshed = false;  // the one ForceRefresh has been used
};

bool IsRetryableStatus(int http_status);
bool IsRetryableTransport(TransportFailure f);
// kApi errors: retryable status and a code without ExternalError/EndpointError.
// kTransport: IsRetryableTransport. Everything else: false.
bool IsRetryable(const Error& e);
// True when the failure proves the request had no effect at the server: DNS, connect and TLS
// failures (nothing was sent), 429 (refused by rate limit) and 503 (service unavailable).
bool CertainlyNotProcessed(const Error& e);

// Backoff before retry number `attempt` (0-based): base*(1+2*r)*2^attempt, capped.
Millis Backoff(const RetryPolicy& p, int attempt, double random01);
// Integer seconds only (HTTP-date values are ignored, as the SDK does); nullopt otherwise.
std::optional<Millis> ParseRetryAfter(std::string_view header_value);

// The decision after a failed attempt. `retry_after` is the parsed header of that answer.
RetryDecision DecideRetry(const RetryPolicy& p, const RetryState& s, const Error& e,
                          bool idempotent, std::optional<Millis> retry_after, double random01);

double DefaultRandom01();
// Sleeps `d`, in short slices so that a set `cancel` flag ends the sleep early.
void DefaultSleep(Millis d, const std::atomic<bool>* cancel);

}  // namespace gf::api
