// WriteHandle: a file opened for writing (docs/WRITES.md, "The write handle's states").
//
// It is first a CopyDestination (a `cp` between collections turns a placeholder into a
// server-side transfer: transfers/copy_destination.h, unchanged). The first write or truncate
// turns it into write staging instead: the bytes go to the inode's StagedFile (shared by every
// handle of the inode, owned by WriteOps), and the FLUSH of a handle that wrote uploads them.
// A handle that received a copy_file_range never accepts writes, and one that wrote never
// becomes a copy destination.
#pragma once

#include <fcntl.h>

#include "fs/transfers/copy_destination.h"

namespace gf::fs {

struct WriteHandle : CopyDestination {
  WriteHandle(Location d, bool made_placeholder, bool existed, int flags)
      : CopyDestination(std::move(d), made_placeholder),
        remote_existed(existed),
        append((flags & O_APPEND) != 0) {}
  // A remote file was at `dst` when this handle was opened: its content fills the staging
  // (unless the handle made a placeholder, i.e. truncated), and the upload replaces it.
  const bool remote_existed;
  const bool append;  // O_APPEND: every write goes to the end of the staged file

  // Guarded by CopyDestination::mu.
  bool staged GUARDED_BY(mu) = false;         // a write or truncate went to the staging
  bool wrote GUARDED_BY(mu) = false;          // ... since this handle's last upload
  bool upload_failed GUARDED_BY(mu) = false;  // its last FLUSH's upload failed and close(2)
                                              // returned the error (until its next write)
  bool flushed GUARDED_BY(mu) = false;        // a close(2) of it (FLUSH) was seen: until then, or
                                              // while it wrote since, a rename of its name is EBUSY
};

}  // namespace gf::fs
