// The daemon's open-file limit (RLIMIT_NOFILE). Desktop sessions start programs with a soft
// limit of 1024 (systemd's default, kept low for programs that still use select(2)) under a much
// higher hard limit, and expect a program that needs more to raise its own soft limit. The mount
// needs more: in write_mode = background every queued upload holds its staged file open until
// it is sent, so a `cp -r` that outruns a slow server holds one descriptor per file still
// waiting (and ~60 more for connections, the journal, /dev/fuse). Nothing in the daemon uses
// select(2): libcurl and the FUSE loop poll.
#pragma once

#include <cstdint>

namespace gf {

struct FdLimit {
  uint64_t before = 0;  // the soft limit the process started with
  uint64_t soft = 0;    // the soft limit now
  uint64_t hard = 0;
};

// Raises the soft limit to the hard one (at most `cap`: a hard limit of "unlimited" or of
// billions only makes the kernel's tables bigger). Never lowers it. On failure the limit is left
// as it was, and `soft` says so.
FdLimit RaiseFdLimit(uint64_t cap = uint64_t{1} << 20);

}  // namespace gf
