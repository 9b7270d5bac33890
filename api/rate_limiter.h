// Client-side rate limit for the Transfer API.
//
// The service allows 20 requests/s per user, metered over 10 s windows (bursts allowed), and
// answers 429 beyond that (globus-api.md §5). We model it with a sliding-window log: a request
// may start at time t only if fewer than `budget` requests started in (t - window, t], where
// budget = floor(per_second * window_seconds * (1 - safety_margin)) (180 with the defaults).
// A sliding window that never exceeds the budget also never exceeds it in any of the service's
// fixed windows, whatever their alignment. So:
//   - a burst of up to `budget` requests passes at full speed;
//   - sustained load is held to budget/window (18/s), and the mount never triggers a 429.
// Acquire() reserves the earliest allowed slot under the lock (callers are served in arrival
// order, no thundering herd), then waits outside the lock until that slot.
//
// Time comes from the injected Clock and waiting goes through the injected Waiter, so tests run
// with FakeClock and a waiter that advances it: no real sleeping.
//
// Thread-safe. Lock: mu_ (a leaf; never held while waiting or calling out).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "common/clock.h"

namespace gf::api {

class RateLimiter {
 public:
  using Waiter = std::function<void(Millis)>;  // blocks for (at least) the given duration

  RateLimiter(double per_second, double window_seconds, Clock& clock, double safety_margin = 0.1,
              Waiter waiter = nullptr);

  // Blocks until a request may be sent; returns how long it waited (0 when not throttled).
  Millis Acquire();

  struct Stats {
    uint64_t acquired = 0;  // requests admitted
    uint64_t waits = 0;     // of which had to wait
    Millis total_wait{0};   // sum of all waits
  };
  Stats stats() const;
  int budget() const { return budget_; }
  std::chrono::nanoseconds window() const { return window_; }

 private:
  Clock& clock_;
  Waiter waiter_;
  int budget_;
  std::chrono::nanoseconds window_;

  mutable std::mutex mu_;     // guards log_ and stats_
  std::deque<MonoTime> log_;  // start times (some possibly in the future), sorted
  Stats stats_;
};

}  // namespace gf::api
