#include "fs/prefetcher.h"

#include <algorithm>
#include <cerrno>

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

// ---- FileReader ----

struct FileReader::Part {
  uint64_t off = 0, len = 0;
  std::string data;   // written by the fetching thread only until `done`
  bool done = false;  // guarded by Shared::mu
  std::optional<Error> error;
  api::RangeResult meta;
  std::atomic<bool> cancel{false};
  MemoryBudget* budget = nullptr;
  uint64_t reserved = 0;  // guarded by Shared::mu
  // Called when the reader lets go of the part (consumed, seek, error, close): its bytes stop
  // counting at once, even if a cancelled fetch is still unwinding.
  void Unreserve() {
    if (budget && reserved) budget->Release(reserved);
    reserved = 0;
  }
  ~Part() { Unreserve(); }
};

struct FileReader::Shared {
  std::mutex mu;  // guards the reader's state and every Part::done/error/meta/reserved
  std::condition_variable cv;
  int in_flight = 0;  // parts issued and not yet done
  Remote* remote = nullptr;
  api::CollectionRef collection;
  std::string path;
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
  shared_->collection = std::move(collection);
  shared_->path = std::move(path);
  expected_size_ = expected_size;
}

FileReader::~FileReader() {
  // Cancel what is in flight and wait for it to unwind (each fetch is a bounded call, and
  // notices the cancel flag at its next chunk), so nothing outlives the open file.
  std::unique_lock<std::mutex> l(shared_->mu);
  DropAllLocked();
  shared_->cv.wait(l, [&] { return shared_->in_flight == 0; });
}

uint64_t FileReader::window() const {
  std::lock_guard<std::mutex> l(shared_->mu);
  return window_;
}

bool FileReader::stale() const {
  std::lock_guard<std::mutex> l(shared_->mu);
  return stale_.has_value();
}

void FileReader::DropAllLocked() {
  for (auto& p : parts_) {
    p->cancel = true;
    p->Unreserve();
  }
  parts_.clear();
  requested_end_ = 0;
}

void FileReader::Fetch(const std::shared_ptr<Shared>& shared, const std::shared_ptr<Part>& part) {
  std::string buf;
  auto r = shared->remote->GetRange(
      shared->collection, shared->path, part->off, part->len,
      [&](std::string_view chunk) {
        if (part->cancel.load()) return false;
        buf.append(chunk);
        return true;
      },
      &part->cancel);
  {
    std::lock_guard<std::mutex> l(shared->mu);
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

// Requests [from, to) as parts. Bytes below `must_end` are needed by the current read and
// always reserved; the rest is read-ahead and stops at the first refused reservation.
void FileReader::IssueLocked(uint64_t from, uint64_t to, uint64_t must_end, bool batch,
                             std::vector<std::shared_ptr<Part>>* inline_parts) {
  uint64_t part_len = std::clamp<uint64_t>(window_ / std::max(options_.parallelism, 1), 64u << 10,
                                           std::max<uint64_t>(options_.part_size, 1));
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

Result<std::string> FileReader::Read(uint64_t offset, uint64_t size,
                                     const std::atomic<bool>* cancel) {
  std::unique_lock<std::mutex> l(shared_->mu);
  if (stale_) return *stale_;
  if (offset >= expected_size_ || size == 0) return std::string();
  uint64_t end = std::min(expected_size_, offset + size);

  bool in_window = !parts_.empty() && offset >= parts_.front()->off && offset < requested_end_;
  bool sequential = in_window || offset == next_offset_;
  std::vector<std::shared_ptr<Part>> inline_parts;
  if (!sequential) {
    // A seek: forget the stream and fetch only what this read needs.
    DropAllLocked();
    window_ = std::min(options_.initial_window, options_.max_window);
    uint64_t a = std::max<uint64_t>(options_.align, 1);
    uint64_t from = offset / a * a;
    uint64_t to = std::min(expected_size_, (end + a - 1) / a * a);
    IssueLocked(from, to, to, /*batch=*/false, &inline_parts);
  } else {
    if (!in_window) DropAllLocked();  // contiguous, but nothing requested here yet
    uint64_t from = parts_.empty() ? offset : requested_end_;
    uint64_t ahead = requested_end_ > end ? requested_end_ - end : 0;
    if (parts_.empty() || requested_end_ < end || ahead < window_ / 2) {
      uint64_t to = std::min(expected_size_, std::max(end, from + window_));
      if (to > from) IssueLocked(from, to, end, /*batch=*/true, &inline_parts);
      window_ = std::min(window_ * 2, options_.max_window);
    }
  }
  if (!inline_parts.empty()) {
    // No worker available (not started, or stopped): fetch here, without the lock.
    l.unlock();
    for (auto& p : inline_parts) Fetch(shared_, p);
    l.lock();
  }

  // Wait for the parts covering [offset, end) and copy them out.
  std::string out;
  out.reserve(end - offset);
  uint64_t pos = offset;
  while (pos < end) {
    std::shared_ptr<Part> part;
    for (auto& p : parts_)
      if (p->off <= pos && pos < p->off + p->len) part = p;
    if (!part) {
      // Dropped by a concurrent seek on the same handle: let the caller retry the read.
      return Error::Local(EAGAIN, "read of " + shared_->path + " raced with a seek");
    }
    while (!part->done) {
      if (cancel && cancel->load())
        return Error::Transport(TransportFailure::kAborted, "read interrupted");
      shared_->cv.wait_for(l, std::chrono::milliseconds(100));
    }
    if (part->error) {
      Error e = *part->error;
      // Drop the failed part and everything after it so a retry refetches.
      while (!parts_.empty() && parts_.back()->off >= part->off) {
        parts_.back()->cancel = true;
        parts_.back()->Unreserve();
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
    out.append(part->data, in_part, n);
    pos += n;
    if (part->data.size() < part->len && pos >= part->off + part->data.size()) break;
  }
  next_offset_ = pos;
  while (!parts_.empty() &&
         parts_.front()->off + parts_.front()->len + options_.keep_behind <= pos) {
    parts_.front()->Unreserve();
    parts_.pop_front();
  }
  if (parts_.empty()) requested_end_ = 0;
  return out;
}

}  // namespace gf::fs
