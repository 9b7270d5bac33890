#include "fs/handles.h"

namespace gf::fs {

uint64_t HandleTable::Add(std::shared_ptr<FileHandle> h) {
  MutexLock l(mu_);
  const uint64_t fh = next_fh_++;
  files_[fh] = std::move(h);
  return fh;
}

uint64_t HandleTable::Add(std::shared_ptr<DirHandle> h) {
  MutexLock l(mu_);
  const uint64_t fh = next_fh_++;
  dirs_[fh] = std::move(h);
  return fh;
}

std::shared_ptr<FileHandle> HandleTable::File(uint64_t fh) const {
  MutexLock l(mu_);
  auto it = files_.find(fh);
  return it == files_.end() ? nullptr : it->second;
}

std::shared_ptr<DirHandle> HandleTable::Dir(uint64_t fh) const {
  MutexLock l(mu_);
  auto it = dirs_.find(fh);
  return it == dirs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<FileHandle>> HandleTable::Files() const {
  MutexLock l(mu_);
  std::vector<std::shared_ptr<FileHandle>> out;
  out.reserve(files_.size());
  for (const auto& [fh, h] : files_) out.push_back(h);
  return out;
}

std::shared_ptr<FileHandle> HandleTable::TakeFile(uint64_t fh) {
  MutexLock l(mu_);
  auto it = files_.find(fh);
  if (it == files_.end()) return nullptr;
  auto h = std::move(it->second);
  files_.erase(it);
  return h;
}

void HandleTable::DropDir(uint64_t fh) {
  std::shared_ptr<DirHandle> gone;
  MutexLock l(mu_);
  auto it = dirs_.find(fh);
  if (it == dirs_.end()) return;
  gone = std::move(it->second);
  dirs_.erase(it);
}

void HandleTable::Clear() {
  std::map<uint64_t, std::shared_ptr<FileHandle>> files;
  std::map<uint64_t, std::shared_ptr<DirHandle>> dirs;
  {
    MutexLock l(mu_);
    files.swap(files_);
    dirs.swap(dirs_);
  }
}

}  // namespace gf::fs
