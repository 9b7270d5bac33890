#include "fs/options.h"

#include <unistd.h>

namespace gf::fs {

FsOptions FsOptions::FromConfig(const Config& c) {
  FsOptions o;
  o.collections = c.collections;
  o.bookmarks = c.bookmarks;
  o.entry_ttl = c.entry_ttl;
  o.attr_ttl = c.attr_ttl;
  o.dir_ttl = c.dir_ttl;
  o.negative_ttl = c.negative_ttl;
  o.max_cached_entries = c.max_cached_entries;
  o.max_negative_entries = c.max_negative_entries;
  o.readahead_max = c.readahead_max;
  o.read_memory_limit = c.read_memory_limit;
  o.read_parallelism = std::max(c.read_parallelism, 1);
  o.read_part_size = c.read_part_size;
  o.listing_prefetch_workers = c.prefetch_workers;
  o.pending_wait_seconds = c.pending_wait_seconds;
  o.warm_root = true;
  o.uid = c.uid < 0 ? getuid() : static_cast<uint32_t>(c.uid);
  o.gid = c.gid < 0 ? getgid() : static_cast<uint32_t>(c.gid);
  o.umask = c.umask & 0777;
  o.copy_wait = c.copy_mode == "wait";
  o.preserve_timestamp = c.preserve_timestamp;
  o.write_cache_limit = c.write_cache_limit;
  o.max_upload_size = c.max_upload_size;
  o.upload_replace = c.upload_replace;  // staging_dir needs the mount id: set by the caller
  o.write_background = c.write_mode == "background";
  o.delete_mode = c.delete_mode;
  o.delete_burst = static_cast<size_t>(c.delete_burst);
  return o;
}

}  // namespace gf::fs
