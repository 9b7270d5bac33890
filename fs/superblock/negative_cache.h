// NegativeCache: names known NOT to exist, for a short TTL, bounded in size.
//
// Keys are "<collection-id><path>" strings (see Superblock keys in filesystem.cc); root-level
// names use a reserved prefix. A hit means "answer ENOENT without asking the service". Entries
// expire after `ttl` (injected Clock) and the oldest entry is evicted when the cache is full
// (insertion order = LRU, since entries are never refreshed in place). Thread-safe; the mutex
// is a leaf lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/mutex.h"

namespace gf::fs {

class NegativeCache {
 public:
  NegativeCache(Clock& clock, std::chrono::nanoseconds ttl, uint64_t max_entries);

  bool Contains(const std::string& key);  // true while a fresh entry exists
  void Insert(const std::string& key);
  void Erase(const std::string& key);
  // Drops `prefix` itself and every key under "<prefix>/".
  void ErasePrefix(const std::string& prefix);
  void Clear();
  std::size_t size() const;

 private:
  struct Item {
    std::string key;
    MonoTime expires;
  };
  Clock& clock_;
  const std::chrono::nanoseconds ttl_;
  const uint64_t max_;
  mutable Mutex mu_;                       // leaf lock: guards order_ and index_
  std::list<Item> order_ GUARDED_BY(mu_);  // oldest first
  // INVARIANT: index_[k] points at the one Item in order_ whose key is k.
  std::unordered_map<std::string, std::list<Item>::iterator> index_ GUARDED_BY(mu_);
};

}  // namespace gf::fs
