#include "cli/complete.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/mount_status.h"
#include "common/config.h"
#include "fs/filesystem.h"

namespace gf::cli {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The option of `spec` (or a global one) that `word` names ("--name", "-x"), if any.
const OptionSpec* FindOption(const CommandSpec* spec, const std::string& word) {
  auto match = [&](const OptionSpec& o) {
    return word == "--" + o.name || (o.short_name && word == std::string("-") + o.short_name);
  };
  if (spec)
    for (const auto& o : spec->options)
      if (match(o)) return &o;
  for (const auto& o : GlobalOptions())
    if (match(o)) return &o;
  return nullptr;
}

Completion Words(std::vector<std::string> all, const std::string& cur, bool no_space = false) {
  Completion c;
  c.no_space = no_space;
  for (auto& w : all)
    if (StartsWith(w, cur) && std::find(c.words.begin(), c.words.end(), w) == c.words.end())
      c.words.push_back(std::move(w));
  return c;
}

Completion Paths(Completion::Kind kind) {
  Completion c;
  c.kind = kind;
  return c;
}

}  // namespace

Completion Complete(const std::vector<std::string>& typed, const CompletionSources& sources) {
  std::vector<std::string> words = typed;
  if (words.empty()) words.push_back("globus-fuse");
  if (words.size() == 1) words.push_back("");
  // bash splits "--config=FILE" into "--config", "=", "FILE": join them back.
  for (std::size_t i = 1; i + 1 < words.size();) {
    if (words[i] == "=" && i > 1) {
      words[i - 1] += "=" + words[i + 1];
      words.erase(words.begin() + static_cast<long>(i), words.begin() + static_cast<long>(i) + 2);
    } else {
      ++i;
    }
  }
  if (words.back() == "=" && words.size() > 2) {
    words.pop_back();
    words.back() += "=";
  }
  std::string cur = words.back();
  // A word the user started quoting is matched without its opening quote.
  if (!cur.empty() && (cur[0] == '\'' || cur[0] == '"')) cur.erase(0, 1);

  if (words.size() == 2) {
    std::vector<std::string> names;
    for (const auto& c : Commands()) names.push_back(c.name);
    if (StartsWith(cur, "-")) names = {"--help", "--version"};
    return Words(names, cur);
  }
  const Command* cmd = FindCommand(words[1]);
  if (!cmd) return {};
  const CommandSpec& spec = cmd->spec();

  // --name=VALUE: complete the value as if it were a separate word.
  std::string prev = words[words.size() - 2];
  std::string value_prefix;
  if (StartsWith(cur, "--") && cur.find('=') != std::string::npos) {
    prev = cur.substr(0, cur.find('='));
    value_prefix = prev + "=";
    cur = cur.substr(cur.find('=') + 1);
  }
  const OptionSpec* opt = FindOption(&spec, prev);
  if (opt && opt->takes_value) {
    Completion c;
    if (opt->name == "set") {
      std::vector<std::string> keys;
      for (const auto& k : ConfigKeys()) keys.push_back(k + "=");
      if (spec.name == "mount") keys.push_back("allow_other");
      c = Words(keys, cur, true);
    } else if (opt->name == "config" || opt->name == "log-file") {
      return Paths(Completion::Kind::kFiles);
    } else if (opt->name == "collection") {
      c = Words(sources.collections(), cur);
    }
    for (auto& w : c.words) w = value_prefix + w;
    return c;
  }
  if (StartsWith(cur, "-")) {
    std::vector<std::string> names;
    for (const auto& o : spec.options) names.push_back("--" + o.name);
    for (const auto& o : GlobalOptions()) names.push_back("--" + o.name);
    if (cur.find('=') != std::string::npos) return {};
    return Words(names, cur);
  }
  const std::string& name = spec.name;
  if (name == "mount") return Paths(Completion::Kind::kDirs);
  if (name == "drop-caches") return Paths(Completion::Kind::kFiles);
  if (name == "unmount" || name == "status") {
    std::vector<std::string> mounts = sources.mounts();
    if (mounts.empty()) return Paths(Completion::Kind::kDirs);
    return Words(mounts, cur);
  }
  if (name == "ls") return Words(sources.collections(), cur);
  if (name == "stat") {
    std::vector<std::string> targets;
    for (const auto& c : sources.collections()) targets.push_back(c + ":/");
    return Words(targets, cur, true);
  }
  if (name == "help" && words.size() == 3) {
    std::vector<std::string> topics = {"config"};
    for (const auto& c : Commands()) topics.push_back(c.name);
    return Words(topics, cur);
  }
  return {};
}

std::string FormatCompletion(const Completion& c) {
  std::string out = c.kind == Completion::Kind::kFiles  ? "files"
                    : c.kind == Completion::Kind::kDirs ? "dirs"
                                                        : "words";
  if (c.no_space) out += " nospace";
  out += "\n";
  for (const auto& w : c.words) out += w + "\n";
  return out;
}

std::vector<std::string> MountedCollections() {
  std::vector<std::string> names;
  for (const auto& mp : GlobusMounts()) {
    // Completion must never hang the shell on a mount whose daemon does not answer.
    auto doc = ReadStatusDocument(mp, std::chrono::milliseconds(1000));
    if (!doc.ok()) continue;
    rapidjson::Document d;
    if (d.Parse(doc->c_str()).HasParseError() || !d.IsObject() || !d.HasMember("collections") ||
        !d["collections"].IsArray())
      continue;
    for (const auto& c : d["collections"].GetArray())
      if (c.IsObject() && c.HasMember("display_name") && c["display_name"].IsString())
        names.push_back(c["display_name"].GetString());
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace gf::cli
