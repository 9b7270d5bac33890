// globus-fuse: the command-line entry point. Subcommands are dispatched through Commands().
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/complete.h"
#include "cli/context.h"
#include "cli/docs.h"

namespace gf::cli {

namespace {

// The source word of an fstab line / `mount -t fuse.globus-fuse SOURCE MOUNTPOINT`.
constexpr const char* kMountSource = "globus-fuse";

// Options that mount(8) and fstab use and mount.fuse3 may pass on, meaningless to the mount.
bool IsMountOnlyOption(const std::string& o) {
  static const char* kExact[] = {"defaults", "auto",  "noauto", "user",    "users",
                                 "nouser",   "owner", "group",  "_netdev", "nofail"};
  for (const char* e : kExact)
    if (o == e) return true;
  return o.rfind("x-", 0) == 0 || o.rfind("comment=", 0) == 0 || o.rfind("user=", 0) == 0;
}

// mount.fuse3(8) runs `globus-fuse SOURCE MOUNTPOINT -o OPTS`: the same as
// `globus-fuse mount MOUNTPOINT -o OPTS` without mount(8)'s own options.
int MountHelperForm(int argc, char** argv) {
  std::vector<std::string> args = {"mount"};
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      std::string kept, opt;
      std::string all = argv[++i];
      std::size_t start = 0;
      while (start <= all.size()) {
        std::size_t comma = std::min(all.find(',', start), all.size());
        opt = all.substr(start, comma - start);
        if (!opt.empty() && !IsMountOnlyOption(opt)) kept += (kept.empty() ? "" : ",") + opt;
        start = comma + 1;
      }
      if (!kept.empty()) {
        args.push_back("-o");
        args.push_back(kept);
      }
    } else {
      args.push_back(a);
    }
  }
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  return CmdMount(static_cast<int>(args.size()), av.data());
}

// Hidden: `__man 1|5` prints a man page (packaging/CMakeLists.txt writes them at build time);
// `__complete WORDS...` serves the shell completion scripts.
int Hidden(const std::string& cmd, int argc, char** argv) {
  if (cmd == "__man") {
    std::string page = argc == 3 ? ManPage(std::atoi(argv[2])) : "";
    if (page.empty()) {
      std::cerr << "globus-fuse __man: expected 1 or 5\n";
      return kExitUsage;
    }
    std::cout << page;
    return kExitOk;
  }
  alarm(2);  // a hung mount must not hang the shell (SIGALRM ends the process)
  std::vector<std::string> words(argv + 2, argv + argc);
  std::cout << FormatCompletion(Complete(words, {MountedCollections, GlobusMounts}));
  return kExitOk;
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
  if (cmd == "--version" || cmd == "-V") return FindCommand("version")->fn(1, argv + 1);
  if (cmd == "__man" || cmd == "__complete") return Hidden(cmd, argc, argv);
  if (const Command* c = FindCommand(cmd)) return c->fn(argc - 1, argv + 1);
  if (cmd == kMountSource) return MountHelperForm(argc, argv);
  std::cerr << "globus-fuse: unknown command '" << cmd << "' (see `globus-fuse help`)\n";
  return kExitUsage;
}

}  // namespace gf::cli

int main(int argc, char** argv) { return gf::cli::Main(argc, argv); }
