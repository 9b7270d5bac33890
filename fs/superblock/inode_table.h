// InodeTable: the inodes the kernel knows about, their lookup counts and the dentries
// (parent, name) -> ino that lead to them.
//
// Model (after mountpoint-s3's Superblock/InodeMap and libfuse's passthrough_hp):
//  * An Inode's identity is immutable: ino, kind (dir/file/symlink), role (remote entry or a
//    synthesised one such as the root) and collection. If the remote entry at a name changes
//    kind, the name gets a NEW inode; the old one lives on, detached, until the kernel
//    forgets it. Inode numbers increase monotonically and are never reused within a mount.
//  * Its location (parent, name) changes only on rename and is guarded by the table's mutex.
//  * Its cached remote metadata (Meta + expiry, last-open identity) is guarded by Inode::mu_,
//    which is one of a fixed array of striped mutexes (several inodes share one: a
//    std::mutex per inode cost 40 of the ~450 bytes a cached entry takes). So: never hold two
//    Inode::mu at once (two inodes may map to the same stripe).
//  * Memory per inode (the 1M-entry target, docs/PERFORMANCE.md): the table's containers hold
//    the inodes themselves (the dentry set is ordered by each inode's own parent and name: no
//    second copy of the name), the name is a bare char array, Meta is 32 bytes (types.h).
//  * Lookup counts follow the FUSE contract strictly: +1 for every reply_entry/reply_create
//    and every readdirplus entry except "." and ".."; -n on forget (forget_multi takes the
//    lock once per batch); the inode is erased at zero and unlinked from its parent only if
//    the parent's dentry still points at THIS ino (never remove a newer inode). Pinned inodes
//    (root, .by-id, control files) are never erased. An underflow is a bug: abort() in debug
//    builds, log (and count) in release builds. No FORGETs arrive at unmount: the table's
//    destructor frees what is left.
//
// LOCK ORDER: InodeTable::mu_ before Inode::mu_; at most one Inode::mu_ at a time (striped).
// Inode::mu_ is private: the state it guards changes only through the accessors.
// Neither is held across a remote call or a reply to the kernel.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "fs/types.h"

namespace gf::fs {

struct Collection;

class Inode {
 public:
  Inode(Ino ino, Kind kind, Role role, const Collection* collection);
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;

  // ---- immutable identity ----
  const Ino ino;
  const Kind kind;
  const Role role;

 private:
  // No dentry leads here any more (guarded by InodeTable::mu_; declared here, in the padding
  // after role, so it costs no memory): the name was removed, moved to another collection, or
  // now names a different inode. The kernel may still reach it through a dentry whose
  // invalidation has not arrived yet; operations by name on it are ESTALE (InodeTable::Stale).
  bool detached_ = false;

 public:
  const Collection* const collection;  // interned (lives for the mount); null for virtual roles

  // ---- mutable cached state, guarded by mu_ ----
  // Remote metadata, when known; fresh while Now() < expires.
  struct Cached {
    std::optional<Meta> meta;
    MonoTime expires{};
  };
  Cached cached() const EXCLUDES(mu_) {
    MutexLock l(mu_);
    return Cached{state_.meta, state_.expires};
  }
  void SetMeta(const Meta& m, MonoTime expires) EXCLUDES(mu_) {
    MutexLock l(mu_);
    state_.meta = m;
    state_.expires = expires;
  }
  // The metadata is stale (the next use refreshes it).
  void Expire() EXCLUDES(mu_) {
    MutexLock l(mu_);
    state_.expires = MonoTime{};
  }
  // Stale, and the content may differ from the last open's (no page cache kept at the next).
  void Invalidate() EXCLUDES(mu_) {
    MutexLock l(mu_);
    state_.expires = MonoTime{};
    state_.opened_before = false;
  }
  // An open of the file as it is now (size, mtime): true when it is the file of the previous
  // open, so the kernel may keep its page cache.
  bool NoteOpened(uint64_t size, int64_t mtime) EXCLUDES(mu_) {
    MutexLock l(mu_);
    const bool same =
        state_.opened_before && state_.open_size == size && state_.open_mtime == mtime;
    state_.opened_before = true;
    state_.open_size = size;
    state_.open_mtime = mtime;
    return same;
  }

 private:
  friend class InodeTable;
  std::string_view name() const { return name_ ? std::string_view(name_.get()) : ""; }
  void SetName(std::string_view n);
  struct State {
    std::optional<Meta> meta;
    MonoTime expires{};
    // Identity of the file at its last open, for keep_cache decisions.
    bool opened_before = false;
    uint64_t open_size = 0;
    int64_t open_mtime = 0;
  };
  // One of a fixed array of striped mutexes (a std::mutex per inode cost 40 of the ~450
  // bytes a cached entry takes): after InodeTable::mu_, and never two at once.
  Mutex& mu_;
  State state_ GUARDED_BY(mu_);
  // Location and lookup count, guarded by InodeTable::mu_. The name is a bare NUL-terminated
  // array (8 bytes, vs 32 for a std::string plus its heap block for names over 15 chars).
  std::shared_ptr<Inode> parent_;
  std::unique_ptr<char[]> name_;
  uint64_t lookups_ = 0;  // the kernel's lookup count; pinned = ino < kFirstDynamicIno
};

using InodePtr = std::shared_ptr<Inode>;

class InodeTable {
 public:
#ifdef NDEBUG
  static constexpr bool kAbortOnUnderflowDefault = false;
#else
  static constexpr bool kAbortOnUnderflowDefault = true;
#endif
  explicit InodeTable(bool abort_on_underflow = kAbortOnUnderflowDefault);
  ~InodeTable();

  InodePtr root() const { return root_; }
  InodePtr Get(Ino ino) const;

  // Adds a pinned inode with a fixed number (< kFirstDynamicIno) under `parent`.
  InodePtr AddPinned(Ino ino, const InodePtr& parent, const std::string& name, Kind kind,
                     Role role);

  // The inode for `name` under `parent` with this identity, adding `lookups` (>= 1) to its
  // count. Reuses the existing inode when the dentry points at one with the same kind, role
  // and collection; otherwise creates a new inode and points the dentry at it.
  InodePtr Link(const InodePtr& parent, std::string_view name, Kind kind, Role role,
                const Collection* collection, uint64_t lookups);

  // The inode the dentry points at, if any (no count change).
  InodePtr Child(Ino parent, std::string_view name) const;
  std::vector<std::pair<std::string, Ino>> Children(Ino parent) const;
  // Where `path` (absolute, in the collection) is known below each root of `collection_id`
  // directly under one of `tops` (kRootIno, kByIdIno: the collection by name and by id): the
  // directory holding its last component, and the inode there (nullptr: none). One pass under
  // the lock, copying only the hits: Superblock::ForgetEverywhere runs it after every upload,
  // delete and transfer, so it must not cost a copy per collection or a lock per component.
  struct PathHit {
    InodePtr dir;
    InodePtr inode;
  };
  std::vector<PathHit> FindInRoots(std::initializer_list<Ino> tops, std::string_view collection_id,
                                   std::string_view path) const;

  void Forget(Ino ino, uint64_t n);
  void ForgetMulti(const std::vector<std::pair<Ino, uint64_t>>& batch);

  // Drops the dentry (parent, name) if it points at `expected` (or at anything when 0).
  void Unlink(Ino parent, const std::string& name, Ino expected = 0);
  // Moves `ino` to (new_parent, new_name) after a successful rename; a dentry that pointed
  // at another inode there is replaced.
  void Move(Ino ino, const InodePtr& new_parent, const std::string& new_name);

  // Remote path of an inode below a collection root ("/" for the root itself, "/~" for the
  // home entry); "" for virtual inodes. A stale inode keeps the path it had.
  std::string Path(const Inode& inode) const;
  // True when no dentry leads to the inode or to one of its ancestors any more: its name was
  // removed, moved to another collection (the kernel's dentry at the new name still leads to
  // it until the mount's invalidation arrives), or now names another inode. Its path is the
  // OLD one: an operation by name must not act on it (docs/SEMANTICS.md, "Stale names").
  bool Stale(const Inode& inode) const;
  std::string Name(const Inode& inode) const;
  Ino ParentIno(const Inode& inode) const;

  uint64_t LookupCount(Ino ino) const;
  std::size_t size() const;
  uint64_t underflows() const;
  Ino next_ino() const;

  static constexpr Ino kFirstDynamicIno = 16;

 private:
  void ForgetLocked(Ino ino, uint64_t n) REQUIRES(mu_);
  void SetDentryLocked(Ino parent, const Inode& inode) REQUIRES(mu_);  // (parent, name) -> inode

  const bool abort_on_underflow_;
  InodePtr root_;
  mutable Mutex mu_;  // first in the lock order; guards everything below and locations
  // Both containers hold the inodes themselves, not (key, value) copies: a hash node of 32
  // bytes and a tree node of 48 per inode (the 1M-entry memory target, PERFORMANCE.md).
  struct InoHash {
    using is_transparent = void;
    std::size_t operator()(Ino i) const noexcept { return std::hash<Ino>{}(i); }
    std::size_t operator()(const InodePtr& p) const noexcept { return std::hash<Ino>{}(p->ino); }
  };
  struct InoEq {
    using is_transparent = void;
    bool operator()(const InodePtr& a, const InodePtr& b) const { return a->ino == b->ino; }
    bool operator()(Ino a, const InodePtr& b) const { return a == b->ino; }
    bool operator()(const InodePtr& a, Ino b) const { return a->ino == b; }
  };
  // A dentry (parent ino, name) -> inode is the inode itself, ordered by its own location.
  using DentryKey = std::pair<Ino, std::string_view>;
  struct DentryLess {
    using is_transparent = void;
    static DentryKey Key(const Inode* i) { return {i->parent_->ino, i->name()}; }
    bool operator()(const Inode* a, const Inode* b) const { return Key(a) < Key(b); }
    bool operator()(const Inode* a, const DentryKey& b) const { return Key(a) < b; }
    bool operator()(const DentryKey& a, const Inode* b) const { return a < Key(b); }
  };
  // noexcept hash: libstdc++ then stores no hash code in the node (24 bytes, not 32).
  // INVARIANT: every inode in inodes_ has a distinct ino.
  std::unordered_set<InodePtr, InoHash, InoEq> inodes_ GUARDED_BY(mu_);
  // Ordered: Children() is a range. INVARIANT: each element is in inodes_ and its location
  // (parent_, name_) is not changed while it is in the set (Move erases, changes, inserts); a
  // slot is erased only after the inode's dentry (if the dentry still leads to it).
  std::set<Inode*, DentryLess> dentries_ GUARDED_BY(mu_);
  Ino next_ino_ GUARDED_BY(mu_) = kFirstDynamicIno;
  uint64_t underflows_ GUARDED_BY(mu_) = 0;
};

}  // namespace gf::fs
