// MetadataCache: directory listings, bounded and TTL'd.
//
// A Listing is an immutable snapshot of one remote directory (sorted by name), shared by
// pointer: readers (lookups, readdir handles) keep their snapshot even after it is replaced or
// evicted. Keys are "<collection-id><dir path>" (path without trailing '/', "/" for the
// collection root). A listing is fresh for `ttl` after it was fetched (injected Clock).
//
// Bound: the total number of entries across cached listings stays <= max_entries. Inserting
// evicts least-recently-used listings first (expired ones are dropped when met); a single
// listing bigger than the bound is not cached at all (the caller still uses its snapshot).
// Memory per cached entry: a 40-byte Item (name offset/length + Meta) and the name's bytes,
// packed into one block per listing (no heap block, no terminator per name); see
// docs/PERFORMANCE.md for the whole per-entry budget.
// Fetches: a listing fetched from the remote may predate a change this mount made while the
// fetch was under way (an rm, an upload, a rename, an invalidation). So a fetch takes a ticket
// (BeginFetch) before it asks the remote, and caches its result with PutFetched: if anything
// changed `key` in between (Put, SetEntry, Erase, EraseName, ErasePrefix or Clear covering it),
// the result is not cached (its caller still uses it once) and the next reader fetches again.
// Edits: this mount's own changes (an upload's new or replaced entry, a deleted name) go into
// the cached listing at once (SetEntry, EraseName), without a fetch. They are kept beside the
// listing, by name, not copied into it: a `cp -r` or `rm -r` of n files in one directory then
// costs O(log) per file, not a copy of the whole listing per file (O(n^2) in all). Find()
// answers from both. The whole listing (Get, for readdir and walks) is merged from both when
// asked: once, then cached merged; edits past max(64, entries / 8) are merged as they come.
// Thread-safe; the mutex is a leaf lock, never held across a remote call.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "fs/types.h"

namespace gf::fs {

struct Listing {
  struct Item {
    uint32_t name_off = 0, name_len = 0;  // the name is names[name_off, +name_len)
    Meta meta;
  };
  std::string names;        // every entry's name, back to back
  std::vector<Item> items;  // sorted by name, unique (after Seal)
  MonoTime fetched{};

  std::string_view Name(const Item& i) const { return {names.data() + i.name_off, i.name_len}; }
  // Building: Add in any order, then Seal() once (sorts by name, drops repeated names, keeping
  // the first added). Names over 4 GiB in total are refused (false).
  bool Add(std::string_view name, const Meta& meta);
  void Seal();

  const Item* Find(std::string_view name) const;
  std::size_t size() const { return items.size(); }
};
static_assert(sizeof(Listing::Item) == 8 + sizeof(Meta), "Item: 8 bytes + Meta");

class MetadataCache {
 public:
  MetadataCache(Clock& clock, std::chrono::nanoseconds ttl, uint64_t max_entries);
  // Put() of a listing at least this big returns free heap pages to the OS (malloc_trim).
  static constexpr std::size_t kTrimAfterEntries = 10000;

  // The listing when fresh (its edits merged in); nullptr when absent or expired.
  std::shared_ptr<const Listing> Get(const std::string& key);
  // One name of a fresh listing: nullopt when there is none (absent or expired); else the
  // entry's Meta, or nullopt inside when the listing does not have the name.
  std::optional<std::optional<Meta>> Find(const std::string& key, std::string_view name);
  void Put(const std::string& key, std::shared_ptr<const Listing> listing);
  // Edits (see the header comment) keep the listing's expiry and LRU place: an edit must not
  // make the rest of it look newer. Only a fresh listing is edited (none is made up): false,
  // and nothing changed, when there is none.
  // `name` gets `meta` (added, or its entry replaced). keep_file_permissions: a replaced file
  // entry keeps the permissions it had (a PUT cannot set a mode).
  bool SetEntry(const std::string& key, std::string_view name, Meta meta,
                bool keep_file_permissions);
  void Erase(const std::string& key);
  // A cached listing loses one name (an entry this mount deleted). Nothing when the key or the
  // name is absent.
  void EraseName(const std::string& key, std::string_view name);
  // Erases `prefix` itself and every key under "<prefix>/"; returns how many.
  std::size_t ErasePrefix(const std::string& prefix);
  void Clear();

  // A fetch of `key` from the remote starts now (see the header comment).
  uint64_t BeginFetch(const std::string& key);
  // Caches the fetched listing unless `key` changed since BeginFetch gave `ticket` (false then);
  // ends the fetch either way.
  bool PutFetched(const std::string& key, std::shared_ptr<const Listing> listing, uint64_t ticket);
  // Ends a fetch that has nothing to cache (it failed).
  void EndFetch(uint64_t ticket);

  std::size_t listings() const;
  uint64_t entries() const;
  uint64_t evictions() const;

 private:
  // Edits by name: the entry as it is now, or nullopt for a name removed.
  using Edits = std::map<std::string, std::optional<Meta>, std::less<>>;
  struct Slot {
    std::shared_ptr<const Listing> listing;
    MonoTime expires;
    std::list<std::string>::iterator lru;
    Edits edits;            // over `listing`, not merged yet
    uint64_t edit_gen = 0;  // bumped by each edit (a merge made outside mu_ checks it)
  };
  // The entry of `name` now: its edit, else the listing's; nullopt when not listed.
  static std::optional<Meta> EntryOf(const Slot& slot, std::string_view name);
  // `merged` (the slot's listing with its edits applied) becomes the slot's listing.
  void InstallMergedLocked(Slot& slot, std::shared_ptr<const Listing> merged) REQUIRES(mu_);
  // `base` with `edits` applied: sorted, with base's `fetched`.
  static std::shared_ptr<const Listing> Merge(const Listing& base, const Edits& edits);
  // The fresh slot of `key` (touch: moved to the LRU front: a use, not an edit), or end(); an
  // expired one is erased.
  std::map<std::string, Slot>::iterator FreshLocked(const std::string& key, bool touch)
      REQUIRES(mu_);
  // Records one edit; merges when the edits pass MergeAfter(listing size).
  void EditLocked(std::map<std::string, Slot>::iterator it, std::string_view name,
                  std::optional<Meta> entry) REQUIRES(mu_);
  static std::size_t MergeAfter(std::size_t entries) {
    return std::max<std::size_t>(64, entries / 8);
  }
  void EraseLocked(std::map<std::string, Slot>::iterator it) REQUIRES(mu_);
  void PutLocked(const std::string& key, std::shared_ptr<const Listing> listing) REQUIRES(mu_);
  // Whether `listing` may be cached at all (caching on, a listing given); a big one first
  // gives its parse's freed heap pages back to the OS. Called without mu_.
  bool Cacheable(const Listing* listing) const EXCLUDES(mu_);
  // `key` (or, with under = true, every key below it too) changed: fetches of it under way
  // must not cache their results.
  void ChangedLocked(const std::string& key, bool under) REQUIRES(mu_);
  struct Fetch {
    std::string key;
    bool changed = false;
  };

  Clock& clock_;
  const std::chrono::nanoseconds ttl_;
  const uint64_t max_entries_;
  mutable Mutex mu_;  // leaf lock: guards everything below
  // INVARIANT: lru_ holds exactly the keys of slots_, most recently used at the front;
  //            entries_ == sum of slots_[k].listing->size() + slots_[k].edits.size() (edits
  //            counted as entries: a bound on what the merged listing holds).
  std::map<std::string, Slot> slots_ GUARDED_BY(mu_);  // ordered, for prefix erasure
  std::list<std::string> lru_ GUARDED_BY(mu_);
  uint64_t entries_ GUARDED_BY(mu_) = 0;
  uint64_t evictions_ GUARDED_BY(mu_) = 0;
  // Fetches under way, by ticket (a handful: one per key at most, through SingleFlight).
  std::map<uint64_t, Fetch> fetches_ GUARDED_BY(mu_);
  uint64_t next_ticket_ GUARDED_BY(mu_) = 0;
};

}  // namespace gf::fs
