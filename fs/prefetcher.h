// Reading file bytes: FileReader (one per open file) and the MemoryBudget they share.
//
// Design (after mountpoint-s3's prefetcher):
//   Read(offset, size) --classify--> sequential? --yes--> ensure the window ahead is requested
//                                      |                  (parts on the WorkQueue, in parallel)
//                                      no (a seek) -----> drop all parts; fetch only the
//                                                         aligned range this read needs
//   then wait for the parts covering [offset, offset+size), validate, copy out, and drop the
//   parts left behind.
// * Sequential = the read starts where the previous one ended, or inside the region already
//   requested (the kernel's async readahead may deliver neighbouring reads out of order).
//   The first read at offset 0 counts as sequential, so `cat` prefetches from the start.
// * Window: starts at kInitialWindow = 1 MiB + 128 KiB (one read past the kernel's default
//   128 KiB readahead plus 1 MiB, the same reasoning as mountpoint-s3's INITIAL_REQUEST_SIZE),
//   doubles each time a new batch is requested, up to readahead_max. A batch is requested
//   when less than half a window is left ahead of the reader. Each batch is split into parts
//   of window/parallelism bytes (at least 64 KiB, at most part_size) fetched in parallel.
// * Random reads (after a seek) fetch just the read rounded out to `align` (64 KiB): no
//   read-ahead until the reader proves sequential with a contiguous read.
// * Memory: each part reserves its length in the shared MemoryBudget (read_memory_limit) when
//   issued. Read-ahead parts are only issued if the reservation succeeds (back-pressure: the
//   window simply stops growing); bytes the current read cannot do without are always
//   reserved (bounded by max_read per in-flight request). Parts are freed as soon as the reader
//   is past them (plus keep_behind, for out-of-order kernel reads).
// * Consistency: the size seen at open is the file's identity. A response whose total size
//   differs, or whose ETag / Last-Modified differs from the first response's, means the file
//   changed remotely mid-read: the read fails with ESTALE (never mixed bytes), and so do later
//   reads of this handle.
// * A server that ignores Range works (DataApi skips the leading bytes): nothing here assumes
//   206. Once a response says range_ignored, parts are no longer split (each part re-sends the
//   file from byte 0), so the cost stays one request per window.
// * Reads past EOF (by the open-time size) return short or empty. A cancel flag (FUSE
//   interrupt) aborts the wait with EINTR; in-flight parts are cancelled when dropped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/transfer_api.h"
#include "fs/remote.h"
#include "fs/work_queue.h"

namespace gf::fs {

class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit) : limit_(limit) {}
  bool TryReserve(uint64_t n);  // false (nothing reserved) when it would exceed the limit
  void ForceReserve(uint64_t n);
  void Release(uint64_t n);
  uint64_t used() const { return used_.load(); }
  uint64_t peak() const { return peak_.load(); }
  uint64_t limit() const { return limit_; }
  uint64_t refusals() const { return refusals_.load(); }

 private:
  void NotePeak(uint64_t now);
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0}, peak_{0}, refusals_{0};
};

struct ReadOptions {
  static constexpr uint64_t kInitialWindow = (1u << 20) + (128u << 10);
  uint64_t initial_window = kInitialWindow;
  uint64_t max_window = 64ull << 20;  // readahead_max
  uint64_t part_size = 8ull << 20;    // largest single range request
  int parallelism = 4;                // parts per window
  uint64_t align = 64u << 10;         // random reads are rounded out to this
  uint64_t keep_behind = 1u << 20;    // bytes kept behind the reader
};

class FileReader {
 public:
  FileReader(Remote& remote, WorkQueue& queue, MemoryBudget& budget, ReadOptions options,
             api::CollectionRef collection, std::string path, uint64_t expected_size);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  Result<std::string> Read(uint64_t offset, uint64_t size, const std::atomic<bool>* cancel);

  uint64_t window() const;
  bool stale() const;

 private:
  struct Part;
  struct Shared;
  void DropAllLocked();
  void IssueLocked(uint64_t from, uint64_t to, uint64_t must_end, bool batch,
                   std::vector<std::shared_ptr<Part>>* inline_parts);
  static void Fetch(const std::shared_ptr<Shared>& shared, const std::shared_ptr<Part>& part);
  std::optional<Error> ValidateLocked(const Part& p);

  Remote& remote_;
  WorkQueue& queue_;
  MemoryBudget& budget_;
  const ReadOptions options_;
  std::shared_ptr<Shared> shared_;  // mutex, cv and fetch context, shared with workers
  uint64_t expected_size_ = 0;      // the size at open: the file's identity

  // Guarded by shared_->mu:
  // INVARIANT: parts_ are contiguous and ascending; requested_end_ == parts_.back() end.
  std::deque<std::shared_ptr<Part>> parts_;
  uint64_t requested_end_ = 0;
  uint64_t next_offset_ = 0;  // where a sequential read would start
  uint64_t window_;
  bool range_ignored_ = false;
  std::optional<Error> stale_;
  std::string etag_;
  std::optional<std::time_t> last_modified_;
};

}  // namespace gf::fs
