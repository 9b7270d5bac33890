// CopyDestination: a file opened for writing, i.e. the destination of a `cp`.
//
// Bytes written to it are refused (EOPNOTSUPP); a copy_file_range from a remote file turns it
// into a transfer op (CopyOps::CopyFileRange). Its life:
//
//   open/create ── placeholder? ──▶ copy_file_range ──▶ op queued ──▶ continuing calls
//        │                                                        return their length
//        └── last close with no op: a refused write drops the placeholder (the remote file is
//            untouched); otherwise the caller made an EMPTY file (`cp` of an empty file,
//            `touch`, `: > f`) and one 0-byte HTTPS PUT makes it real.
//
// `queuing` marks the window in which one copy_file_range journals its op: the journal's
// fdatasync and the engine's lock are taken without `mu` held, and a concurrent call waits on
// `cv` for the outcome instead of queuing a second copy.
#pragma once

#include <condition_variable>
#include <cstdint>

#include "common/mutex.h"
#include "fs/types.h"

namespace gf::fs {

struct CopyDestination {
  CopyDestination(Location d, bool made_placeholder)
      : dst(std::move(d)), placeholder(made_placeholder) {}
  const Location dst;
  const bool placeholder;  // this handle made the placeholder at dst (create, open O_TRUNC)

  Mutex mu;                    // leaf lock: guards the fields below
  std::condition_variable cv;  // `queuing` ended
  bool queuing GUARDED_BY(mu) = false;
  bool write_refused GUARDED_BY(mu) = false;  // the caller had data for this file
  // copy_file_range found the source to be this very file under another name (~, .by-id):
  // cp's read/write fallback must not rewrite it either.
  bool same_file GUARDED_BY(mu) = false;
  OpId op GUARDED_BY(mu) = 0;  // the copy queued into this destination
  Ino src_ino GUARDED_BY(mu) = 0;
  uint64_t src_size GUARDED_BY(mu) = 0;
  uint64_t next GUARDED_BY(mu) = 0;  // the offset a continuing copy_file_range must use
};

}  // namespace gf::fs
