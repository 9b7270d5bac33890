#include "common/fd_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace gf {

FdLimit RaiseFdLimit(uint64_t cap) {
  FdLimit out;
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return out;
  out.before = out.soft = rl.rlim_cur;
  out.hard = rl.rlim_max;
  const rlim_t want = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(cap));
  if (want <= rl.rlim_cur) return out;
  rl.rlim_cur = want;
  if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) out.soft = want;
  return out;
}

}  // namespace gf
