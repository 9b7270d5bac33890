#include "api/request_executor.h"

#include <algorithm>
#include <cctype>

#include "api/documents.h"
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
  if (!policy_.random01) policy_.random01 = DefaultRandom01;
  if (!policy_.sleep) policy_.sleep = DefaultSleep;
}

Result<http::Response> RequestExecutor::Execute(http::Request request, const CallOptions& o,
                                                CallStats* stats_out) {
  CallStats local;
  CallStats& stats = stats_out ? *stats_out : local;
  RetryState state;
  request.cancel = o.cancel;

  for (;;) {
    if (o.cancel && o.cancel->load()) {
      return WithContext(Error::Transport(TransportFailure::kAborted, "cancelled"), o.context);
    }
    if (o.before_attempt) o.before_attempt(request);
    if (limiter_ && o.rate_limited)
      limiter_->Acquire(BackgroundCalls::Active() ? RateLimiter::Lane::kBackground
                                                  : RateLimiter::Lane::kForeground);

    auto token = tokens_.AccessToken(o.resource_server);
    if (!token.ok()) return WithContext(token.error(), o.context);
    SetHeader(request.headers, "Authorization", "Bearer " + *token);

    ++stats.attempts;
    auto sent = transport_.Send(request);
    Error err;
    std::optional<Millis> retry_after;
    if (sent.ok()) {
      http::Response& resp = *sent;
      bool accepted = o.accept ? o.accept(resp.status) : (resp.status >= 200 && resp.status < 300);
      if (accepted) {
        std::optional<Error> bad = o.validate ? o.validate(resp) : std::nullopt;
        if (!bad) return std::move(sent).value();
        err = std::move(*bad);
      } else {
        err = ParseApiError(resp.status, resp.body);
        retry_after = ParseRetryAfter(resp.Header("retry-after"));
      }
    } else {
      err = std::move(sent).error();
    }

    RetryDecision d =
        DecideRetry(policy_, state, err, o.idempotent, retry_after, policy_.random01());
    switch (d.action) {
      case RetryAction::kStop:
        log::Debug("api", o.context, ": ", err.Describe());
        return WithContext(std::move(err), o.context);
      case RetryAction::kRefreshThenRetry: {
        state.refreshed = stats.refreshed = true;
        log::Info("api", o.context, ": 401, refreshing the token and retrying once");
        Status s = tokens_.ForceRefresh(o.resource_server);
        // A refused refresh (kLoginAgain) says more than the 401 did.
        if (!s.ok()) return WithContext(s.error(), o.context);
        continue;
      }
      case RetryAction::kRetry:
        if (!CertainlyNotProcessed(err)) stats.ambiguous = true;
        ++state.retries;
        ++stats.retries;
        stats.slept += d.delay;
        log::Info("api", o.context, ": ", err.Describe(), "; retry ", state.retries, "/",
                  policy_.max_retries, " in ", d.delay.count(), " ms");
        policy_.sleep(d.delay, o.cancel);
        continue;
    }
  }
}

}  // namespace gf::api
