#include "fs/mount.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>
#include <thread>

#include "common/log.h"
#include "fs/fuse_adapter.h"

namespace gf::fs {

namespace {
struct SessionDeleter {
  void operator()(fuse_session* se) const { fuse_session_destroy(se); }
};
}  // namespace

Status RunMount(Filesystem& fs, const MountOptions& o) {
  std::string opts = "fsname=globus-fuse,subtype=globus-fuse,default_permissions,max_read=1048576";
  if (o.allow_other) opts += ",allow_other";
  for (const auto& extra : o.fuse_options) opts += "," + extra;
  std::vector<std::string> argv_s = {"globus-fuse", "-o", opts};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  FuseAdapter adapter(fs);
  fs.SetNotifier(&adapter);
  std::unique_ptr<fuse_session, SessionDeleter> se(
      fuse_session_new(&args, &FuseAdapter::Ops(), sizeof(fuse_lowlevel_ops), &adapter));
  fuse_opt_free_args(&args);
  if (!se) {
    fs.SetNotifier(nullptr);
    return Error::Config("FUSE rejected the mount options '" + opts + "'");
  }
  if (fuse_set_signal_handlers(se.get()) != 0) {
    fs.SetNotifier(nullptr);
    return Error::Local(EIO, "cannot install signal handlers");
  }
  if (fuse_session_mount(se.get(), o.mount_point.c_str()) != 0) {
    fuse_remove_signal_handlers(se.get());
    fs.SetNotifier(nullptr);
    return Error::Local(EIO, "cannot mount on " + o.mount_point +
                                 " (is it an existing empty directory you own, and is "
                                 "/dev/fuse available? `fusermount3 -u` a stale mount first)");
  }
  if (!o.foreground && fuse_daemonize(0) != 0) {
    fuse_session_unmount(se.get());
    fuse_remove_signal_handlers(se.get());
    fs.SetNotifier(nullptr);
    return Error::Local(EIO, "cannot daemonize");
  }
  if (o.after_daemonize) o.after_daemonize();
  log::Info("mount", "mounted on ", o.mount_point, o.foreground ? " (foreground)" : "");
  adapter.StartNotifier(se.get());

  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(std::max(o.max_threads, 2)));
  fuse_loop_cfg_set_idle_threads(cfg, 4);
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  // libfuse has no "exiting" callback: look every 100 ms (cheap; only until the loop ends).
  std::atomic<bool> loop_done{false};
  std::thread exit_watch;
  if (o.on_exit_requested) {
    exit_watch = std::thread([&] {
      while (!loop_done.load()) {
        if (fuse_session_exited(se.get())) {
          log::Info("mount", "session ending: cancelling waits");
          o.on_exit_requested();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  int rc = fuse_session_loop_mt(se.get(), cfg);
  loop_done = true;
  if (exit_watch.joinable()) exit_watch.join();
  fuse_loop_cfg_destroy(cfg);

  if (o.before_teardown) o.before_teardown();
  adapter.StopNotifier();
  fuse_session_unmount(se.get());
  fuse_remove_signal_handlers(se.get());
  se.reset();  // runs the destroy callback (fs.Stop()) when init had run
  fs.Stop();
  fs.SetNotifier(nullptr);
  log::Info("mount", "unmounted ", o.mount_point);
  if (rc != 0 && rc != -EINTR && rc != SIGTERM && rc != SIGINT && rc != SIGHUP)
    return Error::Local(EIO, "FUSE session ended with error " + std::to_string(rc));
  return Status::Ok();
}

}  // namespace gf::fs
