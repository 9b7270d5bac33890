// SessionLoop: one hot thread serves short requests; a request that waits hands the reading of
// requests to another worker (marked with MayBlock, or taken over by the watch); the thread cap;
// and every way the loop ends. Requests come from a pipe instead of /dev/fuse.
#include "fs/fuse/session_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/blocking.h"

namespace gf::fs {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kEnd = 0;       // Receive() returns 0: the session ended
constexpr uint64_t kFail = ~0ull;  // Receive() returns -EIO
constexpr auto kGuard = 30s;       // a deadlock guard, not a timing assertion

// Requests are 8-byte ids written to a pipe; Serve() runs the test's handler for the id.
class PipeSource final : public RequestSource {
 public:
  PipeSource() { REQUIRE(::pipe2(fds_, O_CLOEXEC) == 0); }
  ~PipeSource() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void Push(uint64_t id) { REQUIRE(::write(fds_[1], &id, sizeof id) == sizeof id); }

  int Receive(fuse_buf* b) override {
    if (!b->mem) {
      b->mem = std::malloc(sizeof(uint64_t));  // the loop frees it with free()
      b->size = sizeof(uint64_t);
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      ++receives_;
    }
    cv_.notify_all();
    ssize_t n = ::read(fds_[0], b->mem, sizeof(uint64_t));
    if (n < 0) {
      const int e = errno;
      if (e == EINTR && on_reader_interrupted) on_reader_interrupted();
      return -e;
    }
    if (n != sizeof(uint64_t)) return -EIO;
    uint64_t id;
    std::memcpy(&id, b->mem, sizeof id);
    if (id == kEnd) return 0;
    if (id == kFail) return -EIO;
    return static_cast<int>(n);
  }
  void Serve(const fuse_buf& b) override {
    uint64_t id;
    std::memcpy(&id, b.mem, sizeof id);
    {
      std::lock_guard<std::mutex> l(mu_);
      started_[id] = std::this_thread::get_id();
    }
    cv_.notify_all();
    if (handler) handler(id);
    {
      std::lock_guard<std::mutex> l(mu_);
      served_.insert(id);
    }
    cv_.notify_all();
  }
  bool Exited() override { return exited_.load(); }
  void Exit() override { exited_.store(true); }
  int Fd() override { return fds_[0]; }

  bool HasStarted(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return started_.count(id) != 0;
  }
  bool WaitStarted(uint64_t id) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kGuard, [&] { return started_.count(id) != 0; });
  }
  bool WaitServed(uint64_t id) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kGuard, [&] { return served_.count(id) != 0; });
  }
  // Past the loop's exit check: only the wake-up signal ends this Receive now.
  bool WaitReceives(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kGuard, [&] { return receives_ >= n; });
  }
  bool Served(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return served_.count(id) != 0;
  }
  std::thread::id ServedBy(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return started_.at(id);
  }

  std::function<void(uint64_t)> handler;
  std::function<void()> on_reader_interrupted;  // the loop's wake-up signal hit read()

 private:
  int fds_[2] = {-1, -1};
  std::atomic<bool> exited_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::thread::id> started_;
  std::set<uint64_t> served_;
  int receives_ = 0;
};

// A gate a handler waits at; opened by the test or by another request.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> l(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // False if it stayed shut for kGuard (the loop never let the opener run).
  bool Pass() {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kGuard, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct Running {
  SessionLoop& loop;
  std::function<void()> at_return;  // runs on Run()'s thread right after it returns
  int rc = 1;
  std::thread t;
  explicit Running(SessionLoop& l, std::function<void()> after = nullptr)
      : loop(l), at_return(std::move(after)), t([this] {
          rc = loop.Run();
          if (at_return) at_return();
        }) {}
  // A failed REQUIRE leaves the loop running: end it (a gate's guard frees a stuck request).
  ~Running() {
    if (t.joinable()) {
      loop.RequestExit();
      t.join();
    }
  }
  int Join() {
    t.join();
    return rc;
  }
};

SessionLoopOptions Opts(int max_threads, std::chrono::microseconds stall) {
  SessionLoopOptions o;
  o.max_threads = max_threads;
  o.stall = stall;
  return o;
}

TEST_CASE("SessionLoop: a stream of short requests is served by one thread", "[session_loop]") {
  PipeSource src;
  SessionLoop loop(src, Opts(8, std::chrono::hours(1)));
  Running run(loop);
  for (uint64_t id = 1; id <= 200; ++id) {
    src.Push(id);
    REQUIRE(src.WaitServed(id));
  }
  src.Push(kEnd);
  REQUIRE(run.Join() == 0);
  std::set<std::thread::id> threads;
  for (uint64_t id = 1; id <= 200; ++id) threads.insert(src.ServedBy(id));
  CHECK(threads.size() == 1);
  auto st = loop.Stats();
  CHECK(st.requests == 200);
  CHECK(st.threads == 1);
  CHECK(st.hand_offs == 0);
  CHECK(st.stalls == 0);
}

// Request 1 waits at a gate that only request 2 opens, so the loop must read request 2 while
// request 1 is still being served. `marked`: request 1 calls MayBlock() first (twice: the
// second mark changes nothing).
SessionLoopStats OneWaitsForTheNext(bool marked, std::chrono::microseconds stall) {
  PipeSource src;
  Gate gate;
  std::atomic<bool> passed{false};
  src.handler = [&](uint64_t id) {
    if (id == 1) {
      if (marked) {
        MayBlock();
        MayBlock();
      }
      passed = gate.Pass();
    }
    if (id == 2) gate.Open();
  };
  SessionLoop loop(src, Opts(8, stall));
  Running run(loop);
  src.Push(1);
  REQUIRE(src.WaitStarted(1));
  src.Push(2);
  REQUIRE(src.WaitServed(1));
  REQUIRE(src.WaitServed(2));
  src.Push(kEnd);
  REQUIRE(run.Join() == 0);
  CHECK(passed);
  CHECK(src.ServedBy(1) != src.ServedBy(2));
  return loop.Stats();
}

TEST_CASE("SessionLoop: a request that marks its wait lets the next request be served meanwhile",
          "[session_loop]") {
  auto st = OneWaitsForTheNext(true, std::chrono::hours(1));  // no watch to rescue it
  CHECK(st.hand_offs == 1);
  CHECK(st.stalls == 0);
  CHECK(st.threads == 2);
}

TEST_CASE("SessionLoop: an unmarked wait is taken over by the watch", "[session_loop]") {
  auto st = OneWaitsForTheNext(false, 1ms);
  CHECK(st.hand_offs == 0);
  CHECK(st.stalls >= 1);
  CHECK(st.threads == 2);
}

TEST_CASE("SessionLoop: the reader's descriptor, watched during a wait, hands off on a request",
          "[session_loop]") {
  PipeSource src;
  Gate gate;
  std::atomic<int> fd_while_leading{-2}, fd_after{-2}, polled{-2};
  src.handler = [&](uint64_t id) {
    if (id == 1) {  // what the HTTP transport does while it waits for the network
      const int fd = BlockingHook::WatchFd();
      fd_while_leading = fd;
      pollfd p{fd, POLLIN, 0};
      polled = ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kGuard).count()));
      MayBlock();
      fd_after = BlockingHook::WatchFd();
      (void)gate.Pass();
    }
    if (id == 2) gate.Open();
  };
  SessionLoop loop(src, Opts(8, std::chrono::hours(1)));
  Running run(loop);
  src.Push(1);
  REQUIRE(src.WaitStarted(1));
  src.Push(2);  // wakes request 1's poll
  REQUIRE(src.WaitServed(1));
  REQUIRE(src.WaitServed(2));
  src.Push(kEnd);
  REQUIRE(run.Join() == 0);
  CHECK(fd_while_leading == src.Fd());
  CHECK(polled == 1);
  CHECK(fd_after == -1);  // no longer the reader
  CHECK(loop.Stats().hand_offs == 1);
  CHECK(BlockingHook::WatchFd() == -1);  // not a loop worker
}

TEST_CASE("SessionLoop: the watch leaves the reading to a wait that watches the descriptor",
          "[session_loop]") {
  // The HTTP transport's wait for a PUT watches /dev/fuse itself and hands off when a request
  // comes (above). The watch must not take the reading from it meanwhile: at a real server's
  // latency that woke a second thread for every file of a `cp -r`. Once the wait says it is
  // over (EndWatch), an unmarked wait in the same request is taken over as usual.
  PipeSource src;
  Gate gate;
  SessionLoop* loop_ptr = nullptr;
  std::atomic<int> fd_watched{-2};
  std::atomic<uint64_t> stalls_while_watching{99};
  std::atomic<bool> second_started_while_watching{true}, passed{false};
  src.handler = [&](uint64_t id) {
    if (id == 1) {
      fd_watched = BlockingHook::WatchFd();
      const uint64_t before = loop_ptr->Stats().stalls;
      // Fifty turns of the watch (stall = 1 ms) with request 2 waiting unread. Nothing here
      // acts on the descriptor, so only the watch could let request 2 in.
      std::this_thread::sleep_for(50ms);
      stalls_while_watching = loop_ptr->Stats().stalls - before;
      second_started_while_watching = src.HasStarted(2);
      BlockingHook::EndWatch();
      passed = gate.Pass();  // unmarked: only the watch can let request 2 open it
    }
    if (id == 2) gate.Open();
  };
  src.Push(1);
  src.Push(2);  // waiting in the pipe, unread, from the start
  SessionLoop loop(src, Opts(8, 1ms));
  loop_ptr = &loop;
  Running run(loop);
  REQUIRE(src.WaitServed(1));
  REQUIRE(src.WaitServed(2));
  src.Push(kEnd);
  REQUIRE(run.Join() == 0);
  if (fd_watched == src.Fd()) {
    CHECK(stalls_while_watching == 0);
    CHECK_FALSE(second_started_while_watching);
  } else {
    // This worker was held off the CPU for more than a stall between reading request 1 and
    // starting to watch (a loaded machine), and the watch had already passed the reading on:
    // nothing to check here, and no reason to fail.
    WARN("request 1 lost the reading before it watched; the watching part was not exercised");
  }
  CHECK(passed);
  CHECK(src.ServedBy(1) != src.ServedBy(2));
  const SessionLoopStats st = loop.Stats();
  CHECK(st.hand_offs == 0);
  CHECK(st.stalls >= 1);  // after EndWatch
}

TEST_CASE("SessionLoop: at max_threads a request waits for a worker, and no more start",
          "[session_loop]") {
  PipeSource src;
  Gate a, b;
  src.handler = [&](uint64_t id) {
    if (id == 1) {
      MayBlock();
      (void)a.Pass();
    }
    if (id == 2) {
      MayBlock();
      (void)b.Pass();
    }
  };
  SessionLoop loop(src, Opts(2, std::chrono::hours(1)));
  Running run(loop);
  src.Push(1);
  REQUIRE(src.WaitStarted(1));
  src.Push(2);
  REQUIRE(src.WaitStarted(2));
  src.Push(3);  // both workers wait: nobody reads it until one is done
  a.Open();
  REQUIRE(src.WaitServed(3));
  CHECK(src.ServedBy(3) == src.ServedBy(1));  // the first worker back took over
  CHECK_FALSE(src.Served(2));
  b.Open();
  REQUIRE(src.WaitServed(2));
  src.Push(kEnd);
  REQUIRE(run.Join() == 0);
  auto st = loop.Stats();
  CHECK(st.threads == 2);
  CHECK(st.hand_offs == 2);
}

TEST_CASE("SessionLoop: RequestExit wakes the reader, then waits for the request being served",
          "[session_loop]") {
  PipeSource src;
  Gate gate;
  std::atomic<bool> served_gate{false};
  src.handler = [&](uint64_t id) {
    if (id == 1) {
      MayBlock();
      served_gate = gate.Pass();  // false: the reader was not woken while request 1 ran
    }
  };
  std::atomic<int> interrupted{0};
  src.on_reader_interrupted = [&] {
    ++interrupted;
    gate.Open();  // request 1 can end only once the reader has been woken
  };
  SessionLoop loop(src, Opts(4, std::chrono::hours(1)));
  std::atomic<bool> served_at_return{false};
  Running run(loop, [&] { served_at_return = src.Served(1); });
  src.Push(1);
  REQUIRE(src.WaitStarted(1));
  src.Push(2);
  REQUIRE(src.WaitServed(2));
  REQUIRE(src.WaitReceives(3));  // the worker of request 2 reads again
  loop.RequestExit();
  REQUIRE(run.Join() == 0);
  CHECK(interrupted >= 1);
  CHECK(served_gate);
  CHECK(served_at_return);  // Run joined the worker of request 1
}

TEST_CASE("SessionLoop: the session's end and a read error end Run", "[session_loop]") {
  PipeSource src;
  SessionLoop loop(src, Opts(4, 10ms));
  Running run(loop);
  SECTION("end of session") {
    src.Push(5);
    REQUIRE(src.WaitServed(5));
    src.Push(kEnd);
    CHECK(run.Join() == 0);
  }
  SECTION("a read error is returned") {
    src.Push(kFail);
    CHECK(run.Join() == -EIO);
  }
  CHECK(src.Exited());
}

}  // namespace
}  // namespace gf::fs
