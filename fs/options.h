// FsOptions: how a mount behaves (TTLs, bounds, read-ahead, listing prefetch, cp/mv), from the
// config (FromConfig) or set by tests.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "fs/superblock/inode_table.h"

namespace gf::fs {

struct FsOptions {
  std::vector<std::string> collections;  // ids or display names
  bool bookmarks = true;
  double entry_ttl = 60, attr_ttl = 60, dir_ttl = 60, negative_ttl = 10;
  uint64_t max_cached_entries = 2000000;
  uint64_t max_negative_entries = 100000;
  // Read-ahead of file bytes (read/reader.h).
  uint64_t readahead_max = 128ull << 20;
  uint64_t read_memory_limit = 512ull << 20;
  int read_parallelism = 4;
  uint64_t read_part_size = 16ull << 20;  // 128 MiB / 16 MiB: 8 parts in flight (PERFORMANCE.md)
  uint32_t uid = 0, gid = 0;
  uint32_t umask = 022;
  // Listing prefetch during tree walks: workers (0 = off), and which listings fan out: at most
  // listing_prefetch_max_entries entries and listing_prefetch_max_subdirs subdirectories
  // scheduled each.
  int listing_prefetch_workers = 4;
  uint64_t listing_prefetch_max_entries = 10000;
  uint64_t listing_prefetch_max_subdirs = 256;
  std::string mount_point;  // for status output
  // cp/mv: copy_file_range returns when the transfer is queued (false) or only when its task
  // ended (true, --copy-mode=wait). open-for-read and fsync of a pending destination wait for
  // its task at most pending_wait_seconds (then EAGAIN).
  bool copy_wait = false;
  bool preserve_timestamp = true;  // pending destinations show the source's mtime
  double pending_wait_seconds = 3600;
  // Writes (write/write_ops.h): where staged bytes live (StagingDir(cache_dir, mount id);
  // empty: writing is refused with EOPNOTSUPP), their bounds, and how a replacement is renamed.
  std::string staging_dir;
  uint64_t write_cache_limit = 10ull << 30;
  uint64_t max_upload_size = 1ull << 30;
  std::string upload_replace = "rename";
  // write_mode = background: close journals an upload op and returns; the engine uploads later.
  bool write_background = false;
  // rm of one file (transfers/delete_ops.h): "https" (a synchronous HTTPS DELETE where the
  // collection has an HTTPS server) or "task" (a Globus delete task, like directories).
  std::string delete_mode = "https";
  // The burst rule (transfers/delete_ops.h): a process's files after this many removed over
  // HTTPS back to back go to delete tasks; 0 = no bound.
  size_t delete_burst = 8;
  bool abort_on_lookup_underflow = InodeTable::kAbortOnUnderflowDefault;
  // Start() resolves the root (configured collections, bookmarks) in the background, so the
  // first operation does not wait for it. On from the config; tests drive it themselves.
  bool warm_root = false;

  // From the config; uid/gid of -1 become the calling process's ids.
  static FsOptions FromConfig(const Config& c);
};

// A duration option (seconds, negative = 0) as a clock duration.
inline std::chrono::nanoseconds Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(std::max(s, 0.0)));
}

}  // namespace gf::fs
