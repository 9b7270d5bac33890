// Injected clocks. Everything that expires (cache TTLs, token lifetimes, back-offs) takes a
// Clock& so tests can move time by hand instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

namespace gf {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;      // for intervals and TTLs
  virtual WallTime WallNow() const = 0;  // for token expiry and timestamps shown to users
};

class SystemClock final : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  static SystemClock& Instance() {
    static SystemClock c;
    return c;
  }
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  FakeClock() : wall_(std::chrono::system_clock::from_time_t(1700000000)) {}
  MonoTime Now() const override {
    std::lock_guard<std::mutex> l(mu_);
    return mono_;
  }
  WallTime WallNow() const override {
    std::lock_guard<std::mutex> l(mu_);
    return wall_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    mono_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  mutable std::mutex mu_;
  MonoTime mono_{};
  WallTime wall_;
};

}  // namespace gf
