// Logging. One line per event: "<time> <level> <component>: <message>".
//
// Security rule: nothing that could hold a token is logged verbatim. Log() passes every
// message through Redact(), which masks bearer tokens, "access_token"/"refresh_token" JSON
// values, `code=`/`code_verifier=`/`refresh_token=` form fields and Authorization headers.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace gf::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Configure the sink. Without a file, lines go to stderr. Thread-safe.
void SetLevel(Level level);
Level GetLevel();
bool SetFile(const std::string& path);  // append; false (and stderr kept) on failure
void SetStderrToo(bool on);             // also echo to stderr when a file is set (-f mode)

void Write(Level level, std::string_view component, std::string_view message);
std::string Redact(std::string_view text);

template <class... Args>
std::string Cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <class... Args>
void Debug(std::string_view component, const Args&... args) {
  if (GetLevel() <= Level::kDebug) Write(Level::kDebug, component, Cat(args...));
}
template <class... Args>
void Info(std::string_view component, const Args&... args) {
  if (GetLevel() <= Level::kInfo) Write(Level::kInfo, component, Cat(args...));
}
template <class... Args>
void Warn(std::string_view component, const Args&... args) {
  Write(Level::kWarn, component, Cat(args...));
}
template <class... Args>
void Error(std::string_view component, const Args&... args) {
  Write(Level::kError, component, Cat(args...));
}

}  // namespace gf::log
