// The retry policy as pure decisions: table-driven.
#include <catch2/catch.hpp>

#include "api/documents.h"
#include "api/retry.h"

using namespace gf;
using namespace gf::api;

namespace {
Error Api(int status, std::string code = "") { return Error::Api(status, std::move(code), "m"); }
Error Net(TransportFailure f) { return Error::Transport(f, "m"); }
}  // namespace

TEST_CASE("which errors are retried", "[retry]") {
  struct Row {
    Error e;
    bool retry;
  } rows[] = {
      {Api(429), true},
      {Api(500, "ServerError"), true},
      {Api(502), true},
      {Api(503, "ServiceUnavailable"), true},
      {Api(504), true},
      {Api(502, "ExternalError.DirListingFailed.LoginFailed"), false},
      {Api(502, "ExternalError.MkdirFailed.Exists"), false},
      {Api(504, "EndpointError"), false},
      {Api(400, "ClientError.BadRequest"), false},
      {Api(403, "ConsentRequired"), false},
      {Api(404, "ClientError.NotFound"), false},
      {Api(409, "Conflict"), false},
      {Net(TransportFailure::kConnect), true},
      {Net(TransportFailure::kReset), true},
      {Net(TransportFailure::kTimeout), true},
      {Net(TransportFailure::kTruncated), true},
      {Net(TransportFailure::kDns), true},
      {Net(TransportFailure::kTls), false},
      {Net(TransportFailure::kAborted), false},
      {Net(TransportFailure::kMalformedBody), true},  // a proxy's page, a cut document
      {Api(404, "ClientError.NotFound"), false},
      {ParseApiError(
           404, "Mapping failed. GlobusError: v=1 c=ENDPOINT_ERROR GCS Manager Internal Error"),
       true},
      {ParseApiError(404, "GlobusError: v=1 c=INTERNAL_ERROR"), true},
      {Net(TransportFailure::kOther), false},
      {Error::Auth(AuthFailure::kLoginAgain, "x"), false},
  };
  for (const auto& r : rows) {
    INFO(r.e.Describe());
    CHECK(IsRetryable(r.e) == r.retry);
    RetryDecision d = DecideRetry(RetryPolicy{}, RetryState{}, r.e, true, std::nullopt, 0.5);
    CHECK((d.action == RetryAction::kRetry) == r.retry);
  }
}

TEST_CASE("401 refreshes exactly once", "[retry]") {
  RetryPolicy p;
  RetryState s;
  CHECK(DecideRetry(p, s, Api(401), true, std::nullopt, 0).action ==
        RetryAction::kRefreshThenRetry);
  s.refreshed = true;
  CHECK(DecideRetry(p, s, Api(401), true, std::nullopt, 0).action == RetryAction::kStop);
  // Also for non-idempotent calls: a 401 was rejected before anything happened.
  CHECK(DecideRetry(p, RetryState{}, Api(401), false, std::nullopt, 0).action ==
        RetryAction::kRefreshThenRetry);
}

TEST_CASE("at most max_retries retries", "[retry]") {
  RetryPolicy p;
  p.max_retries = 5;
  RetryState s;
  for (s.retries = 0; s.retries < 5; ++s.retries) {
    CHECK(DecideRetry(p, s, Api(503), true, std::nullopt, 0).action == RetryAction::kRetry);
  }
  CHECK(DecideRetry(p, s, Api(503), true, std::nullopt, 0).action == RetryAction::kStop);
  p.max_retries = 0;
  CHECK(DecideRetry(p, RetryState{}, Api(503), true, std::nullopt, 0).action == RetryAction::kStop);
}

TEST_CASE("the budget, not a count, ends the retries", "[retry]") {
  RetryPolicy p;  // 60 s budget, no count cap
  RetryState s;
  s.retries = 40;
  s.elapsed = Millis(59000);
  RetryDecision d = DecideRetry(p, s, Api(503), true, std::nullopt, 0.5);
  CHECK(d.action == RetryAction::kRetry);
  CHECK(d.delay == Millis(1000));  // the 10 s backoff is cut to end at the budget
  s.elapsed = Millis(60000);
  d = DecideRetry(p, s, Api(503), true, std::nullopt, 0.5);
  CHECK(d.action == RetryAction::kStop);
  CHECK(d.out_of_budget);
  // A failure that is not retried is not "out of budget".
  d = DecideRetry(p, s, Api(404, "ClientError.NotFound"), true, std::nullopt, 0.5);
  CHECK_FALSE(d.out_of_budget);
  // A budget of 0: no retries at all.
  p.budget = Millis(0);
  d = DecideRetry(p, RetryState{}, Net(TransportFailure::kReset), true, std::nullopt, 0.5);
  CHECK(d.action == RetryAction::kStop);
  CHECK(d.out_of_budget);
}

TEST_CASE("a Retry-After beyond the budget ends the call at once", "[retry]") {
  RetryPolicy p;
  RetryState s;
  s.elapsed = Millis(50000);
  RetryDecision d = DecideRetry(p, s, Api(429), true, Millis(9000), 0.5);
  CHECK(d.action == RetryAction::kRetry);
  CHECK(d.delay == Millis(9000));  // honoured as given, not cut
  d = DecideRetry(p, s, Api(429), true, Millis(11000), 0.5);
  CHECK(d.action == RetryAction::kStop);
  CHECK(d.out_of_budget);
}

TEST_CASE("fresh connections after failures that may stick to one", "[retry]") {
  CHECK(WantsFreshConnection(Net(TransportFailure::kReset)));
  CHECK(WantsFreshConnection(Net(TransportFailure::kTimeout)));
  CHECK(WantsFreshConnection(Net(TransportFailure::kTruncated)));
  CHECK(WantsFreshConnection(Net(TransportFailure::kMalformedBody)));
  CHECK(WantsFreshConnection(ParseApiError(404, "GlobusError: v=1 c=ENDPOINT_ERROR")));
  CHECK_FALSE(WantsFreshConnection(Net(TransportFailure::kConnect)));
  CHECK_FALSE(WantsFreshConnection(Api(503)));
}

TEST_CASE("non-idempotent calls retry only what never reached the server", "[retry]") {
  RetryPolicy p;
  RetryState s;
  CHECK(DecideRetry(p, s, Net(TransportFailure::kConnect), false, std::nullopt, 0).action ==
        RetryAction::kRetry);
  CHECK(DecideRetry(p, s, Net(TransportFailure::kDns), false, std::nullopt, 0).action ==
        RetryAction::kRetry);
  CHECK(DecideRetry(p, s, Api(429), false, std::nullopt, 0).action == RetryAction::kRetry);
  CHECK(DecideRetry(p, s, Api(503), false, std::nullopt, 0).action == RetryAction::kRetry);
  CHECK(DecideRetry(p, s, Net(TransportFailure::kReset), false, std::nullopt, 0).action ==
        RetryAction::kStop);
  CHECK(DecideRetry(p, s, Net(TransportFailure::kTimeout), false, std::nullopt, 0).action ==
        RetryAction::kStop);
  CHECK(DecideRetry(p, s, Api(502), false, std::nullopt, 0).action == RetryAction::kStop);
  CHECK(DecideRetry(p, s, Api(500), false, std::nullopt, 0).action == RetryAction::kStop);
  // A 2xx that does not parse may have done its work: not repeated blindly.
  CHECK(DecideRetry(p, s, Net(TransportFailure::kMalformedBody), false, std::nullopt, 0).action ==
        RetryAction::kStop);
  // The backend could not map the collection: nothing was touched.
  CHECK(DecideRetry(p, s, ParseApiError(404, "GlobusError: v=1 c=ENDPOINT_ERROR"), false,
                    std::nullopt, 0)
            .action == RetryAction::kRetry);
}

TEST_CASE("backoff is (0.25+0.5r)*2^attempt seconds, capped at 10 s", "[retry]") {
  RetryPolicy p;
  CHECK(Backoff(p, 0, 0.0) == Millis(250));
  CHECK(Backoff(p, 0, 1.0) == Millis(750));
  CHECK(Backoff(p, 0, 0.5) == Millis(500));
  CHECK(Backoff(p, 1, 0.0) == Millis(500));
  CHECK(Backoff(p, 3, 1.0) == Millis(6000));
  CHECK(Backoff(p, 4, 0.0) == Millis(4000));
  CHECK(Backoff(p, 5, 0.0) == Millis(8000));
  CHECK(Backoff(p, 5, 1.0) == Millis(10000));
  CHECK(Backoff(p, 60, 0.3) == Millis(10000));
  for (int attempt = 0; attempt < 8; ++attempt) {
    for (double r : {0.0, 0.1, 0.49, 0.99}) {
      Millis b = Backoff(p, attempt, r);
      double lo = 250.0 * (1 << attempt), hi = 750.0 * (1 << attempt);
      CHECK(b.count() >= std::min<int64_t>(static_cast<int64_t>(lo), 10000));
      CHECK(b.count() <= std::min<int64_t>(static_cast<int64_t>(hi), 10000));
    }
  }
}

TEST_CASE("Retry-After: integer seconds on 429/503 only", "[retry]") {
  CHECK(ParseRetryAfter("3") == Millis(3000));
  CHECK(ParseRetryAfter(" 0 ") == Millis(0));
  CHECK_FALSE(ParseRetryAfter(""));
  CHECK_FALSE(ParseRetryAfter("1.5"));
  CHECK_FALSE(ParseRetryAfter("-1"));
  CHECK_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"));
  RetryPolicy p;
  RetryState s;
  s.retries = 3;  // backoff would be >= 2 s
  CHECK(DecideRetry(p, s, Api(429), true, Millis(1000), 0.5).delay == Millis(1000));
  CHECK(DecideRetry(p, s, Api(503), true, Millis(7000), 0.5).delay == Millis(7000));
  RetryPolicy patient = p;  // a budget longer than the cap: the cap bounds the wait
  patient.budget = Millis(7200 * 1000);
  CHECK(DecideRetry(patient, s, Api(429), true, Millis(3600 * 1000), 0.5).delay ==
        p.max_retry_after);
  // Ignored on other statuses: normal backoff.
  CHECK(DecideRetry(p, s, Api(500), true, Millis(1000), 0.0).delay == Backoff(p, 3, 0.0));
  CHECK(DecideRetry(p, s, Api(429), true, std::nullopt, 0.0).delay == Backoff(p, 3, 0.0));
}

TEST_CASE("DefaultSleep returns at once when cancelled", "[retry]") {
  std::atomic<bool> cancel{true};
  DefaultSleep(Millis(60000), &cancel);  // would hang the test if the flag were ignored
  SUCCEED();
  double r = DefaultRandom01();
  CHECK(r >= 0.0);
  CHECK(r < 1.0);
}
