// Shell completion, computed by the binary itself so that it knows exactly the commands,
// options and config keys of cli/commands.h, and the collections of running mounts.
//
// The shell scripts (packaging/completion/) call
//   globus-fuse __complete WORD0 WORD1 ... CURRENT
// with the words typed so far, the last being the one to complete (possibly empty), and print
// what FormatCompletion returns: a first line "words", "files" or "dirs" (the latter two ask
// the shell for its own path completion), " nospace" appended when the candidate is a prefix
// (a config key followed by '='), then one candidate per line.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace gf::cli {

struct Completion {
  enum class Kind { kWords, kFiles, kDirs };
  Kind kind = Kind::kWords;
  bool no_space = false;
  std::vector<std::string> words;  // candidates that start with the current word
};

struct CompletionSources {
  std::function<std::vector<std::string>()> collections;  // display names
  std::function<std::vector<std::string>()> mounts;       // globus-fuse mount points
};

Completion Complete(const std::vector<std::string>& words, const CompletionSources& sources);
std::string FormatCompletion(const Completion& c);

// The display names of the collections that running globus-fuse mounts show (from each
// mount's status file). A hung mount blocks this: `__complete` bounds itself with alarm(2).
std::vector<std::string> MountedCollections();

}  // namespace gf::cli
