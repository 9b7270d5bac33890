// FuseNotifier: notes queued while a worker serves a request wait for the request's end and are
// sent by that worker (no wake-up of the notification thread); other notes go to the thread.
// The session is never mounted: libfuse refuses each send (no kernel connection), which the
// notifier counts as delivered like any failed send.
#include "fs/fuse/kernel_notifier.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

namespace gf::fs {
namespace {

using namespace std::chrono_literals;

struct Session {
  fuse_session* se = nullptr;
  Session() {
    static const fuse_lowlevel_ops ops{};
    char arg0[] = "test";
    char* argv[] = {arg0};
    fuse_args args = FUSE_ARGS_INIT(1, argv);
    se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
    fuse_opt_free_args(&args);  // fuse_session_new may have added to them
    REQUIRE(se != nullptr);
  }
  ~Session() { fuse_session_destroy(se); }
};

TEST_CASE("FuseNotifier: a request's notes are sent by its worker after the request",
          "[kernel_notifier]") {
  Session s;
  FuseNotifier n;
  n.Attach(s.se);
  // Let the notification thread start and go idle first: a thread that starts (or wakes)
  // while notes are queued sends them, deferred or not.
  n.InvalidateInode(3);
  REQUIRE(n.Settle(30s));
  std::thread worker([&] {
    FuseNotifier::BeginDeferral();
    n.InvalidateInode(7);
    n.InvalidateEntry(1, "a.txt");
    // Still serving: nothing was sent, and the notification thread was not woken for them.
    CHECK_FALSE(n.Settle(0ms));
    n.EndDeferral();
    CHECK(n.Settle(0ms));  // sent by this thread, before EndDeferral returned
  });
  worker.join();
  n.Detach();
}

TEST_CASE("FuseNotifier: notes from outside a request go to the notification thread",
          "[kernel_notifier]") {
  Session s;
  FuseNotifier n;
  n.Attach(s.se);
  n.InvalidateInode(7);
  CHECK(n.Settle(30s));  // a deadlock guard: the thread sends it at once
  // A thread that deferred nothing sends nothing at EndDeferral.
  FuseNotifier::BeginDeferral();
  n.EndDeferral();
  CHECK(n.Settle(0ms));
  n.Detach();
}

}  // namespace
}  // namespace gf::fs
