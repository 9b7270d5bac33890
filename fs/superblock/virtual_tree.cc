#include "fs/superblock/virtual_tree.h"

#include <sys/stat.h>

#include <cerrno>

#include "common/uuid.h"

namespace gf::fs {

bool IsHomeEntry(const Inode& parent, std::string_view name) {
  return parent.role == Role::kCollectionRoot && name == kHomeName;
}

bool IsRemoteDir(const Inode& in) {
  return in.kind == Kind::kDir &&
         (in.role == Role::kCollectionRoot || in.role == Role::kHome || in.role == Role::kRemote);
}

VirtualTree::VirtualTree(InodeTable& table, CollectionRegistry& registry, const Attrs& attrs,
                         ErrorLog& errors)
    : table_(table), registry_(registry), attrs_(attrs), errors_(errors) {
  table_.AddPinned(kByIdIno, table_.root(), kByIdName, Kind::kDir, Role::kById);
  auto ctl = table_.AddPinned(kControlDirIno, table_.root(), kControlDirName, Kind::kDir,
                              Role::kControlDir);
  table_.AddPinned(kStatusFileIno, ctl, kStatusFileName, Kind::kFile, Role::kControlFile);
}

DirRow VirtualTree::Bookmark(const RootEntry& e) const {
  DirRow row{{}, Kind::kSymlink, Role::kBookmark, nullptr, Meta{}, true};
  row.meta.type = api::EntryType::kSymlink;
  row.meta.link_target = e.link_target;
  row.meta.mtime = attrs_.started_wall();
  return row;
}

Entry VirtualTree::ControlFileEntry(const Inode& in, const Meta* meta) const {
  Entry e = attrs_.MakeEntry(in, meta);
  e.attr.mode = S_IFREG | 0444;
  return e;
}

Entry VirtualTree::LookupHome(const InodePtr& collection_root) {
  auto in = table_.Link(collection_root, kHomeName, Kind::kDir, Role::kHome,
                        collection_root->collection, 1);
  const Meta m = attrs_.SyntheticDir();
  return attrs_.MakeEntry(*in, &m);
}

Result<Entry> VirtualTree::Lookup(const InodePtr& parent, const std::string& name) {
  switch (parent->role) {
    case Role::kRoot: {
      if (name == kByIdName || name == kControlDirName) {
        auto in = table_.Link(parent, name, Kind::kDir,
                              name == kByIdName ? Role::kById : Role::kControlDir, nullptr, 1);
        return attrs_.MakeEntry(*in, nullptr);
      }
      auto r = registry_.Lookup(name);
      if (!r.ok()) return errors_.Report("lookup", nullptr, "/" + name, r.error());
      if (r->type == RootEntry::Type::kBookmark) {
        DirRow row = Bookmark(*r);
        auto in = table_.Link(parent, name, Kind::kSymlink, Role::kBookmark, nullptr, 1);
        in->SetMeta(row.meta, MonoTime{});  // a bookmark's target never expires
        return attrs_.MakeEntry(*in, &row.meta);
      }
      auto in = table_.Link(parent, name, Kind::kDir, Role::kCollectionRoot, r->collection, 1);
      const Meta m = attrs_.SyntheticDir();
      return attrs_.MakeEntry(*in, &m);
    }
    case Role::kById: {
      if (!LooksLikeUuid(name)) return Error::Local(ENOENT, "not a collection id");
      auto c = registry_.ById(name);
      if (!c.ok()) return errors_.Report("lookup", nullptr, "/.by-id/" + name, c.error());
      auto in = table_.Link(parent, name, Kind::kDir, Role::kCollectionRoot, *c, 1);
      const Meta m = attrs_.SyntheticDir();
      return attrs_.MakeEntry(*in, &m);
    }
    case Role::kControlDir: {
      if (name != kStatusFileName) return Error::Local(ENOENT, "no such control file");
      auto in = table_.Link(parent, name, Kind::kFile, Role::kControlFile, nullptr, 1);
      return ControlFileEntry(*in, nullptr);
    }
    default:
      return Error::Local(ENOENT, "no such entry");
  }
}

void VirtualTree::AddRows(const Inode& dir, DirView& view) {
  const Meta synthetic = attrs_.SyntheticDir();
  switch (dir.role) {
    case Role::kRoot:
      view.AddHead(kByIdName, DirRow{{}, Kind::kDir, Role::kById, nullptr, synthetic, true});
      for (const auto& e : registry_.List()) {
        switch (e.type) {
          case RootEntry::Type::kCollection:
            view.AddHead(
                e.name,
                DirRow{{}, Kind::kDir, Role::kCollectionRoot, e.collection, synthetic, true});
            break;
          case RootEntry::Type::kBookmark:
            view.AddHead(e.name, Bookmark(e));
            break;
          case RootEntry::Type::kUnresolved:
            view.AddHead(e.name,
                         DirRow{{}, Kind::kDir, Role::kCollectionRoot, nullptr, synthetic, false});
            break;
        }
      }
      return;
    case Role::kById:
      for (const auto* c : registry_.Known())
        view.AddHead(c->id, DirRow{{}, Kind::kDir, Role::kCollectionRoot, c, synthetic, true});
      return;
    case Role::kControlDir:
      view.AddHead(kStatusFileName,
                   DirRow{{}, Kind::kFile, Role::kControlFile, nullptr, Meta{}, true});
      return;
    case Role::kCollectionRoot:
      view.AddHead(kHomeName, DirRow{{}, Kind::kDir, Role::kHome, dir.collection, synthetic, true});
      return;
    default:
      return;
  }
}

AttrReply VirtualTree::GetAttr(const Inode& in) const {
  AttrReply r;
  r.timeout = attrs_.attr_ttl();
  switch (in.role) {
    case Role::kControlFile:
      r.attr = attrs_.Make(in.ino, Kind::kFile, nullptr);
      r.attr.mode = S_IFREG | 0444;
      r.timeout = 0;
      return r;
    case Role::kBookmark: {
      const Inode::Cached cached = in.cached();
      r.attr = attrs_.Make(in.ino, Kind::kSymlink, cached.meta ? &*cached.meta : nullptr);
      return r;
    }
    default: {
      const Meta m = attrs_.SyntheticDir();
      r.attr = attrs_.Make(in.ino, Kind::kDir, &m);
      return r;
    }
  }
}

}  // namespace gf::fs
