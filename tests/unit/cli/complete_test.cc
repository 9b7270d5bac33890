#include "cli/complete.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace gf::cli;
using Words = std::vector<std::string>;

namespace {

const CompletionSources kSources{[] {
                                   return Words{"Globus Tutorial Collection 1",
                                                "Globus Tutorial Collection 2",
                                                "UManitoba Grex HPC"};
                                 },
                                 [] {
                                   return Words{"/home/alice/globus", "/mnt/lab"};
                                 }};

Completion Of(Words typed) { return Complete(typed, kSources); }

}  // namespace

TEST_CASE("completion: subcommands, and the top-level flags") {
  CHECK(Of({"globus-fuse", ""}).words.size() == 11);
  CHECK(Of({"globus-fuse", "lo"}).words == Words{"login", "logout"});
  CHECK(Of({"globus-fuse", "--v"}).words == Words{"--version"});
  CHECK(Of({"globus-fuse", "nosuch", ""}).words.empty());
}

TEST_CASE("completion: a command's options, then the global ones") {
  CHECK(Of({"globus-fuse", "mount", "--co"}).words ==
        Words{"--collection", "--copy-mode", "--config"});
  CHECK(Of({"globus-fuse", "login", "--no"}).words == Words{"--no-browser"});
  CHECK(Of({"globus-fuse", "whoami", "--"}).words ==
        Words{"--json", "--config", "--set", "--debug", "--log-file", "--help"});
}

TEST_CASE("completion: -o and --set complete config keys, ready for '='") {
  Completion c = Of({"globus-fuse", "mount", "/m", "-o", "entry"});
  CHECK(c.words == Words{"entry_ttl="});
  CHECK(c.no_space);
  CHECK(Of({"globus-fuse", "ls", "--set", "auth_t"}).words == Words{"auth_timeout="});
  CHECK(Of({"globus-fuse", "mount", "-o", "allow"}).words == Words{"allow_other"});
  CHECK(Of({"globus-fuse", "ls", "-o", "allow"}).words.empty());  // a mount option only
}

TEST_CASE("completion: collection names from running mounts") {
  CHECK(Of({"globus-fuse", "ls", "UMan"}).words == Words{"UManitoba Grex HPC"});
  CHECK(Of({"globus-fuse", "ls", "'Globus"}).words ==
        Words{"Globus Tutorial Collection 1", "Globus Tutorial Collection 2"});
  Completion stat = Of({"globus-fuse", "stat", "UM"});
  CHECK(stat.words == Words{"UManitoba Grex HPC:/"});
  CHECK(stat.no_space);
  CHECK(Of({"globus-fuse", "mount", "/m", "--collection", "U"}).words ==
        Words{"UManitoba Grex HPC"});
  CHECK(Of({"globus-fuse", "mount", "/m", "--collection=U"}).words ==
        Words{"--collection=UManitoba Grex HPC"});
  // bash splits at '=': "--collection", "=", "U".
  CHECK(Of({"globus-fuse", "mount", "/m", "--collection", "=", "U"}).words ==
        Words{"--collection=UManitoba Grex HPC"});
}

TEST_CASE("completion: paths are left to the shell, mount points come from the mount table") {
  CHECK(Of({"globus-fuse", "mount", ""}).kind == Completion::Kind::kDirs);
  CHECK(Of({"globus-fuse", "drop-caches", "x"}).kind == Completion::Kind::kFiles);
  CHECK(Of({"globus-fuse", "mount", "/m", "--log-file", ""}).kind == Completion::Kind::kFiles);
  CHECK(Of({"globus-fuse", "unmount", "/home"}).words == Words{"/home/alice/globus"});
  CHECK(Of({"globus-fuse", "status", ""}).words.size() == 2);
  CompletionSources none{[] { return Words{}; }, [] { return Words{}; }};
  CHECK(Complete({"globus-fuse", "unmount", ""}, none).kind == Completion::Kind::kDirs);
}

TEST_CASE("completion: help topics and the output format") {
  CHECK(Of({"globus-fuse", "help", "c"}).words == Words{"config"});
  CHECK(FormatCompletion(Of({"globus-fuse", "-o"})) == "words\n");
  CHECK(FormatCompletion(Of({"globus-fuse", "mount", "/m", "-o", "debu"})) ==
        "words nospace\ndebug=\n");
  CHECK(FormatCompletion(Of({"globus-fuse", "mount", ""})) == "dirs\n");
}
