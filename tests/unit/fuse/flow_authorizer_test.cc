// FlowAuthorizer: the fs core's Authorizer over the AuthorizationBroker.
#include "fs/fuse/flow_authorizer.h"

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

#include "common/clock.h"

namespace gf::fs {
namespace {

const std::string kGrex = "c0110000-0000-4000-8000-000000000001";

Error GrexError() {
  Error e = Error::Api(502, "ExternalError.DirListingFailed.LoginFailed", "Login Failed");
  AuthorizationParameters a;
  a.session_required_single_domain = {"rprox.hpc.umanitoba.ca"};
  a.session_message = "Session reauthentication required (Globus Transfer)";
  e.authorization = a;
  e.context = "ls " + kGrex + ":/";
  return e;
}

// A flow that has already finished when Wait() is called.
class DoneFlow final : public auth::FlowHandle {
 public:
  explicit DoneFlow(Status s) : s_(std::move(s)) {}
  std::string url() const override { return "https://auth.example/authorize"; }
  bool browser_opened() const override { return false; }
  Status Wait() override { return s_; }
  void Cancel() override {}

 private:
  Status s_;
};

// A flow nobody completes: Wait() returns only when cancelled (the broker does at shutdown).
class PendingFlow final : public auth::FlowHandle {
 public:
  std::string url() const override { return "https://auth.example/authorize"; }
  bool browser_opened() const override { return false; }
  Status Wait() override {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return cancelled_; });
    return Error::Auth(AuthFailure::kFlowFailed, "cancelled");
  }
  void Cancel() override {
    std::lock_guard<std::mutex> l(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

struct Rig {
  FakeClock clock;
  Status outcome = Status::Ok();
  bool pending = false;  // flows never complete
  std::vector<auth::FlowSpec> specs;
  std::unique_ptr<auth::AuthorizationBroker> broker;
  Rig() {
    auth::AuthorizationBroker::Options o;
    o.start_ticker = false;
    broker = std::make_unique<auth::AuthorizationBroker>(
        [this](const auth::FlowSpec& s) -> Result<std::unique_ptr<auth::FlowHandle>> {
          specs.push_back(s);
          if (pending) return std::unique_ptr<auth::FlowHandle>(new PendingFlow());
          return std::unique_ptr<auth::FlowHandle>(new DoneFlow(outcome));
        },
        [](const AuthorizationParameters&) { return std::string("t0"); }, clock, o);
  }
};

TEST_CASE("FlowAuthorizer runs the flow with the collection's name and reports success",
          "[flow_authorizer]") {
  Rig r;
  FlowAuthorizer a(*r.broker, [](const std::string& id) {
    return id == kGrex ? std::string("UManitoba Grex HPC") : std::string();
  });
  Status s = a.Authorize(GrexError(), kGrex);
  CHECK(s.ok());
  REQUIRE(r.specs.size() == 1);
  CHECK(r.specs[0].subject == "UManitoba Grex HPC");
  CHECK(r.specs[0].collection_id == kGrex);
}

TEST_CASE("FlowAuthorizer: a refused flow is EACCES with the fix and the operation's context",
          "[flow_authorizer]") {
  Rig r;
  r.outcome = Error::Auth(AuthFailure::kFlowFailed, "Globus Auth refused the login: access_denied");
  FlowAuthorizer a(*r.broker);
  Status s = a.Authorize(GrexError(), kGrex);
  REQUIRE_FALSE(s.ok());
  CHECK(ErrnoFor(s.error()) == EACCES);
  CHECK(s.error().context == "ls " + kGrex + ":/");
  CHECK_THAT(s.error().message,
             Catch::Contains("globus-fuse login --domain rprox.hpc.umanitoba.ca"));
  // Named by id when no name is known.
  CHECK_THAT(s.error().message, Catch::StartsWith(kGrex));
}

TEST_CASE("FlowAuthorizer passes other errors through without a flow", "[flow_authorizer]") {
  Rig r;
  FlowAuthorizer a(*r.broker);
  Status s = a.Authorize(Error::Api(404, "ClientError.NotFound", "nope"), kGrex);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "ClientError.NotFound");
  CHECK(r.specs.empty());
}

TEST_CASE("FlowAuthorizer: an interrupted request stops waiting for the login with EINTR",
          "[flow_authorizer]") {
  // Ctrl-C on an `ls` waiting for a login: the adapter publishes the request's interrupt flag
  // (RequestCancel); the wait ends, the flow stays for whoever needs it next.
  Rig r;
  r.pending = true;
  FlowAuthorizer a(*r.broker);
  std::atomic<bool> interrupted{true};
  auto op = std::async(std::launch::async, [&] {
    RequestCancel scope(&interrupted);  // what the adapter does on the request's thread
    return a.Authorize(GrexError(), kGrex);
  });
  // The bound only keeps a broken build from hanging (it is not a timing assertion).
  if (op.wait_for(std::chrono::seconds(20)) != std::future_status::ready) r.broker->Shutdown();
  Status s = op.get();
  REQUIRE_FALSE(s.ok());
  CHECK(ErrnoFor(s.error()) == EINTR);
  CHECK(r.specs.size() == 1);
}

}  // namespace
}  // namespace gf::fs
