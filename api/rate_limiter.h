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
// Two lanes. Interactive calls (a LOOKUP's stat, a readdir's ls) use the foreground lane above.
// Work nobody is waiting for at a terminal -- the transfer engine's task polls, submissions and
// the listings of a directory mv's delete plan -- uses the background lane (a BackgroundCalls
// scope on the calling thread, see request_executor.h), which yields to the foreground:
//   - a background request starts only while fewer than `background_budget` requests
//     (budget * background_share, 120 of 180 by default) started in the last window, and no
//     foreground request is waiting for a slot. The rest of the budget is headroom that only
//     interactive calls can use, so an `ls` during a big `mv` still passes at full speed;
//   - it does not reserve a future slot (a later foreground call is not queued behind it): it
//     sleeps until the window has room and checks again;
//   - after waiting `background_patience` (one window) it takes the next slot like a
//     foreground request, so a long interactive burst cannot starve task polling.
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

  enum class Lane { kForeground, kBackground };

  RateLimiter(double per_second, double window_seconds, Clock& clock, double safety_margin = 0.1,
              Waiter waiter = nullptr, double background_share = 2.0 / 3.0);

  // Blocks until a request may be sent; returns how long it waited (0 when not throttled).
  // The background lane needs a Waiter that lets the Clock move (as every real one does).
  Millis Acquire(Lane lane = Lane::kForeground);

  struct Stats {
    uint64_t acquired = 0;    // requests admitted
    uint64_t waits = 0;       // of which had to wait
    Millis total_wait{0};     // sum of all waits
    uint64_t background = 0;  // requests admitted on the background lane
  };
  Stats stats() const;
  int budget() const { return budget_; }
  int background_budget() const { return background_budget_; }
  std::chrono::nanoseconds window() const { return window_; }

 private:
  // Under mu_: prunes the log and reserves the earliest foreground slot at or after `now`.
  MonoTime ReserveLocked(MonoTime now);
  void CountLocked(Millis waited, bool background);
  Millis AcquireBackground();

  Clock& clock_;
  Waiter waiter_;
  int budget_;
  int background_budget_;
  std::chrono::nanoseconds window_;

  mutable std::mutex mu_;     // guards log_ and stats_
  std::deque<MonoTime> log_;  // start times (some possibly in the future), sorted
  Stats stats_;
};

}  // namespace gf::api
