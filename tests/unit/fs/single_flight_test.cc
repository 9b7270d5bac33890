// SingleFlight: sharing one call, and what a follower does with an interrupted leader's EINTR.
#include <catch2/catch.hpp>

#include <cerrno>
#include <thread>

#include "common/cancel.h"
#include "fs/superblock/single_flight.h"

using namespace gf;
using gf::fs::SingleFlight;

namespace {
// Runs a leader whose call returns `leader_result` once a follower is waiting on it, and that
// follower (on this thread, with `follower_flag` published). Returns the follower's result.
Result<int> LeaderAndFollower(SingleFlight<std::string, int>& sf, std::atomic<int>& calls,
                              Result<int> leader_result, const std::atomic<bool>* follower_flag,
                              bool* joined) {
  std::atomic<bool> leading{false};
  std::thread leader([&] {
    (void)sf.Do("k", [&]() -> Result<int> {
      ++calls;
      leading = true;
      while (sf.waiting() == 0) std::this_thread::yield();  // until the follower waits on us
      return leader_result;
    });
  });
  while (!leading) std::this_thread::yield();
  CancelScope published(follower_flag);
  auto r = sf.Do(
      "k",
      [&]() -> Result<int> {
        ++calls;
        return 7;
      },
      joined);
  leader.join();
  return r;
}
}  // namespace

TEST_CASE("a follower shares the leader's answer", "[single_flight]") {
  SingleFlight<std::string, int> sf;
  std::atomic<int> calls{0};
  bool joined = false;
  auto r = LeaderAndFollower(sf, calls, 5, nullptr, &joined);
  REQUIRE(r.ok());
  CHECK(*r == 5);
  CHECK(joined);
  CHECK(calls == 1);
}

TEST_CASE("a follower asks again when the leader was interrupted", "[single_flight]") {
  SingleFlight<std::string, int> sf;
  std::atomic<int> calls{0};
  std::atomic<bool> not_me{false};
  bool joined = true;
  auto r = LeaderAndFollower(sf, calls, Error::Local(EINTR, "interrupted"), &not_me, &joined);
  REQUIRE(r.ok());
  CHECK(*r == 7);  // its own call
  CHECK_FALSE(joined);
  CHECK(calls == 2);

  // A follower that was interrupted too takes the EINTR.
  std::atomic<bool> me_too{true};
  calls = 0;
  auto both = LeaderAndFollower(sf, calls, Error::Local(EINTR, "interrupted"), &me_too, &joined);
  REQUIRE_FALSE(both.ok());
  CHECK(ErrnoFor(both.error()) == EINTR);
  CHECK(calls == 1);
}
