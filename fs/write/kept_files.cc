// WriteOps::KeptFiles: the staged files nothing will upload, for `globus-fuse status`.
#include <iterator>
#include <set>

#include "fs/write/write_ops.h"

namespace gf::fs {

std::vector<write::KeptFile> WriteOps::KeptFiles() {
  if (options_.staging_dir.empty()) return {};
  auto store = Store();  // an earlier mount's leftovers are found when the store opens
  if (!store.ok()) return {};
  // Staged files that unfinished upload ops will still send (asked before taking mu_: the
  // engine's lock is never taken under it).
  const std::set<std::string> pending = engine_.PendingUploadStages();
  std::set<std::string> in_use;  // the staged files of inodes this mount has open or dirty
  {
    MutexLock l(mu_);
    for (const auto& [ino, st] : inodes_) {
      if (st.staged) in_use.insert(st.staged->id());
      if (st.seed) in_use.insert(st.seed->id());
    }
  }
  std::set<std::string> earlier;
  for (const auto& left : (*store)->Leftovers()) earlier.insert(left.id);
  std::vector<write::KeptFile> out;
  std::set<std::string> on_disk;
  const auto found = (*store)->OnDisk();
  MutexLock l(mu_);
  for (const auto& f : found) {
    on_disk.insert(f.id);
    if (in_use.count(f.id) || pending.count(f.id)) continue;
    std::string why;
    if (earlier.count(f.id)) {
      why = std::string(kEarlierMountKept) + "; never uploaded without you";
    } else if (auto k = kept_why_.find(f.id); k != kept_why_.end()) {
      why = k->second + "; not uploaded without you";
    } else {
      why = "its upload failed; not uploaded again without you";
    }
    out.push_back({f.data_path, f.size, f.origin, std::move(why)});
  }
  // Reasons of files the user has removed (or that were reused) go.
  for (auto k = kept_why_.begin(); k != kept_why_.end();)
    k = on_disk.count(k->first) ? std::next(k) : kept_why_.erase(k);
  return out;
}

}  // namespace gf::fs
