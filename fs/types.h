// Plain value types shared by the fs/ core: inode numbers, locations, cached remote metadata,
// and the result structs the Filesystem returns (Attr, Entry, Opened). No FUSE types here: the
// adapter (fuse/fuse_adapter.cc) converts these to `struct stat` / `fuse_entry_param`.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "api/documents.h"

namespace gf::fs {

using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;  // FUSE_ROOT_ID

// A transfer op (transfers/engine.h), numbered by the journal.
using OpId = uint64_t;

// A path inside a collection (by id).
struct Location {
  std::string collection;
  std::string path;
  bool operator==(const Location&) const = default;
};

// What kind of object an inode is. Fixed for the inode's life: a remote entry that changes
// kind gets a new inode.
enum class Kind : uint8_t { kDir, kFile, kSymlink };

// Why an inode exists. Everything but kRemote is synthesised locally.
enum class Role : uint8_t {
  kRoot,            // the mount root: one directory per collection, bookmark symlinks
  kById,            // MOUNT/.by-id
  kCollectionRoot,  // a collection's "/" (under the root or under .by-id)
  kHome,            // a collection's "~" entry = "/~/" (home of the mapped account)
  kRemote,          // any remote file, directory or symlink below a collection root
  kBookmark,        // a bookmark symlink in the root
  kControlDir,      // MOUNT/.globus-fuse
  kControlFile,     // MOUNT/.globus-fuse/status
};

// A symlink's target: one pointer wide, since almost no entry has one (a std::string member
// cost 32 bytes in every cached entry). Reads like a const std::string.
class LinkTarget {
 public:
  LinkTarget() = default;
  LinkTarget(const LinkTarget& o) : p_(o.p_ ? std::make_unique<std::string>(*o.p_) : nullptr) {}
  LinkTarget(LinkTarget&&) noexcept = default;
  LinkTarget& operator=(const LinkTarget& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<std::string>(*o.p_) : nullptr;
    return *this;
  }
  LinkTarget& operator=(LinkTarget&&) noexcept = default;
  LinkTarget& operator=(std::string s) {
    p_ = s.empty() ? nullptr : std::make_unique<std::string>(std::move(s));
    return *this;
  }
  const std::string& str() const { return p_ ? *p_ : Empty(); }
  operator const std::string&() const { return str(); }  // NOLINT: reads as a string
  std::size_t size() const { return str().size(); }
  bool empty() const { return !p_; }
  const char* c_str() const { return str().c_str(); }
  bool operator==(const LinkTarget& o) const { return str() == o.str(); }

 private:
  static const std::string& Empty() {
    static const std::string empty;
    return empty;
  }
  std::unique_ptr<std::string> p_;
};

// Remote metadata of one entry, as `ls`/`stat` report it (the name is kept by the listing or
// the inode, not here). Small on purpose: a listing of a million entries holds a million, and
// so does the inode table: 32 bytes (fields ordered to leave no padding holes).
struct Meta {
  uint64_t size = 0;
  int64_t mtime = 0;
  uint32_t permissions = 0;  // 07777 bits as the service reports them
  api::EntryType type = api::EntryType::kFile;
  LinkTarget link_target;  // symlinks (and invalid_symlink) only

  static Meta From(const api::FileEntry& e);
  bool operator==(const Meta&) const = default;
};
static_assert(sizeof(Meta) <= 32, "Meta is held once per cached entry, twice per inode");

Kind KindOf(api::EntryType t);

// What getattr returns (converted to struct stat by the adapter).
struct Attr {
  Ino ino = 0;
  uint64_t size = 0;
  uint32_t mode = 0;  // S_IFxxx | permission bits (umask applied)
  uint32_t nlink = 1;
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;
  uint64_t blocks = 0;  // 512-byte blocks: ceil(size / 512), so files never look sparse
  uint32_t blksize = 1 << 20;
};

// A successful lookup (also mkdir). The kernel's lookup count of `attr.ino` was increased by
// one on behalf of this reply.
struct Entry {
  Attr attr;
  double entry_timeout = 0;
  double attr_timeout = 0;
};

struct AttrReply {
  Attr attr;
  double timeout = 0;
};

struct Opened {
  uint64_t fh = 0;
  bool keep_cache = false;  // size and mtime unchanged since the last open: keep page cache
  bool direct_io = false;   // no page cache: control files, staged bytes, write-only handles
};

struct StatFs {
  uint64_t bsize = 4096, blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0;
  uint32_t namemax = 255;
};

}  // namespace gf::fs
