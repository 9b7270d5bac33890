// The subcommands of globus-fuse. main.cc dispatches through a table of these; each takes
// (argc, argv) with argv[0] = the command name and returns the process exit code
// (see cli/context.h: kExitOk ... kExitNetwork, documented in every --help).
#pragma once

namespace gf::cli {

// cmd_auth.cc
int CmdLogin(int argc, char** argv);
int CmdLogout(int argc, char** argv);
int CmdWhoami(int argc, char** argv);

// cmd_remote.cc
int CmdLs(int argc, char** argv);
int CmdStat(int argc, char** argv);

// cmd_mount.cc (mount engineer)
int CmdMount(int argc, char** argv);
int CmdUnmount(int argc, char** argv);
int CmdStatus(int argc, char** argv);
int CmdDropCaches(int argc, char** argv);

}  // namespace gf::cli
