// The retry budget end to end through RequestExecutor (via TransferClient and HttpsClient over
// FakeTransport): bursts of errors ridden out, malformed 2xx bodies, cancellation, token refresh
// while the network is down, transient 404s, and what non-idempotent calls do instead.
// Time is a FakeClock moved only by the recording sleeper: no real sleeping.
#include <catch2/catch.hpp>

#include <cerrno>

#include "api/https_client.h"
#include "api/transfer_client.h"
#include "common/cancel.h"
#include "tests/support/fake_transport.h"
#include "tests/support/fixtures.h"
#include "tests/support/token_fixed.h"
#include "tests/unit/api/https_env.h"
#include "tests/unit/api/test_policy.h"

using namespace gf;
using namespace gf::api;
using gf::testing::FakeTransport;
using gf::testing::FixedTokenSource;
using gf::testing::Fixture;

namespace {
constexpr const char* kRoot = "https://transfer.example";

// A token source whose token service is unreachable for the first `failures` calls (the
// network is down when a laptop wakes with an expired token).
class FlakyTokens : public auth::TokenSource {
 public:
  int failures = 0;
  int refresh_failures = 0;
  int calls = 0, refreshes = 0;
  Result<std::string> AccessToken(const std::string&) override {
    ++calls;
    if (failures > 0) {
      --failures;
      return Error::Transport(TransportFailure::kConnect, "auth.globus.org unreachable");
    }
    return std::string("tok");
  }
  Status ForceRefresh(const std::string&, const std::string&) override {
    ++refreshes;
    if (refresh_failures > 0) {
      --refresh_failures;
      return Error::Transport(TransportFailure::kDns, "no DNS");
    }
    return Status::Ok();
  }
};

template <class Tokens>
struct Env {
  FakeTransport transport;
  Tokens tokens;
  gf::testing::RecordingSleeper sleeper;
  TransferClient client{transport, tokens, kRoot, sleeper.Policy()};
};

std::string LsBody() { return Fixture("transfer_ls_root_tutorial.json"); }

Result<FileList> LsRoot(TransferClient& c) {
  LsQuery q;
  q.path = "/";
  return c.Ls("c", q);
}

using gf::testing::HttpsEnv;

void PushHello(FakeTransport& t) {
  t.Push(206, "hello", {{"Content-Range", "bytes 0-4/5"}, {"Content-Length", "5"}});
}
}  // namespace

TEST_CASE("a burst of 503s longer than five retries no longer fails an ls", "[retry_budget]") {
  Env<FixedTokenSource> env;
  for (int i = 0; i < 6; ++i)
    env.transport.Push(503, R"({"code": "ServiceUnavailable", "message": "busy"})");
  env.transport.Push(200, LsBody());
  auto r = LsRoot(env.client);
  REQUIRE(r.ok());
  CHECK(env.transport.request_count() == 7);
  CHECK(env.sleeper.sleeps.size() == 6);
  CHECK(env.sleeper.total() < Millis(60000));
}

TEST_CASE("Retry-After is honoured within the budget", "[retry_budget]") {
  Env<FixedTokenSource> env;
  env.transport.Push(429, "", {{"Retry-After", "7"}});
  env.transport.Push(200, LsBody());
  REQUIRE(LsRoot(env.client).ok());
  CHECK(env.sleeper.sleeps == std::vector<Millis>{Millis(7000)});

  Env<FixedTokenSource> later;  // longer than the whole budget: fail now, do not wait
  later.transport.Push(503, "", {{"Retry-After", "120"}});
  auto r = LsRoot(later.client);
  REQUIRE_FALSE(r.ok());
  CHECK(ErrnoFor(r.error()) == ETIMEDOUT);
  CHECK(later.sleeper.sleeps.empty());
}

TEST_CASE("a 200 whose body does not parse is retried on an idempotent call", "[retry_budget]") {
  Env<FixedTokenSource> env;
  env.transport.Push(200, "<html><body>proxy says hi</body></html>");
  env.transport.Push(200, R"({"DATA_TYPE": "file_list", "DATA": [)");  // cut short
  env.transport.Push(200, LsBody());
  auto r = LsRoot(env.client);
  REQUIRE(r.ok());
  CHECK_FALSE(r->entries.empty());
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK_FALSE(reqs[0].fresh_connection);
  CHECK(reqs[1].fresh_connection);
  CHECK(reqs[2].fresh_connection);

  Env<FixedTokenSource> always;  // a malformed body that never goes away ends with the budget
  always.transport.SetHandler([](const auto&) { return FakeTransport::Reply(200, "nope"); });
  auto bad = always.client.Stat("c", "/x");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().transport == TransportFailure::kMalformedBody);
  CHECK(ErrnoFor(bad.error()) == ETIMEDOUT);
  CHECK(always.sleeper.total() == Millis(60000));
}

TEST_CASE("a submit whose 200 does not parse is resolved by its submission_id", "[retry_budget]") {
  Env<FixedTokenSource> env;
  env.transport.Push(200, R"({"DATA_TYPE": "transfer_result", "code": "Acc)");  // unreadable
  env.transport.Push(200, R"({"DATA_TYPE": "transfer_result", "code": "Duplicate",
      "task_id": "task-1", "submission_id": "sub-9"})");
  TransferRequest t;
  t.submission_id = "sub-9";
  t.source_endpoint = "s";
  t.destination_endpoint = "d";
  t.items.push_back({"/a", "/b", false});
  auto res = env.client.SubmitTransfer(t);
  REQUIRE(res.ok());
  CHECK(res->task_id == "task-1");  // the task the first submission created: not a second one
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].body == reqs[1].body);
  CHECK(reqs[1].body.find(R"("submission_id":"sub-9")") != std::string::npos);
}

TEST_CASE("Ctrl-C ends a retry wait at once with EINTR", "[retry_budget]") {
  FakeTransport transport;
  FixedTokenSource tokens;
  std::atomic<bool> interrupted{false};
  FakeClock clock;
  int sleeps = 0;
  RetryPolicy p;
  p.clock = &clock;
  p.random01 = [] { return 0.5; };
  // The user presses Ctrl-C during the first backoff; a real sleep returns early when the
  // flag it is given is raised (DefaultSleep), so the flag must be the published one.
  p.sleep = [&](Millis, const std::atomic<bool>* cancel) {
    ++sleeps;
    CHECK(cancel == &interrupted);
    interrupted = true;
  };
  TransferClient client{transport, tokens, kRoot, p};
  transport.SetHandler([](const auto&) { return FakeTransport::Reply(503, ""); });
  CancelScope published(&interrupted);  // what the FUSE adapter does for the request
  auto r = LsRoot(client);
  REQUIRE_FALSE(r.ok());
  CHECK(ErrnoFor(r.error()) == EINTR);
  CHECK(sleeps == 1);
  CHECK(transport.request_count() == 1);
}

TEST_CASE("an expired token whose refresh cannot reach Auth waits within the budget",
          "[retry_budget]") {
  Env<FlakyTokens> env;
  env.tokens.failures = 3;  // the network comes back after three tries
  env.transport.Push(200, LsBody());
  REQUIRE(LsRoot(env.client).ok());
  CHECK(env.transport.request_count() == 1);  // nothing was sent without a token
  CHECK(env.sleeper.sleeps.size() == 3);

  Env<FlakyTokens> refresh;  // a 401 whose refresh hits a DNS failure: wait, refresh again
  refresh.tokens.refresh_failures = 1;
  refresh.transport.Push(401, R"({"code": "AuthenticationFailed"})");
  refresh.transport.Push(401, R"({"code": "AuthenticationFailed"})");
  refresh.transport.Push(200, LsBody());
  REQUIRE(LsRoot(refresh.client).ok());
  CHECK(refresh.tokens.refreshes == 2);
  CHECK(refresh.sleeper.sleeps.size() == 1);

  Env<FixedTokenSource> logged_out;  // "log in again" is not waited for
  logged_out.tokens.SetMissing(auth::kTransferResourceServer);
  auto r = LsRoot(logged_out.client);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::kAuth);
  CHECK(logged_out.sleeper.sleeps.empty());
}

TEST_CASE("a rename whose answer was lost is looked up, and repeated only if it did not happen",
          "[retry_budget]") {
  const std::string missing = Fixture("error_stat_not_found_404.json");
  const std::string file = Fixture("transfer_stat_file.json");
  Env<FixedTokenSource> done;
  done.transport.Push(FakeTransport::Fail(TransportFailure::kReset));  // after it was sent
  done.transport.Push(404, missing);                                   // stat old: gone
  done.transport.Push(200, file);                                      // stat new: there
  REQUIRE(done.client.Rename("c", "/a", "/b").ok());
  auto reqs = done.transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].method == "GET");
  CHECK(reqs[2].method == "GET");

  // The old name still there proves no attempt renamed it (a rename is atomic): it is sent
  // again, on a fresh connection, after a backoff, as often as the budget allows (the chaos soak
  // of 2026-12-04 lost an upload's commit to two resets in a row).
  Env<FixedTokenSource> not_done;
  const std::string renamed = R"({"DATA_TYPE": "result", "code": "FileRenamed"})";
  not_done.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  not_done.transport.Push(200, file);  // stat old: still there
  not_done.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  not_done.transport.Push(200, file);  // still there
  not_done.transport.Push(200, renamed);
  REQUIRE(not_done.client.Rename("c", "/a", "/b").ok());
  auto nd = not_done.transport.requests();
  REQUIRE(nd.size() == 5);
  CHECK(nd[2].method == "POST");
  CHECK(nd[2].fresh_connection);
  CHECK(nd[4].method == "POST");
  CHECK(nd[4].body == nd[0].body);
  CHECK(not_done.sleeper.sleeps.size() == 2);

  // Neither name proves anything (the old one is gone, the new one is not there: another
  // client's doing?): the failure is reported, and the rename is not sent again.
  Env<FixedTokenSource> unknown;
  unknown.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  unknown.transport.Push(404, missing);  // stat old: gone
  unknown.transport.Push(404, missing);  // stat new: not there
  auto s = unknown.client.Rename("c", "/a", "/b");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().transport == TransportFailure::kReset);
  int posts = 0;
  for (const auto& r : unknown.transport.requests()) posts += r.method == "POST";
  CHECK(posts == 1);

  // The first attempt renamed it late (its server went on after the reset); the second then
  // finds no source. Looked at again, that is our own rename.
  Env<FixedTokenSource> late;
  late.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  late.transport.Push(200, file);     // stat old: still there (not renamed yet)
  late.transport.Push(404, missing);  // the second rename: no such file
  late.transport.Push(404, missing);  // stat old: gone
  late.transport.Push(200, file);     // stat new: there
  REQUIRE(late.client.Rename("c", "/a", "/b").ok());
  CHECK(late.transport.request_count() == 5);

  // Resets without end: the budget ends the call, as for any other (ETIMEDOUT), after one last
  // look (that attempt may have renamed it); the look does not start another attempt.
  Env<FixedTokenSource> forever;
  forever.transport.SetHandler([&](const auto& r) {
    if (r.method == "POST") return FakeTransport::Fail(TransportFailure::kReset);
    return FakeTransport::Reply(200, file);
  });
  auto f = forever.client.Rename("c", "/a", "/b");
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().sys_errno == ETIMEDOUT);
  auto fr = forever.transport.requests();
  REQUIRE(fr.size() > 4);
  CHECK(fr[fr.size() - 2].method == "POST");
  CHECK(fr.back().method == "GET");
}

TEST_CASE("a 404 ENDPOINT_ERROR is a transient backend fault, never ENOENT", "[retry_budget]") {
  const std::string body =
      "Mapping collection to specified ID failed. GlobusError: v=1 c=ENDPOINT_ERROR GCS "
      "Manager Internal Error";
  HttpsEnv env;
  FakeTransport& transport = env.transport;
  transport.Push(404, body);
  transport.Push(404, body);
  PushHello(env.transport);
  auto r = env.Read(0, 5, "/f");
  REQUIRE(r.ok());
  CHECK(env.got == "hello");
  auto reqs = transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].fresh_connection);
  CHECK(reqs[2].fresh_connection);

  // A backend that stays broken: ETIMEDOUT after the budget, never "no such file".
  transport.SetHandler([&](const auto&) { return FakeTransport::Reply(404, body); });
  auto broken = env.Read(0, 5, "/f");
  REQUIRE_FALSE(broken.ok());
  CHECK(ErrnoFor(broken.error()) == ETIMEDOUT);
  Error plain = broken.error();
  plain.sys_errno = 0;
  CHECK(ErrnoFor(plain) == EIO);
  // A plain 404 is a missing file, at once.
  transport.Push(404, R"({"code": "NotFound"})");
  auto gone = env.Read(0, 5, "/g");
  REQUIRE_FALSE(gone.ok());
  CHECK(ErrnoFor(gone.error()) == ENOENT);
}

TEST_CASE("a call that outlives its refreshed token refreshes again, within bounds",
          "[retry_budget]") {
  const char* expired = R"({"code": "AuthenticationFailed"})";
  Env<FixedTokenSource> twice;  // tok1 expired; tok2 worked (a 503), then expired during the wait
  twice.transport.Push(401, expired);
  twice.transport.Push(503, R"({"code": "ServiceUnavailable"})");
  twice.transport.Push(401, expired);
  twice.transport.Push(200, LsBody());
  REQUIRE(LsRoot(twice.client).ok());
  CHECK(twice.tokens.refresh_calls() == 2);
  auto reqs = twice.transport.requests();
  REQUIRE(reqs.size() == 4);
  CHECK(reqs[3].Header("Authorization") ==
        "Bearer " + twice.tokens.Current(auth::kTransferResourceServer));
  CHECK(reqs[2].Header("Authorization") != reqs[3].Header("Authorization"));

  Env<FixedTokenSource> at_once;  // the new token refused at once (expired again meanwhile)
  at_once.transport.Push(401, expired);
  at_once.transport.Push(401, expired);
  at_once.transport.Push(200, LsBody());
  REQUIRE(LsRoot(at_once.client).ok());
  CHECK(at_once.tokens.refresh_calls() == 2);
  // Each refresh is told which token was refused: the one that request carried.
  auto sent = at_once.transport.requests();
  REQUIRE(sent.size() == 3);
  CHECK(at_once.tokens.refused() ==
        std::vector<std::string>{sent[0].Header("Authorization").substr(7),
                                 sent[1].Header("Authorization").substr(7)});

  Env<FixedTokenSource> revoked;  // every token refused: three refreshes, then the 401 is the
  for (int i = 0; i < 6; ++i) revoked.transport.Push(401, expired);  // answer
  auto r = LsRoot(revoked.client);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().http_status == 401);
  CHECK(revoked.tokens.refresh_calls() == 3);
  CHECK(revoked.transport.request_count() == 4);

  Env<FixedTokenSource> session;  // a 401 asking for a session no refresh gives: refreshed once
  const char* need_session = R"({"code": "unauthorized", "authorization_parameters": {)"
                             R"("session_required_single_domain": ["example.edu"]}})";
  for (int i = 0; i < 3; ++i) session.transport.Push(401, need_session);
  REQUIRE_FALSE(LsRoot(session.client).ok());
  CHECK(session.tokens.refresh_calls() == 1);
  CHECK(session.transport.request_count() == 2);

  Env<FlakyTokens> same;  // the refresh gave the same token back: no second refresh
  same.transport.Push(401, expired);
  same.transport.Push(503, R"({"code": "ServiceUnavailable"})");
  same.transport.Push(401, expired);
  REQUIRE_FALSE(LsRoot(same.client).ok());
  CHECK(same.transport.request_count() == 3);
  CHECK(same.tokens.refreshes == 1);

  Env<FixedTokenSource> bounded;  // expiring again and again: at most three refreshes per call
  for (int i = 0; i < 6; ++i) {
    bounded.transport.Push(401, expired);
    bounded.transport.Push(503, R"({"code": "ServiceUnavailable"})");
  }
  REQUIRE_FALSE(LsRoot(bounded.client).ok());
  CHECK(bounded.tokens.refresh_calls() == 3);
}

TEST_CASE("a collection's HTTPS 401 of a refreshed token refreshes again (expired as issued)",
          "[retry_budget]") {
  // The 30-min soak: a read's token expired; the refresh's new token was revoked by the next
  // expiry before the retry; the HTTPS server answers every refused token alike ("unauthorized",
  // naming the https scope), and the read was taken for a missing consent: the authorization
  // flow waited 120 s for a browser, then EACCES.
  const std::string unauthorized =
      R"({"DATA_TYPE": "result#1.0.0", "code": "unauthorized", "http_response_code": 401, )"
      R"("message": "Authentication required", "authorization_parameters": {"required_scopes": )"
      R"(["https://auth.globus.org/scopes/c0ffee/https"], "session_message": null}})";
  HttpsEnv env;
  env.transport.Push(401, unauthorized);
  env.transport.Push(401, unauthorized);
  PushHello(env.transport);
  auto r = env.Read(0, 5, "/f");
  REQUIRE(r.ok());
  CHECK(env.got == "hello");
  CHECK(env.tokens.refresh_calls() == 2);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].Header("Authorization") != reqs[2].Header("Authorization"));

  // Every new token refused (a consent really missing): at most three refreshes, then the 401
  // with its authorization remedy (the https scope) is the answer.
  HttpsEnv refused;
  for (int i = 0; i < 6; ++i) refused.transport.Push(401, unauthorized);
  auto no = refused.Read(0, 5, "/f");
  REQUIRE_FALSE(no.ok());
  CHECK(no.error().http_status == 401);
  REQUIRE(no.error().authorization);
  CHECK(no.error().authorization->required_scopes ==
        std::vector<std::string>{"https://auth.globus.org/scopes/c0ffee/https"});
  CHECK(refused.tokens.refresh_calls() == 3);
  CHECK(refused.transport.request_count() == 4);
}
