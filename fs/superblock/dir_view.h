// DirView: what one opendir shows, fixed when the handle first reads (offset 0).
//
// Rows, in readdir order: synthetic rows (head: the virtual tree's entries, a collection's
// "~"), the shared listing's rows in place (no copy per entry: a 100k-entry directory costs its
// handle 4 bytes a row at most, and nothing when no row is filtered), then pending names from
// the transfers overlay that the listing does not have yet (tail). Immutable once built: a
// handle holds it by shared pointer and reads it without a lock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fs/superblock/metadata_cache.h"
#include "fs/types.h"

namespace gf::fs {

struct Collection;

// One row of a directory: a view; its name lives in a DirView or the caller.
struct DirRow {
  std::string_view name;
  Kind kind = Kind::kFile;
  Role role = Role::kRemote;
  const Collection* collection = nullptr;
  Meta meta;
  bool resolvable = true;  // false: an unresolved root entry, no inode until looked up
};

// Receives readdir entries. Add() returns false when the reply buffer is full (the entry was
// NOT added). `plus` is set for readdirplus: its ino's lookup count was increased and the
// core undoes that when Add() returns false.
class DirReplier {
 public:
  virtual ~DirReplier() = default;
  virtual bool Add(std::string_view name, const Attr& attr, uint64_t next_offset,
                   const Entry* plus) = 0;
};

class DirView {
 public:
  void AddHead(std::string name, DirRow row);
  void AddTail(std::string name, DirRow row);
  // The listing's rows follow the head; `shown` (indexes into listing->items) when some rows
  // are filtered out, all of them else. `pending`: metadata of listed names that the overlay
  // overrides (a truncated destination shows its pending size).
  void SetListing(std::shared_ptr<const Listing> listing, const Collection* collection);
  void Filter(std::vector<uint32_t> shown);
  void OverrideMeta(std::string name, const Meta& meta);

  size_t size() const;
  DirRow At(size_t i) const;

 private:
  size_t ListedCount() const;

  std::deque<std::string> names_;  // owns head/tail names (stable addresses)
  std::vector<DirRow> head_, tail_;
  std::shared_ptr<const Listing> listing_;
  const Collection* collection_ = nullptr;
  bool all_listed_ = true;        // every listing row is shown...
  std::vector<uint32_t> listed_;  // ...else these
  std::map<std::string, Meta, std::less<>> pending_;
};

}  // namespace gf::fs
