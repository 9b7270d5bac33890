#include "cli/args.h"

#include <algorithm>
#include <optional>

namespace gf::cli {
namespace {

const OptionSpec* FindLong(const std::vector<const OptionSpec*>& all, const std::string& n) {
  for (const auto* o : all)
    if (o->name == n) return o;
  return nullptr;
}
const OptionSpec* FindShort(const std::vector<const OptionSpec*>& all, char c) {
  for (const auto* o : all)
    if (o->short_name == c) return o;
  return nullptr;
}

std::string OptionLabel(const OptionSpec& o) {
  std::string s = o.short_name ? std::string("-") + o.short_name + ", " : "    ";
  s += "--" + o.name;
  if (o.takes_value) s += " " + o.value_name;
  return s;
}

void AppendOptions(std::string& out, const std::vector<OptionSpec>& opts) {
  std::size_t width = 0;
  for (const auto& o : opts) width = std::max(width, OptionLabel(o).size());
  for (const auto& o : opts) {
    std::string label = OptionLabel(o);
    out += "  " + label + std::string(width - label.size() + 2, ' ') + o.help;
    if (o.repeatable) out += " (repeatable)";
    out += "\n";
  }
}

}  // namespace

const std::vector<OptionSpec>& GlobalOptions() {
  static const std::vector<OptionSpec> g = {
      {"config", 0, true, false, "FILE",
       "config file (default $GLOBUS_FUSE_CONFIG, else "
       "$XDG_CONFIG_HOME/globus-fuse/config)"},
      {"set", 'o', true, true, "KEY=VALUE", "set any config key; flags beat env beat file"},
      {"debug", 0, false, false, "", "debug logging (tokens are never logged)"},
      {"log-file", 0, true, false, "FILE", "append logs to FILE instead of stderr"},
      {"help", 'h', false, false, "", "show this help"},
  };
  return g;
}

Result<Args> Args::Parse(int argc, char** argv, const CommandSpec& spec) {
  std::vector<const OptionSpec*> all;
  for (const auto& o : spec.options) all.push_back(&o);
  for (const auto& o : GlobalOptions()) all.push_back(&o);
  Args a;
  auto usage = [&](const std::string& msg) {
    return Error::Config(msg + " (see `globus-fuse " + spec.name + " --help`)");
  };
  auto add = [&](const OptionSpec* o, std::string v) -> Status {
    auto& slot = a.values_[o->name];
    if (!slot.empty() && !o->repeatable && o->takes_value)
      return usage("--" + o->name + " given more than once");
    slot.push_back(std::move(v));
    return Status::Ok();
  };
  bool only_positionals = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (only_positionals || arg == "-" || arg.empty() || arg[0] != '-') {
      a.positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      std::optional<std::string> inline_value;
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const OptionSpec* o = FindLong(all, name);
      if (!o) return usage("unknown option --" + name);
      if (!o->takes_value) {
        if (inline_value) return usage("--" + name + " takes no value");
        GF_TRY_STATUS(add(o, ""));
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= argc) return usage("--" + name + " needs a value (" + o->value_name + ")");
        inline_value = argv[++i];
      }
      GF_TRY_STATUS(add(o, *inline_value));
      continue;
    }
    // Short options, possibly grouped.
    for (std::size_t k = 1; k < arg.size(); ++k) {
      const OptionSpec* o = FindShort(all, arg[k]);
      if (!o) return usage(std::string("unknown option -") + arg[k]);
      if (!o->takes_value) {
        GF_TRY_STATUS(add(o, ""));
        continue;
      }
      std::string v = arg.substr(k + 1);
      if (v.empty()) {
        if (i + 1 >= argc)
          return usage(std::string("-") + arg[k] + " needs a value (" + o->value_name + ")");
        v = argv[++i];
      }
      GF_TRY_STATUS(add(o, v));
      break;
    }
  }
  return a;
}

std::string Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() || it->second.empty() ? "" : it->second.back();
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::span<const ExitCode> ExitCodes() {
  static constexpr ExitCode kCodes[] = {
      {0, "success"},
      {1, "failure (anything not listed below)"},
      {2, "usage or configuration error"},
      {3, "not found (collection, path)"},
      {4, "authorization needed: log in, link an identity or consent (the message says how)"},
      {5, "network or service unavailable"},
  };
  return kCodes;
}

std::string ExitCodeHelp() {
  std::string out = "Exit codes:\n";
  for (const auto& e : ExitCodes()) out += "  " + std::to_string(e.code) + "  " + e.meaning + "\n";
  return out;
}

std::string HelpText(const CommandSpec& spec) {
  std::string out = "Usage: globus-fuse " + spec.name;
  if (!spec.synopsis.empty()) out += " " + spec.synopsis;
  out += "\n\n" + spec.summary + "\n";
  if (!spec.description.empty()) out += "\n" + spec.description + "\n";
  if (!spec.options.empty()) {
    out += "\nOptions:\n";
    AppendOptions(out, spec.options);
  }
  out += "\nGlobal options:\n";
  AppendOptions(out, GlobalOptions());
  out += "\n" + ExitCodeHelp();
  if (!spec.examples.empty()) {
    out += "\nExamples:\n";
    for (const auto& e : spec.examples) out += "  " + e + "\n";
  }
  return out;
}

}  // namespace gf::cli
