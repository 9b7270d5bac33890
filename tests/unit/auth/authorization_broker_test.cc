// AuthorizationBroker: one flow per requirement, waiters, deadlines on a FakeClock, fail-fast,
// external logins, refusal, status snapshot; plus the production starter and fingerprint.
#include "auth/authorization_broker.h"

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "auth/scopes.h"
#include "auth/token_manager.h"
#include "auth/token_source.h"
#include "auth/token_store.h"
#include "common/http.h"
#include "tests/support/fake_transport.h"
#include "tests/unit/auth/http_client.h"
#include "tests/unit/auth/temp_dir.h"

namespace gf::auth {
namespace {

using namespace std::chrono_literals;

const std::string kGrex = "c0110000-0000-4000-8000-000000000001";
const std::string kCedar = "c0110000-0000-4000-8000-000000000002";
const std::string kDomain = "rprox.hpc.umanitoba.ca";

// The 502 LoginFailed of a GCSv5 collection with a domain policy (globus-api.md §2.4-A).
Error GrexError(std::string message = "Session reauthentication required (Globus Transfer)") {
  Error e = Error::Api(502, "ExternalError.DirListingFailed.LoginFailed", "Command Failed: ...");
  AuthorizationParameters a;
  a.session_message = std::move(message);
  a.session_required_single_domain = {kDomain};
  a.session_required_mfa = false;
  e.authorization = a;
  e.resource = "/operation/endpoint/" + kGrex + "/ls";
  return e;
}

// The 403 ConsentRequired of a mapped collection (§2.3).
Error CedarConsentError() {
  Error e = Error::Api(403, "ConsentRequired", "Missing required data_access consent");
  AuthorizationParameters a;
  a.required_scopes = {TransferScopeWith({kCedar})};
  a.session_message = "Missing required data_access consent";
  e.authorization = a;
  return e;
}

// A flow that finishes when the test says so (or when cancelled).
class FakeFlow {
 public:
  explicit FakeFlow(std::string url) : url_(std::move(url)) {}
  const std::string& url() const { return url_; }
  Status Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return result_.has_value() || cancelled_; });
    if (result_) return *result_;
    return Error::Auth(AuthFailure::kFlowFailed, "the login was cancelled");
  }
  void Cancel() {
    std::lock_guard<std::mutex> l(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  void Complete(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    result_ = std::move(s);
    cv_.notify_all();
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> l(mu_);
    return cancelled_;
  }

 private:
  std::string url_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Status> result_;
  bool cancelled_ = false;
};

class FakeHandle final : public FlowHandle {
 public:
  explicit FakeHandle(std::shared_ptr<FakeFlow> f) : f_(std::move(f)) {}
  std::string url() const override { return f_->url(); }
  bool browser_opened() const override { return true; }
  Status Wait() override { return f_->Wait(); }
  void Cancel() override { f_->Cancel(); }

 private:
  std::shared_ptr<FakeFlow> f_;
};

struct FakeStarter {
  std::mutex mu;
  std::vector<std::shared_ptr<FakeFlow>> flows;
  std::vector<FlowSpec> specs;
  std::optional<Error> fail;

  FlowStarter fn() {
    return [this](const FlowSpec& spec) -> Result<std::unique_ptr<FlowHandle>> {
      std::lock_guard<std::mutex> l(mu);
      specs.push_back(spec);
      if (fail) return *fail;
      auto f = std::make_shared<FakeFlow>("https://auth.example/v2/oauth2/authorize?flow=" +
                                          std::to_string(flows.size() + 1));
      flows.push_back(f);
      return std::unique_ptr<FlowHandle>(new FakeHandle(f));
    };
  }
  std::size_t count() {
    std::lock_guard<std::mutex> l(mu);
    return flows.size();
  }
  std::shared_ptr<FakeFlow> flow(std::size_t i) {
    std::lock_guard<std::mutex> l(mu);
    return flows.at(i);
  }
};

// Waits (bounded) for a condition another thread brings about. Not a timing assertion: the
// bound only keeps a broken build from hanging.
template <class Pred>
bool Eventually(Pred p) {
  auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    if (p()) return true;
    std::this_thread::yield();
  }
  return p();
}

int Waiters(const AuthorizationBroker& b) {
  int n = 0;
  for (const auto& p : b.Snapshot())
    if (p.state == PendingAuthorization::State::kWaiting) n += p.waiters;
  return n;
}

struct World {
  FakeClock clock;
  FakeStarter starter;
  std::atomic<int> tokens{0};  // the fake token file's "login state"
  std::vector<PendingAuthorization> notified;
  std::mutex notified_mu;
  AuthorizationBroker::Options options;
  std::unique_ptr<AuthorizationBroker> broker;

  World() {
    options.auth_timeout = 120s;
    options.failure_backoff = 60s;
    options.confirm_grace = 5s;
    options.start_ticker = false;
    broker = std::make_unique<AuthorizationBroker>(
        starter.fn(), [this](const AuthorizationParameters&) { return std::to_string(tokens); },
        clock, options,
        [this](const PendingAuthorization& p) {
          std::lock_guard<std::mutex> l(notified_mu);
          notified.push_back(p);
        });
  }
  std::future<Status> Async(Error e, std::string collection = kGrex,
                            std::string name = "UManitoba Grex HPC") {
    return std::async(std::launch::async, [this, e = std::move(e), collection, name] {
      return broker->Authorize(e, collection, name);
    });
  }
};

TEST_CASE("Concurrent operations needing the same thing share one flow", "[broker]") {
  World w;
  std::vector<std::future<Status>> ops;
  for (int i = 0; i < 10; ++i) ops.push_back(w.Async(GrexError()));
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 10; }));
  REQUIRE(w.starter.count() == 1);
  REQUIRE(w.broker->flows_started() == 1);

  w.starter.flow(0)->Complete(Status::Ok());
  for (auto& f : ops) CHECK(f.get().ok());
  CHECK(w.broker->Snapshot().empty());
  CHECK(w.notified.size() == 1);

  // The flow asked for what the error asked for, forcing a fresh login.
  const FlowSpec& spec = w.starter.specs.at(0);
  CHECK(spec.collection_id == kGrex);
  CHECK(spec.authorization.session_required_single_domain == std::vector<std::string>{kDomain});
  CHECK(spec.authorization.prompt_login);
  CHECK(spec.authorization.session_message ==
        "Session reauthentication required (Globus Transfer)");
}

TEST_CASE("An error from a request sent before the flow finished retries without a new flow",
          "[broker]") {
  World w;
  auto first = w.Async(GrexError());
  REQUIRE(Eventually([&] { return w.starter.count() == 1; }));
  w.starter.flow(0)->Complete(Status::Ok());
  CHECK(first.get().ok());
  // A concurrent ls that was still on the old token reports the same error just after.
  CHECK(w.broker->Authorize(GrexError(), kGrex).ok());
  CHECK(w.starter.count() == 1);
  // Later, the same error means the requirement is back (e.g. the session expired).
  w.clock.Advance(3s);
  auto later = w.Async(GrexError());
  REQUIRE(Eventually([&] { return w.starter.count() == 2; }));
  w.starter.flow(1)->Complete(Status::Ok());
  CHECK(later.get().ok());
}

TEST_CASE("Different requirements start different flows", "[broker]") {
  World w;
  auto a = w.Async(GrexError());
  auto b = w.Async(CedarConsentError(), kCedar, "Alliance Cedar Project");
  // The same requirement worded differently joins the first flow.
  auto c = w.Async(GrexError("another message"));
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 3; }));
  REQUIRE(w.starter.count() == 2);
  auto snap = w.broker->Snapshot();
  REQUIRE(snap.size() == 2);

  for (std::size_t i = 0; i < 2; ++i) w.starter.flow(i)->Complete(Status::Ok());
  CHECK(a.get().ok());
  CHECK(b.get().ok());
  CHECK(c.get().ok());
  // The consent flow asked for the data_access scope.
  bool found = false;
  for (const auto& s : w.starter.specs)
    if (s.collection_id == kCedar) {
      found = true;
      CHECK(s.authorization.required_scopes ==
            std::vector<std::string>{TransferScopeWith({kCedar})});
    }
  CHECK(found);
}

TEST_CASE("Nobody answers: EACCES naming the fix, then fail fast until the back-off passes",
          "[broker]") {
  World w;
  auto op = w.Async(GrexError());
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 1; }));

  w.clock.Advance(119s);
  w.broker->Tick();
  CHECK(Waiters(*w.broker) == 1);  // not yet
  w.clock.Advance(2s);
  w.broker->Tick();

  Status s = op.get();
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().kind == ErrorKind::kAuth);
  CHECK(s.error().auth == AuthFailure::kFlowTimedOut);
  CHECK(ErrnoFor(s.error()) == EACCES);
  CHECK_THAT(s.error().message,
             Catch::Contains("globus-fuse login --domain rprox.hpc.umanitoba.ca"));
  CHECK_THAT(s.error().message, Catch::Contains("within 120 s"));
  REQUIRE(s.error().authorization.has_value());
  CHECK(s.error().authorization->session_required_single_domain ==
        std::vector<std::string>{kDomain});
  CHECK(w.starter.flow(0)->cancelled());

  // Fail fast: no second prompt, the same error, at once (this thread would block otherwise).
  Status again = w.broker->Authorize(GrexError(), kGrex, "UManitoba Grex HPC");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().auth == AuthFailure::kFlowTimedOut);
  CHECK(w.starter.count() == 1);
  auto snap = w.broker->Snapshot();
  REQUIRE(snap.size() == 1);
  CHECK(snap[0].state == PendingAuthorization::State::kFailed);
  CHECK(snap[0].retry_in == 60s);

  // A different collection is not affected.
  auto other = w.Async(CedarConsentError(), kCedar, "Alliance Cedar Project");
  REQUIRE(Eventually([&] { return w.starter.count() == 2; }));
  w.starter.flow(1)->Complete(Status::Ok());
  CHECK(other.get().ok());

  // After the back-off, a new flow.
  w.clock.Advance(61s);
  auto later = w.Async(GrexError());
  REQUIRE(Eventually([&] { return w.starter.count() == 3; }));
  w.starter.flow(2)->Complete(Status::Ok());
  CHECK(later.get().ok());
}

TEST_CASE("Fail fast ends when the tokens change", "[broker]") {
  World w;
  auto op = w.Async(GrexError());
  REQUIRE(Eventually([&] { return w.starter.count() == 1; }));
  w.clock.Advance(121s);
  w.broker->Tick();
  REQUIRE_FALSE(op.get().ok());
  REQUIRE_FALSE(w.broker->Authorize(GrexError(), kGrex).ok());
  CHECK(w.starter.count() == 1);

  ++w.tokens;  // e.g. `globus-fuse login --domain ...` ran
  auto next = w.Async(GrexError());
  REQUIRE(Eventually([&] { return w.starter.count() == 2; }));
  w.starter.flow(1)->Complete(Status::Ok());
  CHECK(next.get().ok());
}

TEST_CASE("A login in another terminal releases the waiters; the flow is closed after the grace",
          "[broker]") {
  World w;
  auto a = w.Async(GrexError());
  auto b = w.Async(GrexError());
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 2; }));

  w.broker->Tick();  // nothing changed: still waiting
  CHECK(Waiters(*w.broker) == 2);

  ++w.tokens;
  w.broker->Tick();
  CHECK(a.get().ok());
  CHECK(b.get().ok());
  auto flow = w.starter.flow(0);
  CHECK_FALSE(flow->cancelled());  // the retry may still need it

  w.clock.Advance(4s);
  w.broker->Tick();
  CHECK_FALSE(flow->cancelled());
  w.clock.Advance(2s);
  w.broker->Tick();
  CHECK(flow->cancelled());
  CHECK(w.broker->Snapshot().empty());  // met, not failed: nothing to fail fast on
  CHECK(w.broker->flows_started() == 1);
}

TEST_CASE("A retry that still fails after a token change rejoins the running flow", "[broker]") {
  World w;
  auto a = w.Async(GrexError());
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 1; }));
  ++w.tokens;  // an unrelated login
  w.broker->Tick();
  CHECK(a.get().ok());

  auto retry = w.Async(GrexError());  // the retried ls failed again
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 1; }));
  w.clock.Advance(10s);
  w.broker->Tick();
  CHECK_FALSE(w.starter.flow(0)->cancelled());
  CHECK(w.starter.count() == 1);
  w.starter.flow(0)->Complete(Status::Ok());
  CHECK(retry.get().ok());
}

TEST_CASE("A refused login (Deny) fails with EACCES and then fails fast", "[broker]") {
  World w;
  auto op = w.Async(CedarConsentError(), kCedar, "Alliance Cedar Project");
  REQUIRE(Eventually([&] { return w.starter.count() == 1; }));
  w.starter.flow(0)->Complete(
      Error::Auth(AuthFailure::kFlowFailed, "Globus Auth refused the login: access_denied"));
  Status s = op.get();
  REQUIRE_FALSE(s.ok());
  CHECK(ErrnoFor(s.error()) == EACCES);
  CHECK(s.error().auth == AuthFailure::kFlowFailed);
  CHECK_THAT(s.error().message, Catch::Contains("access_denied"));
  CHECK_THAT(s.error().message, Catch::Contains("Alliance Cedar Project needs your consent"));
  CHECK_THAT(s.error().message, Catch::Contains("globus-fuse login --scope"));

  Status again = w.broker->Authorize(CedarConsentError(), kCedar, "Alliance Cedar Project");
  REQUIRE_FALSE(again.ok());
  CHECK(w.starter.count() == 1);
}

TEST_CASE("Snapshot shows what is pending, where to go, and who waits", "[broker]") {
  World w;
  auto op = w.Async(GrexError());
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 1; }));
  auto snap = w.broker->Snapshot();
  REQUIRE(snap.size() == 1);
  const auto& p = snap[0];
  CHECK(p.state == PendingAuthorization::State::kWaiting);
  CHECK(p.collection_id == kGrex);
  CHECK(p.subject == "UManitoba Grex HPC");
  CHECK(p.session_message == "Session reauthentication required (Globus Transfer)");
  CHECK(p.reason == "UManitoba Grex HPC requires an identity from rprox.hpc.umanitoba.ca");
  CHECK(p.url == "https://auth.example/v2/oauth2/authorize?flow=1");
  CHECK(p.remedy == "globus-fuse login --domain rprox.hpc.umanitoba.ca");
  CHECK(p.started_at == w.clock.WallNow());
  CHECK(p.timeout == 120s);
  CHECK(p.waiters == 1);
  CHECK(p.browser_opened);

  std::string json = w.broker->SnapshotJson();
  CHECK_THAT(json, Catch::Contains("\"state\":\"waiting\""));
  CHECK_THAT(json, Catch::Contains("\"url\":\"https://auth.example/v2/oauth2/authorize?flow=1\""));
  CHECK_THAT(json, Catch::Contains("\"collection\":\"UManitoba Grex HPC\""));
  CHECK_THAT(json, Catch::Contains("\"waiters\":1"));

  // The notification carried the same. It is sent after the flow shows in the snapshot (the
  // caller that started the flow logs and notifies outside the broker's lock).
  REQUIRE(Eventually([&] {
    std::lock_guard<std::mutex> l(w.notified_mu);
    return w.notified.size() == 1;
  }));
  {
    std::lock_guard<std::mutex> l(w.notified_mu);
    CHECK(w.notified[0].url == p.url);
    CHECK(w.notified[0].reason == p.reason);
    // Counted from the moment the flow is shown: the starter waits too (status read at once
    // after the URL was out showed 0 waiters).
    CHECK(w.notified[0].waiters == 1);
  }

  w.starter.flow(0)->Complete(Status::Ok());
  CHECK(op.get().ok());
  CHECK(w.broker->SnapshotJson() == "[]");
}

TEST_CASE("A flow that cannot start fails at once and is not retried on every call", "[broker]") {
  World w;
  w.starter.fail = Error::Config("no client_id configured");
  Status s = w.broker->Authorize(GrexError(), kGrex, "UManitoba Grex HPC");
  REQUIRE_FALSE(s.ok());
  CHECK(ErrnoFor(s.error()) == EACCES);
  CHECK_THAT(s.error().message, Catch::Contains("no client_id configured"));
  CHECK_THAT(s.error().message, Catch::Contains("globus-fuse login --domain"));
  Status again = w.broker->Authorize(GrexError(), kGrex, "UManitoba Grex HPC");
  CHECK_FALSE(again.ok());
  CHECK(w.starter.specs.size() == 1);
}

TEST_CASE("Errors that need no authorization pass through untouched", "[broker]") {
  World w;
  Error nf = Error::Api(404, "ClientError.NotFound", "no such path");
  Status s = w.broker->Authorize(nf, kGrex);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "ClientError.NotFound");
  CHECK(w.starter.specs.empty());
}

TEST_CASE("No token for a collection's https scope yet: the consent flow asks for it", "[broker]") {
  World w;
  const std::string tutorial = "c0110000-0000-4000-8000-000000000003";
  Error e = TokenManager::NotLoggedIn(tutorial);
  auto op = w.Async(e, tutorial, "Globus Tutorial Collection 1");
  REQUIRE(Eventually([&] { return w.starter.count() == 1; }));
  CHECK(w.starter.specs.at(0).authorization.required_scopes ==
        std::vector<std::string>{HttpsScope(tutorial)});
  w.starter.flow(0)->Complete(Status::Ok());
  CHECK(op.get().ok());

  // Other kAuth errors (e.g. a refused refresh, or a flow's own failure) start nothing.
  Status s = w.broker->Authorize(Error::Auth(AuthFailure::kLoginAgain, "run login"), tutorial);
  CHECK_FALSE(s.ok());
  CHECK(w.starter.count() == 1);
}

TEST_CASE("Ctrl-C releases one waiter with EINTR; the flow goes on for the others", "[broker]") {
  World w;
  auto other = w.Async(GrexError());
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 1; }));
  std::atomic<bool> interrupted{false};
  auto mine = std::async(std::launch::async, [&] {
    return w.broker->Authorize(GrexError(), kGrex, "UManitoba Grex HPC", &interrupted);
  });
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 2; }));
  interrupted = true;  // what FUSE_INTERRUPT does, from another thread
  // The bound only keeps a broken build from hanging (it is not a timing assertion).
  if (mine.wait_for(20s) != std::future_status::ready) w.broker->Shutdown();
  Status s = mine.get();
  REQUIRE_FALSE(s.ok());
  CHECK(ErrnoFor(s.error()) == EINTR);
  CHECK(Waiters(*w.broker) == 1);
  CHECK_FALSE(w.starter.flow(0)->cancelled());
  w.starter.flow(0)->Complete(Status::Ok());
  CHECK(other.get().ok());
  CHECK(w.starter.count() == 1);
}

TEST_CASE("Shutdown cancels pending flows and releases the waiters", "[broker]") {
  World w;
  auto op = w.Async(GrexError());
  REQUIRE(Eventually([&] { return Waiters(*w.broker) == 1; }));
  w.broker->Shutdown();
  CHECK_FALSE(op.get().ok());
  CHECK(w.starter.flow(0)->cancelled());
  CHECK_FALSE(w.broker->Authorize(GrexError(), kGrex).ok());
  CHECK(w.starter.count() == 1);
}

TEST_CASE("Flow parameters and requirement keys", "[broker]") {
  // Lists normalised; session_message does not split requirements.
  Error a = GrexError("one");
  a.authorization->session_required_single_domain = {"b.org", "a.org", "b.org"};
  Error b = GrexError("two");
  b.authorization->session_required_single_domain = {"a.org", "b.org"};
  auto pa = AuthorizationBroker::FlowParameters(a, kGrex);
  auto pb = AuthorizationBroker::FlowParameters(b, kGrex);
  CHECK(pa.session_required_single_domain == std::vector<std::string>{"a.org", "b.org"});
  CHECK(pa.prompt_login);
  CHECK(AuthorizationBroker::Key(kGrex, pa) == AuthorizationBroker::Key(kGrex, pb));
  CHECK(AuthorizationBroker::Key(kGrex, pa) != AuthorizationBroker::Key(kCedar, pa));

  // A bare legacy ConsentRequired asks for the collection's data_access consent.
  Error bare = Error::Api(403, "ConsentRequired", "Missing required data_access consent");
  auto pc = AuthorizationBroker::FlowParameters(bare, kCedar);
  CHECK(pc.required_scopes == std::vector<std::string>{TransferScopeWith({kCedar})});
  CHECK(pc.session_message == "Missing required data_access consent");

  // AuthPolicyFailed: policies from a comma-joined string arrive as a list already.
  Error pol = Error::Api(403, "AuthPolicyFailed", "Failing collection authentication policy");
  AuthorizationParameters ap;
  ap.session_required_policies = {"p2", "p1"};
  pol.authorization = ap;
  auto pp = AuthorizationBroker::FlowParameters(pol, kGrex);
  CHECK(pp.session_required_policies == std::vector<std::string>{"p1", "p2"});
  CHECK(pp.session_message == "Failing collection authentication policy");
  CHECK(AuthorizationBroker::Key(kGrex, pp) != AuthorizationBroker::Key(kGrex, pa));
}

// ---- production wiring ----

TEST_CASE("LoginFlowStarter: the URL carries the requirement; Deny at the loopback fails it",
          "[broker][login]") {
  gf::testing::TempDir dir;
  TokenStore store(dir / "tokens.json");
  Token t;
  t.resource_server = kTransferResourceServer;
  t.access_token = "AT";
  t.refresh_token = "RT";
  t.scope = kTransferScope;
  t.expires_at = 4000000000;
  REQUIRE(store.Merge({t}).ok());
  gf::testing::FakeTransport http(
      [](const gf::testing::RecordedRequest&) -> Result<http::Response> {
        return Error::Transport(TransportFailure::kConnect, "no network in this test");
      });
  OAuthClient oauth(http, "https://auth.example", "client-1");
  std::vector<std::string> launched;
  auto start = LoginFlowStarter(
      oauth, store.path(), true, [&] { return GrantedScopes(store.path()); },
      [&](const std::string& url) {
        launched.push_back(url);
        return true;
      });
  FlowSpec spec;
  spec.collection_id = kGrex;
  spec.authorization = AuthorizationBroker::FlowParameters(GrexError(), kGrex);
  spec.timeout = 30s;
  auto flow = start(spec);
  REQUIRE(flow.ok());
  std::string url = (*flow)->url();
  CHECK((*flow)->browser_opened());
  REQUIRE(launched == std::vector<std::string>{url});
  CHECK_THAT(url, Catch::Contains("session_required_single_domain=rprox.hpc.umanitoba.ca"));
  CHECK_THAT(url, Catch::Contains("prompt=login"));
  CHECK_THAT(url, Catch::Contains("openid"));  // identity scopes kept for userinfo
  CHECK_THAT(url, Catch::Contains(http::UrlEncode(kTransferScope)));

  // Play the browser: Globus Auth redirects back with error=access_denied.
  auto q = ParseQuery(url.substr(url.find('/', 8)), nullptr);
  std::string redirect, state;
  for (const auto& [k, v] : q) {
    if (k == "redirect_uri") redirect = v;
    if (k == "state") state = v;
  }
  REQUIRE(redirect.rfind("http://127.0.0.1:", 0) == 0);
  int port = std::stoi(redirect.substr(17));
  auto waited = std::async(std::launch::async, [&] { return (*flow)->Wait(); });
  std::string resp = gf::testing::RawGet(port, "/callback?error=access_denied&state=" + state);
  CHECK_THAT(resp, Catch::Contains("access_denied"));
  Status s = waited.get();
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().auth == AuthFailure::kFlowFailed);
  CHECK_THAT(s.error().message, Catch::Contains("access_denied"));
  CHECK(http.request_count() == 0);  // nothing was exchanged
}

TEST_CASE("LoginFlowStarter: Cancel from another thread ends Wait", "[broker][login]") {
  gf::testing::TempDir dir;
  TokenStore store(dir / "tokens.json");
  gf::testing::FakeTransport http(
      [](const gf::testing::RecordedRequest&) -> Result<http::Response> {
        return Error::Transport(TransportFailure::kConnect, "no network in this test");
      });
  OAuthClient oauth(http, "https://auth.example", "client-1");
  auto start = LoginFlowStarter(oauth, store.path(), false, {}, {});
  FlowSpec spec;
  spec.authorization = AuthorizationBroker::FlowParameters(CedarConsentError(), kCedar);
  spec.timeout = 30s;
  auto flow = start(spec);
  REQUIRE(flow.ok());
  CHECK_FALSE((*flow)->browser_opened());
  CHECK_THAT((*flow)->url(), Catch::Contains(http::UrlEncode(DataAccessScope(kCedar))));
  auto waited = std::async(std::launch::async, [&] { return (*flow)->Wait(); });
  (*flow)->Cancel();
  CHECK_FALSE(waited.get().ok());
}

TEST_CASE("TokenFileFingerprint: refreshes do not count, logins and consents do",
          "[broker][tokens]") {
  gf::testing::TempDir dir;
  std::string path = dir / "tokens.json";
  TokenStore store(path);
  auto fp = TokenFileFingerprint(path);
  auto session = AuthorizationBroker::FlowParameters(GrexError(), kGrex);
  auto consent = AuthorizationBroker::FlowParameters(CedarConsentError(), kCedar);

  std::string empty = fp(session);
  Token t;
  t.resource_server = kTransferResourceServer;
  t.access_token = "AT1";
  t.refresh_token = "RT1";
  t.scope = kTransferScope;
  t.expires_at = 4000000000;
  REQUIRE(store.Merge({t}).ok());
  std::string s1 = fp(session);
  std::string c1 = fp(consent);
  CHECK(s1 != empty);

  // A refresh: new access token, same refresh token and scope.
  t.access_token = "AT2";
  REQUIRE(store.Merge({t}).ok());
  CHECK(fp(session) == s1);
  CHECK(fp(consent) == c1);

  // A new login (new refresh token, new session identity).
  REQUIRE(store
              .Update([](StoredTokens& s) -> Status {
                s.tokens[kTransferResourceServer].refresh_token = "RT2";
                s.session_identities.push_back("grex-identity");
                return Status::Ok();
              })
              .ok());
  std::string s2 = fp(session);
  CHECK(s2 != s1);
  CHECK(fp(consent) == c1);                    // no consent yet
  CHECK(s2.find("RT2") == std::string::npos);  // tokens are not carried verbatim

  // The consent is granted.
  t.scope = TransferScopeWith({kCedar});
  t.refresh_token = "RT3";
  REQUIRE(store.Merge({t}).ok());
  CHECK(fp(consent) != c1);
}

}  // namespace
}  // namespace gf::auth
