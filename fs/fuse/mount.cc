#include "fs/fuse/mount.h"

#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "common/log.h"
#include "common/mutex.h"
#include "fs/fuse/fuse_adapter.h"
#include "fs/fuse/kernel_notifier.h"
#include "fs/fuse/session_loop.h"

namespace gf::fs {

namespace {
struct SessionDeleter {
  void operator()(fuse_session* se) const { fuse_session_destroy(se); }
};

// libfuse's own messages. While the session is being set up they are only kept (the error we
// return says the same thing in one line, instead of libfuse's line plus ours); afterwards they
// go to the log.
Mutex g_fuse_log_mu;  // a leaf
std::string g_fuse_last GUARDED_BY(g_fuse_log_mu);
std::atomic<bool> g_fuse_setup{false};

// libfuse may print one line in several calls: keep the raw text, use its last line.
std::string LastLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  auto nl = text.rfind('\n');
  if (nl != std::string::npos) text.erase(0, nl + 1);
  if (text.rfind("fuse: ", 0) == 0) text.erase(0, 6);
  return text;
}

void FuseLog(enum fuse_log_level level, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (g_fuse_setup.load()) {
    MutexLock l(g_fuse_log_mu);
    g_fuse_last += buf;
    return;
  }
  std::string m = LastLine(buf);
  if (m.empty()) return;
  if (level <= FUSE_LOG_WARNING)
    log::Warn("fuse", m);
  else
    log::Debug("fuse", m);
}

// Redirects fd 2 into a pipe until Finish(), which restores it and returns the last line
// written meanwhile (a helper that keeps running cannot block us: the read end is non-blocking).
class StderrCapture {
 public:
  StderrCapture() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return;
    saved_ = ::dup(STDERR_FILENO);
    if (saved_ < 0 || ::dup2(p[1], STDERR_FILENO) < 0) {
      ::close(p[0]);
      ::close(p[1]);
      if (saved_ >= 0) ::close(saved_);
      saved_ = -1;
      return;
    }
    ::close(p[1]);
    read_ = p[0];
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() { Finish(); }

  std::string Finish() {
    if (saved_ < 0) return "";
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(read_, buf, sizeof buf)) > 0;) text.append(buf, n);
    ::close(read_);
    return LastLine(text);
  }

 private:
  int saved_ = -1, read_ = -1;
};

// Requests from the session; kernel notifications queued while one is served are sent after
// its reply, by the same worker (FuseNotifier::EndDeferral), then the bookkeeping it deferred
// runs (AfterReply, fs/hooks.h).
class MountSource final : public FuseSessionSource {
 public:
  MountSource(fuse_session* se, FuseNotifier& notifier)
      : FuseSessionSource(se), notifier_(notifier) {}
  void Serve(const fuse_buf& buf) override {
    FuseNotifier::BeginDeferral();
    AfterReply::Begin();
    FuseSessionSource::Serve(buf);
    notifier_.EndDeferral();
    AfterReply::End();
  }

 private:
  FuseNotifier& notifier_;
};

// The last libfuse message of the setup, as " (message)", or "".
std::string TakeFuseMessage() {
  MutexLock l(g_fuse_log_mu);
  std::string m = LastLine(g_fuse_last);
  g_fuse_last.clear();
  return m.empty() ? "" : " (" + m + ")";
}
}  // namespace

Status RunMount(Filesystem& fs, FuseNotifier& notifier, const MountOptions& o) {
  std::string opts = "fsname=globus-fuse,subtype=globus-fuse,default_permissions,max_read=1048576";
  if (o.allow_other) opts += ",allow_other";
  for (const auto& extra : o.fuse_options) opts += "," + extra;
  std::vector<std::string> argv_s = {"globus-fuse", "-o", opts};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  FuseAdapter adapter(fs);
  fuse_set_log_func(FuseLog);
  g_fuse_setup = true;
  struct SetupDone {
    ~SetupDone() { g_fuse_setup = false; }
  } setup_done;
  std::unique_ptr<fuse_session, SessionDeleter> se(
      fuse_session_new(&args, &FuseAdapter::Ops(), sizeof(fuse_lowlevel_ops), &adapter));
  fuse_opt_free_args(&args);
  if (!se) {
    std::string user_opts;
    for (const auto& extra : o.fuse_options) user_opts += (user_opts.empty() ? "" : ",") + extra;
    return Error::Config("FUSE rejected the mount options '" + user_opts + "'" + TakeFuseMessage() +
                         ": -o takes config keys (`globus-fuse help config`) and FUSE mount "
                         "options such as ro or allow_other");
  }
  if (fuse_set_signal_handlers(se.get()) != 0) {
    return Error::Local(EIO, "cannot install signal handlers");
  }
  // Without privileges libfuse runs fusermount3, which reports on our stderr: catch that too.
  StderrCapture fusermount;
  const int mounted = fuse_session_mount(se.get(), o.mount_point.c_str());
  std::string helper = fusermount.Finish();
  if (mounted != 0) {
    fuse_remove_signal_handlers(se.get());
    std::string why = TakeFuseMessage();
    if (!helper.empty()) why = " (" + helper + ")";
    if (why.empty())
      why =
          " (is it an existing directory you can write to, and is /dev/fuse available? "
          "`fusermount3 -u` a stale mount first)";
    return Error::Local(EIO, "cannot mount on " + o.mount_point + why);
  }
  g_fuse_setup = false;
  if (!o.foreground && fuse_daemonize(0) != 0) {
    fuse_session_unmount(se.get());
    fuse_remove_signal_handlers(se.get());
    return Error::Local(EIO, "cannot daemonize");
  }
  if (o.after_daemonize) o.after_daemonize();
  log::Info("mount", "mounted on ", o.mount_point, o.foreground ? " (foreground)" : "");
  notifier.Attach(se.get());

  MountSource source(se.get(), notifier);
  SessionLoopOptions loop_opts;
  loop_opts.max_threads = o.max_threads;
  SessionLoop loop(source, loop_opts);
  // libfuse has no "exiting" callback: look every 100 ms (cheap; only until the loop ends).
  // The look also ends the loop itself: a signal that lands just before Run() starts to wait
  // only marks the session, and would leave Run() waiting.
  std::atomic<bool> loop_done{false};
  std::thread exit_watch([&] {
    while (!loop_done.load()) {
      if (fuse_session_exited(se.get())) {
        log::Info("mount", "session ending: cancelling waits");
        if (o.on_exit_requested) o.on_exit_requested();
        loop.RequestExit();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  int rc = loop.Run();
  loop_done = true;
  exit_watch.join();
  const SessionLoopStats st = loop.Stats();
  log::Info("mount", "served ", st.requests, " FUSE requests on ", st.threads, " thread(s) (",
            st.hand_offs, " handed off while waiting, ", st.stalls, " taken over by the watch)");
  fuse_session_reset(se.get());

  if (o.before_teardown) o.before_teardown();
  notifier.Detach();
  fuse_session_unmount(se.get());
  fuse_remove_signal_handlers(se.get());
  se.reset();  // runs the destroy callback (fs.Stop()) when init had run
  fs.Stop();
  log::Info("mount", "unmounted ", o.mount_point);
  if (rc != 0 && rc != -EINTR && rc != SIGTERM && rc != SIGINT && rc != SIGHUP)
    return Error::Local(EIO, "FUSE session ended with error " + std::to_string(rc));
  return Status::Ok();
}

}  // namespace gf::fs
