// The subcommands of globus-fuse. main.cc dispatches through Commands(); each takes
// (argc, argv) with argv[0] = the command name and returns the process exit code
// (see cli/context.h: kExitOk ... kExitNetwork, documented in every --help).
//
// Each command's CommandSpec (usage, options, description, examples) is the one source of its
// --help, of its section in the globus-fuse(1) man page, and of its shell completion.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "cli/args.h"

namespace gf::cli {

// cmd_auth.cc
int CmdLogin(int argc, char** argv);
int CmdLogout(int argc, char** argv);
int CmdWhoami(int argc, char** argv);
const CommandSpec& LoginSpec();
const CommandSpec& LogoutSpec();
const CommandSpec& WhoamiSpec();

// cmd_remote.cc
int CmdLs(int argc, char** argv);
int CmdStat(int argc, char** argv);
const CommandSpec& LsSpec();
const CommandSpec& StatSpec();

// cmd_mount.cc (mount engineer)
int CmdMount(int argc, char** argv);
int CmdUnmount(int argc, char** argv);
int CmdStatus(int argc, char** argv);
int CmdDropCaches(int argc, char** argv);
const CommandSpec& MountSpec();
const CommandSpec& UnmountSpec();
const CommandSpec& StatusSpec();
const CommandSpec& DropCachesSpec();
// The mount points of every globus-fuse mount (fuse.globus-fuse in /proc/self/mounts).
std::vector<std::string> GlobusMounts();

// main.cc: version, help.
const CommandSpec& VersionSpec();
const CommandSpec& HelpSpec();

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;  // one line, for `globus-fuse help` and the man page's command list
  const CommandSpec& (*spec)();
};
// Every command, in the order `globus-fuse help` lists them.
std::span<const Command> Commands();
const Command* FindCommand(const std::string& name);

}  // namespace gf::cli
