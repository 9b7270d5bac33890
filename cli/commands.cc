// The command table (cli/commands.h), and the two commands that only talk about the others:
// version and help.
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "cli/context.h"
#include "cli/docs.h"

namespace gf::cli {

const CommandSpec& VersionSpec() {
  static const CommandSpec s{"version", "", "Print the version of globus-fuse.",
                             "",        {}, {"globus-fuse version"}};
  return s;
}

const CommandSpec& HelpSpec() {
  static const CommandSpec s{"help",
                             "[COMMAND|config]",
                             "Show the help of globus-fuse, of a command, or of the config keys.",
                             "`globus-fuse help COMMAND` is `globus-fuse COMMAND --help`.",
                             {},
                             {"globus-fuse help mount", "globus-fuse help config"}};
  return s;
}

namespace {

int CmdVersion(int argc, char** argv) {
  int rc = 0;
  auto args = ParseOrExit(argc, argv, VersionSpec(), &rc);
  if (!args) return rc;
  if (!args->positionals().empty()) return ReportUsage("takes no arguments", "version");
  std::cout << "globus-fuse " << GF_VERSION << "\n";
  return kExitOk;
}

int CmdHelp(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::cout << MainHelp();
    return kExitOk;
  }
  if (argc > 2) {
    std::cerr << "globus-fuse help: expected one command name (see `globus-fuse help`)\n";
    return kExitUsage;
  }
  if (std::strcmp(argv[1], "config") == 0) {
    std::cout << ConfigHelp();
    return kExitOk;
  }
  if (const Command* c = FindCommand(argv[1])) {
    char help_flag[] = "--help";
    char* sub_argv[] = {argv[1], help_flag, nullptr};
    return c->fn(2, sub_argv);
  }
  std::cerr << "globus-fuse: unknown command '" << argv[1] << "' (see `globus-fuse help`)\n";
  return kExitUsage;
}

constexpr Command kCommands[] = {
    {"mount", CmdMount, "mount Globus collections at a directory", MountSpec},
    {"unmount", CmdUnmount, "unmount a globus-fuse mount", UnmountSpec},
    {"status", CmdStatus, "show the state of running mounts (pending logins, transfers)",
     StatusSpec},
    {"drop-caches", CmdDropCaches, "forget cached listings and file data of a mount",
     DropCachesSpec},
    {"login", CmdLogin, "log in to Globus (also: link identities, consent to collections)",
     LoginSpec},
    {"logout", CmdLogout, "revoke and delete the stored Globus tokens", LogoutSpec},
    {"whoami", CmdWhoami, "show the logged-in identity and its linked identities", WhoamiSpec},
    {"ls", CmdLs, "list a directory of a collection", LsSpec},
    {"stat", CmdStat, "show one file's metadata on a collection", StatSpec},
    {"version", CmdVersion, "print the version", VersionSpec},
    {"help", CmdHelp, "show help for a command", HelpSpec},
};

}  // namespace

std::span<const Command> Commands() { return kCommands; }

const Command* FindCommand(const std::string& name) {
  for (const auto& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace gf::cli
