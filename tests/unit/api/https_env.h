// An HttpsClient over a FakeTransport, with a fixed token source and recorded (instant) sleeps:
// the setup of the HTTPS data path's unit tests. Read() appends what it reads to `got`.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "api/https_client.h"
#include "tests/support/fake_transport.h"
#include "tests/support/token_fixed.h"
#include "tests/unit/api/test_policy.h"

namespace gf::testing {

inline const api::CollectionRef kHttpsColl{"c0ffee", "https://m-1234.data.example:8443"};

struct HttpsEnv {
  FakeTransport transport;
  FixedTokenSource tokens;
  RecordingSleeper sleeper;
  api::HttpsClient client{transport, tokens, sleeper.Policy()};
  std::string got;
  std::function<bool(std::string_view)> sink = [this](std::string_view c) {
    got.append(c);
    return true;
  };
  Result<api::RangeResult> Read(uint64_t off, uint64_t len,
                                const std::string& path = "/dir/file.bin") {
    return client.GetRange(kHttpsColl, path, off, len, sink);
  }
};

}  // namespace gf::testing
