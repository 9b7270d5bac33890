#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <regex>

namespace gf::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
std::mutex g_mu;  // guards g_file and serialises writes
FILE* g_file = nullptr;
bool g_stderr_too = false;
}  // namespace

void SetLevel(Level level) { g_level = level; }
Level GetLevel() { return g_level; }

bool SetFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) return false;
  std::lock_guard<std::mutex> l(g_mu);
  if (g_file) std::fclose(g_file);
  g_file = f;
  return true;
}

void SetStderrToo(bool on) { g_stderr_too = on; }

namespace {

// Whether `text` contains `word`, ASCII case-insensitively.
bool ContainsWord(std::string_view text, std::string_view word) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i + word.size() <= text.size(); ++i) {
    size_t k = 0;
    while (k < word.size() && lower(text[i + k]) == word[k]) ++k;
    if (k == word.size()) return true;
  }
  return false;
}

}  // namespace

std::string Redact(std::string_view text) {
  // Every pattern below needs one of these words (the credential names all contain "token" or
  // "code"): a line without them, i.e. nearly every line, skips the regular expressions, which
  // cost more than the rest of writing a log line (`cp -r` logs a line per file).
  if (!ContainsWord(text, "bearer") && !ContainsWord(text, "basic") &&
      !ContainsWord(text, "token") && !ContainsWord(text, "code"))
    return std::string(text);
  static const std::regex kPatterns[] = {
      std::regex(R"((Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+)", std::regex::icase),
      std::regex(
          R"re(("(access_token|refresh_token|id_token|code_verifier|code|token)"\s*:\s*")[^"]*")re"),
      std::regex(R"(((^|[?&\s])(access_token|refresh_token|code|code_verifier|token)=)[^&\s]*)"),
  };
  std::string out(text);
  out = std::regex_replace(out, kPatterns[0], "$1 [REDACTED]");
  out = std::regex_replace(out, kPatterns[1], "$1[REDACTED]\"");
  out = std::regex_replace(out, kPatterns[2], "$1[REDACTED]");
  return out;
}

void Write(Level level, std::string_view component, std::string_view message) {
  static const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  char ts[40];
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  std::tm tm{};
  gmtime_r(&now.tv_sec, &tm);
  const size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);  // ms: latency debugging
  std::string line = std::string(ts) + " " + kNames[static_cast<int>(level)] + " " +
                     std::string(component) + ": " + Redact(message) + "\n";
  std::lock_guard<std::mutex> l(g_mu);
  if (g_file) {
    std::fputs(line.c_str(), g_file);
    std::fflush(g_file);
    if (!g_stderr_too) return;
  }
  std::fputs(line.c_str(), stderr);
}

}  // namespace gf::log
