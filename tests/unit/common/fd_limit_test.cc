// RaiseFdLimit: the soft limit goes up to the hard one (capped), never down.
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include "common/fd_limit.h"

namespace {
struct SavedLimit {
  SavedLimit() { ::getrlimit(RLIMIT_NOFILE, &saved); }
  ~SavedLimit() { ::setrlimit(RLIMIT_NOFILE, &saved); }
  struct rlimit saved {};
};
rlim_t Soft() {
  struct rlimit rl {};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}
}  // namespace

TEST_CASE("RaiseFdLimit raises the soft limit to the hard one, capped, never lowers it",
          "[common][fdlimit]") {
  SavedLimit keep;
  struct rlimit rl = keep.saved;
  REQUIRE(rl.rlim_max > 300);  // room to start low and be raised
  rl.rlim_cur = 256;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);

  // Capped below the hard limit: raised to the cap.
  gf::FdLimit capped = gf::RaiseFdLimit(300);
  CHECK(capped.before == 256);
  CHECK(capped.soft == 300);
  CHECK(Soft() == 300);

  // Uncapped: up to the hard limit (or the default cap).
  gf::FdLimit up = gf::RaiseFdLimit();
  CHECK(up.before == 300);
  CHECK(up.hard == rl.rlim_max);
  const rlim_t expect = std::min<rlim_t>(rl.rlim_max, rlim_t{1} << 20);
  CHECK(up.soft == expect);
  CHECK(Soft() == expect);

  // A cap under the current soft limit changes nothing.
  gf::FdLimit same = gf::RaiseFdLimit(100);
  CHECK(same.before == expect);
  CHECK(same.soft == expect);
  CHECK(Soft() == expect);
}
