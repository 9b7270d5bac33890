#include "fs/fuse/session_loop.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/blocking.h"
#include "common/log.h"

namespace gf::fs {

namespace {
SessionLoopOptions Checked(SessionLoopOptions o) {
  if (o.max_threads < 2) o.max_threads = 2;  // one to read while another waits
  return o;
}
}  // namespace

SessionLoop::SessionLoop(RequestSource& source, SessionLoopOptions o)
    : source_(source), o_(Checked(o)) {
  sem_init(&finished_, 0, 0);
  (void)WakeSignal();  // installed before any worker can be sent it
}

SessionLoop::~SessionLoop() { sem_destroy(&finished_); }

namespace {
void OnWakeSignal(int) {}  // only interrupts the read() it lands in
}  // namespace

int SessionLoop::WakeSignal() {
  static const int sig = [] {
    struct sigaction sa {};
    sa.sa_handler = OnWakeSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the interrupted read() fails with EINTR
    sigaction(SIGRTMIN, &sa, nullptr);
    return SIGRTMIN;
  }();
  return sig;
}

namespace {
// Workers and the watch take no SIGTERM/SIGINT/SIGHUP/SIGQUIT: those go to the thread in Run(),
// whose sem_wait() they interrupt (libfuse's signal handlers only mark the session).
int StartThread(pthread_t* tid, void* (*fn)(void*), void* arg) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGQUIT);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  int rc = pthread_create(tid, nullptr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}
}  // namespace

int SessionLoop::Run() {
  bool started;
  {
    MutexLock l(mu_);
    started = StartWorkerLocked();
  }
  if (!started) {
    LogStartError();
    return -EAGAIN;
  }
  watch_started_ = StartThread(&watch_tid_, &SessionLoop::WatchMain, this) == 0;
  if (!watch_started_)
    log::Warn("fuse",
              "cannot start the loop's watch: a request that waits unmarked holds up the others");

  // sem_wait() returns early on a signal (the handlers mark the session as exited).
  while (!source_.Exited()) sem_wait(&finished_);

  std::vector<Worker*> all;
  {
    MutexLock l(mu_);
    exiting_ = true;
    for (auto& w : workers_) all.push_back(w.get());
  }
  followers_.notify_all();
  watch_cv_.notify_all();
  if (watch_started_) pthread_join(watch_tid_, nullptr);
  // A worker blocked in Receive() is woken by the wake-up signal (read() fails with EINTR) and
  // then sees the session's end; the others see it when their request is answered. The signal
  // goes again every 10 ms: one sent just before the worker entered read() wakes nothing. Each
  // round signals every worker not yet joined, not only the one being joined: a reader must not
  // wait in read() for an earlier worker's long request to end. (Not pthread_cancel, as libfuse
  // does: a cancellation unwinding our own frames leaves ASan's stack poison behind.)
  for (size_t i = 0; i < all.size(); ++i) {
    Worker* w = all[i];
    for (;;) {
      for (size_t j = i; j < all.size(); ++j)  // not joined yet, so their ids are still valid
        if (all[j]->receiving.load()) pthread_kill(all[j]->tid, WakeSignal());
      timespec until{};
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 10 * 1000 * 1000;
      if (until.tv_nsec >= 1000000000) {
        until.tv_sec += 1;
        until.tv_nsec -= 1000000000;
      }
      if (pthread_timedjoin_np(w->tid, nullptr, &until) == 0) break;
    }
  }
  MutexLock l(mu_);
  for (auto& w : workers_) {
    std::free(w->buf.mem);
    w->buf.mem = nullptr;
  }
  return error_;
}

void SessionLoop::RequestExit() {
  source_.Exit();
  sem_post(&finished_);
}

SessionLoopStats SessionLoop::Stats() const {
  MutexLock l(mu_);
  SessionLoopStats s;
  s.requests = requests_.load();
  s.hand_offs = hand_offs_;
  s.stalls = stalls_;
  s.threads = static_cast<int>(workers_.size());
  return s;
}

bool SessionLoop::StartWorkerLocked() {
  if (exiting_ || static_cast<int>(workers_.size()) >= o_.max_threads) return false;
  auto w = std::make_unique<Worker>();
  w->loop = this;
  int rc = StartThread(&w->tid, &SessionLoop::WorkerMain, w.get());
  if (rc != 0) {
    start_error_.store(rc);  // logged by the caller once mu_ is released (mu_ is a leaf)
    return false;
  }
  workers_.push_back(std::move(w));
  return true;
}

void* SessionLoop::WorkerMain(void* p) {
  auto* w = static_cast<Worker*>(p);
  BlockingHook::Set(&SessionLoop::OnMayBlock, &SessionLoop::OnWatchFd, &SessionLoop::OnEndWatch, w);
  w->loop->Work(w);
  BlockingHook::Set(nullptr, nullptr, nullptr, nullptr);
  return nullptr;
}

void* SessionLoop::WatchMain(void* p) {
  static_cast<SessionLoop*>(p)->Watch();
  return nullptr;
}

void SessionLoop::OnMayBlock(void* p) {
  auto* w = static_cast<Worker*>(p);
  // Cheap when this worker no longer leads (a second mark in the same request).
  if (w->loop->leader_.load(std::memory_order_relaxed) == w) w->loop->HandOff(w);
}

int SessionLoop::OnWatchFd(void* p) {
  auto* w = static_cast<Worker*>(p);
  if (w->loop->leader_.load(std::memory_order_relaxed) != w) return -1;
  const int fd = w->loop->source_.Fd();
  if (fd >= 0) w->watching.store(w->serving.load(std::memory_order_relaxed));
  return fd;
}

void SessionLoop::OnEndWatch(void* p) { static_cast<Worker*>(p)->watching.store(0); }

void SessionLoop::Work(Worker* w) {
  for (;;) {
    {
      UniqueLock l(mu_);
      for (;;) {
        if (exiting_) return;
        if (leader_.load() == nullptr) break;
        ++idle_;
        followers_.wait(l.native());
        --idle_;
      }
      leader_.store(w);
    }
    if (!Lead(w)) return;
  }
}

bool SessionLoop::Lead(Worker* w) {
  while (leader_.load(std::memory_order_acquire) == w) {
    if (source_.Exited()) {
      Finish(0);
      return false;
    }
    w->receiving.store(true);
    int res = source_.Receive(&w->buf);
    w->receiving.store(false);
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res <= 0) {
      Finish(res);
      return false;
    }
    // Dekker with the watch: it marks itself parked, then looks at `serving`; we publish
    // `serving`, then look at the mark. One of us sees the other (both seq_cst).
    w->serving.store(requests_.fetch_add(1, std::memory_order_relaxed) + 1);
    if (watch_parked_.load()) {
      MutexLock l(mu_);
      watch_parked_.store(false);
      watch_cv_.notify_one();
    }
    source_.Serve(w->buf);
    w->serving.store(0, std::memory_order_relaxed);
  }
  return true;
}

void SessionLoop::Finish(int error) {
  source_.Exit();
  {
    MutexLock l(mu_);
    if (error < 0 && error_ == 0) error_ = error;
  }
  sem_post(&finished_);
}

void SessionLoop::HandOff(Worker* w) {
  bool wake;
  {
    MutexLock l(mu_);
    if (leader_.load() != w) return;
    leader_.store(nullptr);
    ++hand_offs_;
    wake = PromoteLocked();
  }
  // After unlocking: the woken follower's first step is to take mu_.
  if (wake) followers_.notify_one();
  LogStartError();
}

void SessionLoop::LogStartError() {
  if (int rc = start_error_.exchange(0))
    log::Warn("fuse", "cannot start a FUSE worker thread (", std::strerror(rc),
              "): requests wait for a busy worker");
}

bool SessionLoop::PromoteLocked() {
  if (exiting_) return false;
  if (idle_ > 0) return true;
  StartWorkerLocked();  // at the cap: the first worker whose request ends takes over
  return false;
}

void SessionLoop::Watch() {
  UniqueLock l(mu_);
  while (!exiting_) {
    Worker* w = leader_.load();
    uint64_t n = w ? w->serving.load() : 0;
    if (n == 0) {
      // The leader is reading (or there is none): sleep until a request starts.
      watch_parked_.store(true);
      w = leader_.load();
      n = w ? w->serving.load() : 0;
      if (n == 0) {
        watch_cv_.wait(l.native(), [&] {
          mu_.AssertHeld();
          return exiting_ || !watch_parked_.load();
        });
        watch_parked_.store(false);
        continue;
      }
      watch_parked_.store(false);
    }
    watch_cv_.wait_for(l.native(), o_.stall, [&] {
      mu_.AssertHeld();
      return exiting_;
    });
    if (exiting_) return;
    if (leader_.load() == w && w->serving.load() == n && w->watching.load() != n) {
      // Still serving the same request inline, unmarked and not watching: let another worker
      // read. (A request whose watching wait ended is looked at again at the next turn.)
      leader_.store(nullptr);
      ++stalls_;
      const bool wake = PromoteLocked();
      l.unlock();
      if (wake) followers_.notify_one();
      LogStartError();
      l.lock();
    }
  }
}

}  // namespace gf::fs
