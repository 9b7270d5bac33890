// Superblock: namespace changes within one collection (synchronous Transfer calls). Changes
// across collections are transfer ops (transfers/copy_ops.h).
#include <cerrno>

#include "fs/paths.h"
#include "fs/superblock/superblock.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace gf::fs {

Status Superblock::CheckWritableParent(const InodePtr& parent, const char* op) {
  if (!parent) return Error::Local(ESTALE, "unknown inode");
  if (parent->kind != Kind::kDir) return Error::Local(ENOTDIR, "not a directory");
  if (!IsRemoteDir(*parent))
    return errors_.Local(op, nullptr, "/", EPERM,
                         "the mount root and .by-id only hold collections; they cannot be changed");
  return Status::Ok();
}

Status Superblock::CheckNotBeingRemoved(const Collection& c, const std::string& path,
                                        const char* op) {
  if (overlay_.PendingRemove({c.id, path})) return errors_.Local(op, &c, path, EBUSY, kRemoveBusy);
  return Status::Ok();
}

Result<Entry> Superblock::Mkdir(const InodePtr& parent, const std::string& name) {
  GF_TRY_STATUS(CheckWritableParent(parent, "mkdir"));
  const Collection& c = *parent->collection;
  if (IsHomeEntry(*parent, name)) return Error::Local(EEXIST, "~ is the home directory");
  const std::string dir = table_.Path(*parent);
  const std::string path = JoinPath(dir, name);
  GF_TRY_STATUS(CheckNotBeingRemoved(c, path, "mkdir"));
  Status s = remote_.Mkdir(c.id, path);
  if (!s.ok()) return errors_.Report("mkdir", &c, path, s.error());
  AfterMkdir(c, dir, path);
  auto m = StatPath(c, path);
  const Meta meta = m.ok() ? *m : attrs_.SyntheticDir();
  auto in = LinkRow(parent, DirRow{name, Kind::kDir, Role::kRemote, &c, meta, true}, 1);
  if (!m.ok()) in->Expire();
  return attrs_.MakeEntry(*in, &meta);
}

Status Superblock::Rename(const InodePtr& parent, const std::string& name,
                          const InodePtr& new_parent, const std::string& new_name, unsigned flags) {
  const Collection& c = *parent->collection;
  const std::string dir = table_.Path(*parent), new_dir = table_.Path(*new_parent);
  const std::string from = JoinPath(dir, name), to = JoinPath(new_dir, new_name);
  if (from == to) return Status::Ok();
  // No wait for a pending name here: the kernel holds the directories locked during a rename,
  // so waiting for a transfer would freeze every `ls` of them meanwhile.
  if (overlay_.PendingOp({c.id, from}) || overlay_.PendingOp({c.id, to}))
    return errors_.Local("rename", &c, from + " -> " + to, EBUSY, kPendingBusy);
  // The kernel checked the kinds of both names already; the service would refuse a
  // non-empty target with an error that reads as EIO.
  GF_TRY_STATUS(CheckRenameTarget(new_parent, new_name, std::nullopt, flags));
  Status s = remote_.Rename(c.id, from, to);
  if (!s.ok()) return errors_.Report("rename", &c, from + " -> " + to, s.error());
  AfterRename(c, parent, name, new_parent, new_name);
  return Status::Ok();
}

Status Superblock::CheckRenameTarget(const InodePtr& new_parent, const std::string& new_name,
                                     std::optional<bool> src_is_dir, unsigned flags) {
  const Collection& c = *new_parent->collection;
  const std::string path = JoinPath(table_.Path(*new_parent), new_name);
  GF_TRY_STATUS(CheckNotBeingRemoved(c, path, "rename"));
  auto existing = Resolve(new_parent, new_name);
  if (!existing.ok())
    return ErrnoFor(existing.error()) == ENOENT ? Status::Ok() : Status(existing.error());
  if (flags & RENAME_NOREPLACE) return Error::Local(EEXIST, path + " exists");
  const bool dst_dir = existing->kind == Kind::kDir;
  if (src_is_dir && dst_dir && !*src_is_dir) return Error::Local(EISDIR, path + " is a directory");
  if (src_is_dir && !dst_dir && *src_is_dir)
    return Error::Local(ENOTDIR, path + " is not a directory");
  if (!dst_dir) return Status::Ok();
  auto l = GetListing(c, path);
  if (!l.ok()) return errors_.Report("rename", &c, path, l.error());
  if ((*l)->size() > 0) return Error::Local(ENOTEMPTY, path + " is not empty");
  return Status::Ok();
}

std::string Superblock::PathForMessage(const InodePtr& parent, const std::string& name) const {
  return parent && parent->collection ? JoinPath(table_.Path(*parent), name) : name;
}

}  // namespace gf::fs
