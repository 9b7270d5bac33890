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
  entries_ -= it->second.listing->size() + it->second.edits.size();
  lru_.erase(it->second.lru);
  slots_.erase(it);
}

std::map<std::string, MetadataCache::Slot>::iterator MetadataCache::FreshLocked(
    const std::string& key, bool touch) {
  auto it = slots_.find(key);
  if (it == slots_.end()) return it;
  if (clock_.Now() >= it->second.expires) {
    EraseLocked(it);
    return slots_.end();
  }
  if (touch) lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it;
}

std::shared_ptr<const Listing> MetadataCache::Get(const std::string& key) {
  std::shared_ptr<const Listing> base;
  Edits edits;
  uint64_t gen;
  {
    MutexLock l(mu_);
    auto it = FreshLocked(key, /*touch=*/true);
    if (it == slots_.end()) return nullptr;
    if (it->second.edits.empty()) return it->second.listing;
    base = it->second.listing;
    edits = it->second.edits;  // a few: merged below, outside mu_ (the listing may be big)
    gen = it->second.edit_gen;
  }
  std::shared_ptr<const Listing> merged = Merge(*base, edits);
  MutexLock l(mu_);
  auto it = slots_.find(key);
  // Kept merged unless the slot changed meanwhile (then the next Get merges again); this
  // caller gets the listing as it was when it asked either way.
  if (it != slots_.end() && it->second.listing == base && it->second.edit_gen == gen)
    InstallMergedLocked(it->second, merged);
  return merged;
}

void MetadataCache::InstallMergedLocked(Slot& slot, std::shared_ptr<const Listing> merged) {
  entries_ = entries_ - slot.listing->size() - slot.edits.size() + merged->size();
  slot.listing = std::move(merged);
  slot.edits.clear();
}

std::optional<Meta> MetadataCache::EntryOf(const Slot& slot, std::string_view name) {
  if (auto e = slot.edits.find(name); e != slot.edits.end()) return e->second;
  if (const Listing::Item* item = slot.listing->Find(name)) return item->meta;
  return std::nullopt;
}

std::optional<std::optional<Meta>> MetadataCache::Find(const std::string& key,
                                                       std::string_view name) {
  MutexLock l(mu_);
  auto it = FreshLocked(key, /*touch=*/true);
  if (it == slots_.end()) return std::nullopt;
  return EntryOf(it->second, name);
}

std::shared_ptr<const Listing> MetadataCache::Merge(const Listing& base, const Edits& edits) {
  // Both are sorted by name in the same (byte) order: one pass. Names of base entries stay
  // where they are in the copied names block; added names are appended to it.
  auto out = std::make_shared<Listing>();
  out->fetched = base.fetched;
  out->names.reserve(base.names.size() + edits.size() * 16);
  out->names = base.names;
  out->items.reserve(base.items.size() + edits.size());
  auto e = edits.begin();
  for (const Listing::Item& item : base.items) {
    const std::string_view name = base.Name(item);
    for (; e != edits.end() && std::string_view(e->first) < name; ++e)
      if (e->second) out->Add(e->first, *e->second);  // false (over 4 GiB of names): left out
    if (e != edits.end() && std::string_view(e->first) == name) {
      if (e->second) {
        Listing::Item replaced = item;
        replaced.meta = *e->second;
        out->items.push_back(replaced);
      }
      ++e;
      continue;
    }
    out->items.push_back(item);
  }
  for (; e != edits.end(); ++e)
    if (e->second) out->Add(e->first, *e->second);
  return out;
}

void MetadataCache::EditLocked(std::map<std::string, Slot>::iterator it, std::string_view name,
                               std::optional<Meta> entry) {
  Slot& slot = it->second;
  auto [e, added] = slot.edits.insert_or_assign(std::string(name), std::move(entry));
  (void)e;
  ++slot.edit_gen;
  if (added) ++entries_;
  if (slot.edits.size() > MergeAfter(slot.listing->size())) {
    // Amortized: one O(entries) merge per entries / 8 edits. Under mu_ (it is rare, and an
    // unmerged layer that only grows would make every Find slower).
    InstallMergedLocked(slot, Merge(*slot.listing, slot.edits));
  }
  // Over the bound by an added entry: evict other listings, least recently used first.
  while (entries_ > max_entries_ && lru_.size() > 1) {
    auto victim = std::prev(lru_.end());
    if (*victim == it->first) victim = std::prev(victim);
    EraseLocked(slots_.find(*victim));
    ++evictions_;
  }
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
  Slot slot;
  slot.listing = std::move(listing);
  slot.expires = clock_.Now() + ttl_;
  slot.lru = lru_.begin();
  slots_.emplace(key, std::move(slot));
}

bool MetadataCache::SetEntry(const std::string& key, std::string_view name, Meta meta,
                             bool keep_file_permissions) {
  MutexLock l(mu_);
  ChangedLocked(key, false);  // a listing being fetched may predate the change
  auto it = FreshLocked(key, /*touch=*/false);
  if (it == slots_.end()) return false;
  if (keep_file_permissions)
    if (auto old = EntryOf(it->second, name); old && old->type == api::EntryType::kFile)
      meta.permissions = old->permissions;
  EditLocked(it, name, std::move(meta));
  return true;
}

void MetadataCache::Erase(const std::string& key) {
  MutexLock l(mu_);
  ChangedLocked(key, false);
  auto it = slots_.find(key);
  if (it != slots_.end()) EraseLocked(it);
}

void MetadataCache::EraseName(const std::string& key, std::string_view name) {
  MutexLock l(mu_);
  ChangedLocked(key, false);  // a listing being fetched may still hold the name
  auto it = FreshLocked(key, /*touch=*/false);
  if (it == slots_.end()) return;
  if (EntryOf(it->second, name)) EditLocked(it, name, std::nullopt);
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
