// Starting helper programs (a browser, notify-send) from the CLI or a daemonized mount.
#pragma once

#include <string>
#include <vector>

namespace gf::auth {

// True when `prog` names an executable: a path containing '/', or a name found on $PATH.
bool ProgramOnPath(const std::string& prog);

// Runs argv[0] with its arguments, detached: double fork into a new session, stdin from
// /dev/null (and stdout/stderr too when `quiet`), so no zombie is left and nothing waits for
// it. Returns false when the fork failed (not when the program later fails).
bool SpawnDetached(const std::vector<std::string>& args, bool quiet = false);

}  // namespace gf::auth
