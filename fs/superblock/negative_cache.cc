#include "fs/superblock/negative_cache.h"

namespace gf::fs {

NegativeCache::NegativeCache(Clock& clock, std::chrono::nanoseconds ttl, uint64_t max_entries)
    : clock_(clock), ttl_(ttl), max_(max_entries) {}

bool NegativeCache::Contains(const std::string& key) {
  MutexLock l(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  if (clock_.Now() < it->second->expires) return true;
  order_.erase(it->second);
  index_.erase(it);
  return false;
}

void NegativeCache::Insert(const std::string& key) {
  if (max_ == 0 || ttl_.count() <= 0) return;
  MutexLock l(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) {
    order_.erase(it->second);
    index_.erase(it);
  }
  while (order_.size() >= max_) {
    index_.erase(order_.front().key);
    order_.pop_front();
  }
  order_.push_back(Item{key, clock_.Now() + ttl_});
  index_[key] = std::prev(order_.end());
}

void NegativeCache::Erase(const std::string& key) {
  MutexLock l(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

void NegativeCache::ErasePrefix(const std::string& prefix) {
  MutexLock l(mu_);
  std::string dir = prefix.empty() || prefix.back() == '/' ? prefix : prefix + "/";
  for (auto it = order_.begin(); it != order_.end();) {
    if (it->key == prefix || it->key.compare(0, dir.size(), dir) == 0) {
      index_.erase(it->key);
      it = order_.erase(it);
    } else {
      ++it;
    }
  }
}

void NegativeCache::Clear() {
  MutexLock l(mu_);
  order_.clear();
  index_.clear();
}

std::size_t NegativeCache::size() const {
  MutexLock l(mu_);
  return order_.size();
}

}  // namespace gf::fs
