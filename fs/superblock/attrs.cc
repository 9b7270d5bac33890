#include "fs/superblock/attrs.h"

#include <sys/stat.h>

#include "fs/paths.h"
#include "fs/superblock/inode_table.h"

namespace gf::fs {

Meta Attrs::SyntheticDir() const {
  Meta m;
  m.type = api::EntryType::kDir;
  m.size = 4096;
  m.mtime = started_wall_;
  m.permissions = 0755;
  return m;
}

std::string Attrs::MountLinkTarget(const std::string& link_dir, const std::string& target) {
  if (target.empty() || target[0] != '/') return target;
  std::string up;
  if (link_dir != "/")
    for (char ch : link_dir)
      if (ch == '/') up += "../";
  const std::size_t start = target.find_first_not_of('/');
  std::string rest = start == std::string::npos ? "" : target.substr(start);
  return up.empty() && rest.empty() ? "." : up + rest;
}

Attr Attrs::Make(Ino ino, Kind kind, const Meta* meta, const std::string& link_dir) const {
  Attr a;
  a.ino = ino;
  a.uid = options_.uid;
  a.gid = options_.gid;
  uint32_t perms = meta ? meta->permissions : 0755;
  switch (kind) {
    case Kind::kDir:
      a.mode = S_IFDIR | (perms & 07777 & ~options_.umask);
      a.nlink = 2;
      a.size = meta ? meta->size : 4096;
      break;
    case Kind::kSymlink:
      a.mode = S_IFLNK | 0777;
      a.nlink = 1;
      // The size of what readlink returns (tools read links into a buffer of st_size bytes).
      if (meta)
        a.size = link_dir.empty() ? meta->link_target.size()
                                  : MountLinkTarget(link_dir, meta->link_target).size();
      break;
    case Kind::kFile:
      a.mode = S_IFREG | (perms & 07777 & ~options_.umask);
      a.nlink = 1;
      a.size = meta ? meta->size : 0;
      break;
  }
  a.mtime = meta ? meta->mtime : started_wall_;
  a.blocks = (a.size + 511) / 512;
  return a;
}

Entry Attrs::MakeEntry(const Inode& in, const Meta* meta) const {
  Entry e;
  const bool remote_link = in.kind == Kind::kSymlink && in.role == Role::kRemote;
  e.attr = Make(in.ino, in.kind, meta, remote_link ? ParentPath(table_.Path(in)) : "");
  e.entry_timeout = options_.entry_ttl;
  e.attr_timeout = options_.attr_ttl;
  return e;
}

}  // namespace gf::fs
