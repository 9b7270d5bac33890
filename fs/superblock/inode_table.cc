#include "fs/superblock/inode_table.h"

#include <array>
#include <cassert>
#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "fs/superblock/collections.h"

namespace gf::fs {

namespace {
Mutex& Stripe(Ino ino) {
  static std::array<Mutex, 64> stripes;
  return stripes[ino % stripes.size()];
}
}  // namespace

Inode::Inode(Ino i, Kind k, Role r, const Collection* c)
    : ino(i), kind(k), role(r), collection(c), mu_(Stripe(i)) {}

void Inode::SetName(std::string_view n) {
  if (n.empty()) {
    name_.reset();
    return;
  }
  name_ = std::make_unique<char[]>(n.size() + 1);
  std::memcpy(name_.get(), n.data(), n.size());
  name_[n.size()] = '\0';
}

void InodeTable::SetDentryLocked(Ino parent, const Inode& inode) {
  // Replace, not assign: the key must view THIS inode's name (an existing key may view the
  // name of the inode it pointed at before).
  auto d = dentries_.find(DentryKey{parent, inode.name()});
  if (d != dentries_.end()) {
    if (*d != &inode) (*d)->detached_ = true;  // the name leads to another inode now
    dentries_.erase(d);
  }
  const_cast<Inode&>(inode).detached_ = false;
  dentries_.insert(const_cast<Inode*>(&inode));
}

InodeTable::InodeTable(bool abort_on_underflow) : abort_on_underflow_(abort_on_underflow) {
  root_ = std::make_shared<Inode>(kRootIno, Kind::kDir, Role::kRoot, nullptr);
  root_->lookups_ = 1;
  inodes_.insert(root_);
}

InodeTable::~InodeTable() {
  // Break parent links iteratively so deep trees do not recurse in shared_ptr destructors.
  MutexLock l(mu_);
  dentries_.clear();
  for (auto& inode : inodes_) inode->parent_.reset();
  inodes_.clear();
}

InodePtr InodeTable::Get(Ino ino) const {
  MutexLock l(mu_);
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : *it;
}

InodePtr InodeTable::AddPinned(Ino ino, const InodePtr& parent, const std::string& name, Kind kind,
                               Role role) {
  assert(ino < kFirstDynamicIno);
  auto inode = std::make_shared<Inode>(ino, kind, role, nullptr);
  MutexLock l(mu_);
  inode->parent_ = parent;
  inode->SetName(name);
  if (auto old = inodes_.find(ino); old != inodes_.end()) inodes_.erase(old);
  inodes_.insert(inode);
  SetDentryLocked(parent->ino, *inode);
  return inode;
}

InodePtr InodeTable::Link(const InodePtr& parent, std::string_view name, Kind kind, Role role,
                          const Collection* collection, uint64_t lookups) {
  assert(lookups >= 1);
  MutexLock l(mu_);
  auto d = dentries_.find(DentryKey{parent->ino, name});
  if (d != dentries_.end()) {
    auto s = inodes_.find((*d)->ino);
    if (s != inodes_.end()) {
      Inode& in = **s;
      if (in.kind == kind && in.role == role && in.collection == collection) {
        in.lookups_ += lookups;
        return *s;
      }
    }
  }
  Ino ino = next_ino_++;
  auto inode = std::make_shared<Inode>(ino, kind, role, collection);
  inode->parent_ = parent;
  inode->SetName(name);
  inode->lookups_ = lookups;
  inodes_.insert(inode);
  SetDentryLocked(parent->ino, *inode);
  return inode;
}

InodePtr InodeTable::Child(Ino parent, std::string_view name) const {
  MutexLock l(mu_);
  auto d = dentries_.find(DentryKey{parent, name});
  if (d == dentries_.end()) return nullptr;
  auto s = inodes_.find((*d)->ino);
  return s == inodes_.end() ? nullptr : *s;
}

std::vector<std::pair<std::string, Ino>> InodeTable::Children(Ino parent) const {
  MutexLock l(mu_);
  std::vector<std::pair<std::string, Ino>> out;
  for (auto it = dentries_.lower_bound(DentryKey{parent, std::string_view()});
       it != dentries_.end() && (*it)->parent_->ino == parent; ++it)
    out.emplace_back(std::string((*it)->name()), (*it)->ino);
  return out;
}

std::vector<InodeTable::PathHit> InodeTable::FindInRoots(std::initializer_list<Ino> tops,
                                                         std::string_view collection_id,
                                                         std::string_view path) const {
  std::vector<PathHit> out;
  if (path.size() < 2 || path.front() != '/') return out;  // "/" itself: no parent to hold it
  const std::string_view rel = path.substr(1);
  MutexLock l(mu_);
  auto child = [this](Ino parent, std::string_view name) REQUIRES(mu_) -> const Inode* {
    auto d = dentries_.find(DentryKey{parent, name});
    return d == dentries_.end() ? nullptr : *d;
  };
  auto shared = [this](const Inode* in) REQUIRES(mu_) -> InodePtr {
    if (!in) return nullptr;
    auto s = inodes_.find(in->ino);
    return s == inodes_.end() ? nullptr : *s;
  };
  for (Ino top : tops) {
    for (auto it = dentries_.lower_bound(DentryKey{top, std::string_view()});
         it != dentries_.end() && (*it)->parent_->ino == top; ++it) {
      const Inode* dir = *it;
      if (dir->role != Role::kCollectionRoot || !dir->collection ||
          dir->collection->id != collection_id)
        continue;
      std::string_view rest = rel;
      for (auto slash = rest.find('/'); dir && slash != std::string_view::npos;
           slash = rest.find('/')) {
        dir = child(dir->ino, rest.substr(0, slash));
        rest = rest.substr(slash + 1);
      }
      if (!dir || rest.empty()) continue;
      if (InodePtr d = shared(dir)) out.push_back({std::move(d), shared(child(dir->ino, rest))});
    }
  }
  return out;
}

void InodeTable::ForgetLocked(Ino ino, uint64_t n) {
  auto it = inodes_.find(ino);
  if (it == inodes_.end() || (*it)->lookups_ < n) {
    ++underflows_;
    log::Error("fs", "INTERNAL ERROR: lookup count underflow for inode ", ino, " (forget ", n,
               ", count ", it == inodes_.end() ? 0 : (*it)->lookups_, ")");
    if (abort_on_underflow_) std::abort();
    if (it == inodes_.end()) return;
    n = (*it)->lookups_;
  }
  Inode& inode = **it;
  inode.lookups_ -= n;
  if (inode.lookups_ > 0 || ino < kFirstDynamicIno) return;  // pinned inodes stay
  if (inode.parent_) {
    auto d = dentries_.find(DentryKey{inode.parent_->ino, inode.name()});
    if (d != dentries_.end() && *d == &inode) dentries_.erase(d);  // not a newer inode's
  }
  // Dentries of children stay: they lead to inodes the kernel still holds, and go when those
  // are forgotten. parent_ is kept: a child still held by the kernel computes its path through
  // it, and the object is freed when the last such child goes.
  inodes_.erase(it);
}

void InodeTable::Forget(Ino ino, uint64_t n) {
  MutexLock l(mu_);
  ForgetLocked(ino, n);
}

void InodeTable::ForgetMulti(const std::vector<std::pair<Ino, uint64_t>>& batch) {
  MutexLock l(mu_);  // once per batch
  for (const auto& [ino, n] : batch) ForgetLocked(ino, n);
}

void InodeTable::Unlink(Ino parent, const std::string& name, Ino expected) {
  MutexLock l(mu_);
  auto d = dentries_.find(DentryKey{parent, std::string_view(name)});
  if (d != dentries_.end() && (expected == 0 || (*d)->ino == expected)) {
    (*d)->detached_ = true;
    dentries_.erase(d);
  }
}

void InodeTable::Move(Ino ino, const InodePtr& new_parent, const std::string& new_name) {
  MutexLock l(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return;
  Inode& inode = **it;
  if (inode.parent_) {
    auto d = dentries_.find(DentryKey{inode.parent_->ino, inode.name()});
    if (d != dentries_.end() && *d == &inode) dentries_.erase(d);
  }
  inode.parent_ = new_parent;
  inode.SetName(new_name);  // no dentry views the old name any more (erased just above)
  SetDentryLocked(new_parent->ino, inode);
}

std::string InodeTable::Path(const Inode& inode) const {
  MutexLock l(mu_);
  std::vector<std::string_view> parts;
  const Inode* n = &inode;
  while (n && n->role != Role::kCollectionRoot) {
    if (n->role != Role::kRemote && n->role != Role::kHome) return "";
    parts.push_back(n->name());
    n = n->parent_.get();
  }
  if (!n) return "";
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    out += '/';
    out += *it;
  }
  return out.empty() ? "/" : out;
}

bool InodeTable::Stale(const Inode& inode) const {
  MutexLock l(mu_);
  for (const Inode* n = &inode; n && n->role != Role::kCollectionRoot; n = n->parent_.get())
    if (n->detached_) return true;
  return false;
}

std::string InodeTable::Name(const Inode& inode) const {
  MutexLock l(mu_);
  return std::string(inode.name());
}

Ino InodeTable::ParentIno(const Inode& inode) const {
  MutexLock l(mu_);
  return inode.parent_ ? inode.parent_->ino : kRootIno;
}

uint64_t InodeTable::LookupCount(Ino ino) const {
  MutexLock l(mu_);
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? 0 : (*it)->lookups_;
}

std::size_t InodeTable::size() const {
  MutexLock l(mu_);
  return inodes_.size();
}

uint64_t InodeTable::underflows() const {
  MutexLock l(mu_);
  return underflows_;
}

Ino InodeTable::next_ino() const {
  MutexLock l(mu_);
  return next_ino_;
}

}  // namespace gf::fs
