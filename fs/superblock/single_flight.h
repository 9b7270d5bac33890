// SingleFlight: concurrent requests for the same key make exactly one call.
//
// The first caller for a key (the leader) runs the function; callers that arrive while it is
// running wait for the leader's result and share it. The map holds a key only while a call is
// in flight, so a caller arriving after the leader finished runs a new call (callers check
// their cache first). Waiters wait without a timeout, which is bounded because the leader's
// call is: every remote call has a bounded time (transport timeouts), and the leader never
// waits on anything else. The internal mutex is a leaf lock, never held while `fn` runs.
// A follower handed an interrupted leader's EINTR (Ctrl-C on the leader's caller) asks again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "common/blocking.h"
#include "common/cancel.h"
#include "common/error.h"
#include "common/mutex.h"
#include "common/result.h"

namespace gf::fs {

template <class Key, class Value>
class SingleFlight {
 public:
  // Runs fn() unless a call for `key` is in flight, in which case its result is shared.
  // `*joined` (optional) tells whether this caller shared another caller's result.
  Result<Value> Do(const Key& key, const std::function<Result<Value>()>& fn,
                   bool* joined = nullptr) {
    for (;;) {
      bool followed = false;
      Result<Value> r = DoOnce(key, fn, &followed);
      if (joined) *joined = followed;
      // A leader's caller pressed Ctrl-C (its cancel flag ends its remote call with EINTR):
      // that is no answer for a follower that was not interrupted itself. Ask again.
      if (r.ok() || !followed || ErrnoFor(r.error()) != EINTR) return r;
      const std::atomic<bool>* mine = CancelScope::Current();
      if (mine && mine->load()) return r;
    }
  }

  // Callers currently waiting for another caller's result (for tests and status).
  int waiting() const { return waiting_.load(); }

  bool InFlight(const Key& key) const EXCLUDES(mu_) {
    MutexLock l(mu_);
    return calls_.count(key) != 0;
  }

 private:
  Result<Value> DoOnce(const Key& key, const std::function<Result<Value>()>& fn, bool* joined)
      EXCLUDES(mu_) {
    std::shared_ptr<Call> call;
    bool leader = false;
    {
      MutexLock l(mu_);
      auto it = calls_.find(key);
      if (it == calls_.end()) {
        call = std::make_shared<Call>();
        calls_.emplace(key, call);
        leader = true;
      } else {
        call = it->second;
      }
    }
    if (joined) *joined = !leader;
    if (!leader) {
      MayBlock();  // the leader's call may take a while
      ++waiting_;
      UniqueLock l(call->mu);
      call->cv.wait(l.native(), [&] {
        call->mu.AssertHeld();
        return call->result.has_value();
      });
      --waiting_;
      return *call->result;
    }
    Result<Value> r = fn();
    {
      MutexLock l(mu_);
      calls_.erase(key);
    }
    {
      MutexLock l(call->mu);
      call->result.emplace(r);
    }
    call->cv.notify_all();
    return r;
  }

  struct Call {
    Mutex mu;  // leaf lock, taken without mu_: guards result
    std::condition_variable cv;
    std::optional<Result<Value>> result GUARDED_BY(mu);
  };
  mutable Mutex mu_;  // leaf lock: guards calls_
  std::map<Key, std::shared_ptr<Call>> calls_ GUARDED_BY(mu_);
  std::atomic<int> waiting_{0};
};

}  // namespace gf::fs
