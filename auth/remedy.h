// "What command fixes this authorization error": shared by the CLI (printed) and the mount
// (logged, and shown by `globus-fuse status`).
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace gf::auth {

// Quote for a POSIX shell when needed ('...' with embedded quotes escaped).
std::string ShellQuote(std::string_view s);

// The `globus-fuse login ...` command that satisfies the parameters:
//   session_required_single_domain -> --domain D (each), session_required_identities ->
//   --identity I, session_required_policies -> --policy P, required_scopes -> --scope 'S',
//   session_required_mfa=true -> --mfa, prompt=login alone -> --force.
// (--domain/--identity/--policy imply a fresh authentication, so --force is not repeated.)
std::string RemedyCommand(const AuthorizationParameters& a);

// One line for the user: what is required and the command that fixes it, e.g.
//   "UManitoba Grex HPC requires an identity from rprox.hpc.umanitoba.ca: run
//    `globus-fuse login --domain rprox.hpc.umanitoba.ca`"
// `subject` names the collection (display name or id; "" => "the collection"). For errors
// without authorization parameters, the error's own description.
std::string RemedyMessage(const Error& e, std::string_view subject);

}  // namespace gf::auth
