#include "fs/types.h"

namespace gf::fs {

Meta Meta::From(const api::FileEntry& e) {
  Meta m;
  m.type = e.type;
  m.size = e.size;
  m.mtime = e.last_modified;
  m.permissions = e.permissions & 07777;
  if (e.link_target) {
    // Transfer reports a valid symlink with its target's type and size, plus link_target
    // (globus-api.md §1.1). POSIX wants the link itself: a symlink whose size is its target
    // string, with the link's own mtime when the service gives it.
    m.link_target = *e.link_target;
    if (e.type != api::EntryType::kInvalidSymlink) m.type = api::EntryType::kSymlink;
    m.size = m.link_target.size();
    if (e.link_last_modified) m.mtime = *e.link_last_modified;
  }
  return m;
}

Kind KindOf(api::EntryType t) {
  switch (t) {
    case api::EntryType::kDir:
      return Kind::kDir;
    case api::EntryType::kSymlink:
    case api::EntryType::kInvalidSymlink:
      return Kind::kSymlink;
    default:
      return Kind::kFile;  // files, and special files shown as (unreadable) files
  }
}

}  // namespace gf::fs
