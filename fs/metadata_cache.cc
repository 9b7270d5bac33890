#include "fs/metadata_cache.h"

#include <algorithm>

namespace gf::fs {

const Listing::Item* Listing::Find(std::string_view name) const {
  auto it = std::lower_bound(items.begin(), items.end(), name,
                             [](const Item& a, std::string_view n) { return a.name < n; });
  if (it == items.end() || it->name != name) return nullptr;
  return &*it;
}

MetadataCache::MetadataCache(Clock& clock, std::chrono::nanoseconds ttl, uint64_t max_entries)
    : clock_(clock), ttl_(ttl), max_entries_(max_entries) {}

void MetadataCache::EraseLocked(std::map<std::string, Slot>::iterator it) {
  entries_ -= it->second.listing->size();
  lru_.erase(it->second.lru);
  slots_.erase(it);
}

std::shared_ptr<const Listing> MetadataCache::Get(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = slots_.find(key);
  if (it == slots_.end()) return nullptr;
  if (clock_.Now() >= it->second.expires) {
    EraseLocked(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.listing;
}

void MetadataCache::Put(const std::string& key, std::shared_ptr<const Listing> listing) {
  if (!listing || ttl_.count() <= 0) return;
  std::lock_guard<std::mutex> l(mu_);
  auto old = slots_.find(key);
  if (old != slots_.end()) EraseLocked(old);
  if (listing->size() > max_entries_) return;
  while (entries_ + listing->size() > max_entries_ && !lru_.empty()) {
    EraseLocked(slots_.find(lru_.back()));
    ++evictions_;
  }
  lru_.push_front(key);
  entries_ += listing->size();
  slots_.emplace(key, Slot{std::move(listing), clock_.Now() + ttl_, lru_.begin()});
}

void MetadataCache::Erase(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = slots_.find(key);
  if (it != slots_.end()) EraseLocked(it);
}

std::size_t MetadataCache::ErasePrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> l(mu_);
  std::size_t n = 0;
  auto exact = slots_.find(prefix);
  if (exact != slots_.end()) {
    EraseLocked(exact);
    ++n;
  }
  std::string dir = !prefix.empty() && prefix.back() == '/' ? prefix : prefix + "/";
  for (auto it = slots_.lower_bound(dir);
       it != slots_.end() && it->first.compare(0, dir.size(), dir) == 0;) {
    auto next = std::next(it);
    EraseLocked(it);
    ++n;
    it = next;
  }
  return n;
}

void MetadataCache::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  slots_.clear();
  lru_.clear();
  entries_ = 0;
}

std::size_t MetadataCache::listings() const {
  std::lock_guard<std::mutex> l(mu_);
  return slots_.size();
}
uint64_t MetadataCache::entries() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_;
}
uint64_t MetadataCache::evictions() const {
  std::lock_guard<std::mutex> l(mu_);
  return evictions_;
}

}  // namespace gf::fs
