// Attrs: what stat(2) shows for an inode, from its kind and remote metadata. Owner, group and
// permission bits come from the mount's options (Globus permissions are the service's, not
// the local user's); synthesised directories show the mount's start time.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

#include "fs/types.h"

namespace gf::fs {

class Inode;
class InodeTable;

struct AttrOptions {
  uint32_t uid = 0, gid = 0;
  uint32_t umask = 022;
  double entry_ttl = 60, attr_ttl = 60;
};

class Attrs {
 public:
  Attrs(const InodeTable& table, AttrOptions options, std::time_t started_wall)
      : table_(table), options_(options), started_wall_(started_wall) {}

  // link_dir: the directory of a remote symlink (its size is that of MountLinkTarget), "" else.
  Attr Make(Ino ino, Kind kind, const Meta* meta, const std::string& link_dir = {}) const;
  // A lookup reply for `in` (its entry and attribute TTLs).
  Entry MakeEntry(const Inode& in, const Meta* meta) const;
  // A directory that exists only in the mount (the root, .by-id, a collection's "/" or "~").
  Meta SyntheticDir() const;
  std::time_t started_wall() const { return started_wall_; }
  double attr_ttl() const { return options_.attr_ttl; }

  // What readlink shows for a remote symlink in link_dir: an absolute target is a path in the
  // collection, made relative so that it resolves inside the mount, not on the local machine.
  static std::string MountLinkTarget(const std::string& link_dir, const std::string& target);

 private:
  const InodeTable& table_;
  const AttrOptions options_;
  const std::time_t started_wall_;
};

}  // namespace gf::fs
