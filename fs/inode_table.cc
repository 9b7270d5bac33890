#include "fs/inode_table.h"

#include <cassert>
#include <cstdlib>

#include "common/log.h"

namespace gf::fs {

Inode::Inode(Ino i, Kind k, Role r, const Collection* c)
    : ino(i), kind(k), role(r), collection(c) {}

InodeTable::InodeTable(bool abort_on_underflow) : abort_on_underflow_(abort_on_underflow) {
  root_ = std::make_shared<Inode>(kRootIno, Kind::kDir, Role::kRoot, nullptr);
  inodes_.emplace(kRootIno, Slot{root_, 1, true});
}

InodeTable::~InodeTable() {
  // Break parent links iteratively so deep trees do not recurse in shared_ptr destructors.
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [ino, slot] : inodes_) slot.inode->parent_.reset();
  inodes_.clear();
  dentries_.clear();
}

InodePtr InodeTable::Get(Ino ino) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : it->second.inode;
}

InodePtr InodeTable::AddPinned(Ino ino, const InodePtr& parent, const std::string& name, Kind kind,
                               Role role) {
  assert(ino < kFirstDynamicIno);
  auto inode = std::make_shared<Inode>(ino, kind, role, nullptr);
  std::lock_guard<std::mutex> l(mu_);
  inode->parent_ = parent;
  inode->name_ = name;
  inodes_[ino] = Slot{inode, 0, true};
  dentries_[{parent->ino, name}] = ino;
  return inode;
}

InodePtr InodeTable::Link(const InodePtr& parent, const std::string& name, Kind kind, Role role,
                          const Collection* collection, uint64_t lookups) {
  assert(lookups >= 1);
  std::lock_guard<std::mutex> l(mu_);
  auto key = std::make_pair(parent->ino, name);
  auto d = dentries_.find(key);
  if (d != dentries_.end()) {
    auto s = inodes_.find(d->second);
    if (s != inodes_.end()) {
      const Inode& in = *s->second.inode;
      if (in.kind == kind && in.role == role && in.collection == collection) {
        s->second.lookups += lookups;
        return s->second.inode;
      }
    }
  }
  Ino ino = next_ino_++;
  auto inode = std::make_shared<Inode>(ino, kind, role, collection);
  inode->parent_ = parent;
  inode->name_ = name;
  inodes_.emplace(ino, Slot{inode, lookups, false});
  dentries_[key] = ino;
  return inode;
}

InodePtr InodeTable::Child(Ino parent, const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto d = dentries_.find({parent, name});
  if (d == dentries_.end()) return nullptr;
  auto s = inodes_.find(d->second);
  return s == inodes_.end() ? nullptr : s->second.inode;
}

std::vector<std::pair<std::string, Ino>> InodeTable::Children(Ino parent) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::pair<std::string, Ino>> out;
  for (auto it = dentries_.lower_bound({parent, std::string()});
       it != dentries_.end() && it->first.first == parent; ++it)
    out.emplace_back(it->first.second, it->second);
  return out;
}

void InodeTable::ForgetLocked(Ino ino, uint64_t n) {
  auto it = inodes_.find(ino);
  if (it == inodes_.end() || it->second.lookups < n) {
    ++underflows_;
    log::Error("fs", "INTERNAL ERROR: lookup count underflow for inode ", ino, " (forget ", n,
               ", count ", it == inodes_.end() ? 0 : it->second.lookups, ")");
    if (abort_on_underflow_) std::abort();
    if (it == inodes_.end()) return;
    n = it->second.lookups;
  }
  it->second.lookups -= n;
  if (it->second.lookups > 0 || it->second.pinned) return;
  Inode& inode = *it->second.inode;
  if (inode.parent_) {
    auto d = dentries_.find({inode.parent_->ino, inode.name_});
    if (d != dentries_.end() && d->second == ino) dentries_.erase(d);  // not a newer inode's
  }
  // Dentries of children stay: they lead to inodes the kernel still holds, and go when those
  // are forgotten. parent_ is kept: a child still held by the kernel computes its path through
  // it, and the object is freed when the last such child goes.
  inodes_.erase(it);
}

void InodeTable::Forget(Ino ino, uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  ForgetLocked(ino, n);
}

void InodeTable::ForgetMulti(const std::vector<std::pair<Ino, uint64_t>>& batch) {
  std::lock_guard<std::mutex> l(mu_);  // once per batch
  for (const auto& [ino, n] : batch) ForgetLocked(ino, n);
}

void InodeTable::Unlink(Ino parent, const std::string& name, Ino expected) {
  std::lock_guard<std::mutex> l(mu_);
  auto d = dentries_.find({parent, name});
  if (d != dentries_.end() && (expected == 0 || d->second == expected)) dentries_.erase(d);
}

void InodeTable::Move(Ino ino, const InodePtr& new_parent, const std::string& new_name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return;
  Inode& inode = *it->second.inode;
  if (inode.parent_) {
    auto d = dentries_.find({inode.parent_->ino, inode.name_});
    if (d != dentries_.end() && d->second == ino) dentries_.erase(d);
  }
  inode.parent_ = new_parent;
  inode.name_ = new_name;
  dentries_[{new_parent->ino, new_name}] = ino;
}

std::string InodeTable::Path(const Inode& inode) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<const std::string*> parts;
  const Inode* n = &inode;
  while (n && n->role != Role::kCollectionRoot) {
    if (n->role != Role::kRemote && n->role != Role::kHome) return "";
    parts.push_back(&n->name_);
    n = n->parent_.get();
  }
  if (!n) return "";
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += "/" + **it;
  return out.empty() ? "/" : out;
}

std::string InodeTable::Name(const Inode& inode) const {
  std::lock_guard<std::mutex> l(mu_);
  return inode.name_;
}

Ino InodeTable::ParentIno(const Inode& inode) const {
  std::lock_guard<std::mutex> l(mu_);
  return inode.parent_ ? inode.parent_->ino : kRootIno;
}

uint64_t InodeTable::LookupCount(Ino ino) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? 0 : it->second.lookups;
}

std::size_t InodeTable::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return inodes_.size();
}

uint64_t InodeTable::underflows() const {
  std::lock_guard<std::mutex> l(mu_);
  return underflows_;
}

Ino InodeTable::next_ino() const {
  std::lock_guard<std::mutex> l(mu_);
  return next_ino_;
}

}  // namespace gf::fs
