// Mount: the FUSE session lifecycle around a Filesystem.
//
//   fuse_session_new (fsname/subtype globus-fuse, default_permissions, max_read=1MiB, user -o)
//   -> signal handlers (SIGTERM/SIGINT/SIGHUP end the loop; the mount is then undone)
//   -> fuse_session_mount            errors here still reach the user's terminal
//   -> fuse_daemonize (unless foreground): fork AFTER the mount is established
//   -> notifier thread, then SessionLoop (fs/fuse/session_loop.h: one hot worker reads and
//      serves requests, one that waits hands the reading to another; the Filesystem's own
//      workers start in the init callback, i.e. after the fork); an exit watcher calls
//      on_exit_requested as soon as the session is ending (the loop joins its workers before it
//      returns, and a worker may be blocked in a login flow or a --copy-mode=wait transfer: those
//      waits must be cancelled first), then ends the loop
//   -> before_teardown (stops the transfer engine, whose completions notify the kernel)
//   -> unmount, destroy the session (destroy callback stops the Filesystem's workers).
// RunMount returns when the file system is unmounted (`globus-fuse unmount`, `fusermount3 -u`,
// `umount`) or signalled; everything it created is released by then.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "fs/filesystem.h"
#include "fs/fuse/kernel_notifier.h"

namespace gf::fs {

struct MountOptions {
  std::string mount_point;
  bool foreground = false;
  bool allow_other = false;
  std::vector<std::string> fuse_options;  // extra -o options for libfuse/the kernel
  int max_threads = 16;                   // FUSE worker threads, at most
  // Called in the daemon (after fork, before the loop), e.g. to write a pid file or start
  // threads (threads do not survive fork: the transfer engine starts here).
  std::function<void()> after_daemonize;
  // Called once, from a watcher thread, as soon as the session is ending (signal, unmount),
  // before the loop joins its workers: cancel whatever a FUSE worker may be waiting for.
  std::function<void()> on_exit_requested;
  // Called when the loop ended, while the kernel notifier still exists: stop everything that
  // may still call into the Filesystem from another thread (the transfer engine).
  std::function<void()> before_teardown;
};

// `notifier` is the one the Filesystem was built with: attached to the session while it runs.
Status RunMount(Filesystem& fs, FuseNotifier& notifier, const MountOptions& options);

}  // namespace gf::fs
