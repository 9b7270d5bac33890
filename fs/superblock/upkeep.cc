// Superblock: cache upkeep. Every change the mount learns of is applied here, to the listing
// cache, the negative cache, the inode table and the kernel's caches together.
#include <chrono>
#include <deque>

#include "common/log.h"
#include "fs/paths.h"
#include "fs/superblock/superblock.h"

namespace gf::fs {

void Superblock::AfterMkdir(const Collection& c, const std::string& dir, const std::string& path) {
  cache_.Erase(CacheKey(c.id, dir));
  negative_.Erase(CacheKey(c.id, path));
  // We just created it: it is empty. Caching that spares `cp -r` one stat per file it creates
  // inside (the usual TTL window applies to changes made elsewhere).
  auto empty = std::make_shared<Listing>();
  empty->fetched = clock_.Now();
  cache_.Put(CacheKey(c.id, path), std::shared_ptr<const Listing>(empty));
}

void Superblock::AfterRename(const Collection& c, const InodePtr& parent, const std::string& name,
                             const InodePtr& new_parent, const std::string& new_name) {
  const std::string dir = table_.Path(*parent), new_dir = table_.Path(*new_parent);
  const std::string from = JoinPath(dir, name), to = JoinPath(new_dir, new_name);
  cache_.Erase(CacheKey(c.id, dir));
  cache_.Erase(CacheKey(c.id, new_dir));
  cache_.ErasePrefix(CacheKey(c.id, from));
  negative_.Erase(CacheKey(c.id, to));
  negative_.Insert(CacheKey(c.id, from));
  if (auto moved = table_.Child(parent->ino, name)) {
    table_.Move(moved->ino, new_parent, new_name);
    moved->Expire();
  }
}

void Superblock::AfterMoveQueued(const InodePtr& parent, const std::string& name,
                                 const InodePtr& new_parent, const std::string& new_name) {
  // Our view: the source is hidden, the destination pending. The kernel moved its dentry to
  // the destination name with the SOURCE inode: make it look the name up again.
  const Collection& sc = *parent->collection;
  const Collection& dc = *new_parent->collection;
  cache_.Erase(CacheKey(sc.id, table_.Path(*parent)));
  cache_.Erase(CacheKey(dc.id, table_.Path(*new_parent)));
  negative_.Erase(CacheKey(dc.id, JoinPath(table_.Path(*new_parent), new_name)));
  if (auto moved = table_.Child(parent->ino, name)) {
    table_.Unlink(parent->ino, name, moved->ino);
    moved->Expire();
  }
  notifier_.InvalidateEntry(new_parent->ino, new_name);
  notifier_.InvalidateEntry(parent->ino, name);
}

void Superblock::AfterRemoveQueued(const InodePtr& parent, const std::string& name) {
  const Collection& c = *parent->collection;
  const std::string path = JoinPath(table_.Path(*parent), name);
  // The parent's cached listing stays: readdir filters hidden names, and `rm -r` of a big tree
  // must not list every directory again after each unlink.
  cache_.ErasePrefix(CacheKey(c.id, path));
  if (auto gone = table_.Child(parent->ino, name)) {
    table_.Unlink(parent->ino, name, gone->ino);
    gone->Expire();
  }
}

void Superblock::AfterRemoved(const InodePtr& parent, const std::string& name) {
  const Collection& c = *parent->collection;
  const std::string dir = table_.Path(*parent);
  const std::string path = JoinPath(dir, name);
  // Edited, not dropped: `rm -r` must not list the directory again after each unlink, and
  // there is no pending remove to hide the name from a listing fetched before the delete.
  cache_.EraseName(CacheKey(c.id, dir), name);
  cache_.ErasePrefix(CacheKey(c.id, path));
  if (auto gone = table_.Child(parent->ino, name)) {
    table_.Unlink(parent->ino, name, gone->ino);
    gone->Expire();
  }
  ForgetEverywhere(c.id, path);
  if (std::string alias = homes_.Alias(c.id, path); !alias.empty()) InvalidatePath(c.id, alias);
}

void Superblock::AfterCreate(const Collection& c, const std::string& path) {
  negative_.Erase(CacheKey(c.id, path));
}

void Superblock::AfterNeverMade(const std::string& collection_id, const std::string& path) {
  // Under both names of a path in "~" (the mount caches them apart).
  for (const std::string& at : {path, homes_.Alias(collection_id, path)}) {
    if (at.empty() || at == "/") continue;
    cache_.EraseName(CacheKey(collection_id, ParentPath(at)), BaseName(at));
    ForgetPath(collection_id, at);
  }
}

void Superblock::AfterKindChanged(const fs::Inode& in) {
  const Ino parent = table_.ParentIno(in);
  const std::string name = table_.Name(in);
  table_.Unlink(parent, name, in.ino);
  notifier_.InvalidateEntry(parent, name);
}

void Superblock::AfterStaleRead(const InodePtr& in) {
  // The file changed remotely: forget what we (and the kernel) know about it.
  in->Invalidate();
  cache_.Erase(CacheKey(in->collection->id, ParentPath(table_.Path(*in))));
  notifier_.InvalidateInode(in->ino);
}

void Superblock::InvalidatePath(const std::string& collection_id, const std::string& path) {
  cache_.Erase(CacheKey(collection_id, ParentPath(path)));
  ForgetPath(collection_id, path);
}

void Superblock::ForgetPath(const std::string& collection_id, const std::string& path) {
  cache_.ErasePrefix(CacheKey(collection_id, path));
  // Below it too: names looked up in a directory while it was a pending copy or move (and
  // listed empty) were misses then, and must not stay misses now that it arrived.
  negative_.ErasePrefix(CacheKey(collection_id, path));
  ForgetEverywhere(collection_id, path);
}

void Superblock::AfterUpload(const Collection& c, const std::string& path, uint64_t size,
                             std::optional<std::time_t> mtime, Ino uploaded) {
  Meta meta;
  meta.type = api::EntryType::kFile;
  meta.size = size;
  // The server's time when a stat was made; else ours at the end of the upload, whole seconds
  // as Transfer lists them (docs/SEMANTICS.md, "Consistency").
  meta.mtime = mtime ? *mtime : std::chrono::system_clock::to_time_t(clock_.WallNow());
  meta.permissions = kUploadedMode;
  // Under both names of a path in "~" (the mount caches them apart).
  for (const std::string& at : {path, homes_.Alias(c.id, path)}) {
    if (at.empty() || at == "/") continue;
    const std::string dir = CacheKey(c.id, ParentPath(at)), name = BaseName(at);
    // The parent's listing gets the entry at once: erasing it would cost the next new name of
    // a `cp -r` a Transfer stat (a miss). Only a listing still cached and fresh is edited (none
    // is fabricated), it keeps its expiry, and a replaced file keeps its listed mode. The edit
    // waits beside the listing (MetadataCache, "Edits"): O(log n) per file, not a copy.
    cache_.SetEntry(dir, name, meta, /*keep_file_permissions=*/true);
    negative_.Erase(CacheKey(c.id, at));
    // Inodes at the name refresh from the edited listing (no remote call); the kernel drops its
    // attributes (size, mtime) and its dentry (looked up again from the listing), unless that
    // dentry names the uploaded inode itself: one notification less per file of a `cp -r`,
    // and the kernel does not take the directory's lock for it while `cp` creates the next
    // name there (docs/PERFORMANCE.md).
    ForgetEverywhere(c.id, at, uploaded);
  }
}

void Superblock::ForgetEverywhere(const std::string& collection_id, const std::string& path,
                                  Ino keep_dentry_of) {
  // Every place the collection is mounted (by name and under .by-id) where the kernel may hold
  // the name: its inode expires, and its entry goes unless that inode is `keep_dentry_of`.
  for (const InodeTable::PathHit& hit :
       table_.FindInRoots({kRootIno, kByIdIno}, collection_id, path)) {
    if (hit.inode) {
      hit.inode->Expire();
      notifier_.InvalidateInode(hit.inode->ino);
      if (keep_dentry_of != 0 && hit.inode->ino == keep_dentry_of) continue;  // the same inode
    }
    notifier_.InvalidateEntry(hit.dir->ino, BaseName(path));
  }
}

void Superblock::OnSettled(const SettledEvent& e) {
  if (e.kind == OpKind::kUpload && e.ok && e.warning.empty()) {
    // The upload's own end applied it (AfterUpload: the parent's listing edited in place, the
    // kernel told). Dropping that listing here would cost the next new name of a background
    // `cp -r` a Transfer stat: one per file, at the API's 20 requests/s.
    return;
  }
  // Each path under both its names (the mount caches "~" and its real path apart).
  for (const Location* at : {&e.dst, e.src ? &*e.src : nullptr})
    if (at)
      if (std::string alias = homes_.Alias(at->collection, at->path); !alias.empty())
        InvalidatePath(at->collection, alias);
  InvalidatePath(e.dst.collection, e.dst.path);
  if (e.src) {
    InvalidatePath(e.src->collection, e.src->path);
    // Gone remotely, unless the move left files that were not copied (then it shows again).
    if (e.ok && e.warning.empty()) negative_.Insert(CacheKey(e.src->collection, e.src->path));
  }
  if (!e.warning.empty()) {
    errors_.Note(e.warning + " (globus-fuse status shows the details)");
    return;
  }
  if (e.ok || e.step) return;
  if (e.kind == OpKind::kUpload) {
    errors_.Note("upload of " + Where(e.dst) + " failed: " + e.error +
                 " (the listing shows what the collection holds; globus-fuse status shows the "
                 "details)");
    return;
  }
  if (e.kind == OpKind::kRemove) {
    errors_.Note("rm " + Where(e.source) + " failed: " + e.error +
                 " (the name is shown again; globus-fuse status shows the details)");
    return;
  }
  errors_.Note(std::string(e.kind == OpKind::kMove ? "mv " : "cp ") + Where(e.source) + " -> " +
               Where(e.dst) + " failed: " + e.error +
               (e.kind == OpKind::kMove ? " (the source is untouched)" : "") +
               " (globus-fuse status shows the details)");
}

Status Superblock::Invalidate(const InodePtr& in) {
  if (in->role == Role::kRoot || in->role == Role::kById) {
    registry_.Refresh();
  } else if (in->collection) {
    const std::string path = table_.Path(*in);
    const Collection& c = *in->collection;
    if (in->kind == Kind::kDir) {
      const std::string below = CacheKey(c.id, path == "/" ? "" : path);
      cache_.ErasePrefix(below);
      negative_.ErasePrefix(below);
      if (path == "/") cache_.Erase(CacheKey(c.id, "/"));
    } else {
      cache_.Erase(CacheKey(c.id, ParentPath(path)));
      negative_.Erase(CacheKey(c.id, path));
    }
  }
  // The kernel caches "no such file" as negative entries that no name of ours reaches: dropping
  // this inode's own entry drops its cached children, negative ones included. (The mount root
  // has no entry; its children's are dropped below.)
  if (in->ino != kRootIno) notifier_.InvalidateEntry(table_.ParentIno(*in), table_.Name(*in));
  ExpireBelow(in->ino);
  return Status::Ok();
}

void Superblock::ExpireBelow(Ino ino) {
  // Every inode at or below this one, and the kernel's view of each.
  std::deque<Ino> todo{ino};
  std::size_t visited = 0;
  while (!todo.empty() && visited < 1000000) {
    const Ino cur = todo.front();
    todo.pop_front();
    ++visited;
    if (auto ci = Inode(cur)) ci->Invalidate();
    notifier_.InvalidateInode(cur);
    for (auto& [name, child] : table_.Children(cur)) {
      if (cur == kRootIno && (child == kControlDirIno || child == kByIdIno)) continue;
      notifier_.InvalidateEntry(cur, name);
      todo.push_back(child);
    }
  }
}

}  // namespace gf::fs
