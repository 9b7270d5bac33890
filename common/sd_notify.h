// systemd's readiness protocol without libsystemd: one datagram ("READY=1", "STOPPING=1",
// "STATUS=...") to the AF_UNIX socket named by $NOTIFY_SOCKET, as sd_notify(3) documents
// (a leading '@' names an abstract socket). Without $NOTIFY_SOCKET it does nothing, so a
// mount started by hand is unaffected.
#pragma once

#include <string>

#include "common/result.h"

namespace gf {

// Sends `state` to $NOTIFY_SOCKET. Ok when it was sent, or when there is no socket to send to.
Status SdNotify(const std::string& state);

}  // namespace gf
