#include "api/retry.h"

#include "api/documents.h"
#include "common/blocking.h"
#include "common/cancel.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <thread>

namespace gf::api {

bool IsRetryableStatus(int http_status) {
  switch (http_status) {
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

bool IsRetryableTransport(TransportFailure f) {
  switch (f) {
    case TransportFailure::kDns:
    case TransportFailure::kConnect:
    case TransportFailure::kTimeout:
    case TransportFailure::kReset:
    case TransportFailure::kTruncated:
    case TransportFailure::kMalformedBody:
      return true;
    case TransportFailure::kNone:
    case TransportFailure::kTls:
    case TransportFailure::kAborted:
    case TransportFailure::kOther:
      return false;
  }
  return false;
}

bool IsRetryable(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kApi:
      if (IsTransientBackendFault(e)) return true;
      // The SDK's rule is a substring test on the code (not the message).
      return IsRetryableStatus(e.http_status) &&
             e.code.find("ExternalError") == std::string::npos &&
             e.code.find("EndpointError") == std::string::npos;
    case ErrorKind::kTransport:
      return IsRetryableTransport(e.transport);
    default:
      return false;
  }
}

bool CertainlyNotProcessed(const Error& e) {
  if (e.kind == ErrorKind::kTransport) {
    return e.transport == TransportFailure::kDns || e.transport == TransportFailure::kConnect ||
           e.transport == TransportFailure::kTls;
  }
  if (e.kind == ErrorKind::kApi)
    return e.http_status == 429 || e.http_status == 503 || IsTransientBackendFault(e);
  return false;
}

bool WantsFreshConnection(const Error& e) {
  if (e.kind == ErrorKind::kApi) return IsTransientBackendFault(e);
  return e.kind == ErrorKind::kTransport &&
         (e.transport == TransportFailure::kReset || e.transport == TransportFailure::kTimeout ||
          e.transport == TransportFailure::kTruncated ||
          e.transport == TransportFailure::kMalformedBody);
}

bool RetryAllowed(const RetryPolicy& p, const RetryState& s) {
  return s.elapsed < p.budget && (p.max_retries < 0 || s.retries < p.max_retries);
}

Millis Backoff(const RetryPolicy& p, int attempt, double random01) {
  random01 = std::clamp(random01, 0.0, 1.0);
  attempt = std::clamp(attempt, 0, 30);
  double ms =
      static_cast<double>(p.base.count()) * (1.0 + 2.0 * random01) * std::ldexp(1.0, attempt);
  double cap = static_cast<double>(p.max_backoff.count());
  return Millis(static_cast<int64_t>(std::min(ms, cap)));
}

std::optional<Millis> ParseRetryAfter(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 9) return std::nullopt;
  int64_t s = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    s = s * 10 + (c - '0');
  }
  return Millis(s * 1000);
}

RetryDecision DecideRetry(const RetryPolicy& p, const RetryState& s, const Error& e,
                          bool idempotent, std::optional<Millis> retry_after, double random01) {
  RetryDecision d;
  if (e.kind == ErrorKind::kApi && e.http_status == 401) {
    if (!s.refreshed) d.action = RetryAction::kRefreshThenRetry;
    return d;
  }
  if (!IsRetryable(e)) return d;
  if (!idempotent && !CertainlyNotProcessed(e)) return d;
  const Millis left = p.budget - s.elapsed;
  if (!RetryAllowed(p, s)) {
    d.out_of_budget = true;
    return d;
  }
  if (retry_after && e.kind == ErrorKind::kApi && (e.http_status == 429 || e.http_status == 503)) {
    if (*retry_after > left) {  // the server says: not within our budget
      d.out_of_budget = true;
      return d;
    }
    d.delay = std::min(*retry_after, p.max_retry_after);
  } else {
    d.delay = std::min(Backoff(p, s.retries, random01), left);
  }
  d.action = RetryAction::kRetry;
  return d;
}

double DefaultRandom01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

void DefaultSleep(Millis d, const std::atomic<bool>* cancel) {
  constexpr Millis kSlice{50};
  MayBlock();
  auto end = std::chrono::steady_clock::now() + d;
  while (true) {
    if (Cancelled(cancel)) return;
    auto now = std::chrono::steady_clock::now();
    if (now >= end) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(end - now, kSlice));
  }
}

}  // namespace gf::api
