#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "common/blocking.h"

namespace gf::api {

RateLimiter::RateLimiter(double per_second, double window_seconds, Clock& clock,
                         double safety_margin, Waiter waiter, double background_share)
    : clock_(clock), waiter_(std::move(waiter)) {
  if (!(per_second > 0)) per_second = 1;
  if (!(window_seconds > 0)) window_seconds = 1;
  safety_margin = std::clamp(safety_margin, 0.0, 0.9);
  budget_ = std::max(
      1, static_cast<int>(std::floor(per_second * window_seconds * (1.0 - safety_margin))));
  if (!(background_share > 0)) background_share = 0;  // NaN too
  background_budget_ =
      std::clamp(static_cast<int>(std::floor(budget_ * background_share)), 1, budget_);
  window_ = std::chrono::nanoseconds(static_cast<int64_t>(window_seconds * 1e9));
  if (!waiter_) waiter_ = [](Millis d) { std::this_thread::sleep_for(d); };
}

MonoTime RateLimiter::ReserveLocked(MonoTime now) {
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
  return slot;
}

void RateLimiter::CountLocked(Millis waited, bool background) {
  ++stats_.acquired;
  if (background) ++stats_.background;
  if (waited.count() > 0) {
    ++stats_.waits;
    stats_.total_wait += waited;
  }
}

Millis RateLimiter::Acquire(Lane lane) {
  if (lane == Lane::kBackground) return AcquireBackground();
  Millis wait{0};
  {
    std::lock_guard<std::mutex> l(mu_);
    const MonoTime now = clock_.Now();
    wait = std::chrono::ceil<Millis>(ReserveLocked(now) - now);
    CountLocked(wait, false);
  }
  if (wait.count() > 0) {
    MayBlock();
    waiter_(wait);
  }
  return wait;
}

Millis RateLimiter::AcquireBackground() {
  const MonoTime patient_until = clock_.Now() + window_;  // background patience: one window
  Millis waited{0};
  for (;;) {
    Millis wait{0};
    bool reserved = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      const MonoTime now = clock_.Now();
      if (now >= patient_until) {  // waited long enough: take a slot like a foreground request
        wait = std::chrono::ceil<Millis>(ReserveLocked(now) - now);
        CountLocked(waited + wait, true);
        reserved = true;
      } else {
        while (!log_.empty() && log_.front() <= now - window_) log_.pop_front();
        const std::size_t n = log_.size();
        const std::size_t bb = static_cast<std::size_t>(background_budget_);
        const bool foreground_waiting = !log_.empty() && log_.back() > now;
        if (!foreground_waiting && n < bb) {
          log_.push_back(now);
          CountLocked(waited, true);
          return waited;
        }
        // Sleep until the window has room (or the waiting foreground slot has passed).
        MonoTime wake = now;
        if (n >= bb) wake = std::max(wake, log_[n - bb] + window_);
        if (foreground_waiting) wake = std::max(wake, log_.back());
        wait = std::max(Millis(1), std::chrono::ceil<Millis>(std::min(wake, patient_until) - now));
      }
    }
    if (wait.count() > 0) {
      MayBlock();
      waiter_(wait);
    }
    waited += wait;
    if (reserved) return waited;
  }
}

RateLimiter::Stats RateLimiter::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace gf::api
