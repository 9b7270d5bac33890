// WriteOps::KeptFiles: the staged files nothing will upload, for `globus-fuse status`.
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
  for (auto& f : (*store)->OnDisk()) {
    if (in_use.count(f.id) || pending.count(f.id)) continue;
    out.push_back({f.data_path, f.size, f.origin,
                   earlier.count(f.id)
                       ? std::string(kEarlierMountKept) + "; never uploaded without you"
                       : "its upload failed; not uploaded again without you"});
  }
  return out;
}

}  // namespace gf::fs
