// When and how long to retry a failed API request, as pure decision functions.
//
// What is retried (the official SDK's classes, globus-api.md §2.1, plus two):
//   - HTTP 429, 500, 502, 503, 504, except when the Globus `code` contains "ExternalError" or
//     "EndpointError" (those describe the collection, e.g. "not a directory", and repeat);
//   - a collection HTTPS server's transient backend fault (IsTransientBackendFault: a 404 whose
//     body says ENDPOINT_ERROR), on a fresh connection (it sticks to the connection);
//   - transport failures kConnect, kReset, kTimeout, kTruncated, kDns (a resolver hiccup or a
//     network that is down for a while) and kMalformedBody (a 2xx whose body does not parse:
//     a proxy's page, a cut document -- transient like a truncated body). Never kTls (a
//     certificate problem does not fix itself), kAborted (the caller asked to stop) or kOther;
//   - 401: after TokenSource::ForceRefresh() (does not count as a retry); RequestExecutor
//     refreshes again when the new token is refused too, at most three times per call.
// Requests that are not idempotent (rename) are retried only when the failure proves the
// server never acted on them: see CertainlyNotProcessed(). A malformed 2xx is not such proof.
//
// How long: a time BUDGET, not a number of attempts. A retry may start only while less than
// `budget` has passed since the call's first attempt started; the wait before it is cut so
// that it ends at the budget, and a Retry-After longer than what is left ends the call at
// once (waiting it out would break the bound, retrying sooner would ignore the server). So a
// call that keeps failing ends within budget + one attempt (bounded by the transport's
// timeouts), and RetryDecision::out_of_budget tells the caller to report it (ETIMEDOUT).
// `max_retries` (default none) can cap the count as well.
// Delay: the server's integer `Retry-After` on 429/503 (capped by max_retry_after), otherwise
// (0.25 + 0.5*rand) * 2^attempt seconds, i.e. base*(1 + 2*rand)*2^attempt, capped at
// max_backoff (full jitter would also do; this is the SDK's, so both behave alike).
//
// The loop that applies these decisions is RequestExecutor (request_executor.h). Time,
// randomness and sleeping are injected through RetryPolicy so unit tests are deterministic
// and instant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"

namespace gf::api {

struct RetryPolicy {
  // The default: long enough to ride out a Wi-Fi drop or roam, a laptop's network coming back
  // after resume, or a service restart (tens of seconds each), with a margin over the 30 s of
  // network loss the mount promises to survive; short enough that a real outage still reaches
  // the user as an error within about a minute. `retry_budget_seconds` in the config.
  Millis budget{60000};
  int max_retries = -1;  // also stop after this many retries; -1 = only the budget decides
  Millis max_backoff{10000};
  Millis base{250};
  Millis max_retry_after{60000};  // a hostile/buggy Retry-After cannot stall a call longer
  // Optional: counts every retry of every call made with this policy (a mount's status shows
  // the total). Shared by the copies of the policy each client keeps.
  std::shared_ptr<std::atomic<uint64_t>> retries;

  // Injection points; empty/null = real implementations (SystemClock, DefaultRandom01,
  // DefaultSleep). A test's sleep advances its FakeClock.
  const Clock* clock = nullptr;
  std::function<double()> random01;                                    // uniform in [0, 1)
  std::function<void(Millis, const std::atomic<bool>* cancel)> sleep;  // may return early
};

enum class RetryAction { kStop, kRetry, kRefreshThenRetry };

struct RetryDecision {
  RetryAction action = RetryAction::kStop;
  Millis delay{0};
  // kStop of a failure that would have been retried had the budget (or max_retries) allowed.
  bool out_of_budget = false;
};

// What has happened so far in one call.
struct RetryState {
  int retries = 0;         // retries already made (not counting the 401 refresh retry)
  bool refreshed = false;  // a ForceRefresh was made for the last refused token
  Millis elapsed{0};       // since the first attempt started
};

bool IsRetryableStatus(int http_status);
bool IsRetryableTransport(TransportFailure f);
// kApi errors: retryable status and a code without ExternalError/EndpointError, or
// IsTransientBackendFault. kTransport: IsRetryableTransport. Everything else: false.
bool IsRetryable(const Error& e);
// True when the failure proves the request had no effect at the server: DNS, connect and TLS
// failures (nothing was sent), 429 (refused by rate limit), 503 (service unavailable) and a
// transient 404 (the server could not map the collection, so it touched no file).
bool CertainlyNotProcessed(const Error& e);
// The next attempt should open a new connection: the failure may be stuck to the one used
// (a reset or a stall on a connection the server or a NAT dropped while idle, a transient 404).
bool WantsFreshConnection(const Error& e);

// The budget (and max_retries) still allow another retry after the attempts in `s`.
bool RetryAllowed(const RetryPolicy& p, const RetryState& s);
// Backoff before retry number `attempt` (0-based): base*(1+2*r)*2^attempt, capped.
Millis Backoff(const RetryPolicy& p, int attempt, double random01);
// Integer seconds only (HTTP-date values are ignored, as the SDK does); nullopt otherwise.
std::optional<Millis> ParseRetryAfter(std::string_view header_value);

// The decision after a failed attempt. `retry_after` is the parsed header of that answer.
RetryDecision DecideRetry(const RetryPolicy& p, const RetryState& s, const Error& e,
                          bool idempotent, std::optional<Millis> retry_after, double random01);

double DefaultRandom01();
// Sleeps `d`, in short slices so that a set `cancel` flag (or the process shutting down:
// gf::Cancelled) ends the sleep early.
void DefaultSleep(Millis d, const std::atomic<bool>* cancel);

}  // namespace gf::api
