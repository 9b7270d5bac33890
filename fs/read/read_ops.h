// Reads: opening remote files for reading and serving their bytes.
//
// Open rules: only regular files of a collection with an HTTPS server can be read (a
// collection without one -- Globus Connect Personal -- lists but cannot serve bytes: EOPNOTSUPP
// at open, with the advice to cp the file elsewhere). The page cache is kept (keep_cache) when
// the file's size and mtime are what they were at its previous open. A file found changed on
// the server mid-read fails with ESTALE, never mixed bytes; the mount then forgets what it
// knew about the file (Superblock::AfterStaleRead), so the next open sees the new one.
//
// Bytes come from a FileReader per open file (reader.h: sequential detection, read-ahead in
// parallel ranged GETs on the read pool, all readers bounded by one MemoryBudget).
#pragma once

#include <atomic>
#include <memory>
#include <optional>

#include "common/result.h"
#include "fs/options.h"
#include "fs/read/reader.h"
#include "fs/superblock/superblock.h"
#include "fs/types.h"
#include "fs/work_queue.h"

namespace gf::fs {

// An open file that reads remote bytes.
struct ReadHandle {
  std::unique_ptr<FileReader> reader;
};

// The "reads" section of the status document.
struct ReadStats {
  uint64_t bytes = 0;
  uint64_t buffer_bytes = 0, buffer_peak_bytes = 0, buffer_limit_bytes = 0;
  uint64_t readahead_refusals = 0;
};

class ReadOps {
 public:
  ReadOps(Superblock& sb, const FsOptions& options);

  // The read pool (read-ahead parts; also the root warm-up at start).
  void Start() { queue_.Start(); }
  void Stop() { queue_.Stop(); }
  WorkQueue& queue() { return queue_; }
  MemoryBudget& memory() { return memory_; }

  // A reader for the regular remote file `in`; sets `opened.keep_cache`.
  Result<ReadHandle> Open(const InodePtr& in, Opened& opened);
  Result<ReadData> Read(const InodePtr& in, ReadHandle& h, uint64_t offset, uint64_t size,
                        const std::atomic<bool>* cancel);

  ReadStats Stats() const;

 private:
  Superblock& sb_;
  const FsOptions& options_;
  MemoryBudget memory_;
  WorkQueue queue_;
};

}  // namespace gf::fs
