// A small command-line parser shared by the subcommands, and their --help text.
//
// Accepted forms: "--name value", "--name=value", "-x value", "-xvalue", grouped short flags
// ("-la"), "--" ends options. Options may appear before, between or after positionals.
// Every command also accepts the global options (GlobalOptions()): --config FILE, --debug,
// --log-file FILE, -o/--set KEY=VALUE (repeatable), -h/--help.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace gf::cli {

struct OptionSpec {
  std::string name;     // long name without "--", e.g. "domain"
  char short_name = 0;  // e.g. 'l'; 0 = none
  bool takes_value = false;
  bool repeatable = false;
  std::string value_name;  // for help, e.g. "DOMAIN"
  std::string help;
};

struct CommandSpec {
  std::string name;      // "login"
  std::string synopsis;  // "[--domain D]... [--no-browser]"
  std::string summary;   // one line, for `globus-fuse help`
  std::string description;
  std::vector<OptionSpec> options;  // command-specific (the global ones are added)
  std::vector<std::string> examples;
};

class Args {
 public:
  // Parses argv[1..argc) (argv[0] is the command name) against spec.options + globals.
  static Result<Args> Parse(int argc, char** argv, const CommandSpec& spec);

  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  // Last value of an option ("" when absent).
  std::string Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positionals_;
};

const std::vector<OptionSpec>& GlobalOptions();
// The full --help text: usage, description, options, global options, exit codes, examples.
std::string HelpText(const CommandSpec& spec);
struct ExitCode {
  int code;
  const char* meaning;
};
// The exit codes of every command (cli/context.h), for --help and the man page.
std::span<const ExitCode> ExitCodes();
// The exit-code table (shared by every --help).
std::string ExitCodeHelp();

}  // namespace gf::cli
