// Reading a mount's status document (MOUNTPOINT/.globus-fuse/status) from the command line.
//
// The read goes through the mount, so a daemon that does not answer (stopped with SIGSTOP, hung
// in a bug) would block `status`, `unmount`, `mount` and shell completion forever. The read
// therefore runs in a child process that is killed after a timeout (a FUSE request gives way to
// SIGKILL): ETIMEDOUT, with a message that says so, and nothing of the command is left waiting
// inside the mount (it would keep the mount busy for an `umount`).
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace gf::cli {

// A healthy daemon answers at once: the document is built from local state, never from a
// remote call, even while it waits for the service or a login.
inline constexpr std::chrono::milliseconds kStatusAnswerWait{10000};

// The document, or the open/read error (ENOTCONN: a dead mount; ETIMEDOUT: no answer within
// `timeout`).
Result<std::string> ReadStatusDocument(const std::string& mount_point,
                                       std::chrono::milliseconds timeout = kStatusAnswerWait);

}  // namespace gf::cli
