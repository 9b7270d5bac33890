// The help texts and man pages come from one source (cli/docs.h): every command, option, exit
// code and config key appears in each rendering, and each documented default is the real one.
#include "cli/docs.h"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/config.h"

using namespace gf;
using namespace gf::cli;

namespace {

// Roff source as the text a reader sees (escapes undone), whitespace collapsed.
std::string Plain(const std::string& roff) {
  std::string s;
  for (std::size_t i = 0; i < roff.size(); ++i) {
    if (roff.compare(i, 2, "\\-") == 0 || roff.compare(i, 2, "\\&") == 0) {
      if (roff[i + 1] == '-') s += '-';
      ++i;
    } else if (roff.compare(i, 2, "\\e") == 0) {
      s += '\\';
      ++i;
    } else if (roff.compare(i, 3, "\\fB") == 0 || roff.compare(i, 3, "\\fI") == 0 ||
               roff.compare(i, 3, "\\fR") == 0) {
      i += 2;
    } else {
      s += roff[i];
    }
  }
  return s;
}

std::string Squash(const std::string& text) {
  std::istringstream in(text);
  std::string out, w;
  while (in >> w) out += (out.empty() ? "" : " ") + w;
  return out;
}

bool Mentions(const std::string& haystack, const std::string& needle) {
  return Squash(haystack).find(Squash(needle)) != std::string::npos;
}

}  // namespace

TEST_CASE("every config key has exactly one description, in the order of ConfigKeys") {
  auto keys = ConfigKeys();
  auto docs = ConfigKeyDocs();
  REQUIRE(docs.size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    CHECK(docs[i].key == keys[i]);
    CHECK(std::string(docs[i].description).size() > 10);
  }
}

TEST_CASE("each documented default is the default") {
  for (const auto& d : ConfigKeyDocs()) {
    if (!d.literal_default) continue;
    INFO(d.key << " = " << d.default_value);
    Config defaults, set;
    REQUIRE(ApplySetting(set, d.key, d.default_value, "test").ok());
    set.origin.clear();
    CHECK(set == defaults);
  }
  // The check has teeth: a value other than the default changes the Config.
  Config defaults, set;
  REQUIRE(ApplySetting(set, "entry_ttl", "61", "test").ok());
  set.origin.clear();
  CHECK_FALSE(set == defaults);
}

TEST_CASE("help config and globus-fuse.conf(5) describe every key the same way") {
  const std::string help = ConfigHelp(), man = Plain(ManPage(5));
  for (const auto& [key, expected] : ConfigKeyHelp()) {
    INFO(key);
    const ConfigKeyDoc* doc = nullptr;
    for (const auto& d : ConfigKeyDocs())
      if (d.key == key) doc = &d;
    REQUIRE(doc);
    for (const std::string& text : {help, man}) {
      CHECK(Mentions(text, key + " "));
      CHECK(Mentions(text, expected));
      CHECK(Mentions(text, doc->description));
      CHECK(Mentions(
          text, std::string("Default: ") + (*doc->default_value ? doc->default_value : "empty")));
    }
  }
}

TEST_CASE("globus-fuse(1) holds every command's --help: usage, text, options, examples") {
  const std::string man = Plain(ManPage(1)), main_help = MainHelp();
  for (const auto& c : Commands()) {
    const CommandSpec& s = c.spec();
    INFO(s.name);
    CHECK(Mentions(main_help, std::string("  ") + c.name + " "));
    CHECK(Mentions(main_help, c.summary));
    CHECK(Mentions(man, "globus-fuse " + s.name + " " + s.synopsis));
    CHECK(Mentions(man, s.summary));
    CHECK(Mentions(man, s.description));
    const std::string help = HelpText(s);
    for (const auto& o : s.options) {
      CHECK(Mentions(help, o.help));
      CHECK(
          Mentions(man, "--" + o.name + (o.takes_value ? " " + o.value_name : "") + " " + o.help));
    }
    for (const auto& e : s.examples) CHECK(Mentions(man, e));
  }
  for (const auto& o : GlobalOptions()) CHECK(Mentions(man, "--" + o.name));
  for (const auto& e : ExitCodes()) {
    CHECK(Mentions(man, std::to_string(e.code) + " " + e.meaning));
    CHECK(Mentions(ExitCodeHelp(), std::to_string(e.code) + " " + e.meaning));
  }
}

TEST_CASE("the man pages are roff with no line that roff would take as a stray request") {
  for (int section : {1, 5}) {
    std::istringstream in(ManPage(section));
    for (std::string line; std::getline(in, line);) {
      INFO(line);
      if (line.empty() || (line[0] != '.' && line[0] != '\'')) continue;
      // Requests and macros used by the renderer; anything else is escaped text.
      static const char* kKnown[] = {".\\\"", ".TH", ".SH", ".SS", ".PP", ".TP", ".IP",
                                     ".B ",   ".BI", ".BR", ".RS", ".RE", ".nf", ".fi",
                                     ".EX",   ".EE", ".br", ".nh", ".ad", ".I "};
      bool known = false;
      for (const char* k : kKnown) known = known || line.rfind(k, 0) == 0;
      CHECK(known);
    }
  }
  CHECK(ManPage(2).empty());
}
