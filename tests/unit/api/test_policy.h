// A RetryPolicy for tests: fixed jitter, and a sleeper that records instead of sleeping.
#pragma once

#include <mutex>
#include <vector>

#include "api/retry.h"

namespace gf::testing {

struct RecordingSleeper {
  std::mutex mu;
  std::vector<Millis> sleeps;
  api::RetryPolicy Policy(double jitter = 0.5) {
    api::RetryPolicy p;
    p.random01 = [jitter] { return jitter; };
    p.sleep = [this](Millis d, const std::atomic<bool>*) {
      std::lock_guard<std::mutex> l(mu);
      sleeps.push_back(d);
    };
    return p;
  }
};

}  // namespace gf::testing
