// globus-fuse: the command-line entry point. Subcommands are dispatched through kCommands.
#include <cstring>
#include <iostream>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/context.h"

namespace gf::cli {
namespace {

int CmdVersion(int argc, char** argv);
int CmdHelp(int argc, char** argv);

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"mount", CmdMount, "mount Globus collections at a directory"},
    {"unmount", CmdUnmount, "unmount a globus-fuse mount"},
    {"status", CmdStatus, "show the state of running mounts (pending logins, transfers)"},
    {"drop-caches", CmdDropCaches, "forget cached listings and file data of a mount"},
    {"login", CmdLogin, "log in to Globus (also: link identities, consent to collections)"},
    {"logout", CmdLogout, "revoke and delete the stored Globus tokens"},
    {"whoami", CmdWhoami, "show the logged-in identity and its linked identities"},
    {"ls", CmdLs, "list a directory of a collection"},
    {"stat", CmdStat, "show one file's metadata on a collection"},
    {"version", CmdVersion, "print the version"},
    {"help", CmdHelp, "show help for a command"},
};

std::string MainHelp() {
  std::string out =
      "Usage: globus-fuse <command> [options]\n\n"
      "globus-fuse mounts Globus collections as a filesystem and talks to Globus from the\n"
      "command line.\n\nCommands:\n";
  for (const auto& c : kCommands) {
    std::string n = c.name;
    out += "  " + n + std::string(14 - n.size(), ' ') + c.summary + "\n";
  }
  out +=
      "\nRun `globus-fuse <command> --help` for a command's options and examples,\nand "
      "`globus-fuse help config` for every configuration key.\n\n";
  out += ExitCodeHelp();
  return out;
}

int CmdVersion(int argc, char** argv) {
  CommandSpec spec{"version", "", "Print the version of globus-fuse.",
                   "",        {}, {"globus-fuse version"}};
  int rc = 0;
  auto args = ParseOrExit(argc, argv, spec, &rc);
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
    std::cout << "Configuration keys (`key = value` in " << DefaultConfigPath()
              << ",\nor -o key=value on any command; flags beat environment beat file):\n\n";
    for (const auto& [key, expected] : ConfigKeyHelp())
      std::cout << "  " << key << std::string(key.size() < 24 ? 24 - key.size() : 1, ' ')
                << expected << "\n";
    std::cout << "\nEnvironment: GLOBUS_FUSE_CONFIG (the file), GLOBUS_FUSE_CLIENT_ID,\n"
                 "GLOBUS_FUSE_TRANSFER_URL, GLOBUS_FUSE_AUTH_URL, GLOBUS_FUSE_CA_FILE.\n";
    return kExitOk;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(c.name, argv[1]) == 0) {
      char help_flag[] = "--help";
      char* sub_argv[] = {argv[1], help_flag, nullptr};
      return c.fn(2, sub_argv);
    }
  }
  std::cerr << "globus-fuse: unknown command '" << argv[1] << "' (see `globus-fuse help`)\n";
  return kExitUsage;
}

}  // namespace

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << MainHelp();
    return kExitUsage;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") {
    std::cout << MainHelp();
    return kExitOk;
  }
  if (cmd == "--version" || cmd == "-V") return CmdVersion(1, argv + 1);
  for (const auto& c : kCommands)
    if (cmd == c.name) return c.fn(argc - 1, argv + 1);
  std::cerr << "globus-fuse: unknown command '" << cmd << "' (see `globus-fuse help`)\n";
  return kExitUsage;
}

}  // namespace gf::cli

int main(int argc, char** argv) { return gf::cli::Main(argc, argv); }
