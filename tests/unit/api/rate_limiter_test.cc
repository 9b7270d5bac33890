// RateLimiter decisions with FakeClock; waiting advances the fake clock (no real sleeping).
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "api/rate_limiter.h"

using namespace gf;
using namespace gf::api;
using std::chrono::seconds;

namespace {
struct Env {
  FakeClock clock;
  std::vector<MonoTime> starts;
  RateLimiter limiter{20, 10, clock, 0.1, [this](Millis d) { clock.Advance(d); }};
  Millis Acquire() {
    Millis w = limiter.Acquire();
    starts.push_back(clock.Now());
    return w;
  }
  // Largest number of starts inside any half-open window of `w`.
  std::size_t MaxInWindow(std::chrono::nanoseconds w) const {
    std::size_t best = 0, lo = 0;
    for (std::size_t hi = 0; hi < starts.size(); ++hi) {
      while (starts[hi] - starts[lo] >= w) ++lo;
      best = std::max(best, hi - lo + 1);
    }
    return best;
  }
};
}  // namespace

TEST_CASE("budget = rate * window minus the safety margin", "[rate_limiter]") {
  FakeClock c;
  CHECK(RateLimiter(20, 10, c).budget() == 180);
  CHECK(RateLimiter(20, 10, c, 0.0).budget() == 200);
  CHECK(RateLimiter(0.01, 1, c).budget() == 1);
}

TEST_CASE("a burst up to the budget passes at full speed", "[rate_limiter]") {
  Env env;
  for (int i = 0; i < 180; ++i) REQUIRE(env.Acquire() == Millis(0));
  CHECK(env.limiter.stats().waits == 0);
  // The next one waits for the first to leave the 10 s window.
  CHECK(env.Acquire() == Millis(10000));
  auto st = env.limiter.stats();
  CHECK(st.acquired == 181);
  CHECK(st.waits == 1);
  CHECK(st.total_wait == Millis(10000));
}

TEST_CASE("sustained load never exceeds the budget in any window", "[rate_limiter]") {
  Env env;
  for (int i = 0; i < 2000; ++i) {
    env.Acquire();
    env.clock.Advance(std::chrono::milliseconds(10));  // the caller wants 100/s
  }
  CHECK(env.MaxInWindow(seconds(10)) <= 180);
  // Throughput converges on budget/window = 18/s: 180 requests per 10 s, so the 2000th
  // starts after 11 full windows (110 s) plus its place in the 12th burst.
  auto elapsed = env.starts.back() - env.starts.front();
  CHECK(elapsed >= seconds(110));
  CHECK(elapsed <= seconds(111));
  // And never more than the service's own limit in any fixed window either.
  CHECK(env.MaxInWindow(seconds(10)) < 200);
}

TEST_CASE("requests spaced under the rate are never delayed", "[rate_limiter]") {
  Env env;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(env.Acquire() == Millis(0));
    env.clock.Advance(std::chrono::milliseconds(60));  // 16.7/s < 18/s
  }
  CHECK(env.limiter.stats().waits == 0);
}

TEST_CASE("after an idle period the full burst is available again", "[rate_limiter]") {
  Env env;
  for (int i = 0; i < 180; ++i) env.Acquire();
  env.clock.Advance(seconds(10));
  for (int i = 0; i < 180; ++i) REQUIRE(env.Acquire() == Millis(0));
  CHECK(env.Acquire() > Millis(0));
}

TEST_CASE("concurrent callers get distinct slots", "[rate_limiter]") {
  FakeClock clock;
  // The waiter does not advance time: we only check the admission schedule under contention.
  RateLimiter limiter(20, 10, clock, 0.1, [](Millis) {});
  std::vector<std::thread> threads;
  std::atomic<int> waited{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 90; ++i) {
        if (limiter.Acquire() > Millis(0)) ++waited;
      }
    });
  }
  for (auto& t : threads) t.join();
  auto st = limiter.stats();
  CHECK(st.acquired == 360);
  CHECK(st.waits == 180);  // exactly the requests beyond the burst budget
  CHECK(waited == 180);
}

TEST_CASE("background lane: stops at its share and leaves the rest to interactive calls",
          "[rate_limiter]") {
  Env env;
  REQUIRE(env.limiter.background_budget() == 120);
  for (int i = 0; i < 120; ++i)
    REQUIRE(env.limiter.Acquire(RateLimiter::Lane::kBackground) == Millis(0));
  // The 121st background call must wait, but interactive calls still burst at full speed.
  for (int i = 0; i < 60; ++i) REQUIRE(env.Acquire() == Millis(0));
  CHECK(env.Acquire() > Millis(0));  // now the whole budget is used
  auto st = env.limiter.stats();
  CHECK(st.background == 120);
  CHECK(st.acquired == 181);
}

TEST_CASE("background lane: waits for the window instead of taking the headroom",
          "[rate_limiter]") {
  Env env;
  for (int i = 0; i < 120; ++i) env.limiter.Acquire(RateLimiter::Lane::kBackground);
  const MonoTime t0 = env.clock.Now();
  // The 121st waits until the first background call leaves the 10 s window.
  CHECK(env.limiter.Acquire(RateLimiter::Lane::kBackground) == Millis(10000));
  CHECK(env.clock.Now() - t0 == seconds(10));
}

TEST_CASE("mixed lanes: never over budget, and the background lane is not starved",
          "[rate_limiter]") {
  Env env;
  Millis longest_background{0};
  for (int i = 0; i < 1500; ++i) {
    env.Acquire();  // an interactive caller that wants 100/s
    env.clock.Advance(std::chrono::milliseconds(10));
    if (i % 5 == 0) {
      Millis w = env.limiter.Acquire(RateLimiter::Lane::kBackground);
      env.starts.push_back(env.clock.Now());
      longest_background = std::max(longest_background, w);
    }
  }
  CHECK(env.MaxInWindow(seconds(10)) <= 180);
  // Saturated by interactive calls, a background call still gets a slot within its patience
  // (one window) plus one slot.
  CHECK(longest_background > Millis(0));
  CHECK(longest_background <= Millis(10000 + 1000));
  CHECK(env.limiter.stats().background == 300);
}
