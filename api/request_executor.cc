#include "api/request_executor.h"

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "api/documents.h"
#include "common/cancel.h"
#include "common/log.h"

namespace gf::api {
namespace {

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Error WithContext(Error e, const std::string& context) {
  if (e.context.empty()) e.context = context;
  return e;
}

thread_local bool t_background = false;

// A 401 whose remedy is a new session (another identity, a domain, MFA, a login prompt), which
// a token refresh does not give.
bool RefreshCannotHelp(const Error& e) {
  if (!e.authorization) return false;
  const AuthorizationParameters& a = *e.authorization;
  return !a.session_required_single_domain.empty() || !a.session_required_identities.empty() ||
         !a.session_required_policies.empty() || a.session_required_mfa.value_or(false) ||
         a.prompt_login;
}

}  // namespace

BackgroundCalls::BackgroundCalls() : previous_(t_background) { t_background = true; }
BackgroundCalls::~BackgroundCalls() { t_background = previous_; }
bool BackgroundCalls::Active() { return t_background; }

void SetHeader(http::Headers& headers, std::string_view name, std::string value) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) { return SameName(h.first, name); }),
                headers.end());
  headers.emplace_back(std::string(name), std::move(value));
}

RequestExecutor::RequestExecutor(http::Transport& transport, auth::TokenSource& tokens,
                                 RetryPolicy policy, RateLimiter* limiter)
    : transport_(transport), tokens_(tokens), policy_(std::move(policy)), limiter_(limiter) {
  if (!policy_.clock) policy_.clock = &SystemClock::Instance();
  if (!policy_.random01) policy_.random01 = DefaultRandom01;
  if (!policy_.sleep) policy_.sleep = DefaultSleep;
}

Result<http::Response> RequestExecutor::Execute(http::Request request, const CallOptions& o,
                                                CallStats* stats_out) {
  CallStats local;
  CallStats& stats = stats_out ? *stats_out : local;
  RetryState state;
  // A call that outlives its refreshed token (a long retry wait: the service asked to wait, the
  // network was down; or the token was revoked right after it was issued) meets a 401 again:
  // refresh again when the refused token is not the one refused before (a refresh that gave
  // nothing new would loop), at most kMaxRefreshes times per call, unless the 401 asks for
  // something no token refresh gives (RefreshCannotHelp: a session requirement). Transfer says
  // AuthenticationFailed for an expired token; a collection's HTTPS server says "unauthorized"
  // with the https scope the token already has, for an expired token and a missing consent
  // alike, so only a refreshed token refused too, kMaxRefreshes times, is taken for a missing
  // consent (the authorization flow is its remedy).
  constexpr int kMaxRefreshes = 3;
  int refreshes = 0;
  std::string refreshed_from;  // the token whose 401 made the last refresh
  const std::atomic<bool>* cancel = o.cancel ? o.cancel : CancelScope::Current();
  request.cancel = cancel;
  const MonoTime start = policy_.clock->Now();

  for (;;) {
    if (Cancelled(cancel)) {
      return WithContext(Error::Transport(TransportFailure::kAborted, "interrupted"), o.context);
    }
    if (o.before_attempt) o.before_attempt(request);
    if (limiter_ && o.rate_limited)
      limiter_->Acquire(BackgroundCalls::Active() ? RateLimiter::Lane::kBackground
                                                  : RateLimiter::Lane::kForeground);

    ++stats.attempts;
    Error err;
    std::optional<Millis> retry_after;
    bool idempotent = o.idempotent;
    bool sent_it = false;       // the request left this process (its effect may be ambiguous)
    std::string refused_token;  // the token a 401 refused (what a refresh replaces)
    if (auto token = tokens_.AccessToken(o.resource_server); !token.ok()) {
      err = std::move(token).error();
      // Nothing was sent: waiting for the token service is safe for any call. Only failures
      // that may pass are retried (not "log in again").
      if (!IsRetryable(err) || err.kind == ErrorKind::kAuth) return WithContext(err, o.context);
      idempotent = true;
    } else {
      SetHeader(request.headers, "Authorization", "Bearer " + *token);
      auto sent = transport_.Send(request);
      sent_it = true;
      if (sent.ok()) {
        http::Response& resp = *sent;
        bool accepted =
            o.accept ? o.accept(resp.status) : (resp.status >= 200 && resp.status < 300);
        if (accepted) {
          std::optional<Error> bad = o.validate ? o.validate(resp) : std::nullopt;
          if (!bad) return std::move(sent).value();
          err = std::move(*bad);
        } else {
          err = ParseApiError(resp.status, resp.body);
          retry_after = ParseRetryAfter(resp.Header("retry-after"));
          if (resp.status == 401) {
            refused_token = *token;
            if (state.refreshed && refused_token != refreshed_from && refreshes < kMaxRefreshes &&
                !RefreshCannotHelp(err)) {
              log::Info("api", o.context, ": the refreshed token was refused too");
              state.refreshed = false;
            }
          }
        }
      } else {
        err = std::move(sent).error();
      }
    }

    // The request may have had its effect although its answer says nothing of it.
    const bool ambiguous = sent_it && IsRetryable(err) && !CertainlyNotProcessed(err);
    state.elapsed = std::chrono::duration_cast<Millis>(policy_.clock->Now() - start);
    if (ambiguous && !idempotent && o.had_no_effect) {
      // Looked into only while a retry could still follow. Past the budget the call ends as a
      // retryable one does (out_of_budget, ETIMEDOUT); whether that last attempt had its effect
      // is for the caller to find out (TransferClient::Rename looks once more).
      if (!RetryAllowed(policy_, state)) {
        idempotent = true;
      } else if (o.had_no_effect(err)) {
        log::Debug("api", o.context, ": ", err.Describe(), "; it had no effect, so it is retried");
        idempotent = true;
        state.elapsed = std::chrono::duration_cast<Millis>(policy_.clock->Now() - start);
      }
    }
    RetryDecision d = DecideRetry(policy_, state, err, idempotent, retry_after, policy_.random01());
    if (d.action == RetryAction::kRefreshThenRetry) {
      stats.refreshed = true;
      log::Info("api", o.context, ": 401, refreshing the token and retrying");
      Status s = tokens_.ForceRefresh(o.resource_server, refused_token);
      ++refreshes;
      refreshed_from = refused_token;
      if (s.ok()) {
        state.refreshed = true;
        continue;
      }
      // A refused refresh (kLoginAgain) says more than the 401 did. A token service that
      // cannot be reached is waited for like a failed attempt (the next 401 refreshes again).
      err = s.error();
      if (!IsRetryable(err) || err.kind == ErrorKind::kAuth) return WithContext(err, o.context);
      d = DecideRetry(policy_, state, err, true, std::nullopt, policy_.random01());
    }
    if (ambiguous) stats.ambiguous = true;
    if (d.action != RetryAction::kRetry) {
      if (d.out_of_budget) {
        stats.out_of_budget = true;
        // The one line (at Info: a mount's log level) for a call that could not be completed in
        // time; a command-line user gets the error itself instead. Each retry is Debug.
        const bool told_to_wait = retry_after && *retry_after > policy_.budget - state.elapsed;
        log::Info("api", o.context, ": giving up after ", state.elapsed.count() / 1000.0, " s and ",
                  stats.attempts, " attempts (retry budget ", policy_.budget.count() / 1000.0, " s",
                  told_to_wait ? ", and the service asked to wait longer" : "",
                  "): ", err.Describe());
        if (err.sys_errno == 0) err.sys_errno = ETIMEDOUT;
      } else {
        log::Debug("api", o.context, ": ", err.Describe());
      }
      return WithContext(std::move(err), o.context);
    }
    request.fresh_connection = WantsFreshConnection(err);
    ++state.retries;
    ++stats.retries;
    if (policy_.retries) policy_.retries->fetch_add(1, std::memory_order_relaxed);
    stats.slept += d.delay;
    log::Debug("api", o.context, ": ", err.Describe(), "; retry ", state.retries, " in ",
               d.delay.count(), " ms (", state.elapsed.count(), " of ", policy_.budget.count(),
               " ms of the retry budget used)");
    policy_.sleep(d.delay, cancel);
  }
}

}  // namespace gf::api
