// BackgroundCalls: marks the calling thread's API calls as work no user is waiting on (the rate
// limiter's background lane, api/rate_limiter.h). A plain scope object with no dependency, so
// code that sees the service only through api/transfer_api.h (fs/) can use it too; the
// RequestExecutor reads it for each call.
#pragma once

namespace gf::api {

// While one lives, calls made on THIS thread use the rate limiter's background lane (see
// rate_limiter.h): work no user is waiting on at that moment. The transfer engine's RunOnce
// holds one; a FUSE thread never does. Nestable.
class BackgroundCalls {
 public:
  BackgroundCalls();
  ~BackgroundCalls();
  BackgroundCalls(const BackgroundCalls&) = delete;
  BackgroundCalls& operator=(const BackgroundCalls&) = delete;
  static bool Active();

 private:
  bool previous_;
};

}  // namespace gf::api
