#include "fs/superblock/dir_view.h"

#include <sys/stat.h>

#include <cerrno>

#include "fs/paths.h"
#include "fs/superblock/superblock.h"
#include "fs/write/uploader.h"

namespace gf::fs {

namespace {
// Readdir offsets: 1 = ".", 2 = "..", 3 + i = row i.
constexpr uint64_t kFirstRowOffset = 2;
}  // namespace

void DirView::AddHead(std::string name, DirRow row) {
  row.name = names_.emplace_back(std::move(name));
  head_.push_back(row);
}

void DirView::AddTail(std::string name, DirRow row) {
  row.name = names_.emplace_back(std::move(name));
  tail_.push_back(row);
}

void DirView::SetListing(std::shared_ptr<const Listing> listing, const Collection* collection) {
  listing_ = std::move(listing);
  collection_ = collection;
}

void DirView::Filter(std::vector<uint32_t> shown) {
  all_listed_ = false;
  listed_ = std::move(shown);
}

void DirView::OverrideMeta(std::string name, const Meta& meta) {
  pending_.emplace(std::move(name), meta);
}

size_t DirView::ListedCount() const {
  return !listing_ ? 0 : all_listed_ ? listing_->items.size() : listed_.size();
}

size_t DirView::size() const { return head_.size() + ListedCount() + tail_.size(); }

DirRow DirView::At(size_t i) const {
  if (i < head_.size()) return head_[i];
  i -= head_.size();
  const size_t n = ListedCount();
  if (i >= n) return tail_[i - n];
  const Listing::Item& li = listing_->items[all_listed_ ? i : listed_[i]];
  DirRow row{listing_->Name(li), KindOf(li.meta.type), Role::kRemote, collection_, li.meta, true};
  if (!pending_.empty())
    if (auto p = pending_.find(row.name); p != pending_.end()) {
      row.meta = p->second;  // a truncated destination shows its pending size
      row.kind = KindOf(row.meta.type);
    }
  return row;
}

// ---------------------------------------------------------------------------------------------
// Superblock: building and emitting views

Result<std::shared_ptr<const DirView>> Superblock::View(const InodePtr& dir) {
  DirView view;
  tree_.AddRows(*dir, view);
  if (!IsRemoteDir(*dir)) return std::make_shared<const DirView>(std::move(view));
  return RemoteView(dir, std::move(view));
}

Result<std::shared_ptr<const DirView>> Superblock::RemoteView(const InodePtr& dir, DirView view) {
  const Collection* c = dir->collection;
  if (!c) return Error::Local(EIO, "directory without a collection");
  const std::string path = table_.Path(*dir);
  auto listing = GetListing(*c, path);
  if (!listing.ok() && ErrnoFor(listing.error()) == ENOENT && overlay_.Pending(c->id, path)) {
    // A pending destination directory (mv of a tree): nothing remote yet.
    listing = std::make_shared<const Listing>();
  }
  if (!listing.ok()) {
    Error e = listing.error();
    if (dir->role == Role::kCollectionRoot && ErrnoFor(e) == EACCES && !e.NeedsAuthorization()) {
      // Mapped collections often refuse "/": still offer "~" (the home directory).
      errors_.Report("ls", c, path, e);
      return std::make_shared<const DirView>(std::move(view));
    }
    return errors_.Report("ls", c, path, e);
  }
  const Listing& l = **listing;
  view.SetListing(*listing, c);
  // Rows not shown: "~" listed at the collection root (it is the synthetic home above),
  // sources of moves in flight, and uploads' temporary names (write/uploader.h). Usually none:
  // then the listing is shown as it is.
  const bool root = dir->role == Role::kCollectionRoot;
  const bool filter = overlay_.AnyHidden(c->id);
  bool temps = false;
  for (uint32_t i = 0; i < l.items.size() && !temps; ++i)
    temps = write::IsUploadTempName(l.Name(l.items[i]));
  if (filter || temps || (root && l.Find(kHomeName))) {
    std::vector<uint32_t> shown;
    shown.reserve(l.size());
    for (uint32_t i = 0; i < l.items.size(); ++i) {
      std::string_view name = l.Name(l.items[i]);
      if (IsHomeEntry(*dir, name)) continue;
      if (temps && write::IsUploadTempName(name)) continue;
      if (filter && overlay_.Hidden(c->id, JoinPath(path, name))) continue;
      shown.push_back(i);
    }
    view.Filter(std::move(shown));
  }
  // Pending entries (a few) override listed ones (a truncated destination shows its pending
  // size until the transfer replaced it) and add the names not listed yet.
  for (auto& [name, meta] : overlay_.PendingChildren(c->id, path)) {
    if (l.Find(name))
      view.OverrideMeta(name, meta);
    else
      view.AddTail(name, DirRow{{}, KindOf(meta.type), Role::kRemote, c, meta, true});
  }
  PrefetchListings(*c, path, l);
  return std::make_shared<const DirView>(std::move(view));
}

void Superblock::Emit(const InodePtr& dir, const DirView& view, uint64_t offset, bool plus,
                      DirReplier& out) {
  const Ino ino = dir->ino;
  const Meta dirmeta = attrs_.SyntheticDir();
  for (uint64_t off = offset; off < view.size() + kFirstRowOffset; ++off) {
    if (off < kFirstRowOffset) {
      Ino dino = off == 0 ? ino : (ino == kRootIno ? kRootIno : table_.ParentIno(*dir));
      Attr a = attrs_.Make(dino, Kind::kDir, &dirmeta);
      Entry e{a, 0, 0};
      if (!out.Add(off == 0 ? "." : "..", a, off + 1, plus ? &e : nullptr)) break;
      continue;
    }
    const DirRow row = view.At(off - kFirstRowOffset);
    const Meta* meta = &row.meta;
    if (!plus || !row.resolvable) {
      auto known = table_.Child(ino, row.name);
      const bool remote_link = row.kind == Kind::kSymlink && row.role == Role::kRemote;
      Attr a =
          attrs_.Make(known ? known->ino : 0, row.kind, meta, remote_link ? table_.Path(*dir) : "");
      if (!a.ino) a.ino = (1ull << 62) + off;  // informational d_ino; never used as a nodeid
      Entry e{a, 0, 0};
      if (plus) e.attr.ino = 0;  // "no attributes for this one": the kernel will look it up
      if (!out.Add(row.name, a, off + 1, plus ? &e : nullptr)) break;
      continue;
    }
    InodePtr in;
    Entry e;
    if (row.role == Role::kControlFile) {
      in = table_.Link(dir, row.name, Kind::kFile, Role::kControlFile, nullptr, 1);
      e = tree_.ControlFileEntry(*in, meta);
    } else {
      in = LinkRow(dir, row, 1);
      e = attrs_.MakeEntry(*in, meta);
    }
    if (!out.Add(row.name, e.attr, off + 1, &e)) {
      table_.Forget(in->ino, 1);  // not sent: undo the count
      break;
    }
  }
}

}  // namespace gf::fs
