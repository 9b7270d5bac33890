// VirtualTree: the directories and files that exist only in the mount.
//
//   MOUNT/                   the root: one directory per collection, bookmark symlinks
//   MOUNT/.by-id/<uuid>/     any collection by id (lists the collections resolved so far)
//   MOUNT/.globus-fuse/status  the JSON `globus-fuse status` prints (not listed in the root)
//   <collection>/~           the home directory of the mapped account: "/~/" remotely
//
// Everything below a collection's "/" and "~" is remote (Superblock). These inodes are pinned
// or synthesised: their attributes never come from the service.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "fs/status/error_log.h"
#include "fs/superblock/attrs.h"
#include "fs/superblock/collections.h"
#include "fs/superblock/dir_view.h"
#include "fs/superblock/inode_table.h"

namespace gf::fs {

inline constexpr Ino kByIdIno = 2;
inline constexpr Ino kControlDirIno = 3;
inline constexpr Ino kStatusFileIno = 4;
inline constexpr const char* kByIdName = ".by-id";
inline constexpr const char* kControlDirName = ".globus-fuse";
inline constexpr const char* kStatusFileName = "status";
inline constexpr const char* kHomeName = "~";

// True for "~" in a collection's root directory: the home entry, which is never a remote name
// there (it cannot be made, renamed, created over or listed as a remote row).
bool IsHomeEntry(const Inode& parent, std::string_view name);
// A directory whose entries are remote (a collection's "/", its "~", or any remote directory).
bool IsRemoteDir(const Inode& in);

class VirtualTree {
 public:
  // Pins .by-id, .globus-fuse and its status file in `table`.
  VirtualTree(InodeTable& table, CollectionRegistry& registry, const Attrs& attrs,
              ErrorLog& errors);

  // A lookup in the root, .by-id or .globus-fuse (one lookup reference).
  Result<Entry> Lookup(const InodePtr& parent, const std::string& name);
  // The home entry of a collection root (one lookup reference).
  Entry LookupHome(const InodePtr& collection_root);
  // The rows of the root, .by-id or .globus-fuse; "~" at the head of a collection root.
  void AddRows(const Inode& dir, DirView& view);
  // Attributes of a virtual inode (every role but kRemote).
  AttrReply GetAttr(const Inode& in) const;
  // A lookup reply for the status file (read-only, whatever `meta` says).
  Entry ControlFileEntry(const Inode& in, const Meta* meta) const;

 private:
  DirRow Bookmark(const RootEntry& e) const;

  InodeTable& table_;
  CollectionRegistry& registry_;
  const Attrs& attrs_;
  ErrorLog& errors_;
};

}  // namespace gf::fs
