// Reading file bytes: FileReader (one per open file) and the MemoryBudget they share.
//
// Design (after mountpoint-s3's prefetcher):
//   Read(offset, size) --classify--> sequential? --yes--> ensure the window ahead is requested
//                                      |                  (parts on the WorkQueue, in parallel)
//                                      no (a seek) -----> drop all parts; fetch only the
//                                                         aligned range this read needs
//   then wait for the parts covering [offset, offset+size), validate, return views of them
//   (ReadData, no copy: the FUSE adapter replies straight from the part buffers), and drop the
//   parts left behind.
// * Sequential = the read starts where the furthest read so far ended, or inside the region
//   already requested, or (while streaming) up to seek_window ahead of it: with
//   FUSE_CAP_ASYNC_READ the kernel sends several readahead requests at once and they reach us
//   out of order, so a read "from the future" is the same stream, not a seek (the gap is
//   requested too; the lower reads arrive a moment later). A read a little BEHIND the stream
//   (a lagging concurrent read whose part was already let go) is fetched on its own and
//   leaves the stream alone. The first read counts as sequential when it lands within the
//   initial window, so `cat` prefetches from the start whichever request arrives first.
// * Window: starts at kInitialWindow = 1 MiB + 128 KiB (one read past the kernel's default
//   128 KiB readahead plus 1 MiB, the same reasoning as mountpoint-s3's INITIAL_REQUEST_SIZE),
//   doubles each time more is requested, up to readahead_max. Reads are split into parts of
//   window/parallelism bytes (at least 64 KiB, at most part_size) fetched in parallel, and
//   the window is topped up one whole part at a time whenever a part fits between the end of
//   what is requested and the reader's end + window: parts stay in flight continuously.
// * Random reads (after a seek) fetch just the read rounded out to `align` (64 KiB): no
//   read-ahead until the reader proves sequential with a contiguous read.
// * Memory: each part reserves its length in the shared MemoryBudget (read_memory_limit) when
//   issued. Read-ahead parts are only issued if the reservation succeeds (back-pressure: the
//   window simply stops growing); bytes the current read cannot do without are always
//   reserved (bounded by max_read per in-flight request). A part is freed as soon as all its
//   bytes were delivered (the kernel's page cache has them), or when it is keep_behind behind
//   the furthest read. A part a ReadData still views is pinned: its buffer is neither recycled
//   nor freed, and its bytes stay counted, until the last ReadData viewing it is destroyed
//   (after the reply was sent), even if the reader let go of it or the file was closed.
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
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/transfer_api.h"
#include "common/mutex.h"
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
  uint64_t max_window = 128ull << 20;  // readahead_max
  uint64_t part_size = 16ull << 20;    // largest single range request
  int parallelism = 4;                 // parts per window
  uint64_t align = 64u << 10;          // random reads are rounded out to this
  // Unread bytes kept behind the furthest read: at least the span of reads the kernel has in
  // flight at once (its readahead window), so a lagging read still finds its part.
  uint64_t keep_behind = 64ull << 20;
  // While streaming, a read up to this far ahead of what is requested (or behind the furthest
  // read) belongs to the same stream: the kernel's async readahead sends several reads at
  // once (FUSE_CAP_ASYNC_READ), which arrive out of order. Like mountpoint-s3's
  // max_forward_seek_wait_distance (16 MiB).
  uint64_t seek_window = 16ull << 20;
  // A read up to this far behind the furthest read, while streaming, is a lagging concurrent
  // read (with a 16 MiB kernel readahead, reads ~30 MiB apart were seen in flight together):
  // it is served on its own and the stream goes on. Further back, it is a seek.
  uint64_t backward_window = 64ull << 20;
};

// The bytes of one read, as views into buffers owned elsewhere (the parts of a FileReader),
// each kept alive -- and still counted in the MemoryBudget -- until the last copy of this
// object is destroyed. The FUSE adapter replies straight from the pieces (one per part the read
// overlaps, usually one) and destroys the ReadData after the reply was written.
class ReadData {
 public:
  struct Piece {
    const char* data = nullptr;
    std::size_t size = 0;
    std::shared_ptr<const void> keep;  // keeps `data` valid
  };
  ReadData() = default;
  explicit ReadData(std::string bytes);  // owns its bytes (control files)
  // `data` stays valid while `keep` lives.
  void Append(const char* data, std::size_t size, std::shared_ptr<const void> keep);
  const std::vector<Piece>& pieces() const { return pieces_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string ToString() const;  // a copy, for tests and callers that need one buffer

 private:
  std::vector<Piece> pieces_;
  std::size_t size_ = 0;
};

class FileReader {
 public:
  FileReader(Remote& remote, WorkQueue& queue, MemoryBudget& budget, ReadOptions options,
             api::CollectionRef collection, std::string path, uint64_t expected_size);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  // The result views the parts' buffers and pins them (see ReadData); it may outlive this
  // FileReader. Destroy it without holding locks the reader takes (it locks the reader's mutex).
  Result<ReadData> Read(uint64_t offset, uint64_t size, const std::atomic<bool>* cancel);

  uint64_t window() const;
  bool stale() const;
  uint64_t detached_reads() const;  // reads served outside the stream (see the header)

 private:
  struct Part;
  struct Pin;
  // The state a FileReader shares with the workers fetching its parts (they may outlive it).
  // Locks: `mu` is a leaf. It guards the reader's state below (FileReader's members marked
  // GUARDED_BY(shared_->mu)), the fields here, and each Part's done/error/meta/data (once
  // issued), reserved, consumed, pins and let_go; it is never held across a remote call (a
  // fetch runs with it released) nor while a Pin is destroyed (the Pin takes it).
  struct Shared {
    Mutex mu;
    std::condition_variable cv;        // waited on with mu (UniqueLock::native()): a part is done
    int in_flight GUARDED_BY(mu) = 0;  // parts issued and not yet done
    // Buffers of parts let go, kept for the next parts: a fresh 8 MiB buffer costs 2048 page
    // faults, which showed in the profile of `cat`. Spare capacity counts in the MemoryBudget
    // (a buffer is only kept if the budget has room), so the bound stays honest.
    std::vector<std::string> spare GUARDED_BY(mu);
    bool closed GUARDED_BY(mu) = false;          // the FileReader is gone: keep no spare buffers
    static constexpr std::size_t kMaxSpare = 8;  // a full window of parts (128 MiB / 16 MiB)
    // Set at construction, then read-only:
    MemoryBudget* budget = nullptr;
    Remote* remote = nullptr;
    api::CollectionRef collection;
    std::string path;

    std::string TakeBuffer(uint64_t len) REQUIRES(mu);
    void Recycle(std::string&& b) REQUIRES(mu);
    // The reader is done with `p` (delivered, dropped, failed, or a detached part after its
    // read). A cancelled part still in flight stops counting at once. Its reservation and
    // buffer are given up now, or when the last ReadData viewing it lets go (Pin).
    void LetGoLocked(const std::shared_ptr<Part>& p) REQUIRES(mu);
    void RetireLocked(const std::shared_ptr<Part>& p) REQUIRES(mu);
    ~Shared();
  };

  void DropAllLocked() REQUIRES(shared_->mu);
  // The size of read-ahead parts for this window.
  uint64_t PartLen() const REQUIRES(shared_->mu);
  void IssueLocked(uint64_t from, uint64_t to, uint64_t must_end, bool batch,
                   std::vector<std::shared_ptr<Part>>* inline_parts) REQUIRES(shared_->mu);
  static void Fetch(const std::shared_ptr<Shared>& shared, const std::shared_ptr<Part>& part)
      EXCLUDES(shared->mu);
  std::optional<Error> ValidateLocked(const Part& p) REQUIRES(shared_->mu);
  // Fetches [from, to) on this thread, outside parts_ (a read behind the stream); releases
  // shared_->mu while fetching and takes it again before returning.
  std::shared_ptr<Part> FetchDetached(uint64_t from, uint64_t to) REQUIRES(shared_->mu);

  Remote& remote_;
  WorkQueue& queue_;
  MemoryBudget& budget_;
  const ReadOptions options_;
  const std::shared_ptr<Shared> shared_;  // mutex, cv and fetch context, shared with workers
  uint64_t expected_size_ = 0;            // the size at open: the file's identity

  // INVARIANT: parts_ are contiguous and ascending; requested_end_ == parts_.back() end.
  std::deque<std::shared_ptr<Part>> parts_ GUARDED_BY(shared_->mu);
  uint64_t requested_end_ GUARDED_BY(shared_->mu) = 0;
  // Where a sequential read would start (the furthest end read).
  uint64_t next_offset_ GUARDED_BY(shared_->mu) = 0;
  uint64_t high_water_ GUARDED_BY(shared_->mu) = 0;  // the furthest byte read since the last seek
  // Sequential mode (false after a seek until a contiguous read).
  bool streaming_ GUARDED_BY(shared_->mu) = true;
  bool started_ GUARDED_BY(shared_->mu) = false;  // a read happened
  // Reads served outside the stream (behind it, or after a race).
  uint64_t detached_ GUARDED_BY(shared_->mu) = 0;
  uint64_t window_ GUARDED_BY(shared_->mu);
  bool range_ignored_ GUARDED_BY(shared_->mu) = false;
  std::optional<Error> stale_ GUARDED_BY(shared_->mu);
  std::string etag_ GUARDED_BY(shared_->mu);
  std::optional<std::time_t> last_modified_ GUARDED_BY(shared_->mu);
};

}  // namespace gf::fs
