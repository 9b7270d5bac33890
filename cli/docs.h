// The documentation of globus-fuse, rendered from one source.
//
// The source is data: each command's CommandSpec (cli/commands.h), the global options and exit
// codes (cli/args.h), the config keys (common/config.h ConfigKeys, described by ConfigKeyDocs
// below), and the few sections that only the man pages have (fstab, systemd, files). From it:
//   `globus-fuse help` / `CMD --help`   MainHelp() / HelpText(spec)
//   `globus-fuse help config`          ConfigHelp()
//   globus-fuse(1), globus-fuse.conf(5) ManPage(1), ManPage(5): roff, written at build time by
//                                      `globus-fuse __man 1|5` (packaging/CMakeLists.txt)
// so the texts cannot drift apart; tests/unit/cli checks that every key and option is covered.
#pragma once

#include <span>
#include <string>

namespace gf::cli {

struct ConfigKeyDoc {
  const char* key;
  // The default as a value of the key (ApplySetting(key, default_value) leaves a default
  // Config unchanged: a unit test checks it), or, when literal_default is false, a description
  // of a default computed at run time (a path under $XDG_CONFIG_HOME).
  const char* default_value;
  bool literal_default;
  const char* description;
};
// One entry per key of ConfigKeys(), in the same order.
std::span<const ConfigKeyDoc> ConfigKeyDocs();

std::string MainHelp();
std::string ConfigHelp();
// The man page globus-fuse(1) (section 1) or globus-fuse.conf(5) (section 5), as roff; "" for
// any other section.
std::string ManPage(int section);

}  // namespace gf::cli
