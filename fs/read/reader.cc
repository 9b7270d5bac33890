#include "fs/read/reader.h"

#include <algorithm>
#include <cerrno>

#include "common/blocking.h"
#include "common/log.h"

namespace gf::fs {

// ---- MemoryBudget ----

void MemoryBudget::NotePeak(uint64_t now) {
  uint64_t p = peak_.load();
  while (now > p && !peak_.compare_exchange_weak(p, now)) {
  }
}

bool MemoryBudget::TryReserve(uint64_t n) {
  uint64_t cur = used_.load();
  do {
    if (cur + n > limit_) {
      ++refusals_;
      return false;
    }
  } while (!used_.compare_exchange_weak(cur, cur + n));
  NotePeak(cur + n);
  return true;
}

void MemoryBudget::ForceReserve(uint64_t n) { NotePeak(used_.fetch_add(n) + n); }

void MemoryBudget::Release(uint64_t n) { used_.fetch_sub(n); }

// ---- ReadData ----

ReadData::ReadData(std::string bytes) {
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  Append(owned->data(), owned->size(), owned);
}

void ReadData::Append(const char* data, std::size_t size, std::shared_ptr<const void> keep) {
  if (size == 0) return;
  pieces_.push_back(Piece{data, size, std::move(keep)});
  size_ += size;
}

std::string ReadData::ToString() const {
  std::string out;
  out.reserve(size_);
  for (const auto& p : pieces_) out.append(p.data, p.size);
  return out;
}

// ---- FileReader ----

// A range of the file being fetched or fetched. off/len/budget are fixed at issue; the other
// fields are guarded by Shared::mu (see reader.h), except `data`, which the fetching thread
// fills without the lock until `done` and which is then fixed while pinned, and `cancel`.
struct FileReader::Part {
  uint64_t off = 0, len = 0;
  std::string data;
  bool done = false;
  std::optional<Error> error;
  api::RangeResult meta;
  std::atomic<bool> cancel{false};
  MemoryBudget* budget = nullptr;
  uint64_t reserved = 0;
  uint64_t consumed = 0;  // bytes handed out to readers
  int pins = 0;           // ReadData pieces viewing `data`
  bool let_go = false;    // the reader is done with it (see LetGoLocked)
  void Unreserve() {
    if (budget && reserved) budget->Release(reserved);
    reserved = 0;
  }
  ~Part() { Unreserve(); }
};

std::string FileReader::Shared::TakeBuffer(uint64_t len) {
  std::string b;
  if (!spare.empty()) {
    b = std::move(spare.back());
    spare.pop_back();
    budget->Release(b.capacity());
    b.clear();
  }
  b.reserve(len);
  return b;
}

void FileReader::Shared::Recycle(std::string&& b) {
  if (!closed && spare.size() < kMaxSpare && b.capacity() >= (64u << 10) &&
      budget->TryReserve(b.capacity()))
    spare.push_back(std::move(b));
}

void FileReader::Shared::LetGoLocked(const std::shared_ptr<Part>& p) {
  p->let_go = true;
  if (p->pins == 0) RetireLocked(p);
}

void FileReader::Shared::RetireLocked(const std::shared_ptr<Part>& p) {
  p->Unreserve();
  // References are only taken under mu: if the caller's is the only one, nobody reads (or
  // views) its bytes again.
  if (p->done && p.use_count() == 1) Recycle(std::move(p->data));
}

// Runs when the last of the reader and its workers lets go: nobody else can hold mu.
FileReader::Shared::~Shared() NO_THREAD_SAFETY_ANALYSIS {
  for (auto& b : spare) budget->Release(b.capacity());
}

// Keeps a part's bytes (and their reservation) for a ReadData piece: see Part::pins. Made with
// mu held (in Read); the destructor takes mu itself, so it must never run with mu held.
struct FileReader::Pin {
  Pin(std::shared_ptr<Shared> s, std::shared_ptr<Part> p)
      : shared(std::move(s)), part(std::move(p)) {
    ++part->pins;  // with mu held (the constructor runs in Read)
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;
  ~Pin() {
    MutexLock l(shared->mu);
    if (--part->pins == 0 && part->let_go) shared->RetireLocked(part);
  }
  std::shared_ptr<Shared> shared;
  std::shared_ptr<Part> part;
};

FileReader::FileReader(Remote& remote, WorkQueue& queue, MemoryBudget& budget, ReadOptions options,
                       api::CollectionRef collection, std::string path, uint64_t expected_size)
    : remote_(remote),
      queue_(queue),
      budget_(budget),
      options_(options),
      shared_(std::make_shared<Shared>()),
      window_(std::min(options.initial_window, std::max<uint64_t>(options.max_window, 1))) {
  shared_->remote = &remote_;
  shared_->budget = &budget_;
  shared_->collection = std::move(collection);
  shared_->path = std::move(path);
  expected_size_ = expected_size;
}

FileReader::~FileReader() {
  // Cancel what is in flight and wait for it to unwind (each fetch is a bounded call, and
  // notices the cancel flag at its next chunk), so nothing outlives the open file.
  UniqueLock l(shared_->mu);
  DropAllLocked();
  if (shared_->in_flight != 0) MayBlock();
  shared_->cv.wait(l.native(), [&] {
    shared_->mu.AssertHeld();
    return shared_->in_flight == 0;
  });
  for (auto& b : shared_->spare) budget_.Release(b.capacity());
  shared_->spare.clear();  // released now, not when a worker drops its last reference
  shared_->closed = true;  // parts still pinned by a ReadData are freed when it lets go
}

uint64_t FileReader::window() const {
  MutexLock l(shared_->mu);
  return window_;
}

uint64_t FileReader::detached_reads() const {
  MutexLock l(shared_->mu);
  return detached_;
}

bool FileReader::stale() const {
  MutexLock l(shared_->mu);
  return stale_.has_value();
}

void FileReader::DropAllLocked() {
  for (auto& p : parts_) {
    p->cancel = true;
    shared_->LetGoLocked(p);
  }
  parts_.clear();
  requested_end_ = 0;
}

void FileReader::Fetch(const std::shared_ptr<Shared>& shared, const std::shared_ptr<Part>& part) {
  std::string buf;
  {
    MutexLock l(shared->mu);
    buf = shared->TakeBuffer(part->len);
  }
  auto r = shared->remote->GetRange(
      shared->collection, shared->path, part->off, part->len,
      [&](std::string_view chunk) {
        if (part->cancel.load()) return false;
        buf.append(chunk);
        return true;
      },
      &part->cancel);
  {
    MutexLock l(shared->mu);
    part->data = std::move(buf);
    if (r.ok())
      part->meta = *r;
    else
      part->error = r.error();
    part->done = true;
    --shared->in_flight;
  }
  shared->cv.notify_all();
}

uint64_t FileReader::PartLen() const {
  return std::clamp<uint64_t>(window_ / std::max(options_.parallelism, 1), 64u << 10,
                              std::max<uint64_t>(options_.part_size, 64u << 10));
}

// Requests [from, to) as parts. Bytes below `must_end` are needed by the current read and
// always reserved; the rest is read-ahead and stops at the first refused reservation.
void FileReader::IssueLocked(uint64_t from, uint64_t to, uint64_t must_end, bool batch,
                             std::vector<std::shared_ptr<Part>>* inline_parts) {
  uint64_t part_len = PartLen();
  if (range_ignored_ || !batch) part_len = std::max<uint64_t>(to - from, 1);
  uint64_t s = from;
  while (s < to) {
    uint64_t e = std::min(to, s + part_len);
    bool needed = s < must_end;
    if (needed) {
      // Needed bytes are always reserved, but over the limit only as much as this read needs.
      if (!budget_.TryReserve(e - s)) {
        e = std::min(e, std::max(must_end, s + 1));
        budget_.ForceReserve(e - s);
      }
    } else if (!budget_.TryReserve(e - s)) {
      break;  // back-pressure: no more read-ahead for now
    }
    auto p = std::make_shared<Part>();
    p->off = s;
    p->len = e - s;
    p->budget = &budget_;
    p->reserved = e - s;
    parts_.push_back(p);
    ++shared_->in_flight;
    requested_end_ = e;
    auto shared = shared_;
    if (!queue_.Submit([shared, p] { Fetch(shared, p); })) inline_parts->push_back(p);
    s = e;
  }
}

std::optional<Error> FileReader::ValidateLocked(const Part& p) {
  std::string why;
  if (p.meta.total_size && *p.meta.total_size != expected_size_) {
    why = "its size is now " + std::to_string(*p.meta.total_size) + " bytes, not " +
          std::to_string(expected_size_);
  } else if (!p.meta.etag.empty() && !etag_.empty() && p.meta.etag != etag_) {
    why = "its ETag changed";
  } else if (p.meta.last_modified && last_modified_ && *p.meta.last_modified != *last_modified_) {
    why = "its Last-Modified time changed";
  }
  if (why.empty()) {
    if (!p.meta.etag.empty()) etag_ = p.meta.etag;
    if (p.meta.last_modified) last_modified_ = p.meta.last_modified;
    if (p.meta.range_ignored) range_ignored_ = true;
    return std::nullopt;
  }
  return Error::Local(ESTALE, shared_->path + " changed on the server while it was being read (" +
                                  why + "); close and open it again");
}

std::shared_ptr<FileReader::Part> FileReader::FetchDetached(uint64_t from, uint64_t to) {
  auto p = std::make_shared<Part>();
  p->off = from;
  p->len = to - from;
  p->budget = &budget_;
  p->reserved = p->len;
  budget_.ForceReserve(p->len);  // needed bytes: always reserved (bounded by the read size)
  ++shared_->in_flight;
  ++detached_;
  shared_->mu.unlock();
  Fetch(shared_, p);
  shared_->mu.lock();
  return p;
}

Result<ReadData> FileReader::Read(uint64_t offset, uint64_t size, const std::atomic<bool>* cancel) {
  // Declared before the lock: on every return the lock is released before `out` (whose pins
  // take the lock when they go) is destroyed.
  ReadData out;
  UniqueLock l(shared_->mu);
  if (stale_) return *stale_;
  if (offset >= expected_size_ || size == 0) return ReadData();
  uint64_t end = std::min(expected_size_, offset + size);
  uint64_t a = std::max<uint64_t>(options_.align, 1);

  // Classify (see the header): covered by the parts requested so far, continuing the stream,
  // a little ahead of it (concurrent kernel readahead overtook a lower read), a little behind
  // it (a lagging concurrent read whose part is gone), or a seek.
  bool in_window = !parts_.empty() && offset >= parts_.front()->off && offset < requested_end_;
  uint64_t base = parts_.empty() ? next_offset_ : requested_end_;
  uint64_t reach = !streaming_ ? 0 : started_ ? std::max(window_, options_.seek_window) : window_;
  // offset == base also counts in random mode: it continues what the last read requested.
  bool ahead = !in_window && offset >= base && offset - base < std::max<uint64_t>(reach, 1);
  uint64_t low = parts_.empty() ? next_offset_ : parts_.front()->off;
  bool behind = !in_window && streaming_ && started_ && offset < low &&
                offset + std::max(options_.backward_window, options_.keep_behind) >= high_water_;
  bool sequential = in_window || ahead || offset == next_offset_;
  std::vector<std::shared_ptr<Part>> inline_parts;
  if (behind) {
    // Served on its own below; the stream ahead is left alone.
  } else if (!sequential) {
    log::Debug("read", shared_->path, ": seek to ", offset, " (stream at ", next_offset_, ")");
    // A seek: forget the stream and fetch only what this read needs.
    DropAllLocked();
    streaming_ = false;
    high_water_ = 0;
    window_ = std::min(options_.initial_window, options_.max_window);
    uint64_t from = offset / a * a;
    uint64_t to = std::min(expected_size_, (end + a - 1) / a * a);
    IssueLocked(from, to, to, /*batch=*/false, &inline_parts);
  } else {
    if (!in_window && !ahead) DropAllLocked();  // contiguous, but nothing requested here yet
    if (!in_window) streaming_ = true;
    uint64_t from = parts_.empty() ? (ahead ? base : offset) : requested_end_;
    if (parts_.empty() || requested_end_ < end) {
      uint64_t to = std::min(expected_size_, std::max(end, from + window_));
      if (to > from) IssueLocked(from, to, end, /*batch=*/true, &inline_parts);
      window_ = std::min(window_ * 2, options_.max_window);
    } else if (uint64_t part = PartLen();
               end + window_ >= requested_end_ + part && requested_end_ < expected_size_) {
      // Keep the window full, one whole part at a time, so parts stay in flight continuously
      // (topping up only at half a window left the connections idle between batches, which
      // cost most at 50 ms latency).
      uint64_t to =
          std::min(expected_size_, requested_end_ + (end + window_ - requested_end_) / part * part);
      IssueLocked(from, to, end, /*batch=*/true, &inline_parts);
      window_ = std::min(window_ * 2, options_.max_window);
    }
  }
  started_ = true;
  if (!inline_parts.empty()) {
    // No worker available (not started, or stopped): fetch here, without the lock.
    l.unlock();
    for (auto& p : inline_parts) Fetch(shared_, p);
    l.lock();
  }

  // Wait for the parts covering [offset, end) and hand out views of them.
  uint64_t pos = offset;
  while (pos < end) {
    std::shared_ptr<Part> part;
    for (auto& p : parts_)
      if (p->off <= pos && pos < p->off + p->len) part = p;
    bool detached = false;
    if (!part) {
      // Behind the stream, or dropped by a concurrent seek on the same handle: fetch the
      // rest of this read on its own (rounded out like a random read).
      uint64_t to = std::min(expected_size_, (end + a - 1) / a * a);
      part = FetchDetached(pos / a * a, to);
      detached = true;
    }
    if (!part->done) MayBlock();
    while (!part->done) {
      if (cancel && cancel->load())
        return Error::Transport(TransportFailure::kAborted, "read interrupted");
      shared_->cv.wait_for(l.native(), std::chrono::milliseconds(100));
    }
    if (part->error && part->cancel.load() && !detached) {
      // Cancelled under us by a concurrent seek on the same handle: not this read's error.
      continue;  // the part is gone from parts_, so the next pass fetches it on its own
    }
    if (part->error) {
      Error e = *part->error;
      // Drop the failed part and everything after it so a retry refetches.
      while (!detached && !parts_.empty() && parts_.back()->off >= part->off) {
        parts_.back()->cancel = true;
        shared_->LetGoLocked(parts_.back());
        parts_.pop_back();
      }
      requested_end_ = parts_.empty() ? 0 : parts_.back()->off + parts_.back()->len;
      return e;
    }
    if (auto stale = ValidateLocked(*part)) {
      stale_ = stale;
      DropAllLocked();
      log::Warn("read", stale->message);
      return *stale;
    }
    uint64_t in_part = pos - part->off;
    if (in_part >= part->data.size()) break;  // server sent less than asked: short read
    uint64_t n = std::min<uint64_t>(end - pos, part->data.size() - in_part);
    out.Append(part->data.data() + in_part, n, std::make_shared<const Pin>(shared_, part));
    part->consumed += n;
    pos += n;
    if (detached) shared_->LetGoLocked(part);
    if (part->data.size() < part->len && pos >= part->off + part->data.size()) break;
  }
  if (pos >= next_offset_ || !streaming_) next_offset_ = pos;
  high_water_ = std::max(high_water_, pos);
  // Let go of parts the reader is done with: fully delivered ones (the kernel's page cache
  // has them), and any left more than keep_behind behind the furthest read.
  while (!parts_.empty() && parts_.front()->done && !parts_.front()->error &&
         (parts_.front()->consumed >= parts_.front()->data.size() ||
          parts_.front()->off + parts_.front()->len + options_.keep_behind <= high_water_)) {
    shared_->LetGoLocked(parts_.front());  // recycled now, or when the last ReadData lets go
    parts_.pop_front();
  }
  if (parts_.empty()) requested_end_ = 0;
  return Result<ReadData>(std::move(out));
}

}  // namespace gf::fs
