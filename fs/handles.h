// Open files and directories, by the number (fh) the kernel holds for them.
//
// A file handle is one of:
//   FixedContent     bytes fixed at open: the status document, or nothing (a placeholder
//                    opened for reading reads as empty);
//   ReadHandle       a remote file's bytes (read/read_ops.h);
//   WriteHandle      a file opened for writing: the destination of a cp (transfers/), or
//                    staged written bytes uploaded at close (write/write_handle.h).
//
// HandleTable registers and finds them. Thread-safe; `mu_` is a leaf lock. Handles are
// shared_ptrs: an operation keeps its handle alive after a concurrent release, and the last
// owner destroys it outside the table's lock (a reader's destructor cancels its parts).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/mutex.h"
#include "fs/read/read_ops.h"
#include "fs/superblock/dir_view.h"
#include "fs/superblock/inode_table.h"
#include "fs/write/write_handle.h"

namespace gf::fs {

struct FixedContent {
  std::string bytes;
};

struct FileHandle {
  template <class T, class... Args>
  FileHandle(InodePtr in, std::in_place_type_t<T> kind, Args&&... args)
      : inode(std::move(in)), as(kind, std::forward<Args>(args)...) {}
  const InodePtr inode;
  std::variant<FixedContent, ReadHandle, WriteHandle> as;
};

struct DirHandle {
  explicit DirHandle(Ino i) : ino(i) {}
  const Ino ino;
  // Built by the read at offset 0 (outside the lock: it may list remotely), then read
  // through a copy of the pointer; one readdir per handle at a time in practice.
  Mutex mu;  // leaf lock
  std::shared_ptr<const DirView> view GUARDED_BY(mu);
};

class HandleTable {
 public:
  uint64_t Add(std::shared_ptr<FileHandle> h) EXCLUDES(mu_);
  uint64_t Add(std::shared_ptr<DirHandle> h) EXCLUDES(mu_);
  std::shared_ptr<FileHandle> File(uint64_t fh) const EXCLUDES(mu_);
  std::shared_ptr<DirHandle> Dir(uint64_t fh) const EXCLUDES(mu_);
  // Every open file handle (a snapshot).
  std::vector<std::shared_ptr<FileHandle>> Files() const EXCLUDES(mu_);
  // Removes the handle and hands it over (null when unknown).
  std::shared_ptr<FileHandle> TakeFile(uint64_t fh) EXCLUDES(mu_);
  void DropDir(uint64_t fh) EXCLUDES(mu_);
  // Drops every handle (unmount); in-flight reads of their readers are cancelled.
  void Clear() EXCLUDES(mu_);

 private:
  mutable Mutex mu_;  // leaf lock: guards the maps and next_fh_
  std::map<uint64_t, std::shared_ptr<FileHandle>> files_ GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<DirHandle>> dirs_ GUARDED_BY(mu_);
  uint64_t next_fh_ GUARDED_BY(mu_) = 1;
};

}  // namespace gf::fs
