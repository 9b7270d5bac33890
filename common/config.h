// globus-fuse configuration: defaults < config file < environment < flags.
//
// File format: `key = value` lines, `#` comments, blank lines. Unknown keys and bad values
// are rejected with "FILE:LINE: ..." messages. The file is $GLOBUS_FUSE_CONFIG, else
// $XDG_CONFIG_HOME/globus-fuse/config (~/.config/globus-fuse/config).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace gf {

struct Config {
  // Service endpoints (production by default).
  std::string client_id = "";  // native app client id, see README "Registering a client"
  std::string transfer_url = "https://transfer.api.globus.org";
  std::string auth_url = "https://auth.globus.org";
  std::string
      ca_file;  // extra CA bundle (globus-sim); empty = system store. TLS is always verified.

  // Where state lives.
  std::string token_file;  // default $XDG_CONFIG_HOME/globus-fuse/tokens.json
  std::string state_dir;   // default $XDG_STATE_HOME/globus-fuse (journal, status socket)

  // Mount layout.
  std::vector<std::string> collections;  // ids or display names
  bool bookmarks = true;

  // Caching (seconds).
  double entry_ttl = 60, attr_ttl = 60, negative_ttl = 10, dir_ttl = 60;
  uint64_t max_cached_entries = 2000000;
  uint64_t max_negative_entries = 100000;

  // Reads.
  uint64_t readahead_max = 128ull << 20;      // per open file (docs/PERFORMANCE.md)
  uint64_t read_memory_limit = 512ull << 20;  // all open files together
  int read_parallelism = 4;
  uint64_t read_part_size = 16ull << 20;  // largest single range request

  // Tree-walk prefetch of subdirectory listings (0 = off).
  int prefetch_workers = 4;

  // Ownership as shown in the mount (-1 = the mounting user).
  int64_t uid = -1, gid = -1;
  uint32_t umask = 0022;

  // Network.
  double connect_timeout = 10, low_speed_time = 30, request_timeout = 120;
  // A request that fails in a way that may pass (5xx, 429, network down, reset, malformed
  // answer) is retried until this much time has passed since it started (api/retry.h explains
  // the 60 s default); then the operation fails with ETIMEDOUT.
  double retry_budget_seconds = 60;
  int max_retries = -1;               // -1 = no cap by count (the budget decides)
  double rate_limit_per_second = 20;  // the service's budget: 20/s over 10 s windows
  double rate_window_seconds = 10;

  // Authorization flows.
  double auth_timeout = 120;
  bool open_browser = true;

  // Transfers (cp / mv).
  std::string copy_mode = "background";  // or "wait"
  bool verify_checksum = true;
  bool preserve_timestamp = true;
  bool encrypt_data = false;
  std::optional<int> sync_level;
  double batch_idle_seconds = 0.5;
  uint64_t batch_max_items = 10000;
  double pending_wait_seconds = 3600;  // open/fsync of a pending copy wait at most this (EAGAIN)

  // Writes and deletes (docs/WRITES.md, docs/SEMANTICS.md "Writes" and "Deletes").
  std::string cache_dir;                     // default DefaultCacheDir(); per mount: <mount id>/
  uint64_t write_cache_limit = 10ull << 30;  // all staged files together; 0 = no bound
  uint64_t max_upload_size = 1ull << 30;     // one file; 0 = no bound
  std::string write_mode = "close";          // or "background"
  int upload_parallelism = 2;                // background uploads running at once
  std::string upload_replace = "rename";     // or "delete-then-rename"
  std::string delete_mode = "https";         // single files: "https" or "task"
  int delete_burst = 8;  // files one process removes by HTTPS DELETE back to back; 0 = no bound

  // Logging.
  std::string log_file;
  bool debug = false;

  // Where each value came from, for `globus-fuse config` and error messages.
  std::map<std::string, std::string> origin;

  bool operator==(const Config&) const = default;
};

// The default config file path (honours GLOBUS_FUSE_CONFIG and XDG_CONFIG_HOME).
std::string DefaultConfigPath();
std::string DefaultTokenPath();
std::string DefaultStateDir();
std::string DefaultCacheDir();  // $XDG_CACHE_HOME/globus-fuse (~/.cache/globus-fuse)

// Apply one `key = value` setting. `where` is used in messages ("FILE:LINE" or "--flag").
// Relative paths (ca_file, token_file, state_dir, log_file) given here resolve against the
// current directory; in a config file they resolve against the file's directory.
Status ApplySetting(Config& c, const std::string& key, const std::string& value,
                    const std::string& where);
// Parse a config file's text into c (on top of what c already holds).
Status ParseConfigText(Config& c, const std::string& text, const std::string& file_name);
// Defaults, then the file (missing default file is fine; a missing explicit file is an error),
// then GLOBUS_FUSE_* environment variables (GLOBUS_FUSE_CLIENT_ID, ..._TRANSFER_URL,
// ..._AUTH_URL, ..._CA_FILE). Flags are applied afterwards by the CLI via ApplySetting.
Result<Config> LoadConfig();
// The same with an explicit config file (`--config FILE`); "" means the default lookup.
// An explicit file (this argument or $GLOBUS_FUSE_CONFIG) must exist.
Result<Config> LoadConfig(const std::string& config_file);
// Parse a duration in seconds: "60", "1.5", "500ms", "60s", "5m", "2h". Negative is invalid.
std::optional<double> ParseDuration(const std::string& s);
// Parse a byte size: "1048576", "512K", "64M", "1G", "2T" (binary multiples; "KiB"/"MB" too).
std::optional<uint64_t> ParseSize(const std::string& s);
// Parse a boolean: true/false, yes/no, on/off, 1/0 (case-insensitive).
std::optional<bool> ParseBool(const std::string& s);
// The config key within two edits (insert, delete, substitute) of `key`, or "": for
// "did you mean" in messages about unknown keys.
std::string NearestKey(const std::string& key);
// Every key ApplySetting accepts, for --help and docs.
std::vector<std::string> ConfigKeys();
// (key, what a value looks like) for every key, for `globus-fuse help config`.
std::vector<std::pair<std::string, std::string>> ConfigKeyHelp();

}  // namespace gf
