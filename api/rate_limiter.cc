#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace gf::api {

RateLimiter::RateLimiter(double per_second, double window_seconds, Clock& clock,
                         double safety_margin, Waiter waiter)
    : clock_(clock), waiter_(std::move(waiter)) {
  if (!(per_second > 0)) per_second = 1;
  if (!(window_seconds > 0)) window_seconds = 1;
  safety_margin = std::clamp(safety_margin, 0.0, 0.9);
  budget_ = std::max(
      1, static_cast<int>(std::floor(per_second * window_seconds * (1.0 - safety_margin))));
  window_ = std::chrono::nanoseconds(static_cast<int64_t>(window_seconds * 1e9));
  if (!waiter_) waiter_ = [](Millis d) { std::this_thread::sleep_for(d); };
}

Millis RateLimiter::Acquire() {
  Millis wait{0};
  {
    std::lock_guard<std::mutex> l(mu_);
    const MonoTime now = clock_.Now();
    while (!log_.empty() && log_.front() <= now - window_) log_.pop_front();
    MonoTime slot = now;
    const std::size_t n = log_.size();
    const std::size_t b = static_cast<std::size_t>(budget_);
    if (n >= b) {
      // The slot opens when the budget-th most recent start leaves the window; never earlier
      // than a slot already reserved, so the log stays a valid schedule.
      slot = std::max({now, log_[n - b] + window_, log_.back()});
    }
    log_.insert(std::upper_bound(log_.begin(), log_.end(), slot), slot);
    wait = std::chrono::ceil<Millis>(slot - now);
    ++stats_.acquired;
    if (wait.count() > 0) {
      ++stats_.waits;
      stats_.total_wait += wait;
    }
  }
  if (wait.count() > 0) waiter_(wait);
  return wait;
}

RateLimiter::Stats RateLimiter::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace gf::api
