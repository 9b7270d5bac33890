// FuseAdapter: the thin libfuse3 low-level binding of the Filesystem core.
//
// Each handler decodes its arguments, calls one Filesystem method and replies; it owns
// fuse_reply_err (errno from gf::ErrnoFor, the one table) and debug logging of failures (the
// core logs remote failures once, with context and remedy). A lookup that fails with ENOENT
// becomes a negative entry (ino 0) cached by the kernel for negative_ttl. If a reply carrying a
// new lookup reference cannot be delivered (interrupted request), the reference is forgotten
// again so counts stay exact.

#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fs/filesystem.h"

namespace gf::fs {

class FuseAdapter final {
 public:
  explicit FuseAdapter(Filesystem& fs) : fs_(fs) {}

  static const fuse_lowlevel_ops& Ops();
  Filesystem& fs() { return fs_; }

 private:
  Filesystem& fs_;
};

}  // namespace gf::fs
