#include "common/config.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/uuid.h"

namespace gf {
namespace {

std::string Trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, e - b + 1));
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The user's home: $HOME, unless it is unset or is another user's directory while the
// password database names ours. mount(8) runs the mount program of a `user` fstab entry as the
// user but with HOME=/root (it sanitizes the environment of its setuid self).
std::string Home() {
  std::string h = Env("HOME");
  const uid_t uid = ::getuid();
  struct stat st {};
  const bool foreign = !h.empty() && uid != 0 && ::stat(h.c_str(), &st) == 0 && st.st_uid != uid;
  if (h.empty() || foreign) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    char buf[4096];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found && found->pw_dir &&
        found->pw_dir[0] == '/')
      return found->pw_dir;
  }
  return h.empty() ? "/" : h;
}

// $XDG_..._HOME when set and absolute (per the XDG spec), else $HOME/<fallback>.
std::string XdgDir(const char* var, const char* fallback) {
  std::string v = Env(var);
  if (!v.empty() && v[0] == '/') return v;
  return Home() + "/" + fallback;
}

std::string Cwd() {
  char buf[4096];
  if (::getcwd(buf, sizeof buf)) return buf;
  return ".";
}

std::string DirOf(const std::string& file) {
  auto slash = file.rfind('/');
  if (slash == std::string::npos) return Cwd();
  if (slash == 0) return "/";
  std::string d = file.substr(0, slash);
  if (d[0] != '/') d = Cwd() + "/" + d;
  return d;
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path[0] == '/') return path;
  if (path == "~") return Home();
  if (path.rfind("~/", 0) == 0) return Home() + path.substr(1);
  return base_dir + "/" + path;
}

struct Key {
  const char* name;
  const char* expected;  // for "bad value" messages
  // Returns false when the value is bad.
  std::function<bool(Config&, const std::string& value, const std::string& base_dir)> set;
  bool list = false;  // a comma-separated list: quotes are per item, so `set` gets them
};

// "a, \"b, c\", 'd'" -> {a, "b, c", d}: comma-separated items, each optionally quoted (so a
// display name may hold a comma). False when a quote is not closed or is followed by more text.
bool SplitList(const std::string& v, std::vector<std::string>* out) {
  std::size_t i = 0;
  while (i <= v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    std::string item;
    if (i < v.size() && (v[i] == '"' || v[i] == '\'')) {
      const std::size_t close = v.find(v[i], i + 1);
      if (close == std::string::npos) return false;
      item = v.substr(i + 1, close - i - 1);
      i = close + 1;
      while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
      if (i < v.size() && v[i] != ',') return false;
    } else {
      const std::size_t comma = std::min(v.find(',', i), v.size());
      item = Trim(v.substr(i, comma - i));
      i = comma;
    }
    out->push_back(item);
    ++i;  // past the comma (or the end)
  }
  return true;
}

bool SetDuration(double& out, const std::string& v) {
  auto d = ParseDuration(v);
  if (!d) return false;
  out = *d;
  return true;
}

bool SetU64(uint64_t& out, const std::string& v, uint64_t min = 0) {
  if (v.empty() || v[0] == '-') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n < min) return false;
  out = n;
  return true;
}

bool SetInt(int& out, const std::string& v, int min, int max) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n < min || n > max) return false;
  out = static_cast<int>(n);
  return true;
}

bool SetId(int64_t& out, const std::string& v) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n < -1 || n > 4294967294LL) return false;
  out = n;
  return true;
}

bool SetBool(bool& out, const std::string& v) {
  auto b = ParseBool(v);
  if (!b) return false;
  out = *b;
  return true;
}

bool SetSize(uint64_t& out, const std::string& v) {
  auto n = ParseSize(v);
  if (!n) return false;
  out = *n;
  return true;
}

bool SetPositive(double& out, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || errno != 0 || *end != '\0' || !std::isfinite(d) || d <= 0) return false;
  out = d;
  return true;
}

// One of `choices` (case-insensitive), stored lower-case.
template <class... Choices>
bool SetChoice(std::string& out, const std::string& v, Choices... choices) {
  std::string m = Lower(v);
  if (!((m == choices) || ...)) return false;
  out = m;
  return true;
}

bool SetUrl(std::string& out, const std::string& v) {
  // TLS is always verified: only https:// service URLs.
  if (v.rfind("https://", 0) != 0 || v.size() <= 8) return false;
  if (v.find_first_of(" \t") != std::string::npos) return false;
  std::string u = v;
  while (u.size() > 8 && u.back() == '/') u.pop_back();
  out = u;
  return true;
}

const std::vector<Key>& ServiceAndMountKeys() {
  static const std::vector<Key> keys = {
      {"client_id", "a Globus native app client id",
       [](Config& c, const std::string& v, const std::string&) {
         if (v.find_first_of(" \t") != std::string::npos) return false;
         c.client_id = v;
         return true;
       }},
      {"transfer_url", "an https:// URL",
       [](Config& c, const std::string& v, const std::string&) {
         return SetUrl(c.transfer_url, v);
       }},
      {"auth_url", "an https:// URL",
       [](Config& c, const std::string& v, const std::string&) { return SetUrl(c.auth_url, v); }},
      {"ca_file", "a file path",
       [](Config& c, const std::string& v, const std::string& base) {
         c.ca_file = Resolve(v, base);
         return true;
       }},
      {"token_file", "a file path",
       [](Config& c, const std::string& v, const std::string& base) {
         if (v.empty()) return false;
         c.token_file = Resolve(v, base);
         return true;
       }},
      {"state_dir", "a directory path",
       [](Config& c, const std::string& v, const std::string& base) {
         if (v.empty()) return false;
         c.state_dir = Resolve(v, base);
         return true;
       }},
      {"collections",
       "a comma-separated list of collection UUIDs or display names (quote a name that holds a "
       "comma)",
       [](Config& c, const std::string& v, const std::string&) {
         std::vector<std::string> items, out;
         if (!SplitList(v, &items)) return false;
         for (std::string& item : items) {
           // 8-4-4-4-12 with a typo (not hex) is a broken id, not a display name.
           if (item.size() == 36 && item[8] == '-' && item[13] == '-' && item[18] == '-' &&
               item[23] == '-' && !LooksLikeUuid(item))
             return false;
           if (!item.empty() && std::find(out.begin(), out.end(), item) == out.end())
             out.push_back(item);
         }
         c.collections = std::move(out);
         return true;
       },
       /*list=*/true},
      {"bookmarks", "true or false",
       [](Config& c, const std::string& v, const std::string&) { return SetBool(c.bookmarks, v); }},
      {"entry_ttl", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.entry_ttl, v);
       }},
      {"attr_ttl", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.attr_ttl, v);
       }},
      {"negative_ttl", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.negative_ttl, v);
       }},
      {"dir_ttl", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.dir_ttl, v);
       }},
      {"max_cached_entries", "a whole number",
       [](Config& c, const std::string& v, const std::string&) {
         return SetU64(c.max_cached_entries, v);
       }},
      {"max_negative_entries", "a whole number",
       [](Config& c, const std::string& v, const std::string&) {
         return SetU64(c.max_negative_entries, v);
       }},
      {"readahead_max", "a size such as 64M",
       [](Config& c, const std::string& v, const std::string&) {
         return SetSize(c.readahead_max, v);
       }},
      {"read_memory_limit", "a size such as 512M",
       [](Config& c, const std::string& v, const std::string&) {
         return SetSize(c.read_memory_limit, v);
       }},
      {"read_parallelism", "a whole number from 1 to 256",
       [](Config& c, const std::string& v, const std::string&) {
         return SetInt(c.read_parallelism, v, 1, 256);
       }},
      {"read_part_size", "a size from 64K to 256M, such as 16M",
       [](Config& c, const std::string& v, const std::string&) {
         uint64_t n = 0;
         if (!SetSize(n, v) || n < (64u << 10) || n > (256u << 20)) return false;
         c.read_part_size = n;
         return true;
       }},
      {"prefetch_workers", "a whole number from 0 (off) to 64",
       [](Config& c, const std::string& v, const std::string&) {
         return SetInt(c.prefetch_workers, v, 0, 64);
       }},
      {"uid", "a user id, or -1 for the mounting user",
       [](Config& c, const std::string& v, const std::string&) { return SetId(c.uid, v); }},
      {"gid", "a group id, or -1 for the mounting user's group",
       [](Config& c, const std::string& v, const std::string&) { return SetId(c.gid, v); }},
      {"umask", "an octal mask such as 0022",
       [](Config& c, const std::string& v, const std::string&) {
         if (v.empty() || v.size() > 4) return false;
         uint32_t m = 0;
         for (char ch : v) {
           if (ch < '0' || ch > '7') return false;
           m = m * 8 + static_cast<uint32_t>(ch - '0');
         }
         if (m > 0777) return false;
         c.umask = m;
         return true;
       }},
      {"connect_timeout", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.connect_timeout, v) && c.connect_timeout > 0;
       }},
      {"low_speed_time", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.low_speed_time, v);
       }},
      {"request_timeout", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.request_timeout, v);
       }},
      {"retry_budget_seconds", "seconds (0 to 1h): how long a failing request is retried",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.retry_budget_seconds, v) && c.retry_budget_seconds <= 3600;
       }},
      {"max_retries", "none, or a whole number from 0 to 100 (also cap retries by count)",
       [](Config& c, const std::string& v, const std::string&) {
         if (Lower(v) == "none") {
           c.max_retries = -1;
           return true;
         }
         return SetInt(c.max_retries, v, 0, 100);
       }},
      {"rate_limit_per_second", "a positive number",
       [](Config& c, const std::string& v, const std::string&) {
         return SetPositive(c.rate_limit_per_second, v);
       }},
      {"rate_window_seconds", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.rate_window_seconds, v) && c.rate_window_seconds > 0;
       }},
      {"auth_timeout", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.auth_timeout, v) && c.auth_timeout > 0;
       }},
      {"open_browser", "true or false",
       [](Config& c, const std::string& v, const std::string&) {
         return SetBool(c.open_browser, v);
       }},
      {"copy_mode", "background or wait",
       [](Config& c, const std::string& v, const std::string&) {
         return SetChoice(c.copy_mode, v, "background", "wait");
       }},
      {"verify_checksum", "true or false",
       [](Config& c, const std::string& v, const std::string&) {
         return SetBool(c.verify_checksum, v);
       }},
      {"preserve_timestamp", "true or false",
       [](Config& c, const std::string& v, const std::string&) {
         return SetBool(c.preserve_timestamp, v);
       }},
      {"encrypt_data", "true or false",
       [](Config& c, const std::string& v, const std::string&) {
         return SetBool(c.encrypt_data, v);
       }},
      {"sync_level", "0-3, or none",
       [](Config& c, const std::string& v, const std::string&) {
         std::string m = Lower(v);
         if (m.empty() || m == "none") {
           c.sync_level.reset();
           return true;
         }
         static const char* kNames[] = {"exists", "size", "mtime", "checksum"};
         for (int i = 0; i < 4; ++i)
           if (m == kNames[i]) {
             c.sync_level = i;
             return true;
           }
         int n = 0;
         if (!SetInt(n, m, 0, 3)) return false;
         c.sync_level = n;
         return true;
       }},
      {"batch_idle_seconds", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.batch_idle_seconds, v);
       }},
      {"batch_max_items", "a whole number of at least 1",
       [](Config& c, const std::string& v, const std::string&) {
         return SetU64(c.batch_max_items, v, 1);
       }},
      {"pending_wait_seconds", "seconds",
       [](Config& c, const std::string& v, const std::string&) {
         return SetDuration(c.pending_wait_seconds, v);
       }},
      {"log_file", "a file path",
       [](Config& c, const std::string& v, const std::string& base) {
         c.log_file = Resolve(v, base);
         return true;
       }},
      {"debug", "true or false",
       [](Config& c, const std::string& v, const std::string&) { return SetBool(c.debug, v); }},
  };
  return keys;
}

// Writes and deletes (docs/WRITES.md).
const std::vector<Key>& WriteKeys() {
  static const std::vector<Key> keys = {
      {"cache_dir", "a directory path",
       [](Config& c, const std::string& v, const std::string& base) {
         if (v.empty()) return false;
         c.cache_dir = Resolve(v, base);
         return true;
       }},
      {"write_cache_limit", "a size such as 10G, or 0 for no bound",
       [](Config& c, const std::string& v, const std::string&) {
         return SetSize(c.write_cache_limit, v);
       }},
      {"max_upload_size", "a size such as 1G, or 0 for no bound",
       [](Config& c, const std::string& v, const std::string&) {
         return SetSize(c.max_upload_size, v);
       }},
      {"write_mode",
       "close (close and fsync upload) or background (close journals the upload and returns; "
       "fsync still uploads)",
       [](Config& c, const std::string& v, const std::string&) {
         return SetChoice(c.write_mode, v, "close", "background");
       }},
      {"upload_parallelism", "a whole number from 1 to 64",
       [](Config& c, const std::string& v, const std::string&) {
         return SetInt(c.upload_parallelism, v, 1, 64);
       }},
      {"upload_replace", "rename or delete-then-rename",
       [](Config& c, const std::string& v, const std::string&) {
         return SetChoice(c.upload_replace, v, "rename", "delete-then-rename");
       }},
      {"delete_mode", "https or task",
       [](Config& c, const std::string& v, const std::string&) {
         return SetChoice(c.delete_mode, v, "https", "task");
       }},
      {"delete_burst", "a number of files (0-100000), 0 for no bound",
       [](Config& c, const std::string& v, const std::string&) {
         return SetInt(c.delete_burst, v, 0, 100000);
       }},
  };
  return keys;
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> all = ServiceAndMountKeys();
    const auto& more = WriteKeys();
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }();
  return keys;
}

}  // namespace

std::string NearestKey(const std::string& key) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& k : Keys()) {
    const std::string name = k.name;
    std::vector<std::size_t> row(name.size() + 1);
    for (std::size_t j = 0; j <= name.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= key.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= name.size(); ++j) {
        std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (key[i - 1] != name[j - 1])});
        diag = up;
      }
    }
    if (row[name.size()] < best_d) {
      best_d = row[name.size()];
      best = name;
    }
  }
  return best;
}

namespace {

Status Apply(Config& c, const std::string& raw_key, const std::string& raw_value,
             const std::string& where, const std::string& base_dir) {
  std::string key = Trim(raw_key);
  std::string value = Trim(raw_value);
  for (const auto& k : Keys()) {
    if (key != k.name) continue;
    if (!k.list && value.size() >= 2 &&
        ((value.front() == '"' && value.back() == '"') ||
         (value.front() == '\'' && value.back() == '\'')))
      value = value.substr(1, value.size() - 2);
    Config copy = c;
    if (!k.set(copy, value, base_dir))
      return Error::Config(where + ": bad value for '" + key + "': '" + value + "' (expected " +
                           k.expected + ")");
    copy.origin[key] = where;
    c = std::move(copy);
    return Status::Ok();
  }
  std::string hint = "see `globus-fuse help config`";
  if (std::string near = NearestKey(key); !near.empty()) hint = "did you mean '" + near + "'?";
  return Error::Config(where + ": unknown key '" + key + "' (" + hint + ")");
}

}  // namespace

std::optional<double> ParseDuration(const std::string& raw) {
  std::string s = Lower(Trim(raw));
  if (s.empty()) return std::nullopt;
  double mult = 1;
  auto ends = [&](const char* suf) {
    std::size_t n = std::strlen(suf);
    return s.size() > n && s.compare(s.size() - n, n, suf) == 0;
  };
  if (ends("ms")) {
    mult = 0.001;
    s.resize(s.size() - 2);
  } else if (ends("s")) {
    s.pop_back();
  } else if (ends("m")) {
    mult = 60;
    s.pop_back();
  } else if (ends("h")) {
    mult = 3600;
    s.pop_back();
  } else if (ends("d")) {
    mult = 86400;
    s.pop_back();
  }
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.'))
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(d) || d < 0) return std::nullopt;
  return d * mult;
}

std::optional<uint64_t> ParseSize(const std::string& raw) {
  std::string s = Lower(Trim(raw));
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double n = std::strtod(s.c_str(), &end);
  if (errno != 0 || !std::isfinite(n) || n < 0) return std::nullopt;
  std::string suf = Trim(end);
  uint64_t mult = 1;
  if (suf == "" || suf == "b") {
    mult = 1;
  } else if (suf == "k" || suf == "kb" || suf == "kib") {
    mult = 1ull << 10;
  } else if (suf == "m" || suf == "mb" || suf == "mib") {
    mult = 1ull << 20;
  } else if (suf == "g" || suf == "gb" || suf == "gib") {
    mult = 1ull << 30;
  } else if (suf == "t" || suf == "tb" || suf == "tib") {
    mult = 1ull << 40;
  } else {
    return std::nullopt;
  }
  double bytes = n * static_cast<double>(mult);
  if (bytes > 9.2e18 || bytes != std::floor(bytes)) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

std::optional<bool> ParseBool(const std::string& raw) {
  std::string s = Lower(Trim(raw));
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  return std::nullopt;
}

std::string DefaultConfigPath() {
  std::string explicit_path = Env("GLOBUS_FUSE_CONFIG");
  if (!explicit_path.empty()) return explicit_path;
  return XdgDir("XDG_CONFIG_HOME", ".config") + "/globus-fuse/config";
}

std::string DefaultTokenPath() {
  return XdgDir("XDG_CONFIG_HOME", ".config") + "/globus-fuse/tokens.json";
}

std::string DefaultCacheDir() { return XdgDir("XDG_CACHE_HOME", ".cache") + "/globus-fuse"; }

std::string DefaultStateDir() { return XdgDir("XDG_STATE_HOME", ".local/state") + "/globus-fuse"; }

Status ApplySetting(Config& c, const std::string& key, const std::string& value,
                    const std::string& where) {
  return Apply(c, key, value, where, Cwd());
}

Status ParseConfigText(Config& c, const std::string& text, const std::string& file_name) {
  std::string base = DirOf(file_name);
  // Editors on some systems start UTF-8 files with a byte order mark: not part of a key.
  const std::string_view kBom = "\xEF\xBB\xBF";
  std::istringstream in(text.rfind(kBom, 0) == 0 ? text.substr(kBom.size()) : text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string where = file_name + ":" + std::to_string(n);
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.find('\0') != std::string::npos)  // C APIs would cut the value there
      return Error::Config(where + ": contains a NUL byte (is this a text file?)");
    auto eq = t.find('=');
    if (eq == std::string::npos)
      return Error::Config(where + ": expected 'key = value', got '" + t + "'");
    std::string key = Trim(t.substr(0, eq));
    std::string value = Trim(t.substr(eq + 1));
    // An inline comment starts at whitespace followed by '#' (outside quotes).
    char quote = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (quote) {
        if (value[i] == quote) quote = 0;
      } else if (value[i] == '"' || value[i] == '\'') {
        quote = value[i];
      } else if (value[i] == '#' && i > 0 && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
        value = Trim(value.substr(0, i));
        break;
      }
    }
    if (key.empty()) return Error::Config(where + ": missing key before '='");
    GF_TRY_STATUS(Apply(c, key, value, where, base));
  }
  return Status::Ok();
}

Result<Config> LoadConfig() { return LoadConfig(""); }

Result<Config> LoadConfig(const std::string& config_file) {
  Config c;
  c.token_file = DefaultTokenPath();
  c.state_dir = DefaultStateDir();
  c.cache_dir = DefaultCacheDir();
  for (const auto& k : Keys()) c.origin[k.name] = "default";

  std::string path = config_file;
  std::string named_by = path.empty() ? "" : " (given by --config)";
  if (path.empty()) {
    path = Env("GLOBUS_FUSE_CONFIG");
    if (!path.empty()) named_by = " (named by $GLOBUS_FUSE_CONFIG)";
    if (path.empty()) path = DefaultConfigPath();
  }
  const bool must_exist = !named_by.empty();
  struct stat st {};
  // An ifstream opens a directory and reads nothing: that would silently be an empty config.
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Error::Config("config file " + path + named_by + " is a directory");
  std::ifstream f(path);
  if (f) {
    std::stringstream ss;
    ss << f.rdbuf();
    GF_TRY_STATUS(ParseConfigText(c, ss.str(), path));
  } else if (must_exist || errno != ENOENT) {
    return Error::Config("cannot read config file " + path + named_by + ": " +
                         std::strerror(errno));
  }

  static const std::pair<const char*, const char*> kEnv[] = {
      {"GLOBUS_FUSE_CLIENT_ID", "client_id"},
      {"GLOBUS_FUSE_TRANSFER_URL", "transfer_url"},
      {"GLOBUS_FUSE_AUTH_URL", "auth_url"},
      {"GLOBUS_FUSE_CA_FILE", "ca_file"},
  };
  for (const auto& [var, key] : kEnv) {
    const char* v = std::getenv(var);
    if (v && *v) GF_TRY_STATUS(Apply(c, key, v, std::string("$") + var, Cwd()));
  }
  return c;
}

std::vector<std::pair<std::string, std::string>> ConfigKeyHelp() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& k : Keys()) out.emplace_back(k.name, k.expected);
  return out;
}

std::vector<std::string> ConfigKeys() {
  std::vector<std::string> out;
  for (const auto& k : Keys()) out.push_back(k.name);
  return out;
}

}  // namespace gf
