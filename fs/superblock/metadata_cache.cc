#include "fs/superblock/metadata_cache.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace gf::fs {

bool Listing::Add(std::string_view name, const Meta& meta) {
  if (names.size() + name.size() > UINT32_MAX) return false;
  Item i;
  i.name_off = static_cast<uint32_t>(names.size());
  i.name_len = static_cast<uint32_t>(name.size());
  i.meta = meta;
  names.append(name);
  items.push_back(i);
  return true;
}

void Listing::Seal() {
  auto less = [this](const Item& a, const Item& b) { return Name(a) < Name(b); };
  std::stable_sort(items.begin(), items.end(), less);
  items.erase(std::unique(items.begin(), items.end(),
                          [this](const Item& a, const Item& b) { return Name(a) == Name(b); }),
              items.end());
  items.shrink_to_fit();
  names.shrink_to_fit();
}

const Listing::Item* Listing::Find(std::string_view name) const {
  auto it = std::lower_bound(items.begin(), items.end(), name,
                             [this](const Item& a, std::string_view n) { return Name(a) < n; });
  if (it == items.end() || Name(*it) != name) return nullptr;
  return &*it;
}

std::shared_ptr<Listing> Listing::With(std::string_view name, const Meta& meta) const {
  // A `cp -r` into a directory edits its cached listing once per file, so this is a bulk copy
  // (the names block whole, the items in two ranges around the new one), not a rebuild entry by
  // entry. Still O(entries) per edit; docs/PERFORMANCE.md has the cost per file in big
  // directories.
  auto out = std::make_shared<Listing>();
  out->fetched = fetched;
  auto at = std::lower_bound(items.begin(), items.end(), name,
                             [this](const Item& a, std::string_view n) { return Name(a) < n; });
  if (at != items.end() && Name(*at) == name) {  // replaced: same names, one Meta changes
    out->names = names;
    out->items = items;
    out->items[static_cast<std::size_t>(at - items.begin())].meta = meta;
    return out;
  }
  out->items.reserve(items.size() + 1);
  out->items.insert(out->items.end(), items.begin(), at);
  out->names.reserve(names.size() + name.size());
  out->names = names;
  out->Add(name, meta);  // false (over 4 GiB of names): left out
  out->items.insert(out->items.end(), at, items.end());
  return out;
}

std::shared_ptr<Listing> Listing::Without(std::string_view name) const {
  auto out = std::make_shared<Listing>();
  out->names = names;
  out->fetched = fetched;
  out->items.reserve(items.size());
  for (const Item& i : items)
    if (Name(i) != name) out->items.push_back(i);
  return out;
}

namespace {
// Big transient arrays (a listing's FileEntry vector, a readdir handle's snapshot: megabytes
// per 100k entries) must go back to the OS when freed. glibc serves blocks above its mmap
// threshold with mmap (returned at free), but raises that threshold dynamically, up to 32 MiB,
// the first time such a block is freed; after that, these arrays come from the heap and their
// pages stay resident. A fixed threshold (which also turns the dynamic adjustment off) keeps
// them mmap'd: 1M cached entries measured 431-489 MB without it, 405 MB with it
// (docs/PERFORMANCE.md). 4 MiB keeps the read path's reply buffers (<= max_read, 1 MiB) on
// the heap.
// The fixed threshold also fixes the trim threshold, at glibc's 128 KiB: an arena whose free
// top passes it is shrunk (madvise: a TLB shootdown on every CPU, then fresh page faults when
// it grows again). A `cp -r` of small files allocates and frees a few hundred KiB per file
// (the parent's listing copied with the new entry, upload buffers), so a heap shrank and
// regrew at most files. 2 MiB of free top per arena is kept instead (interleaved A/B, 1000
// files x 8 rounds: 0.89 of the time, daemon CPU per file 0.44 -> 0.36 ms; docs/PERFORMANCE.md).
// Process-wide, set once; GLIBC_TUNABLES=glibc.malloc.mmap_threshold / trim_threshold override.
void FixMmapThresholdOnce() {
  static const bool done = [] {
    const char* t = std::getenv("GLIBC_TUNABLES");
    if (!t || !std::strstr(t, "trim_threshold")) mallopt(M_TRIM_THRESHOLD, 2 << 20);
    if (t && std::strstr(t, "mmap_threshold")) return false;
    return mallopt(M_MMAP_THRESHOLD, 4 << 20) == 1;
  }();
  (void)done;
}
}  // namespace

MetadataCache::MetadataCache(Clock& clock, std::chrono::nanoseconds ttl, uint64_t max_entries)
    : clock_(clock), ttl_(ttl), max_entries_(max_entries) {
  FixMmapThresholdOnce();
}

void MetadataCache::EraseLocked(std::map<std::string, Slot>::iterator it) {
  entries_ -= it->second.listing->size();
  lru_.erase(it->second.lru);
  slots_.erase(it);
}

std::shared_ptr<const Listing> MetadataCache::Get(const std::string& key) {
  MutexLock l(mu_);
  auto it = slots_.find(key);
  if (it == slots_.end()) return nullptr;
  if (clock_.Now() >= it->second.expires) {
    EraseLocked(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.listing;
}

bool MetadataCache::Cacheable(const Listing* listing) const {
  if (!listing || ttl_.count() <= 0) return false;
  // A big listing was just parsed: its response body, JSON DOM and FileEntry vector (several
  // times the size of the listing itself) are freed or about to be, on whichever FUSE thread
  // fetched it, and glibc keeps freed pages in that thread's arena. Hand them back now, or a
  // mount that listed 1M entries keeps ~30 MB more resident (docs/PERFORMANCE.md). Outside mu_:
  // it walks every arena (a few ms per 100k entries).
  if (listing->size() >= kTrimAfterEntries) malloc_trim(0);
  return true;
}

void MetadataCache::Put(const std::string& key, std::shared_ptr<const Listing> listing) {
  if (!Cacheable(listing.get())) return;
  MutexLock l(mu_);
  ChangedLocked(key, false);
  PutLocked(key, std::move(listing));
}

void MetadataCache::PutLocked(const std::string& key, std::shared_ptr<const Listing> listing) {
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

bool MetadataCache::Replace(const std::string& key, const std::shared_ptr<const Listing>& expected,
                            std::shared_ptr<const Listing> next) {
  if (!next) return false;
  MutexLock l(mu_);
  auto it = slots_.find(key);
  if (it == slots_.end() || it->second.listing != expected) return false;
  ChangedLocked(key, false);
  if (clock_.Now() >= it->second.expires) {
    EraseLocked(it);
    return false;
  }
  if (next->size() > max_entries_) {  // too big to cache: as Put() would, keep none
    EraseLocked(it);
    return true;
  }
  entries_ = entries_ - it->second.listing->size() + next->size();
  it->second.listing = std::move(next);
  // Over the bound by the added entry: evict other listings, least recently used first.
  while (entries_ > max_entries_ && lru_.size() > 1) {
    auto victim = std::prev(lru_.end());
    if (*victim == key) victim = std::prev(victim);
    EraseLocked(slots_.find(*victim));
    ++evictions_;
  }
  return true;
}

void MetadataCache::Erase(const std::string& key) {
  MutexLock l(mu_);
  ChangedLocked(key, false);
  auto it = slots_.find(key);
  if (it != slots_.end()) EraseLocked(it);
}

void MetadataCache::EraseName(const std::string& key, std::string_view name) {
  std::shared_ptr<const Listing> old;
  {
    MutexLock l(mu_);
    ChangedLocked(key, false);  // a listing being fetched may still hold the name
    auto it = slots_.find(key);
    if (it == slots_.end()) return;
    old = it->second.listing;
  }
  if (!old->Find(name)) return;
  // The copy is made outside mu_ (a big directory's listing is megabytes). Replaced meanwhile,
  // perhaps by a listing fetched before the delete: drop it, the next reader lists again.
  if (!Replace(key, old, old->Without(name))) Erase(key);
}

std::size_t MetadataCache::ErasePrefix(const std::string& prefix) {
  MutexLock l(mu_);
  ChangedLocked(prefix, true);
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
  MutexLock l(mu_);
  for (auto& [ticket, f] : fetches_) f.changed = true;
  slots_.clear();
  lru_.clear();
  entries_ = 0;
}

void MetadataCache::ChangedLocked(const std::string& key, bool under) {
  const std::string dir = !key.empty() && key.back() == '/' ? key : key + "/";
  for (auto& [ticket, f] : fetches_)
    if (f.key == key || (under && f.key.compare(0, dir.size(), dir) == 0)) f.changed = true;
}

uint64_t MetadataCache::BeginFetch(const std::string& key) {
  MutexLock l(mu_);
  const uint64_t ticket = ++next_ticket_;
  fetches_.emplace(ticket, Fetch{key, false});
  return ticket;
}

bool MetadataCache::PutFetched(const std::string& key, std::shared_ptr<const Listing> listing,
                               uint64_t ticket) {
  if (!Cacheable(listing.get())) {
    EndFetch(ticket);
    return false;
  }
  MutexLock l(mu_);
  auto f = fetches_.find(ticket);
  const bool changed = f == fetches_.end() || f->second.changed || f->second.key != key;
  if (f != fetches_.end()) fetches_.erase(f);
  if (changed) return false;
  PutLocked(key, std::move(listing));
  return true;
}

void MetadataCache::EndFetch(uint64_t ticket) {
  MutexLock l(mu_);
  fetches_.erase(ticket);
}

std::size_t MetadataCache::listings() const {
  MutexLock l(mu_);
  return slots_.size();
}
uint64_t MetadataCache::entries() const {
  MutexLock l(mu_);
  return entries_;
}
uint64_t MetadataCache::evictions() const {
  MutexLock l(mu_);
  return evictions_;
}

}  // namespace gf::fs
