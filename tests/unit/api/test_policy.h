// A RetryPolicy for tests: fixed jitter, and a sleeper that records each wait and moves a
// FakeClock by it instead of sleeping (so the retry budget is spent in simulated time).
#pragma once

#include <mutex>
#include <vector>

#include "api/retry.h"

namespace gf::testing {

struct RecordingSleeper {
  std::mutex mu;
  std::vector<Millis> sleeps;
  FakeClock clock;  // the policy's clock: advanced by every sleep
  api::RetryPolicy Policy(double jitter = 0.5) {
    api::RetryPolicy p;
    p.clock = &clock;
    p.random01 = [jitter] { return jitter; };
    p.sleep = [this](Millis d, const std::atomic<bool>*) {
      std::lock_guard<std::mutex> l(mu);
      sleeps.push_back(d);
      clock.Advance(d);
    };
    return p;
  }
  Millis total() {
    std::lock_guard<std::mutex> l(mu);
    Millis t{0};
    for (Millis d : sleeps) t += d;
    return t;
  }
};

}  // namespace gf::testing
